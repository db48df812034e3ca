"""Screenshot of the Annotate series panel mid-series in a real viewer, for docs/annotate.md.

    xvfb-run -a .venv/bin/python scripts/screenshot_annotate.py docs/images/annotate.png

Six synthetic cell images; the first two accepted with the simulated observer's
gaze and GradTrack's masks; the third shown with its gaze layers and masks, as
after recording and segmenting it.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import imageio.v3 as iio
import napari
from _qt_wait import run_until
from qtpy.QtWidgets import QApplication

from napari_gazeseg._napari.layers import gaze_layers
from napari_gazeseg.commands.annotate import open_annotator
from napari_gazeseg.gaze.fixations import detect_fixations_ivt
from napari_gazeseg.gaze.simulate import simulate_observer


def look(viewer, scene, name):
    rec = scene.recording
    meta = {**rec.meta, "image": {**rec.meta.get("image", {}), "name": name}}
    rec = type(rec)(rec.t, rec.coords, rec.valid, rec.screen, rec.object_id, meta)
    for layer_data in gaze_layers(rec, detect_fixations_ivt(rec), name=name):
        viewer._add_layer_from_data(*layer_data)


def segment_and_wait(viewer):
    segment = viewer.window.dock_widgets["Segment with gaze"]
    run_until(segment.finished, segment.segment)


def main(out: str) -> None:
    folder = Path(tempfile.mkdtemp()) / "slides"
    folder.mkdir()
    scenes = [simulate_observer("cells", shape=(256, 256), n_objects=3, seed=20 + k) for k in range(6)]
    for k, scene in enumerate(scenes):
        iio.imwrite(folder / f"slide{k + 1}.png", scene.image)
    viewer = napari.Viewer()
    viewer.window._qt_window.resize(1600, 950)
    widget = open_annotator(folder, viewer=viewer)
    viewer.window.dock_widgets["Segment with gaze"].set_gradtrack(None, by_gaze=True)
    for k in range(3):
        look(viewer, scenes[k], widget.current_name)
        segment_and_wait(viewer)
        if k < 2:
            widget.accept()
    for _ in range(30):
        QApplication.instance().processEvents()
    viewer.screenshot(out, canvas_only=False)
    print(f"wrote {out}")
    viewer.close()


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "annotate.png")
