"""Training samples for GradTrack and its baselines: images, supervision maps, augmentation.

Every sample is square, ``size x size`` pixels (the network's planned size):

* ``image``: ``(3, size, size)`` float32, the 8-bit RGB image as the user sees it
  (:func:`napari_gazeseg.imaging.to_uint8_rgb`), resized with antialiasing and
  normalised per channel to zero mean and unit variance (nnU-Net's scheme for
  non-CT images). :func:`prepare_image` is the one place this happens, for
  training and prediction alike.
* ``targets``: ``(T, size, size)`` float32, the supervision maps of
  :mod:`napari_gazeseg.models.gaze_supervision` stacked in the order of
  ``target_names`` (track maps, pseudo-masks, soft labels, the ground truth).

Augmentation (training only) draws one random flip/rotation per sample from
torch's global generator (seeded by the training loop) and applies the same
transform to the image and to every map: horizontal flip, vertical flip and a
rotation by a multiple of 90 degrees (the 8 symmetries of the square). These
keep track maps and masks exactly aligned without interpolation; scaling and
elastic deformations are left out on purpose.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from ..imaging import to_uint8_rgb

__all__ = ["prepare_image", "resize_map_array", "SampleSet", "GazeSegDataset", "augment"]


def prepare_image(
    image: np.ndarray, size: int, contrast_limits: tuple[float, float] | None = None
) -> torch.Tensor:
    """``(3, size, size)`` float32 network input from a 2D grey or RGB image."""
    rgb = to_uint8_rgb(image, contrast_limits)
    tensor = torch.from_numpy(rgb).permute(2, 0, 1)[None].float()
    if tuple(tensor.shape[-2:]) != (size, size):
        tensor = F.interpolate(tensor, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    tensor = tensor[0]
    mean = tensor.mean(dim=(1, 2), keepdim=True)
    std = tensor.std(dim=(1, 2), keepdim=True).clamp_min(1.0)
    return (tensor - mean) / std


def resize_map_array(values: np.ndarray, size: int, binary: bool = False) -> np.ndarray:
    """A 2D map resized to ``(size, size)`` float32: bilinear (antialiased), or for
    ``binary`` masks bilinear then thresholded at 0.5 (the mask's area is kept)."""
    tensor = torch.from_numpy(np.asarray(values, dtype=np.float32))[None, None]
    if tuple(tensor.shape[-2:]) != (size, size):
        tensor = F.interpolate(tensor, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    out = tensor[0, 0].numpy()
    return (out > 0.5).astype(np.float32) if binary else out.astype(np.float32)


@dataclass
class SampleSet:
    """Prepared samples held in memory.

    ``images`` ``(N, 3, S, S)`` float32; ``targets`` ``(N, T, S, S)`` float32 with
    channels named by ``target_names``; ``names`` the image names.
    """

    images: torch.Tensor
    targets: torch.Tensor
    target_names: tuple[str, ...]
    names: tuple[str, ...]

    def __post_init__(self) -> None:
        if self.images.shape[0] != self.targets.shape[0] or len(self.names) != self.images.shape[0]:
            raise ValueError("images, targets and names must describe the same samples.")
        if self.targets.shape[1] != len(self.target_names):
            raise ValueError("every target channel needs a name.")

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def subset(self, indices) -> "SampleSet":
        indices = torch.as_tensor(np.asarray(indices, dtype=np.int64))
        return SampleSet(
            self.images[indices],
            self.targets[indices],
            self.target_names,
            tuple(self.names[i] for i in indices.tolist()),
        )

    def channel(self, name: str) -> int:
        try:
            return self.target_names.index(name)
        except ValueError:
            raise ValueError(f"the samples carry no {name!r} map; they have {list(self.target_names)}.") from None


def augment(image: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """One random symmetry of the square applied to ``(C, S, S)`` image and targets."""
    flip_rows, flip_cols, quarter_turns = (int(v) for v in torch.randint(0, 4, (3,)))
    stacked = torch.cat([image, targets], dim=0)
    if flip_rows % 2:
        stacked = stacked.flip(-2)
    if flip_cols % 2:
        stacked = stacked.flip(-1)
    if quarter_turns:
        stacked = torch.rot90(stacked, quarter_turns, dims=(-2, -1))
    return stacked[: image.shape[0]].contiguous(), stacked[image.shape[0] :].contiguous()


class GazeSegDataset(Dataset):
    """A torch ``Dataset`` over a :class:`SampleSet`, with optional augmentation.

    Items are ``(image (3, S, S), targets (T, S, S))`` float32 tensors.
    """

    def __init__(self, samples: SampleSet, augmentation: bool = False):
        self.samples = samples
        self.augmentation = augmentation

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image, targets = self.samples.images[index], self.samples.targets[index]
        if self.augmentation:
            image, targets = augment(image, targets)
        return image, targets
