"""napari_gazeseg.segmentation: the napari-free core the Segment widget and `gazeseg segment` share."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from sam_tiny import TINY_TYPE, tiny_checkpoint  # noqa: F401  (fixture)

from napari_gazeseg.gaze.recording import Fixations, GazeRecording
from napari_gazeseg.segmentation import (
    MOST_OF_IMAGE,
    OFF_IMAGE_SHARE,
    ObjectMask,
    Stage,
    gaze_image_mismatch,
    gradtrack_object_masks,
    labels_from_gaze,
    mask_problem,
    objects_to_segment,
    off_image_share,
    off_image_warning,
    paint_all,
    sam_object_masks,
)


def test_imports_no_napari_qt_or_torch():
    check = (
        "import napari_gazeseg.segmentation, sys\n"
        "print(sorted(m for m in ('torch', 'napari', 'qtpy', 'PyQt6') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", check], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"


def _fixations(coords, object_id, duration=None) -> Fixations:
    coords = np.asarray(coords, float)
    n = len(coords)
    return Fixations(
        start=np.arange(n, dtype=float),
        duration=np.full(n, 0.2) if duration is None else np.asarray(duration, float),
        coords=coords,
        object_id=np.asarray(object_id),
    )


# -- the mask choice: one parser ------------------------------------------------------
@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ("best", (None, None)),
        (None, (None, None)),
        ("single", (False, None)),
        (0, (True, 0)),
        ("1", (True, 1)),
        (2, (True, 2)),
    ],
    ids=["best", "none", "single", "int0", "str1", "int2"],
)
def test_mask_choice_parser(choice, expected):
    from napari_gazeseg.models.sam_gaze import parse_mask_choice

    assert parse_mask_choice(choice) == expected


@pytest.mark.parametrize("choice", ["3", 3, "all", "", 1.5])
def test_unknown_mask_choice_is_one_sentence(choice):
    from napari_gazeseg.models.sam_gaze import parse_mask_choice

    with pytest.raises(ValueError, match="choose 'best', 'single', 0, 1 or 2"):
        parse_mask_choice(choice)


# -- checks ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("meta", "name", "shape", "says"),
    [
        ({}, "cells", (64, 64), None),  # the gaze does not know its image: passes
        ({"image": {"name": "cells", "shape": [64, 64]}}, "cells", (64, 64), None),
        (
            {"image": {"name": "Cells.PNG", "shape": [64, 64]}},
            "cells",
            (64, 64),
            None,
        ),  # stem, case
        ({"image": {"name": "/data/cells.ome.tif"}}, "cells", (64, 64), None),
        ({"image": {"shape": [64, 64]}}, "stack", (3, 64, 64), None),  # 2D gaze over a stack
        ({"image": {"name": "ihc", "shape": [64, 64]}}, "cells", (64, 64), "'ihc', not 'cells'"),
        ({"image": {"name": "cells", "shape": [64, 65]}}, "cells", (64, 64), "of shape (64, 65)"),
        ({"image": {"shape": [3, 64, 64]}}, "stack", (4, 64, 64), "of shape (3, 64, 64)"),
    ],
    ids=["unknown", "same", "stem-case", "path-ext", "2d-over-stack", "name", "shape", "planes"],
)
def test_gaze_from_another_image_is_named(meta, name, shape, says):
    found = gaze_image_mismatch(meta, name, shape)
    if says is None:
        assert found is None
    else:
        assert says in found and found.endswith("choose the gaze recorded on this image.")


@pytest.mark.parametrize(
    ("n_off", "warned"),
    [(0, False), (20, False), (21, True), (100, True)],  # of 100 points; the limit is 20 %
)
def test_gaze_off_the_image_warns_above_the_share(n_off, warned):
    assert OFF_IMAGE_SHARE == 0.20
    coords = np.full((100, 2), 10.0)
    coords[:n_off] = [10.0, 64.0]  # one column beyond the last pixel centre's half pixel
    assert off_image_share(coords, (32, 64)) == pytest.approx(n_off / 100)
    warning = off_image_warning(coords, (32, 64))
    assert (warning is not None) == warned
    if warned:
        assert f"{n_off}% of the gaze lies outside" in warning and "normalised" in warning


def test_off_image_share_counts_pixel_edges_and_skips_invalid_samples():
    coords = np.array([[-0.5, 0.0], [-0.51, 0.0], [31.49, 63.49], [31.5, 0.0], [np.nan, 1.0]])
    assert off_image_share(coords, (32, 64)) == pytest.approx(2 / 4)
    recording = GazeRecording(
        t=np.arange(3.0), coords=[[1, 1], [500, 1], [2, 2]], valid=[True, False, True]
    )
    assert off_image_warning(recording, (32, 64)) is None  # the invalid far sample does not count


@pytest.mark.parametrize(
    ("pixels", "problem"),
    [(0, "empty mask"), (1, None), (75, None), (76, "the mask covers 76% of the image")],
)
def test_masks_that_cannot_be_right(pixels, problem):
    assert MOST_OF_IMAGE == 0.75
    mask = np.zeros(100, bool)
    mask[:pixels] = True
    assert mask_problem(mask.reshape(10, 10)) == problem


# -- objects ----------------------------------------------------------------------------
def test_objects_to_segment_chooses_ids_and_places_2d_gaze_on_the_shown_slice():
    fixations = _fixations([[5, 5], [6, 6], [20, 20]], [1, 1, 2])
    objects = objects_to_segment(fixations, image_ndim=3, slice_index=(2,), object_ids={2})
    assert [(o.object_id, o.slice_index) for o in objects] == [(2, (2,))]
    np.testing.assert_array_equal(objects[0].fixations.coords, [[2, 20, 20]])
    with pytest.raises(ValueError, match="needs the slice it was looked at"):
        objects_to_segment(fixations, image_ndim=3)
    with pytest.raises(ValueError, match="no \\(chosen\\) object session"):
        objects_to_segment(fixations, image_ndim=2, object_ids={7})
    with pytest.raises(ValueError, match="the gaze has 3D coordinates but the image is 2D"):
        objects_to_segment(_fixations([[0, 1, 2]], [1]), image_ndim=2)


# -- SAM and GradTrack ------------------------------------------------------------------
@pytest.fixture(scope="module")
def scene():
    from napari_gazeseg.gaze.simulate import simulate_observer

    return simulate_observer("cells", shape=(96, 120), n_objects=3, seed=4, name="cells")


def test_sam_object_masks_are_gazesam_per_object_with_stages(scene, tiny_checkpoint):  # noqa: F811
    from napari_gazeseg.gaze.fixations import detect_fixations_ivt
    from napari_gazeseg.models import GazeSam

    fixations = detect_fixations_ivt(scene.recording)
    sam = GazeSam(TINY_TYPE, tiny_checkpoint, device="cpu")
    items = list(
        sam_object_masks(sam, scene.image, fixations, scene.recording, mask=1, stages=True)
    )
    stages = [item.text for item in items if isinstance(item, Stage)]
    masks = [item for item in items if isinstance(item, ObjectMask)]
    ids = fixations.object_ids.tolist()
    assert [m.object_id for m in masks] == ids
    assert stages == ["embedding the image"] + [
        f"object {k + 1} of {len(ids)} (label {i})" for k, i in enumerate(ids)
    ]
    sam.set_image(scene.image)
    for item in masks:
        own = fixations.for_object(item.object_id)
        np.testing.assert_array_equal(
            item.mask, sam.segment(own, multimask_output=True, mask_choice=1)
        )
    labels = paint_all(items, scene.image.shape)
    expected = np.zeros(scene.image.shape, np.int32)
    for item in masks:
        expected[item.mask & (expected == 0)] = item.object_id
    np.testing.assert_array_equal(labels, expected)


def test_gradtrack_object_masks_by_gaze_and_whole(scene, tmp_path):
    import torch

    from napari_gazeseg.gaze.fixations import detect_fixations_ivt
    from napari_gazeseg.models.gradtrack_predict import GradTrackPredictor
    from napari_gazeseg.models.gradtrack_train import TrainConfig, build_model, save_checkpoint

    torch.manual_seed(0)
    config = TrainConfig(size=32, base_channels=4, max_channels=8)
    save_checkpoint(tmp_path / "g.pt", build_model(config), config, epoch=0)
    predictor = GradTrackPredictor.from_checkpoint(tmp_path / "g.pt", device="cpu")
    foreground = predictor.predict(scene.image)
    (whole,) = gradtrack_object_masks(predictor, scene.image, foreground_id=4)
    assert whole.object_id == 4 and whole.slice_index == ()
    np.testing.assert_array_equal(whole.mask, foreground)
    fixations = detect_fixations_ivt(scene.recording)
    masks = list(gradtrack_object_masks(predictor, scene.image, fixations))
    assert [m.object_id for m in masks] == fixations.object_ids.tolist()
    np.testing.assert_array_equal(
        paint_all(masks, scene.image.shape),
        labels_from_gaze(foreground, fixations.coords, fixations.object_id),
    )


def test_sam_and_gradtrack_pick_the_same_device(monkeypatch):
    """One resolve_device: on a Mac without CUDA both models take MPS (GradTrack took the CPU)."""
    import torch

    from napari_gazeseg.models import gradtrack_predict, gradtrack_train, sam_loading

    assert (
        gradtrack_train.resolve_device
        is sam_loading.resolve_device
        is gradtrack_predict.resolve_device
    )
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert gradtrack_train.resolve_device("auto") == torch.device("mps")
    with pytest.raises(ValueError, match="CUDA is not available; use 'cpu'"):
        gradtrack_train.resolve_device("cuda")
