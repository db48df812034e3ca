"""Re-segmenting objects on an image already embedded: the Segment widget against stock SAM.

Run ``.venv/bin/python benchmarks/bench_resegment.py [--objects 5] [--repeats 2]``;
without a display it runs itself again under ``xvfb-run``.

segment-anything's vit_b with random weights (the real architecture; masks are
meaningless, times are not), on the CPU, on a synthetic ``--size`` image with
``--objects`` looked-at objects. In one run:

1. the Segment widget in a real viewer segments every object once (loading the
   model and embedding the image: not timed), then again ``--repeats`` times:
   the time from ``segment()`` to its ``finished`` signal (the user's wait);
2. :func:`~napari_gazeseg.segmentation.sam_object_masks` with the widget's own
   ``GazeSam`` (already embedded): the shared core without the widget;
3. stock ``SamPredictor.predict`` with the same prompts (each object's
   fixations as foreground points, three masks), on the same embedding: the
   sum over the objects.

Prints the best of each and the ratios widget / stock and core / stock (the
target, issue 11: widget <= 1.5x stock), and the machine's load.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path


def _wait(app, signal, timeout_s: float = 600.0) -> None:
    done = []
    signal.connect(lambda *a: done.append(1))
    end = time.perf_counter() + timeout_s
    while not done:
        if time.perf_counter() > end:
            raise TimeoutError("the widget did not finish")
        app.processEvents()
        time.sleep(0.001)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--size", type=int, nargs=2, default=(512, 512))
    args = parser.parse_args()

    import napari
    import numpy as np
    import torch
    from napari.layers import Layer
    from qtpy.QtWidgets import QApplication
    from segment_anything import SamPredictor, sam_model_registry

    from napari_gazeseg._napari.layers import gaze_layers
    from napari_gazeseg._napari.segment_widget import SegmentWithGazeWidget
    from napari_gazeseg.gaze.fixations import detect_fixations_ivt
    from napari_gazeseg.segmentation import objects_to_segment, sam_object_masks
    from napari_gazeseg.gaze.simulate import simulate_observer

    torch.manual_seed(0)
    folder = Path(tempfile.mkdtemp(prefix="bench_resegment_"))
    checkpoint = folder / "sam_vit_b_random.pth"
    torch.save(sam_model_registry["vit_b"]().state_dict(), checkpoint)

    scene = simulate_observer("cells", shape=tuple(args.size), n_objects=args.objects, seed=0, name="cells")
    fixations = detect_fixations_ivt(scene.recording)
    viewer = napari.Viewer()
    app = QApplication.instance()
    image = viewer.add_image(scene.image, name="cells")
    for data, kwargs, kind in gaze_layers(scene.recording, fixations, image_shape=scene.image.shape):
        viewer.add_layer(Layer.create(data, kwargs, kind))
    widget = SegmentWithGazeWidget(viewer)
    viewer.window.add_dock_widget(widget)
    widget.set_sam("vit_b", checkpoint)
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; torch threads {torch.get_num_threads()}")

    start = time.perf_counter()
    widget.segment()
    _wait(app, widget.finished)
    print(f"first run (load + embed + {args.objects} objects): {time.perf_counter() - start:.1f} s; "
          f"status: {widget.status}")
    labels = [layer for layer in viewer.layers if layer.name.endswith("gaze masks")][0]
    widget.set_output(labels)

    sam = widget._sam_holder._model  # the widget's own GazeSam, already embedded (private: a benchmark)
    limits = tuple(image.contrast_limits)
    objects = objects_to_segment(fixations, scene.recording, image_ndim=2)
    stock_model = sam_model_registry["vit_b"](checkpoint=str(checkpoint)).eval()
    predictor = SamPredictor(stock_model)
    predictor.set_image(sam.prepare_image(scene.image, limits))  # what SAM sees in the widget
    prompts = [(obj.fixations.coords[:, ::-1].astype(np.float64), np.ones(len(obj.fixations), int)) for obj in objects]

    def run_widget() -> None:
        widget.segment()
        _wait(app, widget.finished)

    def run_core() -> None:
        list(sam_object_masks(sam, scene.image, fixations, scene.recording, contrast_limits=limits))

    def run_stock() -> float:
        total = 0.0
        for points, point_labels in prompts:
            start = time.perf_counter()
            predictor.predict(point_coords=points, point_labels=point_labels, multimask_output=True)
            total += time.perf_counter() - start
        return total

    # interleaved, so that the load's drift over the run weighs on all three alike
    ours, core, stock, stock_thread = [], [], [], []

    def run_stock_in_a_thread() -> float:  # as the widget's worker runs: off the main thread
        import threading

        out = []
        thread = threading.Thread(target=lambda: out.append(run_stock()))
        thread.start()
        thread.join()
        return out[0]

    for _ in range(args.repeats):
        start = time.perf_counter()
        run_widget()
        ours.append(time.perf_counter() - start)
        start = time.perf_counter()
        run_core()
        core.append(time.perf_counter() - start)
        stock.append(run_stock())
        stock_thread.append(run_stock_in_a_thread())
    viewer.close()
    shutil.rmtree(folder, ignore_errors=True)

    widget_s, stock_s = min(ours), min(stock)
    print(f"re-segmenting {len(objects)} objects on the embedded image (best of {args.repeats}): "
          f"widget {widget_s * 1e3:.0f} ms (runs {', '.join(f'{t * 1e3:.0f}' for t in ours)}), "
          f"stock SamPredictor.predict sum {stock_s * 1e3:.0f} ms (runs {', '.join(f'{t * 1e3:.0f}' for t in stock)}), "
          f"ratio widget/stock {widget_s / stock_s:.2f}x")
    print(f"  stock in a second thread (where the widget's worker decodes): {min(stock_thread) * 1e3:.0f} ms "
          f"(runs {', '.join(f'{t * 1e3:.0f}' for t in stock_thread)})")
    print(f"  shared core sam_object_masks with the widget's GazeSam {min(core) * 1e3:.0f} ms, "
              f"ratio core/stock {min(core) / stock_s:.2f}x; the widget adds {(widget_s - min(core)) * 1e3:.0f} ms")
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    if not os.environ.get("DISPLAY") and shutil.which("xvfb-run"):
        os.execvp("xvfb-run", ["xvfb-run", "-a", sys.executable, *sys.argv])
    main()
