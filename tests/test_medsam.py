"""MedSAM the way its published inference code (MedSAM_Inference.py) runs it, with random weights.

The reference functions below transcribe MedSAM's preprocessing and
``medsam_inference`` line by line; our MedSam must give the same numbers.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sam_tiny import TINY_TYPE, build_tiny_sam, tiny_checkpoint  # noqa: F401  (fixture)
from skimage import transform

from napari_gazeseg.models.medsam import MedSam, gaze_box, medsam_preprocess
from napari_gazeseg.models.registry import ModelDownloadError


def published_preprocessing(img_np: np.ndarray) -> np.ndarray:
    """MedSAM_Inference.py, "image preprocessing" (bowang-lab/MedSAM)."""
    if len(img_np.shape) == 2:
        img_3c = np.repeat(img_np[:, :, None], 3, axis=-1)
    else:
        img_3c = img_np
    img_1024 = transform.resize(img_3c, (1024, 1024), order=3, preserve_range=True, anti_aliasing=True)
    img_1024 = img_1024.astype(np.uint8)
    return (img_1024 - img_1024.min()) / np.clip(img_1024.max() - img_1024.min(), a_min=1e-8, a_max=None)


@torch.no_grad()
def published_inference(model, img_np: np.ndarray, img_1024: np.ndarray, box_np: np.ndarray) -> np.ndarray:
    """MedSAM_Inference.py: embedding of the preprocessed image ``img_1024``, then ``medsam_inference``."""
    H, W = img_np.shape[:2]
    img_1024_tensor = torch.tensor(img_1024).float().permute(2, 0, 1).unsqueeze(0)
    box_1024 = box_np / np.array([W, H, W, H]) * 1024
    img_embed = model.image_encoder(img_1024_tensor)
    box_torch = torch.as_tensor(box_1024, dtype=torch.float)
    if len(box_torch.shape) == 2:
        box_torch = box_torch[:, None, :]
    sparse_embeddings, dense_embeddings = model.prompt_encoder(points=None, boxes=box_torch, masks=None)
    low_res_logits, _ = model.mask_decoder(
        image_embeddings=img_embed,
        image_pe=model.prompt_encoder.get_dense_pe(),
        sparse_prompt_embeddings=sparse_embeddings,
        dense_prompt_embeddings=dense_embeddings,
        multimask_output=False,
    )
    low_res_pred = F.interpolate(torch.sigmoid(low_res_logits), size=(H, W), mode="bilinear", align_corners=False)
    return (low_res_pred.squeeze().cpu().numpy() > 0.5).astype(np.uint8)


def _smooth_image(shape=(45, 61), rgb=False) -> np.ndarray:
    rows, cols = np.mgrid[: shape[0], : shape[1]]
    blob = np.exp(-((rows - 20) ** 2 + (cols - 35) ** 2) / (2 * 9.0**2))
    grey = (30 + 180 * blob + 0.5 * cols).astype(np.uint8)
    return np.dstack([grey, (grey * 0.8).astype(np.uint8), 255 - grey]) if rgb else grey


@pytest.fixture(scope="module")
def preprocessed():
    """Ours and the published preprocessing of a grey and an RGB image (a 1024^2 bicubic resize is slow)."""
    return {
        kind: (medsam_preprocess(_smooth_image(rgb=kind == "rgb")), published_preprocessing(_smooth_image(rgb=kind == "rgb")))
        for kind in ("grey", "rgb")
    }


@pytest.mark.parametrize("kind", ["grey", "rgb"])
def test_preprocessing_is_medsams(preprocessed, kind):
    ours, published = preprocessed[kind]
    assert ours.shape == (1024, 1024, 3) and ours.min() == 0 and ours.max() == 1
    np.testing.assert_array_equal(ours, published)


def test_contrast_limits_apply_first(preprocessed):
    image = _smooth_image().astype(np.uint16) * 16
    np.testing.assert_array_equal(medsam_preprocess(image, contrast_limits=(0, 255 * 16)), preprocessed["grey"][0])


@pytest.mark.parametrize("boxes", [[10, 8, 40, 30], [[10, 8, 40, 30], [0, 0, 60, 44]]], ids=["one", "two"])
def test_segmentation_is_medsams_with_random_weights(preprocessed, boxes):
    torch.manual_seed(3)
    model = build_tiny_sam()
    image = _smooth_image()
    medsam = MedSam(model, torch.device("cpu"))
    embedding = medsam.model.image_encoder(torch.tensor(preprocessed["grey"][0]).float().permute(2, 0, 1)[None])
    ours = medsam.segment(image, boxes, embedding=embedding)  # embed() is medsam_preprocess + encoder
    expected = published_inference(model, image, preprocessed["grey"][1], np.array(boxes, dtype=float).reshape(-1, 4))
    np.testing.assert_array_equal(ours, expected.astype(bool))
    assert ours.shape == ((45, 61) if np.ndim(boxes) == 1 else (2, 45, 61))


def test_gaze_box_around_an_objects_fixations_with_a_margin():
    coords = np.array([[10.0, 20.0], [14.0, 26.0], [np.nan, np.nan], [12.0, 30.0]])
    np.testing.assert_allclose(gaze_box(coords, (50, 60)), [20, 10, 30, 14])
    np.testing.assert_allclose(gaze_box(coords, (50, 60), margin_px=5), [15, 5, 35, 19])
    np.testing.assert_allclose(gaze_box(coords, (50, 60), margin_deg=0.5, px_per_degree=30), [5, 0, 45, 29])
    with pytest.raises(ValueError, match="pixels per degree"):
        gaze_box(coords, (50, 60), margin_deg=1.0)
    with pytest.raises(ValueError, match="at least one valid gaze point"):
        gaze_box(np.full((2, 2), np.nan), (50, 60))


def test_loads_through_the_registry_from_a_local_file(tiny_checkpoint, monkeypatch, tmp_path):  # noqa: F811
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "empty-cache"))
    monkeypatch.delenv("GAZESEG_SAM_DIR", raising=False)
    medsam = MedSam.from_registry(checkpoint=tiny_checkpoint, model_type=TINY_TYPE, device="cpu")
    assert medsam.model.image_encoder.img_size == 1024 and medsam.device.type == "cpu"
    with pytest.raises(ModelDownloadError, match="gazeseg models download medsam_vit_b"):
        MedSam.from_registry(device="cpu")
