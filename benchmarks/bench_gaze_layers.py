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
3. The scanpath's in-place update alone: the Vectors layer of segments
   (:func:`scanpath_layer`) against the same scanpath as one Shapes path per
   run (what it was before), on the UI thread, best of a few.

``--widget-only`` skips 1 (the raw gaze part, the slowest under Xvfb).
"""

from __future__ import annotations

import os
import shutil
import sys
import time

import numpy as np
from _common import best_time

#: UI-thread CPU seconds inside each largest gap measured by :func:`_ticks_during`, in
#: order: less sensitive than the gap itself to other jobs on a shared machine (but
#: without the software OpenGL's own threads, which draw the canvas).
GAP_CPU: list[float] = []


def _ticks_during(app, run, until) -> float:
    """Largest gap (s) between 5 ms timer ticks on the UI thread while ``run()`` works."""
    from qtpy.QtCore import QTimer

    stamps = [time.perf_counter()]
    cpu = [time.thread_time()]

    def tick():
        stamps.append(time.perf_counter())
        cpu.append(time.thread_time())

    timer = QTimer()
    timer.setInterval(5)
    timer.timeout.connect(tick)
    timer.start()
    run()
    deadline = time.perf_counter() + 60
    while not until() and time.perf_counter() < deadline:
        app.processEvents()
        time.sleep(0.001)
    for _ in range(5):
        app.processEvents()
    timer.stop()
    tick()
    largest = int(np.argmax(np.diff(stamps)))
    GAP_CPU.append(cpu[largest + 1] - cpu[largest])
    return float(stamps[largest + 1] - stamps[largest])


def main() -> None:
    import napari
    from qtpy.QtWidgets import QApplication

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

    viewer.screenshot(canvas_only=True)
    if "--widget-only" not in sys.argv:
        _raw_gaze(viewer, recording, decimated, pan)
    _widget(viewer, app, recording)
    _scanpath(viewer, recording)
    viewer.close()


def _raw_gaze(viewer, recording, decimated, pan) -> None:
    """1. full against decimated raw gaze."""
    from napari.layers import Layer

    from napari_gazeseg._napari.layers import gaze_layer

    baseline = best_time(pan, repeats=5)
    print(f"image only: redraw {baseline * 1e3:6.1f} ms")
    results = {}
    for label, rec in (("all samples", recording), ("every 4th", decimated)):
        build = best_time(lambda: gaze_layer(rec, name=label))
        data = gaze_layer(rec, name=label)
        start = time.perf_counter()
        layer = viewer.add_layer(Layer.create(*data))
        viewer.screenshot(canvas_only=True)
        add = time.perf_counter() - start
        redraw = best_time(pan, repeats=5)
        viewer.layers.remove(layer)
        results[label] = (build, add, redraw)
        print(f"{label:>12}: build {build * 1e3:7.1f} ms, add+draw {add * 1e3:7.1f} ms, "
              f"redraw {redraw * 1e3:6.1f} ms")
    full, thin = results["all samples"], results["every 4th"]
    print(f"ratio all/every-4th: build {full[0] / thin[0]:.2f}x, add+draw {full[1] / thin[1]:.2f}x, "
          f"redraw {full[2] / thin[2]:.2f}x, redraw time the gaze adds "
          f"{(full[2] - baseline) / max(thin[2] - baseline, 1e-9):.2f}x")


def _widget(viewer, app, recording) -> None:
    """2. the widget's threaded in-place update against the naive UI-thread rebuild."""
    from napari.layers import Layer

    from napari_gazeseg._napari._gaze_compute import FixationSettings, HeatmapSettings, LayerJob, compute_layers
    from napari_gazeseg._napari.gaze_layers_widget import GazeLayersWidget
    from napari_gazeseg._napari.layers import gaze_layers, layer_kind
    from napari_gazeseg.gaze.fixations import detect_fixations_ivt

    fixations = detect_fixations_ivt(recording)
    for data in gaze_layers(recording, fixations, name="cells", visible=("gaze", "fixations", "scanpath", "heatmap")):
        viewer.add_layer(Layer.create(*data))
    widget = GazeLayersWidget(viewer)
    applied = []  # seconds of each _apply: our layer updates on the UI thread, without the canvas paint
    apply = widget._apply

    def timed_apply(*args, **kwargs):
        start = time.perf_counter()
        apply(*args, **kwargs)
        applied.append(time.perf_counter() - start)

    widget._apply = timed_apply
    updates = []
    widget.updated.connect(lambda: updates.append(time.perf_counter()))
    GAP_CPU.clear()
    threaded_gaps = []
    for value in (45.0, 60.0, 90.0):
        count = len(updates)
        threaded_gaps.append(
            _ticks_during(app, lambda v=value: widget._velocity.setValue(v), lambda c=count: len(updates) > c)
        )
    threaded = float(np.median(threaded_gaps))
    applied_shown, applied[:] = list(applied), []
    widget.group_layers()["gaze"].visible = False  # as gaze_layers opens recordings this long
    cpu_shown = list(GAP_CPU)
    GAP_CPU.clear()
    hidden_gaps = []
    for value in (50.0, 70.0, 95.0):
        count = len(updates)
        hidden_gaps.append(
            _ticks_during(app, lambda v=value: widget._velocity.setValue(v), lambda c=count: len(updates) > c)
        )
    hidden = float(np.median(hidden_gaps))
    cpu_hidden = list(GAP_CPU)
    applied_hidden = list(applied)
    numbers = widget.group_layers()["fixations"].text
    numbers_hidden = not numbers.visible  # above FIXATION_NUMBERS_SHOWN_MAX fixations
    numbers_gaps, numbers_cpu = [], []
    if numbers_hidden:  # the same with the user switching the numbers on
        numbers.visible = True
        GAP_CPU.clear()
        for value in (55.0, 75.0, 100.0):
            count = len(updates)
            numbers_gaps.append(
                _ticks_during(app, lambda v=value: widget._velocity.setValue(v), lambda c=count: len(updates) > c)
            )
        numbers_cpu = list(GAP_CPU)
        numbers.visible = False
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
    print(f"  largest blocks per move, shown: {', '.join(f'{g * 1e3:.0f}' for g in threaded_gaps)} ms; "
          f"hidden: {', '.join(f'{g * 1e3:.0f}' for g in hidden_gaps)} ms")
    print(f"  UI-thread CPU inside those blocks, shown: {', '.join(f'{c * 1e3:.0f}' for c in cpu_shown)} ms; "
          f"hidden: {', '.join(f'{c * 1e3:.0f}' for c in cpu_hidden)} ms (load average {os.getloadavg()[0]:.1f})")
    if numbers_hidden:
        print(f"  the fixation numbers start hidden (more than FIXATION_NUMBERS_SHOWN_MAX); switched on, raw gaze "
              f"hidden: {float(np.median(numbers_gaps)) * 1e3:.0f} ms (blocks "
              f"{', '.join(f'{g * 1e3:.0f}' for g in numbers_gaps)} ms, UI-thread CPU "
              f"{', '.join(f'{c * 1e3:.0f}' for c in numbers_cpu)} ms)")
    else:
        print("  the fixation numbers are shown in both")
    print(f"  of which the widget's layer updates (largest _apply call, no paint): shown "
          f"{max(applied_shown) * 1e3:.0f} ms, hidden {max(applied_hidden) * 1e3:.0f} ms; the rest is "
          "the canvas paint (software OpenGL under Xvfb, and vispy laying out the fixation numbers)")


def _shapes_scanpath(layer_data):
    """The same scanpath as the former layer: one Shapes path per run (kwargs of the Vectors one)."""
    data, kwargs, _type = layer_data
    features = kwargs["features"]
    paths, firsts = [], np.flatnonzero(np.r_[True, np.diff(features["first_fixation"]) != 0])
    bounds = list(firsts) + [len(data)]
    for a, b in zip(bounds[:-1], bounds[1:]):
        paths.append(np.vstack([data[a:b, 0], data[b - 1, 0] + data[b - 1, 1]]))
    colors = kwargs["edge_color"][firsts] if len(data) else "white"
    return paths, colors, features.iloc[firsts].reset_index(drop=True)


def _scanpath(viewer, recording) -> None:
    """3. the scanpath's in-place update: Vectors segments against Shapes paths."""
    from napari.layers import Layer

    from napari_gazeseg._napari.layers import scanpath_layer, update_layer
    from napari_gazeseg.gaze.fixations import detect_fixations_ivt

    built = [scanpath_layer(detect_fixations_ivt(recording, velocity_threshold=v), image_shape=(1024, 1024))
             for v in (45.0, 60.0, 90.0)]
    if built[0][2] != "vectors":  # run on a checkout from before the Vectors scanpath
        print("scanpath is not a Vectors layer here: part 3 skipped")
        return
    vectors = viewer.add_layer(Layer.create(*built[0]))
    paths, colors, features = _shapes_scanpath(built[0])
    shapes = viewer.add_shapes(paths, shape_type="path", edge_color=colors, features=features,
                               edge_width=built[0][1]["edge_width"])

    def as_shapes(layer_data):
        paths, colors, features = _shapes_scanpath(layer_data)
        shapes.data = []
        shapes.add(paths, shape_type="path", edge_color=colors)
        shapes.features = features

    times = {"vectors": [], "shapes": []}
    for layer_data in built[1:] + built[:1]:
        for label, update in (("vectors", lambda d=layer_data: update_layer(vectors, d)),
                              ("shapes", lambda d=layer_data: as_shapes(d))):
            start = time.perf_counter()
            update()
            times[label].append(time.perf_counter() - start)
    vec, sha = min(times["vectors"]), min(times["shapes"])
    print(f"scanpath update in place ({len(built[1][0])} segments, "
          f"{len(_shapes_scanpath(built[1])[0])} paths): Vectors {vec * 1e3:.0f} ms, "
          f"Shapes paths {sha * 1e3:.0f} ms, ratio Shapes/Vectors {sha / vec:.1f}x")
    viewer.layers.remove(vectors)
    viewer.layers.remove(shapes)


if __name__ == "__main__":
    if not os.environ.get("DISPLAY") and shutil.which("xvfb-run"):
        # napari needs a display: run again under a virtual one (as `make bench` does not)
        os.execvp("xvfb-run", ["xvfb-run", "-a", sys.executable, *sys.argv])
    main()
