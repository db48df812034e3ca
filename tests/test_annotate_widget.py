"""The Annotate series widget in a real viewer: a series of simulated images annotated end to end."""

from __future__ import annotations

import json

import imageio.v3 as iio
import numpy as np
import pytest

from napari_gazeseg._napari.annotate_widget import AnnotateSeriesWidget
from napari_gazeseg._napari.layers import gaze_layers
from napari_gazeseg.annotation import AnnotationSeries
from napari_gazeseg.gaze.formats import read_gaze, write_gaze
from napari_gazeseg.gaze.simulate import simulate_observer

WAIT_MS = 30_000


@pytest.fixture(scope="module")
def scenes():
    return [simulate_observer("cells", shape=(96, 112), n_objects=2, seed=s, rate_hz=60.0)
            for s in range(6)]


@pytest.fixture
def folder(tmp_path, scenes):
    src = tmp_path / "series"
    src.mkdir()
    for k, scene in enumerate(scenes):
        iio.imwrite(src / f"cells{k}.png", scene.image)
    return src


def key(text):
    from app_model.types import KeyBinding

    return KeyBinding.from_str(text)


def press(viewer, text):
    viewer.keymap[key(text)](viewer)


def _look(viewer, scene, name):
    """The gaze layers a finished recording on image ``name`` leaves (as the Record panel does)."""
    rec = scene.recording
    meta = dict(rec.meta)
    meta["image"] = {**meta.get("image", {}), "name": name}
    rec = type(rec)(rec.t, rec.coords, rec.valid, rec.screen, rec.object_id, meta)
    for layer_data in gaze_layers(rec, name=name):
        viewer._add_layer_from_data(*layer_data)
    return rec


def test_series_accept_close_reopen_resume(make_napari_viewer, folder, scenes):
    viewer = make_napari_viewer()
    widget = AnnotateSeriesWidget(viewer)
    widget.open_series(folder)
    assert widget.current_name == "cells0"
    assert widget.image_layer.name == "cells0"
    for k in range(3):
        name = widget.current_name
        rec = _look(viewer, scenes[k], name)
        widget.labels_layer.data = scenes[k].labels.astype(np.int32)  # the masks, as segmented
        row = widget.accept()
        assert row["image"] == name and row["gaze"] is True
        assert set(row["object_seconds"]) == {"1", "2"}
        assert read_gaze(widget.series.output / "gaze" / f"{name}.gaze.tsv").equals(rec)
    assert widget.current_name == "cells3"
    widget.close_panel()
    viewer.close()

    viewer = make_napari_viewer()
    widget = AnnotateSeriesWidget(viewer)
    widget.open_series(folder)
    assert widget.index == 3  # resumes at image 4
    assert "3 / 6 accepted" in widget._progress.text()
    widget.previous()
    assert widget.current_name == "cells2"
    np.testing.assert_array_equal(widget.labels_layer.data, scenes[2].labels)  # shown as accepted
    rows = AnnotationSeries(folder).rows()
    assert [r["image"] for r in rows] == ["cells0", "cells1", "cells2"]


def test_hotkeys_accept_and_skip_and_die_with_the_panel(make_napari_viewer, folder, scenes):
    viewer = make_napari_viewer()
    widget = AnnotateSeriesWidget(viewer)
    widget.open_series(folder)
    press(viewer, "Shift-S")
    assert widget.current_name == "cells1"
    widget.labels_layer.data = scenes[1].labels.astype(np.int32)
    press(viewer, "Shift-A")
    assert widget.current_name == "cells2"
    states = [e.state for e in widget.series.images]
    assert states[:2] == ["skipped", "accepted"]
    widget.close_panel()
    assert key("Shift-A") not in viewer.keymap and key("Shift-S") not in viewer.keymap


def test_corrections_are_counted_from_brush_strokes(make_napari_viewer, folder):
    viewer = make_napari_viewer()
    widget = AnnotateSeriesWidget(viewer)
    widget.open_series(folder)
    labels = widget.labels_layer
    labels.data = np.zeros_like(labels.data)  # as the segment widget writes (no correction)
    labels.mode = "paint"
    labels.paint((10, 10), 1)
    labels.paint((20, 20), 1)
    labels.mode = "pan_zoom"
    row = widget.accept()
    assert row["corrections"] == 2
    assert row["gaze"] is False  # nothing was recorded: said in the row and the status
    assert "no gaze was recorded" in widget._status.text()
