"""Screenshot of the Gaze metrics widget in a real viewer, for docs/metrics.md.

    xvfb-run -a .venv/bin/python scripts/screenshot_metrics.py docs/images/metrics.png

Opens the synthetic cells sample with its simulated gaze, uses the ground-truth
labels as AOIs, docks the Gaze metrics widget and waits for its table.
"""

from __future__ import annotations

import sys

import napari
from _qt_wait import run_until
from qtpy.QtWidgets import QApplication

from napari_gazeseg._napari.layers import gaze_layers
from napari_gazeseg._napari.metrics_widget import GazeMetricsWidget
from napari_gazeseg.gaze.fixations import detect_fixations_ivt
from napari_gazeseg.gaze.simulate import simulate_observer


def main(out: str) -> None:
    scene = simulate_observer("cells", shape=(256, 256), n_objects=5, seed=0)
    viewer = napari.Viewer(show=True)
    viewer.window._qt_window.resize(1500, 950)
    viewer.add_image(scene.image, name="cells")
    fixations = detect_fixations_ivt(scene.recording)
    for layer_data in gaze_layers(scene.recording, fixations, name="cells"):
        viewer._add_layer_from_data(*layer_data)
    viewer.add_labels(scene.labels, name="AOIs (cells)", opacity=0.35)
    widget = GazeMetricsWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Gaze metrics", area="right")
    run_until(widget.updated, widget.schedule)
    app = QApplication.instance()
    widget._table.selectRow(1)
    for _ in range(20):
        app.processEvents()
    viewer.screenshot(out, canvas_only=False)
    print(f"wrote {out}")
    viewer.close()


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "metrics.png")
