"""How interactive the gaze layers stay for a 10-minute 120 Hz recording (~73 000 samples).

Run ``.venv/bin/python benchmarks/bench_gaze_layers.py``; without a display it
runs itself again under ``xvfb-run``.

Measures, in one run on one machine, and prints ratios:

1. Raw gaze shown in full against decimated to every 4th sample: building the
   layer, adding it, and redrawing the canvas (a pan, against the image alone).
   Decides whether the gaze layer must be decimated. Under Xvfb the canvas is
   drawn by a software OpenGL (llvmpipe), so draws cost far more than on a GPU.
2. The Gaze layers widget moving the velocity slider: the longest time the UI
   thread is blocked (the largest gap between ticks of a 5 ms Qt timer) while it
   recomputes fixations, scanpath and heatmap off the UI thread and updates the
   layers in place (raw gaze shown, then hidden), against the naive way: the
   same work on the UI thread, then removing and re-adding the layers.
"""

from __future__ import annotations

import os
import shutil
import sys
import time

import numpy as np


def _ticks_during(app, run, until) -> float:
    """Largest gap (s) between 5 ms timer ticks on the UI thread while ``run()`` works."""
    from qtpy.QtCore import QTimer

    stamps = [time.perf_counter()]
    timer = QTimer()
    timer.setInterval(5)
    timer.timeout.connect(lambda: stamps.append(time.perf_counter()))
    timer.start()
    run()
    deadline = time.perf_counter() + 60
    while not until() and time.perf_counter() < deadline:
        app.processEvents()
        time.sleep(0.001)
    for _ in range(5):
        app.processEvents()
    timer.stop()
    stamps.append(time.perf_counter())
    return float(np.max(np.diff(stamps)))


def _best(function, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    import napari
    from napari.layers import Layer
    from qtpy.QtWidgets import QApplication

    from napari_gazeseg._napari._gaze_compute import FixationSettings, HeatmapSettings, LayerJob, compute_layers
    from napari_gazeseg._napari.gaze_layers_widget import GazeLayersWidget
    from napari_gazeseg._napari.layers import gaze_layer, gaze_layers, layer_kind
    from napari_gazeseg.gaze.fixations import detect_fixations_ivt
    from napari_gazeseg.gaze.simulate import simulate_observer

    scene = simulate_observer("cells", shape=(1024, 1024), n_objects=150, seed=0)
    recording = scene.recording
    print(f"recording: {len(recording)} samples, {recording.duration:.0f} s at 120 Hz")
    decimated = recording.select(np.arange(0, len(recording), 4))

    viewer = napari.Viewer()
    app = QApplication.instance()
    viewer.add_image(scene.image, name="cells")

    def pan():
        viewer.camera.center = (float(np.random.uniform(200, 800)), float(np.random.uniform(200, 800)))
        viewer.screenshot(canvas_only=True)

    # 1. full against decimated raw gaze
    viewer.screenshot(canvas_only=True)
    baseline = _best(pan, repeats=5)
    print(f"image only: redraw {baseline * 1e3:6.1f} ms")
    results = {}
    for label, rec in (("all samples", recording), ("every 4th", decimated)):
        build = _best(lambda: gaze_layer(rec, name=label))
        data = gaze_layer(rec, name=label)
        start = time.perf_counter()
        layer = viewer.add_layer(Layer.create(*data))
        viewer.screenshot(canvas_only=True)
        add = time.perf_counter() - start
        redraw = _best(pan, repeats=5)
        viewer.layers.remove(layer)
        results[label] = (build, add, redraw)
        print(f"{label:>12}: build {build * 1e3:7.1f} ms, add+draw {add * 1e3:7.1f} ms, "
              f"redraw {redraw * 1e3:6.1f} ms")
    full, thin = results["all samples"], results["every 4th"]
    print(f"ratio all/every-4th: build {full[0] / thin[0]:.2f}x, add+draw {full[1] / thin[1]:.2f}x, "
          f"redraw {full[2] / thin[2]:.2f}x, redraw time the gaze adds "
          f"{(full[2] - baseline) / max(thin[2] - baseline, 1e-9):.2f}x")

    # 2. the widget's threaded in-place update against the naive UI-thread rebuild
    fixations = detect_fixations_ivt(recording)
    for data in gaze_layers(recording, fixations, name="cells", visible=("gaze", "fixations", "scanpath", "heatmap")):
        viewer.add_layer(Layer.create(*data))
    widget = GazeLayersWidget(viewer)
    updates = []
    widget.updated.connect(lambda: updates.append(time.perf_counter()))
    threaded_gaps = []
    for value in (45.0, 60.0, 90.0):
        count = len(updates)
        threaded_gaps.append(
            _ticks_during(app, lambda v=value: widget._velocity.setValue(v), lambda c=count: len(updates) > c)
        )
    threaded = float(np.median(threaded_gaps))
    widget.group_layers()["gaze"].visible = False  # as gaze_layers opens recordings this long
    hidden_gaps = []
    for value in (50.0, 70.0, 95.0):
        count = len(updates)
        hidden_gaps.append(
            _ticks_during(app, lambda v=value: widget._velocity.setValue(v), lambda c=count: len(updates) > c)
        )
    hidden = float(np.median(hidden_gaps))
    widget.group_layers()["gaze"].visible = True

    def naive(value: float) -> None:
        job = LayerJob(
            recording=recording, fixations=None,
            fixation_settings=FixationSettings(velocity_threshold=value), heatmap_settings=HeatmapSettings(),
            redo_fixations=True, redo_heatmap=True, name="cells", group="naive", shape=(1024, 1024),
        )
        for result in compute_layers(job):
            for kind in ("heatmap", "scanpath", "fixations"):
                if kind in result:
                    for old in [lay for lay in viewer.layers if layer_kind(lay) == kind]:
                        viewer.layers.remove(old)
                    viewer.add_layer(Layer.create(*result[kind]))

    naive_gaps = [_ticks_during(app, lambda v=value: naive(v), lambda: True) for value in (45.0, 60.0, 90.0)]
    blocked = float(np.median(naive_gaps))
    print(f"UI thread blocked per slider move: widget {threaded * 1e3:.0f} ms, "
          f"naive rebuild on the UI thread {blocked * 1e3:.0f} ms, ratio naive/widget {blocked / threaded:.1f}x")
    print(f"  with the raw gaze hidden (the default this long): widget {hidden * 1e3:.0f} ms, "
          f"{threaded / hidden:.1f}x less than with it shown")
    viewer.close()


if __name__ == "__main__":
    if not os.environ.get("DISPLAY") and shutil.which("xvfb-run"):
        # napari needs a display: run again under a virtual one (as `make bench` does not)
        os.execvp("xvfb-run", ["xvfb-run", "-a", sys.executable, *sys.argv])
    main()
