"""What the fixation detectors share: the signal they classify and how they report.

Both detectors classify a two-column gaze *signal*:

* **degrees** (``unit == "deg"``): the normalised screen ``(x, y)`` of every sample
  (``rec.screen``), with distances measured as exact visual angles through the
  recording's :class:`~napari_gazeseg.gaze.geometry.ScreenGeometry`
  (``meta["screen"]``). Samples off the image but on the screen still move the
  eye, so they take part in classification.
* **image pixels** (``unit == "px"``): the last two image coordinates
  ``(row, col)``, with Euclidean distances, when the geometry or the screen
  coordinates are missing. Thresholds given in degrees are converted with an
  image-pixels-per-degree factor, and a warning says so.

Samples are grouped into *sessions*: a new session starts wherever the object id
changes or, for nD recordings, wherever the slice (the leading coordinates of the
last sample on the image) changes. No fixation, gap fill, filter window or
velocity window crosses a session boundary.

Fixation positions are the centroids of the on-image (``valid``) image
coordinates of the fixation's samples; a fixation with none (the eye rested off
the image) is left out.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from .geometry import ScreenGeometry
from .recording import Fixations, GazeRecording

__all__ = ["GazeSignal", "gaze_signal", "run_bounds", "runs", "build_fixations"]


@dataclass
class GazeSignal:
    """The signal a detector classifies.

    Attributes
    ----------
    xy : (N, 2) float64
        Normalised screen ``(x, y)`` (degrees mode) or image ``(row, col)`` (pixel
        mode); NaN where unusable.
    session : (N,) int64
        Non-decreasing session number (see the module docstring).
    unit : {"deg", "px"}
        Unit of distances between ``xy`` points.
    geometry : ScreenGeometry or None
        The screen geometry in degrees mode.
    px_per_degree : float or None
        Image pixels per degree used to convert thresholds in pixel mode.
    """

    xy: np.ndarray
    session: np.ndarray
    unit: str
    geometry: ScreenGeometry | None
    px_per_degree: float | None

    @property
    def usable(self) -> np.ndarray:
        return np.isfinite(self.xy).all(axis=1)

    def distance(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Distance between ``(..., 2)`` points: degrees of visual angle or pixels."""
        if self.unit == "deg":
            return self.geometry.visual_angle_deg(a, b)
        delta = np.asarray(a) - np.asarray(b)
        return np.sqrt(np.einsum("...i,...i->...", delta, delta))

    def degrees_to_unit(self, degrees: float) -> float:
        """A threshold in degrees in this signal's unit (identity in degrees mode)."""
        return float(degrees) if self.unit == "deg" else float(degrees) * self.px_per_degree

    def units_meta(self) -> dict:
        meta = {"units": "deg" if self.unit == "deg" else "px"}
        if self.unit == "px":
            meta["px_per_degree"] = self.px_per_degree
        return meta


def _sessions(rec: GazeRecording) -> np.ndarray:
    """Session number per sample: increments at object id and slice changes."""
    n = len(rec)
    change = np.zeros(n, dtype=bool)
    change[1:] = rec.object_id[1:] != rec.object_id[:-1]
    if rec.ndim > 2 and n:
        leading = rec.coords[:, :-2]
        on_image = np.flatnonzero(rec.valid)
        if on_image.size:
            # The slice of each sample: that of the last on-image sample at or before
            # it (samples before the first on-image one take the first one's slice).
            index = np.zeros(n, dtype=np.int64)
            index[on_image] = on_image
            index = np.maximum.accumulate(index)
            index[: on_image[0]] = on_image[0]
            slices = leading[index]
            change[1:] |= (slices[1:] != slices[:-1]).any(axis=1)
    return np.cumsum(change)


def gaze_signal(rec: GazeRecording, px_per_degree: float | None, detector: str) -> GazeSignal:
    """Pick the degrees signal when the geometry and screen are known, else pixels."""
    geometry = ScreenGeometry.from_meta(rec.meta)
    session = _sessions(rec)
    if geometry is not None and rec.screen is not None:
        return GazeSignal(rec.screen.copy(), session, "deg", geometry, None)
    reason = "no screen geometry in meta['screen']" if geometry is None else "no screen coordinates"
    if px_per_degree is None:
        px_per_degree = ScreenGeometry.default().px_per_degree()
        how = (
            f"{px_per_degree:.1f} image px per degree (the image at 1 screen px per image px "
            "on a 24-inch 1920 x 1080 screen at 650 mm); pass px_per_degree= for your display"
        )
    else:
        if not px_per_degree > 0:
            raise ValueError(f"px_per_degree must be positive, got {px_per_degree}.")
        how = f"{px_per_degree:g} image px per degree as given"
    warnings.warn(
        f"{detector}: {reason}, so velocities and distances are in image pixels; "
        f"thresholds in degrees are converted at {how}.",
        UserWarning,
        stacklevel=3,
    )
    xy = rec.coords[:, -2:].copy()
    return GazeSignal(xy, session, "px", None, float(px_per_degree))


def run_bounds(usable: np.ndarray, session: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For every sample, the first and last index of its run of usable samples.

    A run is a maximal stretch of consecutive usable samples in one session. The
    values at unusable samples are meaningless (they equal the sample's own index
    or a neighbour's run bound) and callers mask them.
    """
    n = usable.shape[0]
    index = np.arange(n)
    starts = np.ones(n, dtype=bool)
    starts[1:] = ~usable[1:] | ~usable[:-1] | (session[1:] != session[:-1])
    ends = np.ones(n, dtype=bool)
    ends[:-1] = starts[1:]
    first = np.maximum.accumulate(np.where(starts, index, 0))
    last = np.minimum.accumulate(np.where(ends, index, n - 1)[::-1])[::-1]
    return first, last


def runs(mask: np.ndarray, session: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First and last index (inclusive) of each run of True in ``mask``, split at
    session changes."""
    mask = np.asarray(mask, dtype=bool)
    if not mask.any():
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    padded = np.concatenate([[False], mask, [False]])
    edges = np.diff(padded.astype(np.int8))
    first = np.flatnonzero(edges == 1)
    last = np.flatnonzero(edges == -1) - 1
    split = np.flatnonzero(mask[1:] & mask[:-1] & (session[1:] != session[:-1]))
    if split.size:
        first = np.sort(np.concatenate([first, split + 1]))
        last = np.sort(np.concatenate([last, split]))
    return first, last


def build_fixations(
    rec: GazeRecording,
    first: np.ndarray,
    last: np.ndarray,
    member: np.ndarray,
    detector_meta: dict,
) -> Fixations:
    """Fixations spanning samples ``first[k]..last[k]`` (inclusive, sorted, disjoint).

    The centroid averages the image coordinates of the samples in the span that are
    ``member`` (classified as fixation samples) and on the image; spans with none
    are left out (their count goes to ``meta["detector"]["off_image"]``). Duration
    is the last minus the first sample time plus one sample period.
    """
    n = len(rec)
    meta = dict(rec.meta)
    if first.size == 0:
        meta["detector"] = {**detector_meta, "off_image": 0}
        return Fixations(np.zeros(0), np.zeros(0), np.zeros((0, rec.ndim)), np.zeros(0, np.int64), meta)
    period = 1.0 / rec.sampling_rate_hz
    owner = np.searchsorted(first, np.arange(n), side="right") - 1
    inside = (owner >= 0) & (np.arange(n) <= last[np.maximum(owner, 0)])
    counted = inside & member & rec.valid
    k = first.size
    counts = np.bincount(owner[counted], minlength=k)
    sums = np.stack(
        [np.bincount(owner[counted], weights=rec.coords[counted, d], minlength=k) for d in range(rec.ndim)],
        axis=1,
    )
    keep = counts > 0
    meta["detector"] = {**detector_meta, "off_image": int((~keep).sum())}
    first, last = first[keep], last[keep]
    coords = sums[keep] / counts[keep, None]
    return Fixations(
        start=rec.t[first],
        duration=rec.t[last] - rec.t[first] + period,
        coords=coords,
        object_id=rec.object_id[first],
        meta=meta,
    )
