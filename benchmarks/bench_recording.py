"""Recording overhead: CPU and UI event-loop latency while recording gaze.

Run under a display (``xvfb-run -a .venv/bin/python benchmarks/bench_recording.py``).
A real napari viewer shows a 512 x 512 image; the stand-in Tobii SDK
(``tests/fakes``) streams at 120 and 1200 Hz. For each condition, for
``--seconds`` seconds:

* ``idle``: the viewer alone;
* ``napari redraw 10 Hz``: no recording; a 300-point Points layer gets new data
  10 times a second, the rate of the live gaze tail: what napari itself costs
  to re-slice and repaint (software OpenGL under Xvfb on the test machines);
* ``source N Hz``: the stand-in tracker streaming into a no-op callback (the
  cost of the fake itself, which a real tracker spends in its own SDK);
* ``recorder N Hz``: the recorder alone: Tobii adapter -> recorder -> writer
  thread (native file, fsync every 0.2 s) -> UI drain at 40 Hz with a view
  snapshot per tick, signals and live fixations; no layers;
* ``record N Hz``: the full pipeline: Tobii adapter -> recorder -> writer thread
  (native file, fsync every 0.2 s) -> UI drain at 40 Hz -> live gaze tail,
  fixations and heatmap layers, with the view re-snapshotted every tick.

Measured: CPU % of the process (process time / wall time; 100 % = one core)
and the lateness of a 10 ms UI timer (median, 95th percentile, max, ms): how
long a user's click or a repaint would wait. Printed as a table plus the
ratios record / idle and the recording's own CPU (record - source).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from fakes import tobii_research as fake_tr  # noqa: E402


def measure(app, seconds: float) -> dict:
    """CPU % and 10 ms-timer lateness while the Qt event loop runs for ``seconds``."""
    from qtpy.QtCore import QElapsedTimer, QEventLoop, QTimer

    lateness = []
    clock = QElapsedTimer()
    clock.start()
    last = [clock.nsecsElapsed()]

    def tick():
        now = clock.nsecsElapsed()
        lateness.append((now - last[0]) / 1e6 - 10.0)
        last[0] = now

    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(tick)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    timer.start()
    loop = QEventLoop()
    QTimer.singleShot(int(seconds * 1000), loop.quit)
    loop.exec()
    timer.stop()
    cpu = 100.0 * (time.process_time() - cpu0) / (time.perf_counter() - wall0)
    late = np.maximum(np.asarray(lateness), 0.0)
    return {"cpu": cpu, "median": float(np.median(late)), "p95": float(np.percentile(late, 95)), "max": float(late.max())}


def bench_viewer():
    """The recording benchmarks' scene: a shown napari viewer (1000 x 800) with a 512 x 512
    random image, the event loop warmed up, and the four display points (the image's
    corners at 150 / 350 px) the gaze wanders between. Returns (viewer, image, app, places, meta)."""
    import napari
    from qtpy.QtWidgets import QApplication

    from napari_gazeseg.gaze.geometry import ScreenGeometry
    from napari_gazeseg._napari._viewer import camera_of, snapshot_view

    viewer = napari.Viewer(show=True)
    viewer.window._qt_window.resize(1000, 800)
    image = viewer.add_image(np.random.default_rng(0).random((512, 512)).astype(np.float32), name="bench")
    camera_of(viewer).center = (256.0, 256.0)
    app = QApplication.instance()
    measure(app, 1.0)  # warm up
    view = snapshot_view(viewer, image)
    places = view.display_of(np.array([[150.0, 150.0], [150.0, 350.0], [350.0, 350.0], [350.0, 150.0]]))
    meta = {"image": {"shape": [512, 512], "name": "bench"}, "screen": ScreenGeometry.default().to_meta()}
    return viewer, image, app, places, meta


def bench_recorder(source, folder, viewer, image, meta, live_layers: bool):
    """A recorder of ``source`` into ``folder``/bench.gaze.tsv, mapped through ``image``'s
    view; with ``live_layers`` also the live gaze layers it feeds. Returns (recorder, live or None)."""
    from napari_gazeseg._napari.record_widget import LiveGazeLayers
    from napari_gazeseg._napari._viewer import snapshot_view
    from napari_gazeseg.tracking.recorder import GazeRecorder

    recorder = GazeRecorder(source, Path(folder) / "bench.gaze.tsv", partial(snapshot_view, viewer, image), meta=meta)
    live = None
    if live_layers:
        live = LiveGazeLayers(viewer, image, meta)
        recorder.samples_added.connect(live.add_samples)
        recorder.fixations_changed.connect(live.set_fixations)
    return recorder, live


def hide(live) -> None:
    """Take the live layers out of the next condition's drawing."""
    for layer in (live.gaze, live.fixations, live.heatmap):
        if layer is not None:
            layer.visible = False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each condition")
    args = parser.parse_args()

    from napari_gazeseg._napari.record_widget import TAIL_INTERVAL_S
    from napari_gazeseg.tracking.tobii import TobiiSource

    # the gaze wanders over the image: 4 fixation places, 300 ms each
    viewer, image, app, places, meta = bench_viewer()
    results = {"idle": measure(app, args.seconds)}

    # napari's own cost of redrawing: a 300-point layer given new data 10 times a second
    from qtpy.QtCore import QTimer

    rng = np.random.default_rng(1)
    points = viewer.add_points(rng.random((300, 2)) * 512, size=4, face_color="yellow", border_width=0)
    redraw = QTimer()
    redraw.setInterval(int(TAIL_INTERVAL_S * 1000))
    redraw.timeout.connect(lambda: setattr(points, "data", rng.random((300, 2)) * 512))
    redraw.start()
    results["napari redraw 10 Hz"] = measure(app, args.seconds)
    redraw.stop()
    points.visible = False
    for rate in (120.0, 1200.0):
        tracker = fake_tr.EyeTracker(frequency=rate, noise_sd=0.001)
        wander = {"i": 0}

        def move(tracker=tracker, wander=wander):
            wander["i"] += 1
            tracker.look_at(*places[wander["i"] % len(places)])

        from qtpy.QtCore import QTimer

        mover = QTimer()
        mover.setInterval(300)
        mover.timeout.connect(move)
        mover.start()

        def noop(sample):
            return None

        tracker.subscribe_to(fake_tr.EYETRACKER_GAZE_DATA, noop, as_dictionary=True)
        results[f"source {rate:.0f} Hz"] = measure(app, args.seconds)
        tracker.unsubscribe_from(fake_tr.EYETRACKER_GAZE_DATA, noop)

        with tempfile.TemporaryDirectory() as folder:
            # the recorder alone: file, mapping, UI drain, signals, live fixations; no layers
            source = TobiiSource(tracker=tracker, sdk_module=fake_tr)
            recorder, _ = bench_recorder(source, folder, viewer, image, meta, live_layers=False)
            recorder.start()
            recorder.start_object()
            results[f"recorder {rate:.0f} Hz"] = measure(app, args.seconds)
            recorder.stop()

        with tempfile.TemporaryDirectory() as folder:
            source = TobiiSource(tracker=tracker, sdk_module=fake_tr)
            recorder, live = bench_recorder(source, folder, viewer, image, meta, live_layers=True)
            print(f"recording at {rate:.0f} Hz ...", file=sys.stderr, flush=True)
            sent_before = tracker.samples_sent
            recorder.start()
            recorder.start_object()
            results[f"record {rate:.0f} Hz"] = measure(app, args.seconds)
            recorder.stop()
            lost = tracker.samples_sent - sent_before - recorder.samples_written
            hide(live)
        mover.stop()
        results[f"record {rate:.0f} Hz"]["lost"] = lost

    print(f"{'condition':<18}{'CPU %':>8}{'late median ms':>16}{'p95 ms':>9}{'max ms':>9}")
    for name, r in results.items():
        print(f"{name:<18}{r['cpu']:>8.1f}{r['median']:>16.2f}{r['p95']:>9.2f}{r['max']:>9.2f}")
    idle = results["idle"]
    for rate in ("120", "1200"):
        record, source = results[f"record {rate} Hz"], results[f"source {rate} Hz"]
        alone = results[f"recorder {rate} Hz"]
        napari_redraw = results["napari redraw 10 Hz"]
        print(
            f"{rate} Hz: with live layers / napari redraw alone: CPU {record['cpu'] / napari_redraw['cpu']:.2f}x, "
            f"UI lateness p95 {record['p95'] / max(napari_redraw['p95'], 1e-3):.2f}x"
        )
        print(
            f"{rate} Hz: CPU above the source: recorder alone {alone['cpu'] - source['cpu']:.1f} %, "
            f"with live layers {record['cpu'] - source['cpu']:.1f} % of a core; "
            f"UI lateness p95 / idle: recorder alone {alone['p95'] / max(idle['p95'], 1e-3):.2f}x, "
            f"with live layers {record['p95'] / max(idle['p95'], 1e-3):.2f}x; samples lost {record['lost']}"
        )
    viewer.close()


if __name__ == "__main__":
    main()
