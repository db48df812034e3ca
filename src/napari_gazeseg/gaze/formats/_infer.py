"""What a gaze file leaves unsaid, inferred where one answer fits and said out loud.

* **Time unit** of a time column that names none: the one of s, ms, µs, ns whose
  typical sample interval gives a plausible eye-tracker rate (8 to 5000 Hz; the
  range spans less than a factor 1000, so at most one unit fits). None fits,
  or ms fits while seconds give 0.5 to 8 Hz (1 ms steps: 1000 Hz in ms or
  1 Hz clicks in s): :class:`GazeFormatError` with the sentence that says how to
  state the unit.
* **Normalised or pixel** positions: normalised when nearly all positions
  (95 %) lie within -0.25 to 1.25 on both axes; pixel positions on any image
  larger than 2 px do not, and a few normalised outliers do not flip the answer.
* **Gaze off the image**: :func:`warn_off_image` warns with the share when it
  exceeds :data:`OFF_IMAGE_WARN_SHARE` (20 %), the usual sign of a wrong image
  size or coordinate unit.

Warnings are :class:`GazeFormatWarning` (a ``UserWarning``), one sentence that
names the file, what was assumed and how to say it explicitly.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from ._errors import format_error

__all__ = [
    "GazeFormatWarning",
    "OFF_IMAGE_WARN_SHARE",
    "PLAUSIBLE_RATE_HZ",
    "infer_time_unit",
    "looks_normalised",
    "off_image_share",
    "typical_step",
    "warn",
    "warn_off_image",
]

#: Sampling rates (Hz) accepted as an eye tracker's when a time unit is inferred.
PLAUSIBLE_RATE_HZ = (8.0, 5000.0)
#: Rates (Hz) of sparse gaze in seconds (clicks, annotations) that make a fit in ms ambiguous.
SPARSE_RATE_HZ = (0.5, 8.0)
#: Share of gaze off the image above which the readers warn.
OFF_IMAGE_WARN_SHARE = 0.2
_UNITS = (("s", 1.0), ("ms", 1e-3), ("us", 1e-6), ("ns", 1e-9))


class GazeFormatWarning(UserWarning):
    """A gaze file was read with an assumption the user should know about."""


def warn(path: str | Path, message: str) -> None:
    """Warn ``"{path}: {message}."`` as a :class:`GazeFormatWarning`."""
    warnings.warn(f"{path}: {message}.", GazeFormatWarning, stacklevel=3)


def typical_step(t: np.ndarray) -> float | None:
    """The median positive interval of the finite times ``t``; None when there is none."""
    t = np.asarray(t, dtype=np.float64)
    steps = np.diff(t[np.isfinite(t)])
    steps = steps[steps > 0]
    return float(np.median(steps)) if steps.size else None


def infer_time_unit(t: np.ndarray, path: str | Path, column: str) -> tuple[float, str, float]:
    """``(seconds_per_unit, unit, rate_hz)`` of raw times that state no unit.

    Raises :class:`GazeFormatError` when no unit, or more than one, gives a
    rate within :data:`PLAUSIBLE_RATE_HZ`.
    """
    step = typical_step(t)
    remedy = f"state the unit in the header, e.g. '{column} [ms]', '{column} [s]' or '{column} [us]'"
    if step is None:
        raise format_error(
            path, f"the time column {column!r} states no unit and has too few times to infer one", remedy, 1
        )
    low, high = PLAUSIBLE_RATE_HZ
    fits = [(unit, factor) for unit, factor in _UNITS if low <= 1.0 / (step * factor) <= high]
    if len(fits) != 1:
        raise format_error(
            path,
            f"the time column {column!r} states no unit and its typical interval ({step:g}) gives "
            f"no eye-tracker rate ({low:g} to {high:g} Hz) in s, ms, us or ns",
            remedy,
            1,
        )
    unit, factor = fits[0]
    seconds_rate = 1.0 / step
    if unit == "ms" and SPARSE_RATE_HZ[0] <= seconds_rate < SPARSE_RATE_HZ[1]:
        # 1 ms steps are 1000 Hz in ms, or 1 Hz in s (clicks, sparse annotations): undecidable
        raise format_error(
            path,
            f"the time column {column!r} states no unit, and its typical interval ({step:g}) is "
            f"{1.0 / (step * factor):.4g} Hz in ms or {seconds_rate:.3g} Hz in s",
            remedy,
            1,
        )
    return factor, unit, 1.0 / (step * factor)


def looks_normalised(x: np.ndarray, y: np.ndarray) -> bool | None:
    """True when the positions look normalised (0..1), False when pixels, None without any."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    finite = np.isfinite(x) & np.isfinite(y)
    if not finite.any():
        return None
    x, y = x[finite], y[finite]
    inside = (x >= -0.25) & (x <= 1.25) & (y >= -0.25) & (y <= 1.25)
    return bool(inside.mean() >= 0.95)


def off_image_share(coords: np.ndarray, shape) -> float | None:
    """The share of finite ``(..., row, col)`` positions off a ``(..., height, width)`` image."""
    coords = np.asarray(coords, dtype=np.float64)
    finite = np.isfinite(coords).all(axis=1)
    if not finite.any() or shape is None:
        return None
    height, width = shape[-2:]
    row, col = coords[finite, -2], coords[finite, -1]
    inside = (row >= -0.5) & (row < height - 0.5) & (col >= -0.5) & (col < width - 0.5)
    return float(1.0 - inside.mean())


def warn_off_image(path: str | Path, coords: np.ndarray, shape, what: str = "gaze") -> float | None:
    """Warn when more than :data:`OFF_IMAGE_WARN_SHARE` of ``coords`` lie off the image; the share."""
    share = off_image_share(coords, shape)
    if share is not None and share > OFF_IMAGE_WARN_SHARE:
        height, width = shape[-2:]
        warn(
            path,
            f"{share:.0%} of the {what} lies off the {int(width)} x {int(height)} px image; "
            "check the image size and whether the positions are pixels or normalised",
        )
    return share
