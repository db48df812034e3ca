"""MedSAM: SAM ViT-B fine-tuned on medical images, prompted by a box around an object's fixations.

>>> medsam = MedSam.from_registry(device="cpu")               # doctest: +SKIP  (medsam_vit_b)
>>> box = gaze_box(fixations.coords, image.shape[:2], margin_px=10)  # doctest: +SKIP
>>> mask = medsam.segment(image, box)                         # doctest: +SKIP  bool (rows, cols)

Preprocessing and decoding follow MedSAM's published inference code
(``MedSAM_Inference.py`` in bowang-lab/MedSAM), which differs from SAM's
``SamPredictor``:

* the image (grey repeated to 3 channels) is resized to 1024 x 1024 (no aspect
  ratio kept, no padding) with ``skimage.transform.resize(order=3,
  preserve_range=True, anti_aliasing=True)``, cast to uint8, then min-max
  normalised to [0, 1] and fed to the image encoder as it is (no ImageNet mean
  and standard deviation: ``Sam.preprocess`` is not used);
* the box ``(x0, y0, x1, y1)`` in image pixels is scaled by ``1024 / (W, H)``;
* one mask (``multimask_output=False``); its low-resolution logits go through a
  sigmoid, are resized bilinearly to the image and thresholded at 0.5.

The image first becomes what the user sees
(:func:`napari_gazeseg.imaging.to_uint8_rgb` with the layer's contrast limits),
as MedSAM expects 8-bit images (its CT/MR scripts window to 0..255 first).
"""

from __future__ import annotations

import os

import numpy as np
import torch
import torch.nn.functional as F

from ..imaging import to_uint8_rgb
from .sam_prompts import box_from_points

__all__ = ["MEDSAM_SIZE", "MedSam", "gaze_box", "medsam_preprocess"]

#: MedSAM's square input side.
MEDSAM_SIZE = 1024


def medsam_preprocess(image: np.ndarray, contrast_limits: tuple[float, float] | None = None) -> np.ndarray:
    """MedSAM's input: ``(1024, 1024, 3)`` float64 in [0, 1] from a 2D grey or RGB(A) image."""
    from skimage import transform

    rgb = to_uint8_rgb(np.asarray(image), contrast_limits)
    resized = transform.resize(
        rgb, (MEDSAM_SIZE, MEDSAM_SIZE), order=3, preserve_range=True, anti_aliasing=True
    )
    resized = resized.astype(np.uint8)  # resize clips to the input's range (clip=True): a safe cast
    return (resized - resized.min()) / np.clip(resized.max() - resized.min(), a_min=1e-8, a_max=None)


def gaze_box(
    coords_rc,
    image_shape: tuple[int, int],
    margin_px: float = 0.0,
    margin_deg: float | None = None,
    px_per_degree: float | None = None,
) -> np.ndarray:
    """The box ``(x0, y0, x1, y1)`` around an object's fixations, grown by a margin, clipped to the image.

    The margin is ``margin_px`` image pixels, or ``margin_deg`` degrees of visual
    angle at ``px_per_degree`` image pixels per degree (both needed together).
    """
    if margin_deg is not None:
        if px_per_degree is None or not px_per_degree > 0:
            raise ValueError("a margin in degrees needs the image's pixels per degree (px_per_degree > 0).")
        margin_px = float(margin_deg) * float(px_per_degree)
    if not np.isfinite(margin_px) or margin_px < 0:
        raise ValueError(f"the box margin must be a finite number of pixels >= 0, got {margin_px}.")
    return box_from_points(coords_rc, tuple(image_shape[:2]), margin_px)


class MedSam:
    """A MedSAM (or any SAM ViT) model used the MedSAM way: whole-image resize, box prompts."""

    def __init__(self, model, device: torch.device):
        self.model = model.to(device).eval()
        self.device = device

    @classmethod
    def from_registry(
        cls,
        name: str = "medsam_vit_b",
        checkpoint: str | os.PathLike | None = None,
        device: str = "auto",
        model_type: str | None = None,
    ) -> "MedSam":
        """Load the registry entry ``name`` (or a local ``checkpoint`` file), without network."""
        from . import registry
        from .sam_loading import load_sam, resolve_device

        item = registry.entry(name)
        path = registry.checkpoint_path(checkpoint if checkpoint is not None else item)
        loaded = load_sam(model_type or item.architecture, path, device=device)
        return cls(loaded.model, resolve_device(device))

    @torch.no_grad()
    def embed(self, image: np.ndarray, contrast_limits: tuple[float, float] | None = None) -> torch.Tensor:
        """The image encoder's features ``(1, C, 64, 64)`` of MedSAM's preprocessed image."""
        pixels = medsam_preprocess(image, contrast_limits)
        tensor = torch.tensor(pixels).float().permute(2, 0, 1).unsqueeze(0).to(self.device)
        return self.model.image_encoder(tensor)

    @torch.no_grad()
    def segment(
        self,
        image: np.ndarray,
        box_xyxy,
        contrast_limits: tuple[float, float] | None = None,
        embedding: torch.Tensor | None = None,
    ) -> np.ndarray:
        """Boolean masks ``(rows, cols)`` (one box) or ``(n, rows, cols)`` (``(n, 4)`` boxes)."""
        rows, cols = np.asarray(image).shape[:2]
        features = self.embed(image, contrast_limits) if embedding is None else embedding
        boxes = np.asarray(box_xyxy, dtype=np.float64)
        single = boxes.ndim == 1
        boxes = boxes.reshape(-1, 4) / np.array([cols, rows, cols, rows]) * MEDSAM_SIZE
        box_torch = torch.as_tensor(boxes, dtype=torch.float, device=self.device)[:, None, :]
        sparse, dense = self.model.prompt_encoder(points=None, boxes=box_torch, masks=None)
        low_res_logits, _ = self.model.mask_decoder(
            image_embeddings=features,
            image_pe=self.model.prompt_encoder.get_dense_pe(),
            sparse_prompt_embeddings=sparse,
            dense_prompt_embeddings=dense,
            multimask_output=False,
        )
        probability = F.interpolate(torch.sigmoid(low_res_logits), size=(rows, cols), mode="bilinear",
                                    align_corners=False)
        masks = (probability[:, 0] > 0.5).cpu().numpy()
        return masks[0] if single else masks

    def segment_points(
        self,
        image: np.ndarray,
        points_rc,
        contrast_limits: tuple[float, float] | None = None,
        margin_px: float = 0.0,
        embedding: torch.Tensor | None = None,
    ) -> np.ndarray:
        """One object's mask from its gaze: the box around ``points_rc`` ``(K, 2)`` ``(row, col)``
        grown by ``margin_px`` (:func:`gaze_box`), then :meth:`segment`."""
        box = gaze_box(points_rc, np.asarray(image).shape[:2], margin_px=margin_px)
        return self.segment(image, box, contrast_limits, embedding)
