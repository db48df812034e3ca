"""``make demo``: the bundled sample, its gaze layers and a segmentation from gaze, in napari.

Opens napari with File > Open Sample > Synthetic cells with gaze (an image, the
simulated observer's raw gaze, fixations, scanpath and heatmap), docks the Gaze
layers and Segment with gaze widgets, and segments the objects looked at with
the bundled GradTrack model: one label per object session. It then writes

* ``OUTPUT/screenshot.png``: the napari window with its widgets;
* ``OUTPUT/labels.tif``: the label image (int32, 0 background, object ids);

and prints each object's Dice against the sample's ground truth. With
``--show`` the viewer stays open afterwards (``make demo`` passes it when a
display is available; without one it runs under Xvfb and exits).

    python -m napari_gazeseg.demo --output demo-output [--show]

The bundled GradTrack model is trained on synthetic fluorescence cells only, so
the demo uses that sample (on the immunohistochemistry sample it finds nothing).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

PLUGIN = "napari-gazeseg"
SAMPLE = "synthetic_cells"
TIMEOUT_S = 300


def _wait_for(signal, failed, timeout_s: float) -> None:
    """Run the Qt event loop until ``signal`` (or ``failed(str)``) fires; raise on failure or timeout."""
    from qtpy.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    outcome: dict[str, str] = {}
    signal.connect(loop.quit)
    failed.connect(lambda message: (outcome.setdefault("error", message), loop.quit()))
    timer = QTimer()
    timer.setSingleShot(True)
    timer.timeout.connect(lambda: (outcome.setdefault("error", f"no result in {timeout_s:.0f} s"), loop.quit()))
    timer.start(int(timeout_s * 1000))
    loop.exec()
    timer.stop()
    if "error" in outcome:
        raise RuntimeError(outcome["error"])


def _settle(app, seconds: float) -> None:
    """Let napari draw (and the gaze layers widget finish its first computation)."""
    import time

    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.02)


def dice(a: np.ndarray, b: np.ndarray) -> float:
    """Dice coefficient of two boolean masks (1.0 when both are empty)."""
    total = int(a.sum()) + int(b.sum())
    return 1.0 if total == 0 else 2.0 * int(np.logical_and(a, b).sum()) / total


def run(output: Path, show: bool = False) -> dict[int, float]:
    """Run the demo; returns each labelled object's Dice against the ground truth."""
    import napari
    import tifffile
    from qtpy.QtWidgets import QApplication

    output.mkdir(parents=True, exist_ok=True)
    viewer = napari.Viewer(title="napari-gazeseg demo", show=True)
    viewer.window.resize(1500, 950)
    viewer.open_sample(PLUGIN, SAMPLE)
    _, gaze_widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Gaze layers")
    _, segment_widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Segment with gaze")
    app = QApplication.instance()
    _settle(app, 2.0)

    print("segmenting the objects looked at with the bundled GradTrack model ...", flush=True)
    segment_widget.set_gradtrack(checkpoint=None, by_gaze=True)
    if segment_widget.segment() is None:
        raise RuntimeError("the segmentation could not start; see the message above.")
    _wait_for(segment_widget.finished, segment_widget.failed, TIMEOUT_S)
    labels_layer = next(layer for layer in viewer.layers if layer.name.endswith("gaze masks"))
    truth_layer = next(layer for layer in viewer.layers if layer.name.endswith("ground truth"))
    labels = np.asarray(labels_layer.data, dtype=np.int32)
    scores = {
        int(i): dice(labels == i, truth_layer.data == i) for i in np.unique(labels) if i
    }

    labels_layer.opacity = 0.55
    viewer.layers.selection.active = labels_layer
    viewer.reset_view()
    _settle(app, 1.0)
    labels_path = output / "labels.tif"
    screenshot_path = output / "screenshot.png"
    tifffile.imwrite(labels_path, labels)
    viewer.screenshot(str(screenshot_path), canvas_only=False)
    for object_id, score in scores.items():
        print(f"  object {object_id}: Dice {score:.3f} against the sample's ground truth")
    print(f"wrote {screenshot_path.resolve()}")
    print(f"wrote {labels_path.resolve()} ({len(scores)} objects)")
    if show:
        napari.run()
    else:
        viewer.close()
    return scores


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m napari_gazeseg.demo", description=__doc__.split("\n")[0])
    parser.add_argument("--output", type=Path, default=Path("demo-output"), help="folder for the outputs")
    parser.add_argument("--show", action="store_true", help="keep the viewer open afterwards")
    args = parser.parse_args(argv)
    try:
        run(args.output, args.show)
    except RuntimeError as err:
        print(f"demo: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
