"""Segment images with a trained GradTrack (or baseline U-Net) checkpoint.

>>> predictor = GradTrackPredictor.from_checkpoint()          # the bundled model
>>> mask = predictor.predict(image, contrast_limits=(0, 4095))  # bool (rows, cols)

The image is taken as the user sees it in napari (contrast limits applied, as
8-bit RGB), resized to the network's training size, segmented, and the
foreground probability is resized back (bilinear) to the image's shape before
thresholding, so the mask lines up pixel for pixel with the image layer.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .devices import resolve_device
from .gradtrack import GradTrack
from .gradtrack_checkpoint import TrainConfig, _autocast, read_checkpoint
from .gradtrack_data import prepare_image

__all__ = ["GradTrackPredictor", "default_checkpoint_path"]


def default_checkpoint_path() -> Path:
    """Path of the model bundled with the package (``data/gradtrack_default.pt``)."""
    return Path(str(resources.files("napari_gazeseg") / "data" / "gradtrack_default.pt"))


class GradTrackPredictor:
    """A loaded network ready to segment 2D images.

    Attributes: ``model`` (eval mode, on ``device``), ``size`` (training side in
    pixels), ``train_config`` (the :class:`TrainConfig` it was trained with),
    ``threshold`` (foreground-probability cut: the checkpoint's
    validation-chosen value, 0.5 when it has none).
    """

    def __init__(
        self, model: GradTrack, train_config: TrainConfig, device: torch.device, threshold: float = 0.5
    ):
        self.model = model.to(device).eval()
        self.train_config = train_config
        self.device = device
        self.size = model.config.size
        self.threshold = float(threshold)

    @classmethod
    def from_checkpoint(
        cls, path: str | os.PathLike | None = None, device: str = "auto"
    ) -> "GradTrackPredictor":
        """Load ``model.pt`` written by ``gazeseg train`` (``None``: the bundled model)."""
        path = default_checkpoint_path() if path is None else Path(path)
        # checked (format, plan, shapes, finite weights, threshold) before anything is built
        checkpoint = read_checkpoint(path)
        model = GradTrack(checkpoint.unet, track_attention_blocks=checkpoint.track_attention_blocks)
        model.load_state_dict(checkpoint.state_dict)
        return cls(model, checkpoint.train_config, resolve_device(device), threshold=checkpoint.threshold)

    @torch.no_grad()
    def predict_probability(
        self, image: np.ndarray, contrast_limits: tuple[float, float] | None = None
    ) -> np.ndarray:
        """Foreground probability ``(rows, cols)`` float32 in [0, 1] for a 2D grey or RGB image."""
        image = np.asarray(image)
        rows, cols = image.shape[:2]
        batch = prepare_image(image, self.size, contrast_limits)[None].to(self.device)
        with _autocast(self.device, True):  # bf16 on CUDA, as in training
            outputs = self.model(batch)
        probability = torch.softmax(outputs[max(outputs)].float(), dim=1)[:, 1:2]
        probability = F.interpolate(probability, size=(rows, cols), mode="bilinear", align_corners=False)
        return probability[0, 0].clamp(0, 1).cpu().numpy()

    def predict(
        self,
        image: np.ndarray,
        contrast_limits: tuple[float, float] | None = None,
        threshold: float | None = None,
    ) -> np.ndarray:
        """Boolean foreground mask with the image's ``(rows, cols)``.

        ``threshold`` defaults to :attr:`threshold`.
        """
        cut = self.threshold if threshold is None else float(threshold)
        return self.predict_probability(image, contrast_limits) > cut
