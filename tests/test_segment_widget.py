"""The "Segment with gaze" widget in a real napari viewer, with a tiny SAM (run under xvfb-run)."""

from __future__ import annotations

import numpy as np
import pytest
from sam_tiny import TINY_TYPE, no_user_checkpoints, tiny_checkpoint  # noqa: F401  (fixtures)

from napari_gazeseg.gaze.fixations import detect_fixations_ivt
from napari_gazeseg.gaze.simulate import simulate_observer
from napari_gazeseg.models import GazeSam
from napari_gazeseg.models.object_gaze import objects_in

pytestmark = pytest.mark.gui


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

    # The same masks as GazeSam called directly on the same fixations, painted in id order.
    sam = GazeSam(TINY_TYPE, tiny_checkpoint, device="cpu")
    sam.set_image(scene.image, contrast_limits=tuple(viewer.layers["cells"].contrast_limits))
    expected = np.zeros(scene.image.shape, np.int32)
    masks = {}
    for obj in objects_in(fixations, scene.recording):
        masks[obj.object_id] = sam.segment(obj.fixations)
        expected[masks[obj.object_id] & (expected == 0)] = obj.object_id
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
    assert widget._status.text().startswith("Done: label 1 (")
    assert labels.data[outside] == 99 and labels.data[inside] == 99
    others = (expected > 0) & (labels.data != 99)
    np.testing.assert_array_equal(labels.data[others], expected[others])

    # Only the objects asked for are redone.
    labels.data[:] = 0
    widget._object_ids.setText("2")
    widget.segment()
    with qtbot.waitSignal(widget.finished, timeout=60_000):
        pass
    np.testing.assert_array_equal(labels.data, np.where(masks[2], 2, 0))
    widget._object_ids.setText("two")
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
    qtbot.waitUntil(lambda: widget._worker is None, timeout=10_000)
    assert widget._run.isEnabled()
    viewer.add_points(np.zeros((1, 2)))  # the viewer still works


def test_live_fixations_update_the_current_object_coalesced(
    make_napari_viewer,
    qtbot,
    scene,
    tiny_checkpoint,  # noqa: F811
    tmp_path,
):
    from napari_gazeseg.tracking.recorder import GazeRecorder, recorder_started
    from napari_gazeseg.tracking.replay import ReplaySource

    viewer = make_napari_viewer()
    fixations = _open_scene(viewer, scene)
    widget = _widget(viewer, tiny_checkpoint)
    widget._live.setChecked(True)
    own = fixations.for_object(1)
    assert len(own) >= 3
    starts = []
    start_live = widget._start_live
    widget._start_live = lambda: (starts.append(widget._live_pending), start_live())[-1]
    # A real recorder announces itself as GazeRecorder.start does; it is never started
    # here, so its view is never asked for. Its fixation signal then drives the widget.
    recorder = GazeRecorder(ReplaySource(scene.recording), tmp_path / "live.gaze.tsv", lambda: None)
    recorder_started.emit(recorder)
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
    fixations = Fixations(
        flat.start, flat.duration, np.column_stack([planes, flat.coords]), flat.object_id, flat.meta
    )
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
    for plane in range(3):
        sam.set_image(stack[plane], limits, slice_index=plane)
        expected = np.zeros(scene.image.shape, np.int32)
        for object_id in fixations.object_ids:
            on_plane = fixations.for_object(object_id).on_slice(plane)
            if (plane == 2) == (object_id == 1) and len(on_plane):
                mask = sam.segment(on_plane)
                expected[mask & (expected == 0)] = object_id
        np.testing.assert_array_equal(labels[plane], expected)
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
    from napari_gazeseg.models.gaze_instances import labels_from_gaze

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
    from napari_gazeseg.models.gaze_instances import labels_from_gaze
    from napari_gazeseg.models.gradtrack_predict import GradTrackPredictor

    viewer = make_napari_viewer()
    stack = np.stack([np.roll(scene.image, 9 * k, axis=1) for k in range(3)])
    viewer.add_image(np.zeros((2, *stack.shape), np.float32), name="4d")  # leading world axis
    viewer.add_image(stack, name="stack")
    flat = detect_fixations_ivt(scene.recording)
    planes = np.where(flat.object_id == 2, 1.0, 0.0)  # object 2 looked at on plane 1
    fixations = Fixations(
        flat.start, flat.duration, np.column_stack([planes, flat.coords]), flat.object_id, flat.meta
    )
    for data, kwargs, kind in gaze_layers(None, fixations, image_shape=stack.shape):
        viewer.add_layer(Layer.create(data, kwargs, kind))
    viewer.dims.current_step = (1, 1, 0, 0)  # world (4d plane 1, stack plane 1, ...)
    widget = _widget(viewer, None)
    widget._image.set_current_layer(viewer.layers["stack"])
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
