"""The two data types every part of napari-gazeseg passes around.

Conventions (see ``DESIGN.md``):

* **Coordinates** are image *data* coordinates in napari axis order: ``(row, col)``
  for 2D images, ``(plane, row, col)`` (or more leading axes) for nD images.
  Pixel centres sit at integers, as napari draws them. Invalid samples (blinks,
  track loss, gaze off the image) hold ``NaN`` coordinates and ``valid=False``.
* **Time** is seconds (float64) from the recording start. The absolute start time
  and the tracker's clock live in ``meta``.
* **Screen** coordinates are the normalised display-area ``(x, y)`` of the
  eye tracker: ``(0, 0)`` is the top-left and ``(1, 1)`` the bottom-right corner
  of the screen. They are kept for every sample (NaN where the tracker lost the
  eyes) because velocity thresholds live in visual degrees on the screen.
* **Object ids** are label ids: ``1, 2, ...`` name the object looked at during
  one per-object session and become the label value of its mask. ``0`` marks
  samples recorded outside any object session. Readers of formats without
  sessions give every sample object id ``1``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

import numpy as np

__all__ = ["GazeRecording", "Fixations", "NO_OBJECT", "DEFAULT_OBJECT"]

#: Object id of samples recorded outside any per-object session.
NO_OBJECT = 0
#: Object id given to every sample by readers of formats without sessions.
DEFAULT_OBJECT = 1


def _as_1d(name: str, values, dtype, n: int | None = None) -> np.ndarray:
    array = np.array(values, dtype=dtype, copy=True)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {array.shape}.")
    if n is not None and array.shape[0] != n:
        raise ValueError(f"{name} has {array.shape[0]} entries but there are {n} samples.")
    return array


def _as_coords(values, n: int) -> np.ndarray:
    coords = np.array(values, dtype=np.float64, copy=True)
    if coords.ndim == 1 and n == 0 and coords.size == 0:
        coords = coords.reshape(0, 2)
    if coords.ndim != 2 or coords.shape[0] != n:
        raise ValueError(f"coords must have shape (N, D) with N={n}, got {coords.shape}.")
    if coords.shape[1] < 2:
        raise ValueError(
            f"coords need at least 2 columns (row, col), got {coords.shape[1]}."
        )
    if np.isinf(coords).any():
        raise ValueError("coords contain infinite values; mark such samples invalid (NaN).")
    return coords


def _check_meta(meta: dict | None) -> dict:
    meta = {} if meta is None else dict(meta)
    try:
        json.dumps(meta, allow_nan=False)
    except (TypeError, ValueError) as err:
        raise ValueError(f"meta must be JSON-serialisable: {err}") from None
    return meta


def _object_ids(values, n: int) -> np.ndarray:
    if values is None:
        return np.full(n, DEFAULT_OBJECT, dtype=np.int64)
    ids = _as_1d("object_id", values, np.float64, n)
    if np.isnan(ids).any() or (ids < 0).any() or (ids != np.round(ids)).any():
        raise ValueError("object_id must hold non-negative integers.")
    return ids.astype(np.int64)


def _slice_mask(coords: np.ndarray, index: Sequence[int] | int) -> np.ndarray:
    index = np.atleast_1d(np.asarray(index, dtype=np.float64))
    n_leading = coords.shape[1] - 2
    if index.shape[0] != n_leading:
        raise ValueError(
            f"a slice of {coords.shape[1]}D coordinates needs {n_leading} leading "
            f"indices, got {index.shape[0]}."
        )
    with np.errstate(invalid="ignore"):
        return np.all(np.round(coords[:, :n_leading]) == index, axis=1)


@dataclass(eq=False)
class GazeRecording:
    """Gaze samples over one image, in time order.

    Attributes
    ----------
    t : (N,) float64
        Seconds since the recording start, non-decreasing.
    coords : (N, D) float64
        Image data coordinates, napari axis order (``(row, col)`` or
        ``(plane, row, col)``), pixel centres at integers. ``NaN`` where invalid.
    valid : (N,) bool
        False for blinks, track loss and gaze off the image. Defaults to "all
        coordinates finite"; coordinates of invalid samples are set to NaN.
    screen : (N, 2) float64 or None
        Normalised display-area ``(x, y)`` of each sample, NaN where unknown.
    object_id : (N,) int64
        Object (label) id of the session each sample belongs to, 0 for none.
    meta : dict
        JSON-serialisable. Keys used by the plugin: ``sampling_rate_hz`` (float),
        ``source`` (str), ``image`` ``{"shape": [...], "name": str}``, ``screen``
        ``{"width_px", "height_px", "width_mm", "height_mm", "distance_mm"}``,
        ``start_time`` (ISO 8601), ``clock`` (tracker clock description).
    """

    t: np.ndarray
    coords: np.ndarray
    valid: np.ndarray | None = None
    screen: np.ndarray | None = None
    object_id: np.ndarray | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.t = _as_1d("t", self.t, np.float64)
        n = self.t.shape[0]
        if np.isnan(self.t).any():
            raise ValueError("t contains NaN; every sample needs a timestamp.")
        if n > 1 and (np.diff(self.t) < 0).any():
            first = int(np.argmax(np.diff(self.t) < 0)) + 1
            raise ValueError(f"t must be non-decreasing; sample {first} goes back in time.")
        self.coords = _as_coords(self.coords, n)
        finite = np.isfinite(self.coords).all(axis=1)
        if self.valid is None:
            self.valid = finite
        else:
            self.valid = _as_1d("valid", self.valid, bool, n) & finite
        self.coords[~self.valid] = np.nan
        if self.screen is not None:
            self.screen = np.array(self.screen, dtype=np.float64, copy=True)
            if self.screen.shape != (n, 2):
                raise ValueError(f"screen must have shape ({n}, 2), got {self.screen.shape}.")
        self.object_id = _object_ids(self.object_id, n)
        self.meta = _check_meta(self.meta)

    # -- basic properties -------------------------------------------------
    def __len__(self) -> int:
        return int(self.t.shape[0])

    @property
    def ndim(self) -> int:
        """Number of image dimensions of ``coords`` (2 for (row, col))."""
        return int(self.coords.shape[1])

    @property
    def duration(self) -> float:
        """Seconds from the first to the last sample (0 for fewer than 2)."""
        return float(self.t[-1] - self.t[0]) if len(self) > 1 else 0.0

    @property
    def sampling_rate_hz(self) -> float:
        """Nominal rate from ``meta``, else estimated from the median interval."""
        rate = self.meta.get("sampling_rate_hz")
        if rate:
            return float(rate)
        steps = np.diff(self.t)
        steps = steps[steps > 0]
        if steps.size == 0:
            raise ValueError("the sampling rate is unknown: set meta['sampling_rate_hz'].")
        return float(1.0 / np.median(steps))

    @property
    def image_shape(self) -> tuple[int, ...] | None:
        """Shape of the image looked at, from ``meta['image']['shape']``."""
        shape = self.meta.get("image", {}).get("shape")
        return tuple(int(s) for s in shape) if shape else None

    @property
    def object_ids(self) -> np.ndarray:
        """Sorted distinct object ids, ``0`` (no object) excluded."""
        ids = np.unique(self.object_id)
        return ids[ids != NO_OBJECT]

    # -- selection ----------------------------------------------------------
    def select(self, which: np.ndarray) -> "GazeRecording":
        """A new recording of the samples picked by a boolean mask or index array."""
        which = np.asarray(which)
        if which.dtype != bool:
            which = np.sort(which)
        return GazeRecording(
            t=self.t[which],
            coords=self.coords[which],
            valid=self.valid[which],
            screen=None if self.screen is None else self.screen[which],
            object_id=self.object_id[which],
            meta=self.meta,
        )

    def for_object(self, object_id: int) -> "GazeRecording":
        """The samples of one object session."""
        return self.select(self.object_id == object_id)

    def between(self, start: float, stop: float) -> "GazeRecording":
        """The samples with ``start <= t < stop`` (seconds)."""
        return self.select((self.t >= start) & (self.t < stop))

    def on_slice(self, index: Sequence[int] | int) -> "GazeRecording":
        """Valid samples looked at on one 2D slice of an nD image.

        ``index`` gives the leading (non-displayed) coordinates, e.g. the plane of a
        ``(plane, row, col)`` recording. Invalid samples carry no slice and are
        left out. The returned recording keeps all ``D`` coordinate columns.
        """
        return self.select(_slice_mask(self.coords, index))

    @classmethod
    def concatenate(cls, recordings: Iterable["GazeRecording"]) -> "GazeRecording":
        """Join recordings of the same image in time order; meta from the first.

        Time must continue: each recording must start no earlier than the one
        before ends.
        """
        recordings = list(recordings)
        if not recordings:
            raise ValueError("concatenate needs at least one recording.")
        ndims = {r.ndim for r in recordings}
        if len(ndims) > 1:
            raise ValueError(f"cannot join recordings of different dimensionality {ndims}.")
        has_screen = {r.screen is not None for r in recordings}
        screen = None
        if has_screen == {True}:
            screen = np.concatenate([r.screen for r in recordings])
        elif len(has_screen) > 1:
            screen = np.concatenate(
                [r.screen if r.screen is not None else np.full((len(r), 2), np.nan) for r in recordings]
            )
        return cls(
            t=np.concatenate([r.t for r in recordings]),
            coords=np.concatenate([r.coords for r in recordings]),
            valid=np.concatenate([r.valid for r in recordings]),
            screen=screen,
            object_id=np.concatenate([r.object_id for r in recordings]),
            meta=recordings[0].meta,
        )

    def equals(self, other: "GazeRecording") -> bool:
        """Exact equality of every array (NaN equal to NaN) and of ``meta``."""
        if not isinstance(other, GazeRecording) or len(self) != len(other):
            return False
        same_screen = (self.screen is None) == (other.screen is None) and (
            self.screen is None or np.array_equal(self.screen, other.screen, equal_nan=True)
        )
        return (
            np.array_equal(self.t, other.t)
            and np.array_equal(self.coords, other.coords, equal_nan=True)
            and np.array_equal(self.valid, other.valid)
            and np.array_equal(self.object_id, other.object_id)
            and same_screen
            and self.meta == other.meta
        )

    def __repr__(self) -> str:
        return (
            f"GazeRecording({len(self)} samples, {self.duration:.2f} s, {self.ndim}D, "
            f"{int(self.valid.sum())} valid, objects {self.object_ids.tolist()})"
        )


@dataclass(eq=False)
class Fixations:
    """Fixations over one image, sorted by start time.

    Attributes
    ----------
    start : (M,) float64
        Onset in seconds from the recording start.
    duration : (M,) float64
        Seconds, non-negative. Detectors give last minus first sample time plus
        one sample period.
    coords : (M, D) float64
        Centroid in image data coordinates, napari axis order, pixel centres at
        integers. Always finite.
    object_id : (M,) int64
        Object (label) id, as in :class:`GazeRecording`.
    meta : dict
        JSON-serialisable; detectors record their parameters under ``"detector"``.
    """

    start: np.ndarray
    duration: np.ndarray
    coords: np.ndarray
    object_id: np.ndarray | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.start = _as_1d("start", self.start, np.float64)
        m = self.start.shape[0]
        self.duration = _as_1d("duration", self.duration, np.float64, m)
        self.coords = _as_coords(self.coords, m)
        if not (np.isfinite(self.start).all() and np.isfinite(self.duration).all()):
            raise ValueError("fixation start and duration must be finite.")
        if (self.duration < 0).any():
            raise ValueError("fixation durations must be non-negative.")
        if not np.isfinite(self.coords).all():
            raise ValueError("fixation coordinates must be finite.")
        self.object_id = _object_ids(self.object_id, m)
        order = np.argsort(self.start, kind="stable")
        if (order != np.arange(m)).any():
            self.start, self.duration = self.start[order], self.duration[order]
            self.coords, self.object_id = self.coords[order], self.object_id[order]
        self.meta = _check_meta(self.meta)

    def __len__(self) -> int:
        return int(self.start.shape[0])

    @property
    def ndim(self) -> int:
        return int(self.coords.shape[1])

    @property
    def end(self) -> np.ndarray:
        """Offset of each fixation in seconds (``start + duration``)."""
        return self.start + self.duration

    @property
    def object_ids(self) -> np.ndarray:
        """Sorted distinct object ids, ``0`` (no object) excluded."""
        ids = np.unique(self.object_id)
        return ids[ids != NO_OBJECT]

    @property
    def image_shape(self) -> tuple[int, ...] | None:
        shape = self.meta.get("image", {}).get("shape")
        return tuple(int(s) for s in shape) if shape else None

    def select(self, which: np.ndarray) -> "Fixations":
        which = np.asarray(which)
        return Fixations(
            start=self.start[which],
            duration=self.duration[which],
            coords=self.coords[which],
            object_id=self.object_id[which],
            meta=self.meta,
        )

    def for_object(self, object_id: int) -> "Fixations":
        return self.select(self.object_id == object_id)

    def between(self, start: float, stop: float) -> "Fixations":
        """Fixations whose onset lies in ``[start, stop)`` seconds."""
        return self.select((self.start >= start) & (self.start < stop))

    def on_slice(self, index: Sequence[int] | int) -> "Fixations":
        return self.select(_slice_mask(self.coords, index))

    @classmethod
    def concatenate(cls, fixations: Iterable["Fixations"]) -> "Fixations":
        fixations = list(fixations)
        if not fixations:
            raise ValueError("concatenate needs at least one Fixations.")
        return cls(
            start=np.concatenate([f.start for f in fixations]),
            duration=np.concatenate([f.duration for f in fixations]),
            coords=np.concatenate([f.coords for f in fixations]),
            object_id=np.concatenate([f.object_id for f in fixations]),
            meta=fixations[0].meta,
        )

    def equals(self, other: "Fixations") -> bool:
        return (
            isinstance(other, Fixations)
            and len(self) == len(other)
            and np.array_equal(self.start, other.start)
            and np.array_equal(self.duration, other.duration)
            and np.array_equal(self.coords, other.coords)
            and np.array_equal(self.object_id, other.object_id)
            and self.meta == other.meta
        )

    def __repr__(self) -> str:
        total = float(self.duration.sum())
        return f"Fixations({len(self)} fixations, {total:.2f} s fixated, {self.ndim}D)"
