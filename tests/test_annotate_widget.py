"""The Annotate series widget in a real viewer: a series of simulated images annotated end to end."""

from __future__ import annotations

import json

import imageio.v3 as iio
import numpy as np
import pytest
from conftest import image_folder

from sam_tiny import tiny_checkpoint  # noqa: F401  (fixture)

from napari_gazeseg._napari.annotate_widget import AnnotateSeriesWidget
from napari_gazeseg._napari.layers import gaze_layers
from napari_gazeseg.annotation import AnnotationSeries
from napari_gazeseg.gaze.formats import read_gaze, write_gaze
from napari_gazeseg.gaze.simulate import simulate_observer

WAIT_MS = 30_000


@pytest.fixture(autouse=True)
def private_user_cache(monkeypatch, tmp_path):
    """Embeddings and downloads of these tests never go to the user's real cache folder."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "user-cache"))


@pytest.fixture(scope="module")
def scenes():
    return [simulate_observer("cells", shape=(96, 112), n_objects=2, seed=s, rate_hz=60.0)
            for s in range(6)]


@pytest.fixture
def folder(tmp_path, scenes):
    return image_folder(tmp_path / "series", [scene.image for scene in scenes], "cells")


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


@pytest.mark.slow
def test_six_images_end_to_end_with_replay_and_live_panels(make_napari_viewer, qtbot, folder, scenes,
                                                           tmp_path):
    """Replay each image's simulated observer through Record gaze, segment with GradTrack in
    Segment with gaze, accept; close after three, reopen, resume at image 4, finish."""
    from napari_gazeseg._napari.record_widget import SOURCE_REPLAY, RecordGazeWidget
    from napari_gazeseg._napari.segment_widget import SegmentWithGazeWidget

    def panels():
        viewer = make_napari_viewer()
        record = RecordGazeWidget(viewer)
        viewer.window.add_dock_widget(record, name="Record gaze")
        segment = SegmentWithGazeWidget(viewer)
        viewer.window.add_dock_widget(segment, name="Segment with gaze")
        segment.set_gradtrack(None, by_gaze=True)
        widget = AnnotateSeriesWidget(viewer)
        viewer.window.add_dock_widget(widget, name="Annotate series")
        widget.open_series(folder)
        return viewer, record, segment, widget

    def annotate_current(viewer, record, segment, widget):
        k = widget.index
        name = widget.current_name
        observed = scenes[k].recording
        meta = {**observed.meta, "image": {**observed.meta.get("image", {}), "name": name}}
        original = type(observed)(observed.t, observed.coords, observed.valid, observed.screen,
                                  observed.object_id, meta)
        path = tmp_path / f"observer{k}.gaze.tsv"
        write_gaze(original, path)
        record.source_box.setCurrentText(SOURCE_REPLAY)
        record.replay_edit.setText(str(path))
        record.speed_box.setValue(50.0)
        record.save_edit.setText(str(tmp_path / f"session{k}.gaze.tsv"))
        record.start_recording()
        assert record.recorder is not None, record.status_label.text()
        assert record.recorder.source.wait(timeout=20.0)
        qtbot.waitUntil(lambda: record.recorder is None, timeout=WAIT_MS)  # stops at the file's end
        with qtbot.waitSignal(segment.finished, timeout=WAIT_MS):
            assert segment.segment() is not None
        assert widget.labels_layer.data.max() > 0, segment.status
        row = widget.accept()
        assert row is not None and row["gaze"] is True
        assert set(row["object_seconds"]) == {"1", "2"}
        return name

    viewer, record, segment, widget = panels()
    done = [annotate_current(viewer, record, segment, widget) for _ in range(3)]
    assert done == ["cells0", "cells1", "cells2"]
    widget.close()
    viewer.close()

    viewer, record, segment, widget = panels()
    assert widget.index == 3 and widget.current_name == "cells3"
    done += [annotate_current(viewer, record, segment, widget) for _ in range(3)]
    assert "6 / 6 accepted" in widget._progress.text()
    out = widget.series.output
    rows = [json.loads(line) for line in (out / "annotations.jsonl").read_text().splitlines()]
    assert [r["image"] for r in rows] == [f"cells{k}" for k in range(6)]
    for k, r in enumerate(rows):
        mask = iio.imread(out / r["files"]["mask"])
        assert mask.shape == scenes[k].labels.shape
        # GradTrack by gaze: the two looked-at cells get labels 1 and 2, each mostly right
        for oid in (1, 2):
            truth = scenes[k].labels == oid
            dice = 2 * np.logical_and(mask == oid, truth).sum() / ((mask == oid).sum() + truth.sum())
            assert dice > 0.5, (k, oid, dice)
        recorded = read_gaze(out / r["files"]["gaze"])
        assert len(recorded) == len(scenes[k].recording)


def _spy_on_sam_prompts(monkeypatch) -> list:
    """``[[object id, SamPrompt], ...]`` as the real GazeSam.segment / predict see them."""
    from napari_gazeseg.models import GazeSam

    decoded = []
    segment_real, predict_real = GazeSam.segment, GazeSam.predict

    def segment_spy(self, fixations=None, *args, **kwargs):
        decoded.append([int(np.unique(fixations.object_id)[0]), None])
        return segment_real(self, fixations, *args, **kwargs)

    def predict_spy(self, prompt, *args, **kwargs):
        decoded[-1][1] = prompt
        return predict_real(self, prompt, *args, **kwargs)

    monkeypatch.setattr(GazeSam, "segment", segment_spy)
    monkeypatch.setattr(GazeSam, "predict", predict_spy)
    return decoded


def test_a_negative_click_then_a_box_re_decode_the_object_with_sam(make_napari_viewer, qtbot, folder,
                                                                   scenes, tiny_checkpoint,  # noqa: F811
                                                                   monkeypatch):
    """Correction as micro-sam users expect: a background click on a wrongly included pixel of
    object 1; SAM decodes object 1 again from its gaze plus the click (tiny random SAM), the
    other object is untouched. Then a rectangle drawn for object 1 (the last of two counts)
    replaces its gaze box in the one SamPrompt the real GazeSam decodes, with its gaze points
    and click; object 2, re-decoded for a click of its own, gets no box; the row counts both."""
    from sam_tiny import TINY_TYPE

    from napari_gazeseg._napari.segment_widget import SegmentWithGazeWidget
    from napari_gazeseg.models import GazeSam
    from napari_gazeseg.models.sam_prompts import points_to_sam
    from napari_gazeseg.segmentation import fixations_of

    viewer = make_napari_viewer()
    segment = SegmentWithGazeWidget(viewer)
    viewer.window.add_dock_widget(segment, name="Segment with gaze")
    segment.set_sam(TINY_TYPE, str(tiny_checkpoint))
    widget = AnnotateSeriesWidget(viewer)
    widget.open_series(folder)
    rec = _look(viewer, scenes[0], "cells0")
    with qtbot.waitSignal(segment.finished, timeout=WAIT_MS):
        assert segment.segment() is not None
    before = np.array(widget.labels_layer.data)
    assert (before == 1).any() and (before == 2).any(), segment.status
    wrong = np.argwhere(before == 1)[0]  # a pixel SAM put into object 1
    widget.add_click(*wrong, object_id=1, positive=False)
    assert widget.clicks().keys() == {1}
    with qtbot.waitSignal(segment.finished, timeout=WAIT_MS):
        assert widget.resegment_with_clicks() is not None
    after = np.array(widget.labels_layer.data)
    sam = GazeSam(TINY_TYPE, tiny_checkpoint, device="cpu")
    sam.set_image(scenes[0].image)
    expected = sam.segment(fixations_of(rec).for_object(1), rec.for_object(1), "fixations",
                           mask="best", clicks=(None, wrong[None].astype(float)))
    np.testing.assert_array_equal(after == 1, expected & ~(before == 2) | ((after == 1) & (before == 2)))
    assert not np.array_equal(after == 1, before == 1)  # the click changed object 1
    np.testing.assert_array_equal(after == 2, (before == 2) & (after != 1))  # object 2 kept

    decoded = _spy_on_sam_prompts(monkeypatch)
    boxes = widget.boxes_layer
    assert boxes.name == "cells0 boxes" and len(boxes.data) == 0
    widget.add_box(5.0, 5.0, 15.0, 20.0, object_id=1)  # superseded by the next one
    widget._click_object.setValue(1)  # what the rectangle tool then draws with
    boxes.add_rectangles(np.array([[60.0, 70.0], [20.0, 30.0]]))  # dragged up and to the left
    assert boxes.features["object_id"].tolist() == [1, 1]
    np.testing.assert_allclose(boxes.edge_color[-1], widget.labels_layer.get_color(1))
    widget.add_click(40.0, 50.0, object_id=2, positive=True)
    np.testing.assert_allclose(widget.prompts_layer.face_color[0], [1.0, 48 / 255, 48 / 255, 1.0])
    boxes.add_ellipses(np.array([[30.0, 30.0], [50.0, 60.0]]))  # refused, and then deleted
    assert widget.resegment_with_clicks() is None
    assert widget._status.text().startswith("Box 3 of cells0 boxes is an ellipse: SAM takes")
    boxes.selected_data = {2}
    boxes.remove_selected()
    with qtbot.waitSignal(segment.finished, timeout=WAIT_MS):
        assert widget.resegment_with_clicks() is not None, widget._status.text()
    prompts = dict(decoded)
    assert sorted(prompts) == [1, 2] and len(decoded) == 2, decoded
    size = before.shape
    np.testing.assert_allclose(prompts[1].box,
                               points_to_sam([[20.0, 30.0], [60.0, 70.0]], size).reshape(4))
    gaze_points = fixations_of(rec).for_object(1).coords
    np.testing.assert_allclose(prompts[1].point_coords,
                               points_to_sam(np.concatenate([gaze_points, wrong[None]]), size))
    assert prompts[1].point_labels.tolist() == [1] * len(gaze_points) + [0]
    assert prompts[2].box is None  # the panel's prompt is "fixations": no box for object 2
    assert prompts[2].point_labels.tolist()[-1] == 1  # object 2: its gaze plus its click
    row = widget.accept()
    logged = AnnotationSeries(folder).rows()[-1]
    assert row["clicks"] == logged["clicks"] == 2 and row["boxes"] == logged["boxes"] == 2


def test_propagate_an_objects_mask_through_a_stack_undo_and_accept(make_napari_viewer, qtbot, tmp_path,
                                                                   tiny_checkpoint):  # noqa: F811
    """3D stacks: object 3's mask on plane 1 carried to every other plane with SAM (tiny random SAM,
    the widget's worker), each plane one undoable edit, another object's pixels kept, and the 3D
    mask saved by Accept & next."""
    from sam_tiny import TINY_TYPE

    from napari_gazeseg._napari.segment_widget import SegmentWithGazeWidget, embeddings_dir
    from napari_gazeseg.models import GazeSam
    from napari_gazeseg.segmentation import ObjectMask, paint_mask
    from napari_gazeseg.stack_propagation import PropagationEnd, propagate_mask

    rows, cols = np.mgrid[:40, :48]
    stack = np.full((4, 40, 48), 20, np.uint8)
    for z in range(4):  # a disk growing through the planes
        stack[z][(rows - 20) ** 2 + (cols - 22) ** 2 < (7 + z) ** 2] = 200
    folder = tmp_path / "stacks"
    folder.mkdir()
    iio.imwrite(folder / "vol.tif", stack)

    viewer = make_napari_viewer()
    segment = SegmentWithGazeWidget(viewer)
    viewer.window.add_dock_widget(segment, name="Segment with gaze")
    segment.set_sam(TINY_TYPE, str(tiny_checkpoint))
    widget = AnnotateSeriesWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Annotate series")
    widget.open_series(folder)
    labels = widget.labels_layer
    assert labels.data.shape == stack.shape and widget._propagate.isEnabled()
    start = stack[1] > 100
    before = np.zeros(stack.shape, np.int32)
    before[1][start] = 3
    before[2, :4, :4] = 5  # another object, kept
    labels.data = before.copy()
    viewer.dims.set_current_step(0, 1)
    widget.set_propagation(3, planes_each_way=None, iou_threshold=0.0)
    with qtbot.waitSignal(widget.propagated, timeout=60_000) as blocker:
        assert widget.propagate() is not None

    sam = GazeSam(TINY_TYPE, tiny_checkpoint, device="cpu", cache_dir=str(embeddings_dir()))
    limits = tuple(widget.image_layer.contrast_limits)
    items = list(propagate_mask(sam, stack, start, (1,), 3, iou_threshold=0.0, contrast_limits=limits))
    masks = [m for m in items if isinstance(m, ObjectMask)]
    assert [m.slice_index for m in masks] == [(2,), (3,), (0,)]  # up to the end, then down
    assert [e.reason for e in items if isinstance(e, PropagationEnd)] == ["end of the stack"] * 2
    expected = before.copy()
    for m in masks:
        paint_mask(expected[m.slice_index], m.mask, 3)
    np.testing.assert_array_equal(labels.data, expected)
    assert blocker.args[0]["planes"] == [2, 3, 0] and blocker.args[0]["object_id"] == 3
    assert "up: end of the stack; down: end of the stack" in widget._status.text()

    labels.undo()  # the last plane painted (0) goes back; the others stay
    expected[0] = before[0]
    np.testing.assert_array_equal(labels.data, expected)
    row = widget.accept()
    assert row["corrections"] == 0  # the propagation is not counted as brush strokes
    np.testing.assert_array_equal(iio.imread(widget.series.output / row["files"]["mask"]), expected)
