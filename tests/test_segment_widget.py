"""The "Segment with gaze" widget in a real napari viewer, with a tiny SAM (run under xvfb-run)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from sam_tiny import TINY_TYPE, no_user_checkpoints, tiny_checkpoint  # noqa: F401  (fixtures)

from napari_gazeseg.gaze.fixations import detect_fixations_ivt
from napari_gazeseg.gaze.simulate import simulate_observer
from napari_gazeseg.models import GazeSam
from napari_gazeseg.segmentation import labels_from_gaze, paint_all, sam_object_masks

pytestmark = pytest.mark.gui


@pytest.fixture(autouse=True)
def no_unexpected_questions(monkeypatch):
    """A modal question nobody answers would hang the test: fail instead (tests that expect one patch it)."""
    from qtpy.QtWidgets import QMessageBox

    def unexpected(parent, title, text, *args):
        raise AssertionError(f"unexpected question: {text}")

    monkeypatch.setattr(QMessageBox, "question", unexpected)


@pytest.fixture(autouse=True)
def own_user_cache(monkeypatch, tmp_path):
    """The widget caches embeddings in the user cache folder: a temporary one here."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "user-cache"))


@pytest.fixture(scope="module")
def scene():
    return simulate_observer("cells", shape=(128, 160), n_objects=3, seed=2, name="cells")


def _open_scene(viewer, scene):
    from napari.layers import Layer

    from napari_gazeseg._napari.layers import gaze_layers

    fixations = detect_fixations_ivt(scene.recording)
    viewer.add_image(scene.image, name="cells")
    for data, kwargs, kind in gaze_layers(
        scene.recording, fixations, image_shape=scene.image.shape
    ):
        viewer.add_layer(Layer.create(data, kwargs, kind))
    return fixations


def _widget(viewer, checkpoint):
    from napari_gazeseg._napari.segment_widget import SegmentWithGazeWidget

    widget = SegmentWithGazeWidget(viewer)
    viewer.window.add_dock_widget(widget)
    widget.set_sam(TINY_TYPE, checkpoint)
    return widget


def test_sam_writes_one_label_per_object(make_napari_viewer, qtbot, scene, tiny_checkpoint):  # noqa: F811
    viewer = make_napari_viewer()
    fixations = _open_scene(viewer, scene)
    widget = _widget(viewer, tiny_checkpoint)
    worker = widget.segment()
    assert worker is not None
    with qtbot.waitSignal(widget.finished, timeout=60_000):
        pass
    labels = viewer.layers["cells gaze masks"]
    assert labels.data.shape == scene.image.shape

    # The same labels as the shared core on the same gaze, painted in id order.
    sam = GazeSam(TINY_TYPE, tiny_checkpoint, device="cpu")
    limits = tuple(viewer.layers["cells"].contrast_limits)
    items = list(sam_object_masks(sam, scene.image, fixations, scene.recording, contrast_limits=limits))
    masks = {item.object_id: item.mask for item in items}
    expected = paint_all(items, scene.image.shape)
    np.testing.assert_array_equal(labels.data, expected)
    assert set(np.unique(labels.data)) - {0} <= set(scene.recording.object_ids.tolist())
    assert len(set(np.unique(labels.data)) - {0}) >= 2

    # Segmenting again into the same layer replaces each object's own pixels and keeps
    # other labels: a user's label 99 outside and inside an object's mask survives.
    outside = tuple(np.argwhere(expected == 0)[0])
    inside = tuple(np.argwhere(expected == expected.max())[0])
    labels.data[outside] = labels.data[inside] = 99
    n_layers = len(viewer.layers)
    widget.set_output(labels)
    widget.segment()
    with qtbot.waitSignal(widget.finished, timeout=60_000):
        pass
    assert len(viewer.layers) == n_layers
    assert widget.status.startswith("Done: label 1 (")
    assert labels.data[outside] == 99 and labels.data[inside] == 99
    others = (expected > 0) & (labels.data != 99)
    np.testing.assert_array_equal(labels.data[others], expected[others])

    # Only the objects asked for are redone.
    labels.data[:] = 0
    widget.set_objects("2")
    widget.segment()
    with qtbot.waitSignal(widget.finished, timeout=60_000):
        pass
    np.testing.assert_array_equal(labels.data, np.where(masks[2], 2, 0))
    widget.set_objects("two")
    with qtbot.waitSignal(widget.failed) as failed:
        assert widget.segment() is None
    assert "object ids must be whole numbers" in failed.args[0]


def test_missing_checkpoint_is_reported_and_napari_keeps_running(
    make_napari_viewer,
    qtbot,
    scene,
    no_user_checkpoints,  # noqa: F811
):
    viewer = make_napari_viewer()
    _open_scene(viewer, scene)
    widget = _widget(viewer, None)
    widget.set_sam("vit_b")
    with qtbot.waitSignal(widget.failed, timeout=60_000) as failed:
        widget.segment()
    assert "sam_vit_b_01ec64.pth" in failed.args[0] and "dl.fbaipublicfiles.com" in failed.args[0]
    qtbot.waitUntil(lambda: not widget.running, timeout=10_000)
    assert not widget.running
    viewer.add_points(np.zeros((1, 2)))  # the viewer still works


def _record_widget(viewer):
    from napari_gazeseg._napari.record_widget import RecordGazeWidget

    record = RecordGazeWidget(viewer)
    viewer.window.add_dock_widget(record)
    return record


def _announced_recorder(record, scene, tmp_path, image_name="cells"):
    """A real recorder of the scene's image, announced by the Record gaze panel as it does on start.

    It is never started (no canvas is needed); its signals are emitted as its
    drain does: the new object, that object's samples, then its fixations.
    """
    from napari_gazeseg.tracking.recorder import GazeRecorder
    from napari_gazeseg.tracking.replay import ReplaySource

    meta = {"image": {"shape": list(scene.image.shape), "name": image_name}}
    recorder = GazeRecorder(ReplaySource(scene.recording), tmp_path / "live.gaze.tsv", lambda: None, meta=meta)
    record.recording_started.emit(recorder)
    return recorder


def test_live_fixations_update_the_current_object_coalesced(
    make_napari_viewer,
    qtbot,
    scene,
    tiny_checkpoint,  # noqa: F811
    tmp_path,
):
    viewer = make_napari_viewer()
    fixations = _open_scene(viewer, scene)
    record = _record_widget(viewer)
    widget = _widget(viewer, tiny_checkpoint)
    widget.set_live(True)  # finds the Record gaze panel through viewer.window.dock_widgets
    own = fixations.for_object(1)
    assert len(own) >= 3
    starts = []
    start_live = widget._start_live
    widget._start_live = lambda: (starts.append(widget._live_pending), start_live())[-1]
    recorder = _announced_recorder(record, scene, tmp_path)
    assert recorder.start_object() == 1
    # Fixations arrive one by one faster than a decode: the first is decoded at once,
    # the ones arriving meanwhile collapse into the newest, decoded next.
    for n in range(1, len(own) + 1):
        recorder.fixations_changed.emit(1, own.select(np.arange(n)))
    qtbot.waitUntil(
        lambda: widget._live_worker is None and widget._live_pending is None, timeout=60_000
    )
    assert [len(fix) for _, fix in starts] == [1, len(own)]
    sam = GazeSam(TINY_TYPE, tiny_checkpoint, device="cpu")
    sam.set_image(scene.image, contrast_limits=tuple(viewer.layers["cells"].contrast_limits))
    labels = viewer.layers["cells gaze masks"]
    np.testing.assert_array_equal(labels.data == 1, sam.segment(own))


def test_live_decodes_on_the_recorded_image_only(make_napari_viewer, qtbot, scene, tiny_checkpoint, tmp_path):  # noqa: F811
    viewer = make_napari_viewer()
    fixations = _open_scene(viewer, scene)
    viewer.add_image(scene.image[:, ::-1].copy(), name="other")
    record = _record_widget(viewer)
    widget = _widget(viewer, tiny_checkpoint)
    widget.set_image(viewer.layers["other"])
    widget.set_live(True)
    recorder = _announced_recorder(record, scene, tmp_path, image_name="cells")
    recorder.start_object()
    with qtbot.waitSignal(widget.failed, timeout=10_000) as failed:
        recorder.fixations_changed.emit(1, fixations.for_object(1))
    assert failed.args[0] == (
        "the gaze was recorded on another image ('cells', not 'other'); "
        "choose the image being recorded under Image to update its masks live."
    )
    assert not [layer for layer in viewer.layers if layer.name.endswith("gaze masks")]


def test_dense_prompts_work_live_with_the_objects_raw_samples(
    make_napari_viewer, qtbot, scene, tiny_checkpoint, tmp_path  # noqa: F811
):
    from napari_gazeseg.gaze.recording import GazeRecording

    viewer = make_napari_viewer()
    fixations = _open_scene(viewer, scene)
    record = _record_widget(viewer)
    widget = _widget(viewer, tiny_checkpoint)
    widget.settings = replace(widget.settings, prompt="heatmap_gaze")
    widget.set_live(True)
    failures = []
    widget.failed.connect(failures.append)
    recorder = _announced_recorder(record, scene, tmp_path)
    recorder.start_object()
    own = scene.recording.for_object(1)
    samples = GazeRecording(t=own.t, coords=own.coords, valid=own.valid, object_id=np.ones(len(own), int))
    half = len(samples) // 2
    recorder.samples_added.emit(samples.select(np.arange(len(samples)) < half))
    recorder.samples_added.emit(samples.select(np.arange(len(samples)) >= half))
    with qtbot.waitSignal(widget.finished, timeout=60_000):
        recorder.fixations_changed.emit(1, fixations.for_object(1))
    assert failures == []
    sam = GazeSam(TINY_TYPE, tiny_checkpoint, device="cpu")
    sam.set_image(scene.image, contrast_limits=tuple(viewer.layers["cells"].contrast_limits))
    expected = sam.segment(fixations.for_object(1), samples, "heatmap_gaze")
    layers = [layer for layer in viewer.layers if layer.name == "cells gaze masks"]
    painted = layers[0].data == 1 if layers else np.zeros_like(expected)
    np.testing.assert_array_equal(painted, expected if expected.any() else painted)
    assert widget.status.startswith("Live: ")


@pytest.fixture
def recording_viewer(make_napari_viewer, qtbot, scene):
    from napari_gazeseg._napari._viewer import camera_of

    viewer = make_napari_viewer(show=True)
    viewer.window._qt_window.resize(1200, 800)
    viewer.add_image(scene.image, name="cells")
    camera_of(viewer).center = (64.0, 80.0)
    camera_of(viewer).zoom = 3.0
    qtbot.wait(50)
    return viewer


def test_the_tuned_detector_reaches_live_sam(recording_viewer, qtbot, scene, tiny_checkpoint, tmp_path):  # noqa: F811
    """80 deg/s set in the Gaze layers panel: the live fixations SAM is prompted with use it."""
    from napari_gazeseg._napari.gaze_layers_widget import GazeLayersWidget
    from napari_gazeseg._napari.record_widget import SOURCES
    from napari_gazeseg.gaze.formats import write_gaze

    viewer = recording_viewer
    gaze_panel = GazeLayersWidget(viewer)
    viewer.window.add_dock_widget(gaze_panel)
    gaze_panel._velocity.setValue(80.0)
    assert gaze_panel.fixation_settings.velocity_threshold == 80.0
    record = _record_widget(viewer)
    widget = _widget(viewer, tiny_checkpoint)
    received = []
    decode = widget.on_live_fixations
    widget.on_live_fixations = lambda object_id, fix: (received.append(fix), decode(object_id, fix))
    widget.set_live(True)
    write_gaze(scene.recording.between(0.0, 3.0), tmp_path / "replay.gaze.tsv")
    record.save_edit.setText(str(tmp_path / "recorded.gaze.tsv"))
    record.source_box.setCurrentText(SOURCES[4])
    record.replay_edit.setText(str(tmp_path / "replay.gaze.tsv"))
    record.speed_box.setValue(3.0)
    record.start_recording()
    assert record.recorder is not None
    record.toggle_object()
    assert record.recorder.source.wait(timeout=10.0)
    qtbot.waitUntil(lambda: len(received) > 0, timeout=10_000)
    with qtbot.waitSignal(gaze_panel.updated, timeout=20_000, raising=False):
        record.stop_recording()  # the Gaze layers panel then updates the recording's layers
    qtbot.waitUntil(lambda: not widget.running, timeout=60_000)
    assert {fix.meta["detector"]["velocity_threshold"] for fix in received} == {80.0}


def test_stack_objects_are_segmented_on_the_plane_looked_at(
    make_napari_viewer,
    qtbot,
    scene,
    tiny_checkpoint,  # noqa: F811
):
    from napari.layers import Layer

    from napari_gazeseg._napari.layers import gaze_layers
    from napari_gazeseg.gaze.recording import Fixations

    viewer = make_napari_viewer()
    stack = np.stack([np.roll(scene.image, 7 * k, axis=1) for k in range(3)])
    viewer.add_image(stack, name="stack")
    flat = detect_fixations_ivt(scene.recording)
    planes = np.where(flat.object_id == 1, 2, 0).astype(float)  # object 1 on plane 2, others on 0
    planes[np.flatnonzero(flat.object_id == 1)[0]] = 1  # a glance at another plane: ignored
    meta = {**flat.meta, "image": {"name": "stack", "shape": list(stack.shape)}}
    fixations = Fixations(flat.start, flat.duration, np.column_stack([planes, flat.coords]), flat.object_id, meta)
    for data, kwargs, kind in gaze_layers(None, fixations, image_shape=stack.shape):
        viewer.add_layer(Layer.create(data, kwargs, kind))
    widget = _widget(viewer, tiny_checkpoint)
    widget.segment()
    with qtbot.waitSignal(widget.finished, timeout=60_000):
        pass
    labels = viewer.layers["stack gaze masks"].data
    assert labels.shape == stack.shape
    sam = GazeSam(TINY_TYPE, tiny_checkpoint, device="cpu")
    limits = tuple(viewer.layers["stack"].contrast_limits)
    items = list(sam_object_masks(sam, stack, fixations, contrast_limits=limits))
    assert [(m.object_id, m.slice_index) for m in items] == [(1, (2,)), (2, (0,)), (3, (0,))]
    np.testing.assert_array_equal(labels, paint_all(items, stack.shape))
    assert (labels[2] == 1).any() and not (labels[1] > 0).any()


@pytest.fixture
def small_gradtrack(tmp_path, monkeypatch):
    """An untrained, small GradTrack checkpoint (its foreground is some arbitrary part of the image).

    The widget runs it on the CPU too (as the reference does), also on machines with a GPU.
    """
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)

    from napari_gazeseg.models.gradtrack_train import TrainConfig, build_model, save_checkpoint

    torch.manual_seed(0)
    config = TrainConfig(size=64, base_channels=4, max_channels=16)
    checkpoint = tmp_path / "gradtrack.pt"
    save_checkpoint(checkpoint, build_model(config), config, epoch=0)
    return checkpoint


def _gradtrack_run(viewer, qtbot, checkpoint, labels, by_gaze: bool):
    widget = _widget(viewer, None)
    widget.set_gradtrack(checkpoint, by_gaze=by_gaze)
    widget.set_output(labels)
    widget.segment()
    with qtbot.waitSignal(widget.finished, timeout=60_000):
        pass
    from napari_gazeseg.models.gradtrack_predict import GradTrackPredictor

    limits = tuple(viewer.layers["cells"].contrast_limits)
    return GradTrackPredictor.from_checkpoint(checkpoint, device="cpu").predict(
        viewer.layers["cells"].data, limits
    )


def test_gradtrack_without_gaze_paints_the_next_free_label(
    make_napari_viewer, qtbot, scene, small_gradtrack
):
    viewer = make_napari_viewer()
    _open_scene(viewer, scene)
    existing = np.zeros(scene.image.shape, np.int32)
    existing[:4, :4] = 3
    labels = viewer.add_labels(existing.copy(), name="annotations")
    mask = _gradtrack_run(viewer, qtbot, small_gradtrack, labels, by_gaze=False)
    assert 0 < mask.mean() < 1
    np.testing.assert_array_equal(labels.data[:4, :4], 3)  # kept
    np.testing.assert_array_equal(labels.data == 4, mask & (existing == 0))
    labels.undo()  # one edit: Ctrl+Z takes the whole mask back
    np.testing.assert_array_equal(labels.data, existing)


def test_gradtrack_labels_each_looked_at_component_with_its_object_id(
    make_napari_viewer, qtbot, scene, small_gradtrack
):

    viewer = make_napari_viewer()
    fixations = _open_scene(viewer, scene)
    labels = viewer.add_labels(np.zeros(scene.image.shape, np.int32), name="annotations")
    mask = _gradtrack_run(viewer, qtbot, small_gradtrack, labels, by_gaze=True)
    expected = labels_from_gaze(mask, fixations.coords, fixations.object_id)
    assert expected.any()
    np.testing.assert_array_equal(labels.data, expected)
    assert set(np.unique(labels.data).tolist()) - {0} <= set(fixations.object_ids.tolist())


def test_gradtrack_on_a_stack_labels_the_displayed_slice_by_its_gaze(
    make_napari_viewer, qtbot, scene, small_gradtrack
):
    """3D gaze over a 3D stack shown under a 4D layer: napari aligns the last axes."""
    from napari.layers import Layer

    from napari_gazeseg._napari.layers import gaze_layers
    from napari_gazeseg.gaze.recording import Fixations
    from napari_gazeseg.models.gradtrack_predict import GradTrackPredictor

    viewer = make_napari_viewer()
    stack = np.stack([np.roll(scene.image, 9 * k, axis=1) for k in range(3)])
    viewer.add_image(np.zeros((2, *stack.shape), np.float32), name="4d")  # leading world axis
    viewer.add_image(stack, name="stack")
    flat = detect_fixations_ivt(scene.recording)
    planes = np.where(flat.object_id == 2, 1.0, 0.0)  # object 2 looked at on plane 1
    meta = {**flat.meta, "image": {"name": "stack", "shape": list(stack.shape)}}
    fixations = Fixations(flat.start, flat.duration, np.column_stack([planes, flat.coords]), flat.object_id, meta)
    for data, kwargs, kind in gaze_layers(None, fixations, image_shape=stack.shape):
        viewer.add_layer(Layer.create(data, kwargs, kind))
    viewer.dims.current_step = (1, 1, 0, 0)  # world (4d plane 1, stack plane 1, ...)
    widget = _widget(viewer, None)
    widget.set_image(viewer.layers["stack"])
    widget.set_gradtrack(small_gradtrack)
    widget.segment()
    with qtbot.waitSignal(widget.finished, timeout=60_000):
        pass
    labels = viewer.layers["stack gaze masks"].data
    limits = tuple(viewer.layers["stack"].contrast_limits)
    mask = GradTrackPredictor.from_checkpoint(small_gradtrack, device="cpu").predict(stack[1], limits)
    on_plane = fixations.on_slice((1,))
    expected = labels_from_gaze(mask, on_plane.coords[:, 1:], on_plane.object_id)
    assert set(np.unique(expected).tolist()) <= {0, 2}
    np.testing.assert_array_equal(labels[1], expected)
    assert not labels[0].any() and not labels[2].any()


def test_gradtrack_per_object_without_a_gaze_layer_says_what_to_do(
    make_napari_viewer, small_gradtrack
):
    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((32, 32), np.float32), name="cells")
    widget = _widget(viewer, None)
    widget.set_gradtrack(small_gradtrack)
    messages = []
    widget.failed.connect(messages.append)
    assert widget.segment() is None
    assert len(messages) == 1 and "untick 'One label per object looked at'" in messages[0]
    assert "cells gaze masks" not in viewer.layers


def test_sample_data_end_to_end_leaves_the_ground_truth_alone(
    make_napari_viewer,
    qtbot,
    tiny_checkpoint,  # noqa: F811
):
    viewer = make_napari_viewer()
    viewer.open_sample("napari-gazeseg", "synthetic_cells")
    truth = next(layer for layer in viewer.layers if layer.name.endswith("ground truth"))
    truth_before = truth.data.copy()
    widget = _widget(viewer, tiny_checkpoint)
    widget.segment()
    with qtbot.waitSignal(widget.finished, timeout=60_000):
        pass
    masks = viewer.layers["synthetic cells gaze masks"].data
    ids = set(np.unique(masks).tolist()) - {0}
    assert ids <= set(range(1, 6)) and len(ids) >= 3
    np.testing.assert_array_equal(truth.data, truth_before)


# -- issue 10: wrong results are not "Done", failed runs leave nothing -------------------
def _open_gaze_of(viewer, scene, image_name: str):
    """The scene's gaze layers, their recording claiming to be made on ``image_name``."""
    from napari.layers import Layer

    from napari_gazeseg._napari.layers import gaze_layers
    from napari_gazeseg.gaze.recording import GazeRecording

    rec = scene.recording
    meta = {**rec.meta, "image": {"name": image_name, "shape": list(scene.image.shape)}}
    recording = GazeRecording(rec.t, rec.coords, rec.valid, rec.screen, rec.object_id, meta)
    fixations = detect_fixations_ivt(recording)
    for data, kwargs, kind in gaze_layers(recording, fixations, image_shape=scene.image.shape):
        viewer.add_layer(Layer.create(data, kwargs, kind))
    return fixations


@pytest.mark.parametrize("answer", ["No", "Yes"])
def test_gaze_from_another_image_asks_first(make_napari_viewer, qtbot, scene, tiny_checkpoint, monkeypatch, answer):  # noqa: F811
    from qtpy.QtWidgets import QMessageBox

    viewer = make_napari_viewer()
    viewer.add_image(scene.image, name="cells")
    _open_gaze_of(viewer, scene, "immunohistochemistry")
    widget = _widget(viewer, tiny_checkpoint)
    questions = []

    def ask(parent, title, text, *args):
        questions.append(text)
        return getattr(QMessageBox.StandardButton, answer)

    monkeypatch.setattr(QMessageBox, "question", ask)
    if answer == "No":
        with qtbot.waitSignal(widget.failed) as failed:
            assert widget.segment() is None
        assert "recorded on another image ('immunohistochemistry', not 'cells')" in failed.args[0]
        assert "cells gaze masks" not in viewer.layers  # nothing created
    else:
        with qtbot.waitSignal(widget.finished, timeout=60_000):
            assert widget.segment() is not None
        assert viewer.layers["cells gaze masks"].data.any()
    assert questions == [
        "The gaze was recorded on another image ('immunohistochemistry', not 'cells'). Segment anyway?"
    ]


def test_gaze_off_the_image_is_warned_about(make_napari_viewer, qtbot, scene, tiny_checkpoint, monkeypatch):  # noqa: F811
    from qtpy.QtWidgets import QMessageBox

    viewer = make_napari_viewer()
    viewer.add_image(scene.image[:40], name="cells")  # most of the gaze lies below this crop
    _open_gaze_of(viewer, scene, "cells")
    widget = _widget(viewer, tiny_checkpoint)
    warnings = []
    widget.warned.connect(warnings.append)
    asked = []  # the crop is not the recorded shape: asked first, and the user goes on
    monkeypatch.setattr(QMessageBox, "question", lambda *a: asked.append(a[2]) or QMessageBox.StandardButton.Yes)
    with qtbot.waitSignal(widget.finished, timeout=60_000):
        widget.segment()
    assert "of shape (128, 160), not (40, 160)" in asked[0]
    share = [w for w in warnings if "of the gaze lies outside the (40, 160) image" in w]
    assert len(share) == 1 and int(share[0].split("%")[0]) > 20


def test_empty_masks_are_reported_not_done_and_not_painted(make_napari_viewer, qtbot, scene, tmp_path):
    import torch

    from napari_gazeseg.models.gradtrack_train import TrainConfig, build_model, save_checkpoint

    torch.manual_seed(0)
    config = TrainConfig(size=32, base_channels=4, max_channels=8)
    checkpoint = tmp_path / "picky.pt"  # foreground only above probability 0.999999: none
    save_checkpoint(checkpoint, build_model(config), config, epoch=0, metrics={"val_threshold": 0.999999})
    viewer = make_napari_viewer()
    fixations = _open_scene(viewer, scene)
    widget = _widget(viewer, None)
    widget.set_gradtrack(checkpoint)
    assert widget.model_card == ""  # a checkpoint of one's own: no card of the bundled model
    stages = []
    widget.stage.connect(stages.append)
    with qtbot.waitSignal(widget.finished, timeout=60_000):
        widget.segment()
    ids = fixations.object_ids.tolist()
    assert widget.status == (
        f"finished, but {'; '.join(f'label {i}: empty mask (not painted)' for i in ids)}: these cannot "
        "be right; check the image, the gaze and the model."
    )
    assert stages == ["loading the GradTrack model", "segmenting the slice with GradTrack"]
    assert "cells gaze masks" not in viewer.layers  # nothing was painted, so nothing was made


def test_the_bundled_gradtrack_shows_what_it_was_trained_on(make_napari_viewer):
    viewer = make_napari_viewer()
    widget = _widget(viewer, None)
    assert widget.model_card == ""  # SAM
    widget.set_gradtrack(None)
    assert "trained on 160 synthetic fluorescence-cell images" in widget.model_card
    widget.set_gradtrack("mine.pt")
    assert widget.model_card == ""


def test_a_failed_sam_run_leaves_no_layer_and_shows_its_stages(
    make_napari_viewer, qtbot, scene, no_user_checkpoints  # noqa: F811
):
    viewer = make_napari_viewer()
    _open_scene(viewer, scene)
    widget = _widget(viewer, None)
    widget.set_sam("vit_b")
    stages = []
    widget.stage.connect(stages.append)
    n_layers = len(viewer.layers)
    with qtbot.waitSignal(widget.failed, timeout=60_000):
        widget.segment()
    qtbot.waitUntil(lambda: not widget.running, timeout=10_000)
    assert stages == ["loading the SAM model"]
    assert len(viewer.layers) == n_layers


def test_settings_round_trip_and_refuse_what_the_widget_cannot_show(make_napari_viewer):
    from napari_gazeseg._napari.segment_widget import SegmentSettings, SegmentWithGazeWidget

    widget = SegmentWithGazeWidget(make_napari_viewer())
    assert widget.settings == SegmentSettings()
    chosen = SegmentSettings(
        method="GradTrack", checkpoint="m.pt", finetuned="f.pt", prompt="heatmap_gaze", mask=2,
        objects="2, 5", overwrite=True, by_gaze=False, live=True,
    )
    widget.settings = chosen
    assert widget.settings == chosen
    for wrong in ({"prompt": "eyeballs"}, {"mask": 3}, {"method": "cellpose"}):
        with pytest.raises(ValueError, match="is not one of the widget's choices"):
            widget.settings = replace(chosen, **wrong)


def test_live_follows_a_record_panel_opened_again(make_napari_viewer, qtbot, scene, tiny_checkpoint, tmp_path):  # noqa: F811
    """Closing the Record gaze panel and opening a new one: live updates follow the new one."""
    viewer = make_napari_viewer()
    fixations = _open_scene(viewer, scene)
    first = _record_widget(viewer)
    widget = _widget(viewer, tiny_checkpoint)
    widget.set_live(True)
    viewer.window.remove_dock_widget(first)
    second = _record_widget(viewer)
    qtbot.wait(1500)  # the first panel is gone once Qt deletes it; then the new one is found
    recorder = _announced_recorder(second, scene, tmp_path)
    recorder.start_object()
    with qtbot.waitSignal(widget.finished, timeout=60_000):
        recorder.fixations_changed.emit(1, fixations.for_object(1))
    assert widget.status.startswith("Live: ")


def test_without_a_fixations_layer_the_tuned_detector_finds_the_fixations(
    make_napari_viewer, qtbot, scene, tiny_checkpoint, monkeypatch  # noqa: F811
):
    """Gaze whose fixations layer was deleted: the Segment widget detects with the
    detector set in the Gaze layers panel, not I-VT's defaults."""
    from napari_gazeseg._napari import segment_widget as module
    from napari_gazeseg._napari.gaze_layers_widget import GazeLayersWidget
    from napari_gazeseg.gaze.fixations import FixationDetector

    viewer = make_napari_viewer()
    _open_scene(viewer, scene)
    viewer.layers.remove(next(layer for layer in viewer.layers if layer.name.endswith("fixations")))
    gaze_panel = GazeLayersWidget(viewer)
    viewer.window.add_dock_widget(gaze_panel)
    gaze_panel.fixation_detector = FixationDetector("ivt", velocity_threshold=80.0)
    found = []
    real = module.fixations_of

    def spy(gaze, detector=None):
        found.append(real(gaze, detector))
        return found[-1]

    monkeypatch.setattr(module, "fixations_of", spy)
    widget = _widget(viewer, tiny_checkpoint)
    assert widget.segment() is not None
    with qtbot.waitSignal(widget.finished, timeout=60_000):
        pass
    assert found and {fix.meta["detector"]["velocity_threshold"] for fix in found} == {80.0}
