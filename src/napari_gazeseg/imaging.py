"""Image conversions shared by the models: what the user sees, as 8-bit RGB.

Images arrive as napari holds them: 2D grey ``(rows, cols)``, 2D RGB(A)
``(rows, cols, 3|4)``, any integer or float dtype (16-bit microscopy, float CT).
Models see them as the user does in napari: intensities are mapped through the
layer's contrast limits to ``0..255``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["to_uint8_rgb", "is_rgb"]


def is_rgb(image: np.ndarray) -> bool:
    """True for a 2D colour image ``(rows, cols, 3|4)``."""
    return image.ndim == 3 and image.shape[-1] in (3, 4)


def to_uint8_rgb(image: np.ndarray, contrast_limits: tuple[float, float] | None = None) -> np.ndarray:
    """Map a 2D grey or RGB(A) image to ``(rows, cols, 3)`` uint8.

    Parameters
    ----------
    image : (rows, cols) or (rows, cols, 3|4) array
        Any numeric dtype. Alpha is dropped.
    contrast_limits : (low, high) or None
        Intensities mapped to 0 and 255, clipped outside, as napari displays them.
        ``None`` keeps uint8 images unchanged and stretches others from their
        minimum to their maximum.
    """
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[-1] == 4:
        image = image[..., :3]
    if not (image.ndim == 2 or is_rgb(image)):
        raise ValueError(
            f"expected a 2D grey or RGB image, got shape {image.shape}; "
            "pick one slice of an nD image first."
        )
    if contrast_limits is None and image.dtype == np.uint8:
        out = image
    else:
        if contrast_limits is None:
            finite = image[np.isfinite(image)] if image.dtype.kind == "f" else image
            low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        else:
            low, high = (float(v) for v in contrast_limits)
        scale = 255.0 / (high - low) if high > low else 0.0
        scaled = (np.nan_to_num(image.astype(np.float64), nan=low) - low) * scale
        out = np.clip(np.round(scaled), 0, 255).astype(np.uint8)
    if out.ndim == 2:
        out = np.repeat(out[..., None], 3, axis=-1)
    return np.ascontiguousarray(out)
