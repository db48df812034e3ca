"""Gaze -> SAM prompts: coordinates as ResizeLongestSide, dense maps aligned with the image."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sam_tiny import TINY_TYPE, tiny_checkpoint  # noqa: F401  (fixture)
from segment_anything.utils.transforms import ResizeLongestSide

from napari_gazeseg.gaze.recording import Fixations, GazeRecording
from napari_gazeseg.models import GazeSam
from napari_gazeseg.models.sam_prompts import (
    DENSE_KINDS,
    DENSE_LOGIT_SCALE,
    box_from_points,
    build_prompt,
    mask_input_from_map,
    parse_prompt_kind,
    points_to_sam,
)


@pytest.mark.parametrize("shape", [(150, 230), (97, 150), (1024, 1024), (1500, 701)])
def test_points_transform_like_resize_longest_side(shape):
    rng = np.random.default_rng(0)
    rc = rng.uniform(0, 1, (20, 2)) * (np.array(shape) - 1)
    expected = ResizeLongestSide(1024).apply_coords(rc[:, ::-1].copy(), shape)
    np.testing.assert_allclose(points_to_sam(rc, shape), expected, rtol=0, atol=1e-9)


def test_box_is_the_gaze_extent_in_xy_order():
    rc = np.array([[10.0, 40.0], [30.0, 20.0], [np.nan, np.nan]])
    np.testing.assert_array_equal(box_from_points(rc, (100, 200)), [20.0, 10.0, 40.0, 30.0])
    np.testing.assert_array_equal(
        box_from_points(rc, (100, 200), margin=15), [5.0, 0.0, 55.0, 45.0]
    )


def _corner_peak(shape, corner):
    """A dense map with a single bump in one corner of an image of ``shape``."""
    rows, cols = np.mgrid[0 : shape[0], 0 : shape[1]]
    r0 = 0 if corner[0] == "top" else shape[0] - 1
    c0 = 0 if corner[1] == "left" else shape[1] - 1
    return np.exp(-((rows - r0) ** 2 + (cols - c0) ** 2) / (2 * 6.0**2)) * 37.5  # unnormalised


@pytest.mark.parametrize("corner", [("top", "left"), ("bottom", "right"), ("top", "right")])
def test_dense_prompt_sits_where_the_image_corner_lands(corner):
    shape = (120, 200)  # resized to 614 x 1024, padded below
    mask_input = mask_input_from_map(_corner_peak(shape, corner))
    assert mask_input.shape == (1, 256, 256) and mask_input.dtype == np.float32
    peak = np.unravel_index(np.argmax(mask_input[0]), (256, 256))
    image_rows_low_res = 614 / 4  # the resized image covers rows 0..153.5 of the 256 grid
    expected = (
        0 if corner[0] == "top" else image_rows_low_res - 1,
        0 if corner[1] == "left" else 255,
    )
    assert abs(peak[0] - expected[0]) <= 1 and abs(peak[1] - expected[1]) <= 1
    assert mask_input.max() == pytest.approx(DENSE_LOGIT_SCALE, rel=0.15)
    # Padding (below the resized image) is confident background.
    np.testing.assert_allclose(mask_input[0, 160:], -DENSE_LOGIT_SCALE)


def _dense_embedding(sam: GazeSam, mask_input) -> torch.Tensor:
    """The prompt encoder's dense embedding (what the mask decoder adds to the image)."""
    masks = None if mask_input is None else torch.as_tensor(mask_input)[None]
    with torch.no_grad():
        return sam.model.prompt_encoder(points=None, boxes=None, masks=masks)[1]


def test_dense_prompt_moves_the_decoder_mask_embedding_to_that_corner(tiny_checkpoint):  # noqa: F811
    sam = GazeSam(TINY_TYPE, tiny_checkpoint, device="cpu")
    empty = _dense_embedding(sam, None)
    energy = {}
    for corner in [("top", "left"), ("bottom", "right")]:
        at = [[0 if corner[0] == "top" else 119, 0 if corner[1] == "left" else 199]]
        prompt = build_prompt(
            "heatmap_fixations", (120, 200), Fixations(start=[0.0], duration=[0.3], coords=at)
        )
        dense = _dense_embedding(sam, prompt.mask_input)
        assert dense.shape == (1, 32, 64, 64)
        # Where the dense embedding departs from the all-background part of the same map.
        background = dense[0, :, 63, 32]
        energy[corner] = (dense[0] - background[:, None, None]).norm(dim=0)
        assert not torch.equal(dense, empty)
    top_left, bottom_right = energy[("top", "left")], energy[("bottom", "right")]
    assert top_left[:8, :8].mean() > 5 * top_left[30:38, 30:38].mean()
    # 120 rows -> 614 of 1024 -> embedding rows 0..38; the bottom-right bump sits at row ~38, col 63.
    assert bottom_right[34:40, 58:64].mean() > 5 * bottom_right[:8, :8].mean()


@pytest.mark.parametrize("kind", DENSE_KINDS)
def test_every_dense_kind_reaches_the_mask_input(kind):
    rec = GazeRecording(
        t=np.arange(6) / 120, coords=np.array([[40.0, 60.0]] * 3 + [[42.0, 63.0]] * 3)
    )
    fix = Fixations(start=[0.0], duration=[0.05], coords=[[41.0, 61.5]])
    prompt = build_prompt(kind, (80, 120), fixations=fix, recording=rec)
    assert prompt.mask_input.shape == (1, 256, 256)
    peak = np.unravel_index(np.argmax(prompt.mask_input[0]), (256, 256))
    assert abs(peak[0] - 41 * 1024 / 120 / 4) <= 3 and abs(peak[1] - 61.5 * 1024 / 120 / 4) <= 3


def test_prompt_kinds_parse_and_complain():
    assert parse_prompt_kind("fixations+box").name == "fixations+box"
    kind = parse_prompt_kind("blurred_gaze + fixations")
    assert kind.points and not kind.box and kind.dense == "blurred_gaze"
    for bad in ["", "clicks", "heatmap_gaze+blurred_gaze", "box+box"]:
        with pytest.raises(ValueError, match="is not understood"):
            parse_prompt_kind(bad)
    with pytest.raises(ValueError, match="needs raw gaze samples"):
        build_prompt(
            "heatmap_gaze",
            (50, 50),
            fixations=Fixations(start=[0.0], duration=[0.1], coords=[[1.0, 1.0]]),
        )
