"""GazeSam decodes exactly as segment-anything's SamPredictor (tiny SAM, random weights)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sam_tiny import (  # noqa: F401  (fixtures)
    TINY_TYPE,
    blob_images,
    no_user_checkpoints,
    ours_and_stock,
    tiny_checkpoint,
)

from napari_gazeseg.gaze.recording import Fixations
from napari_gazeseg.imaging import to_uint8_rgb
from napari_gazeseg.models import GazeSam
from napari_gazeseg.models.sam_prompts import mask_input_from_map


@pytest.fixture(scope="module")
def sams(tiny_checkpoint):  # noqa: F811
    return ours_and_stock(tiny_checkpoint)


@pytest.mark.parametrize("name", list(blob_images()))
@pytest.mark.parametrize("multimask", [True, False])
def test_fixation_masks_equal_stock_predictor(sams, name, multimask):
    ours, stock = sams
    image, limits = blob_images()[name]
    rows, cols = image.shape[:2]
    fixations_rc = np.array([[rows * 0.4, cols * 0.35], [rows * 0.45, cols * 0.5], [rows - 1, 0.0]])
    ours.set_image(image, limits)
    stock.set_image(to_uint8_rgb(image, limits))
    masks, scores, low_res = stock.predict(
        point_coords=fixations_rc[:, ::-1], point_labels=np.ones(3), multimask_output=multimask
    )
    ours_prediction = ours.predict(ours.prompt_for("fixations", fixations_rc), multimask)
    np.testing.assert_array_equal(ours_prediction.masks, masks)
    np.testing.assert_allclose(ours_prediction.scores, scores, rtol=0, atol=1e-6)
    np.testing.assert_allclose(ours_prediction.low_res_logits, low_res, rtol=0, atol=1e-5)
    best = ours.segment(fixations_rc, multimask_output=multimask)
    assert best.shape == (rows, cols) and best.dtype == bool
    np.testing.assert_array_equal(best, masks[int(np.argmax(scores))] if multimask else masks[0])


def test_mask_choice_picks_the_named_mask(sams):
    ours, stock = sams
    image, _ = blob_images()["grey"]
    ours.set_image(image)
    stock.set_image(to_uint8_rgb(image))
    points = np.array([[60.0, 90.0]])
    masks, _, _ = stock.predict(point_coords=points[:, ::-1], point_labels=np.ones(1))
    for choice in range(3):
        np.testing.assert_array_equal(ours.segment(points, mask_choice=choice), masks[choice])
    with pytest.raises(ValueError, match="mask choice 3 does not exist"):
        ours.segment(points, mask_choice=3)


def test_fixations_object_and_box_prompt_equal_stock(sams):
    ours, stock = sams
    image, _ = blob_images()["rgb"]
    coords = np.array([[50.0, 80.0], [70.0, 100.0], [55.0, 120.0]])
    fixations = Fixations(start=[0.0, 0.3, 0.6], duration=[0.2, 0.25, 0.3], coords=coords)
    ours.set_image(image)
    stock.set_image(to_uint8_rgb(image))
    box_xyxy = np.array([80.0, 50.0, 120.0, 70.0])
    masks, _, _ = stock.predict(point_coords=coords[:, ::-1], point_labels=np.ones(3), box=box_xyxy)
    got = ours.predict(ours.prompt_for("fixations+box", fixations)).masks
    np.testing.assert_array_equal(got, masks)


def test_bfloat16_embedding_decodes_in_float32(tiny_checkpoint):  # noqa: F811
    sam = GazeSam(TINY_TYPE, tiny_checkpoint, device="cpu", embed_precision="bfloat16")
    assert sam.uses_bfloat16
    image, _ = blob_images()["grey"]
    embedding = sam.set_image(image)
    assert embedding.features.dtype == torch.float32
    reference = GazeSam(TINY_TYPE, tiny_checkpoint, device="cpu").embed(image).features
    relative = (embedding.features - reference).norm() / reference.norm()
    assert 0 < relative < 0.05  # bf16 differs a little, and only a little
    assert sam.segment(np.array([[60.0, 90.0]])).shape == image.shape


def test_segment_without_image_or_prompt_says_what_to_do(tiny_checkpoint):  # noqa: F811
    sam = GazeSam(TINY_TYPE, tiny_checkpoint, device="cpu")
    with pytest.raises(RuntimeError, match="call set_image"):
        sam.segment(np.array([[1.0, 1.0]]))
    sam.set_image(np.zeros((32, 48), np.uint8))
    with pytest.raises(ValueError, match="no fixations on this image slice"):
        sam.segment(np.zeros((0, 2)))


def test_heatmap_argument_is_the_dense_prompt_as_stock_mask_input(sams):
    ours, stock = sams
    image, _ = blob_images()["grey"]
    ours.set_image(image)
    stock.set_image(to_uint8_rgb(image))
    rows, cols = np.mgrid[0:150, 0:230]
    heatmap = 5.0 * np.exp(-((rows - 60) ** 2 + (cols - 90) ** 2) / 400.0)
    mask_input = mask_input_from_map(heatmap)
    masks, scores, _ = stock.predict(mask_input=mask_input)
    np.testing.assert_array_equal(ours.segment(heatmap=heatmap), masks[int(np.argmax(scores))])
    points = np.array([[60.0, 90.0]])
    masks, scores, _ = stock.predict(points[:, ::-1], np.ones(1), mask_input=mask_input)
    np.testing.assert_array_equal(
        ours.segment(points, heatmap=heatmap), masks[int(np.argmax(scores))]
    )
    with pytest.raises(ValueError, match="pass the heatmap of this slice"):
        ours.segment(heatmap=heatmap[:10])
    with pytest.raises(ValueError, match="already has a dense part"):
        ours.segment(points, prompt="heatmap_fixations", heatmap=heatmap)


def test_decoding_stays_float32_inside_a_callers_bfloat16_autocast(sams):
    ours, _ = sams
    image, _ = blob_images()["grey"]
    ours.set_image(image)
    points = np.array([[60.0, 90.0], [70.0, 100.0]])
    reference = ours.predict(ours.prompt_for("fixations", points))
    with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
        inside = ours.predict(ours.prompt_for("fixations", points))
    np.testing.assert_array_equal(inside.masks, reference.masks)
    np.testing.assert_array_equal(inside.scores, reference.scores)
    assert inside.low_res_logits.dtype == np.float32
