"""Images as napari shows them: contrast limits, 8-bit levels, text that reads on them.

Images arrive as napari holds them: 2D grey ``(rows, cols)``, 2D RGB(A)
``(rows, cols, 3|4)``, nD stacks, any integer or float dtype (16-bit
microscopy, float CT). Everything here sees them as the user does in napari:

- :func:`default_contrast_limits` is the rule a napari ``Image`` layer made
  from an array in memory applies (``napari.layers.utils.layer_utils.calc_data_range``):
  ``(0, 255)`` for uint8, else the finite minimum and maximum (over three
  planes, or a central patch of them, when the image has more than 10 million
  values), widened to ``(min(v, 0), max(v, 1))`` when they are equal.
  ``tests/test_imaging.py`` holds it equal to a real layer's choice.
- :func:`display_levels` maps values through contrast limits to the 8-bit
  levels ``0..255`` napari displays (grey colormap, gamma 1): clipped
  outside the limits, rounded half to even, NaN at level 0.
- :func:`to_uint8_rgb` is one 2D plane as 8-bit RGB, what the models see.
- :func:`label_colors_at` picks black or white text per point (WCAG 2
  contrast with the displayed image around it): the fixation numbers.

No napari, Qt or torch here: the models, the CLI and the layer builders share it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = [
    "default_contrast_limits",
    "display_levels",
    "guess_rgb",
    "is_rgb",
    "label_colors_at",
    "to_uint8_rgb",
]

#: More values than this and napari's range looks at three planes only.
_LARGE = 1e7


def is_rgb(image: np.ndarray) -> bool:
    """True for a 2D colour image ``(rows, cols, 3|4)``."""
    return image.ndim == 3 and image.shape[-1] in (3, 4)


def guess_rgb(shape: Sequence[int], min_side_len: int = 30) -> bool:
    """napari's guess that data of this shape is RGB(A): more than two axes, the
    last of size 3 or 4 and the two before it longer than ``min_side_len``."""
    shape = tuple(shape)
    return len(shape) > 2 and shape[-1] in (3, 4) and all(d > min_side_len for d in shape[-3:-1])


def _nanmin(values) -> float:
    low = np.min(values)
    if not np.isfinite(low):
        finite = np.asarray(values)[np.isfinite(values)]
        return 0.0 if finite.size == 0 else float(np.min(finite))
    return float(low)


def _nanmax(values) -> float:
    high = np.max(values)
    if not np.isfinite(high):
        finite = np.asarray(values)[np.isfinite(values)]
        return 1.0 if finite.size == 0 else float(np.max(finite))
    return float(high)


def default_contrast_limits(image, rgb: bool | None = None) -> tuple[float, float]:
    """The contrast limits napari gives a new ``Image`` layer of ``image`` (see the module docstring).

    ``image`` is any array napari shows (numpy, dask, zarr); ``rgb`` says whether
    its last axis holds colours (None: napari's guess, :func:`guess_rgb`).
    Arrays not in memory are read as napari's range reads them (all of an image
    of up to 10 million values, else three planes or their central patches);
    napari itself starts such lazy layers from the first slice it draws, which
    only the layer knows: pass ``layer.contrast_limits`` where there is a layer.
    """
    if image.dtype == np.uint8:
        return (0.0, 255.0)
    if rgb is None:
        rgb = guess_rgb(image.shape)
    if isinstance(image, np.ndarray) and image.ndim < 3:
        reduced = [image]
    elif image.size > _LARGE and (image.ndim == 1 or (rgb and image.ndim == 2)):
        centre = int(image.shape[0] // 2)
        parts = (slice(0, 4096), slice(centre - 2048, centre + 2048), slice(-4096, None))
        reduced = [np.asarray(image[part]) for part in parts]
    elif image.size > _LARGE:
        offset = 2 + int(rgb)
        leading = image.shape[:-offset]
        planes = [(0,) * len(leading), tuple(s // 2 for s in leading), tuple(s - 1 for s in leading)]
        spatial = image.shape[-offset:]
        patch: tuple = ()
        if np.prod(spatial) > _LARGE and spatial[0] > 64 and spatial[1] > 64:
            patch = tuple(slice(c // 2 - 31, c // 2 + 31) for c in spatial[:2])
        reduced = [np.asarray(image[plane + patch]) for plane in planes]
    else:
        reduced = [np.asarray(image[...])]  # lazy arrays read as a whole, as napari does
    low = min(_nanmin(part) for part in reduced) if len(reduced) > 1 else _nanmin(reduced[0])
    high = max(_nanmax(part) for part in reduced) if len(reduced) > 1 else _nanmax(reduced[0])
    if low == high:
        low, high = min(low, 0.0), max(high, 1.0)
    return (float(low), float(high))


def display_levels(values: np.ndarray, contrast_limits: Sequence[float]) -> np.ndarray:
    """``values`` as the 8-bit levels napari displays through ``contrast_limits`` (uint8).

    ``(v - low) / (high - low)`` clipped to ``0..1``, times 255, rounded half to
    even; NaN gives level 0, limits that are not increasing give 0 everywhere.
    uint8 values on ``(0, 255)`` come back as they are (not copied).
    """
    values = np.asarray(values)
    low, high = (float(v) for v in contrast_limits)
    if values.dtype == np.uint8 and low == 0.0 and high == 255.0:
        return values
    if not high > low:
        return np.zeros(values.shape, np.uint8)
    scaled = values.astype(np.float64)  # a copy, worked on in place
    scaled -= low
    scaled *= 255.0 / (high - low)
    np.clip(scaled, 0.0, 255.0, out=scaled)
    if values.dtype.kind in "fc":
        scaled[np.isnan(scaled)] = 0.0
    return np.rint(scaled, out=scaled).astype(np.uint8)


def to_uint8_rgb(image: np.ndarray, contrast_limits: Sequence[float] | None = None) -> np.ndarray:
    """Map a 2D grey or RGB(A) image to ``(rows, cols, 3)`` uint8.

    Parameters
    ----------
    image : (rows, cols) or (rows, cols, 3|4) array
        Any numeric dtype. Alpha is dropped.
    contrast_limits : (low, high) or None
        Intensities mapped to 0 and 255 (:func:`display_levels`), as napari
        displays them. ``None``: :func:`default_contrast_limits` of this plane
        (uint8 images unchanged); give a stack's limits to map its planes alike.
    """
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[-1] == 4:
        image = image[..., :3]
    if not (image.ndim == 2 or is_rgb(image)):
        raise ValueError(
            f"expected a 2D grey or RGB image, got shape {image.shape}; "
            "pick one slice of an nD image first."
        )
    if contrast_limits is None:
        contrast_limits = default_contrast_limits(image, rgb=image.ndim == 3)
    out = display_levels(image, contrast_limits)
    if out.ndim == 2:
        out = np.repeat(out[..., None], 3, axis=-1)
    return np.ascontiguousarray(out)


# -- fixation numbers that read on the image -------------------------------------
#: Relative luminance above which black text contrasts more than white (WCAG 2:
#: (L + 0.05) / 0.05 > 1.05 / (L + 0.05)).
_BLACK_TEXT_ABOVE = 0.179


def _srgb_to_linear(level: np.ndarray) -> np.ndarray:
    shown = level / 255.0
    return np.where(shown <= 0.04045, shown / 12.92, ((shown + 0.055) / 1.055) ** 2.4)


#: Linear light of each 8-bit sRGB level (WCAG 2 relative luminance of a grey).
_LINEAR_OF_LEVEL = _srgb_to_linear(np.arange(256))


def _relative_luminance(shown: np.ndarray, rgb: bool) -> np.ndarray:
    """Per-pixel WCAG relative luminance of 8-bit levels (grey, or RGB(A): alpha ignored)."""
    if not rgb:
        return _LINEAR_OF_LEVEL[shown]
    linear = _LINEAR_OF_LEVEL[shown[..., :3]]
    return linear @ np.array([0.2126, 0.7152, 0.0722])


def label_colors_at(
    image, points: np.ndarray, contrast_limits: Sequence[float] | None = None
) -> np.ndarray:
    """Black or white RGBA ``(N, 4)`` per point: the colour that reads on the image there.

    napari draws text without an outline, so each fixation number takes the
    colour of higher contrast (WCAG 2) with the image as displayed around its
    fixation: the relative luminance of a square window (side a twenty-fifth of
    the image, at least 3 pixels) on the point's plane, in the 8-bit levels
    napari displays through ``contrast_limits`` (default:
    :func:`default_contrast_limits`), as grey or RGB; black where it exceeds 0.179.
    ``points`` are image data coordinates with one column per image axis (RGB
    excluded); ``image`` may be any array napari shows (numpy, dask, zarr).
    """
    rgb = image.ndim == points.shape[1] + 1 and image.shape[-1] in (3, 4)
    spatial = tuple(image.shape[:-1] if rgb else image.shape)
    if contrast_limits is None:
        contrast_limits = default_contrast_limits(image, rgb=rgb)
    limits = tuple(float(v) for v in contrast_limits)
    half = max(1, round(max(spatial[-2:]) / 50))  # covers the number beside the fixation
    finite = np.nan_to_num(np.asarray(points, dtype=np.float64), nan=0.0, posinf=1e9, neginf=-1e9)
    pixels = np.round(finite).astype(np.int64).reshape(len(points), -1)  # NaN: the first pixel
    means = np.zeros(len(points))
    if isinstance(image, np.ndarray):
        means = _window_luminance_in_memory(image, pixels, spatial, half, limits, rgb)
    else:  # lazy arrays: read only the windows
        for index, point in enumerate(pixels):
            plane = tuple(int(np.clip(p, 0, n - 1)) for p, n in zip(point[:-2], spatial[:-2]))
            values = np.asarray(image[plane + _window(point[-2:], spatial[-2:], half)])
            means[index] = _relative_luminance(display_levels(values, limits), rgb).mean()
    colors = np.tile([1.0, 1.0, 1.0, 1.0], (len(points), 1))
    colors[means > _BLACK_TEXT_ABOVE, :3] = 0.0
    return colors


def _window(centre, shape, half: int) -> tuple[slice, slice]:
    """The square window of half-side ``half`` around ``centre`` ``(row, col)``, clipped to ``shape``."""
    return tuple(
        slice(int(np.clip(p - half, 0, n - 1)), int(np.clip(p + half + 1, 1, n)))
        for p, n in zip(centre, shape)
    )


def _window_luminance_in_memory(image, pixels, spatial, half, limits, rgb) -> np.ndarray:
    """Mean luminance of every point's window: per plane, one luminance image and its
    summed-area table (each window's sum from four corners), instead of a loop of slices."""
    means = np.zeros(len(pixels))
    leading = np.clip(pixels[:, :-2], 0, np.asarray(spatial[:-2], dtype=np.int64) - 1)
    planes, which = np.unique(leading, axis=0, return_inverse=True)
    rows, cols = spatial[-2:]
    for index, plane in enumerate(planes):
        mine = np.flatnonzero(which.reshape(-1) == index)
        luminance = _relative_luminance(display_levels(image[tuple(int(p) for p in plane)], limits), rgb)
        table = np.zeros((rows + 1, cols + 1))
        table[1:, 1:] = luminance.cumsum(axis=0).cumsum(axis=1)
        r, c = pixels[mine, -2], pixels[mine, -1]
        r0, r1 = np.clip(r - half, 0, rows - 1), np.clip(r + half + 1, 1, rows)
        c0, c1 = np.clip(c - half, 0, cols - 1), np.clip(c + half + 1, 1, cols)
        total = table[r1, c1] - table[r0, c1] - table[r1, c0] + table[r0, c0]
        area = np.maximum(r1 - r0, 0) * np.maximum(c1 - c0, 0)
        means[mine] = np.where(area > 0, total / np.maximum(area, 1), 0.0)
    return means
