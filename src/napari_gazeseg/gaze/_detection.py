"""What the fixation detectors share: the signal they classify and how they report.

Both detectors classify a two-column gaze *signal*:

* **degrees** (``unit == "deg"``): the screen position of every sample
  (``rec.screen``) as tangent-plane coordinates through the recording's
  :class:`~napari_gazeseg.gaze.geometry.ScreenGeometry` (``meta["screen"]``),
  with distances measured as exact visual angles. Samples off the image but on
  the screen still move the eye, so they take part in classification.
* **image pixels** (``unit == "px"``): the last two image coordinates
  ``(row, col)``, with Euclidean distances, when the geometry or the screen
  coordinates are missing. Thresholds given in degrees are converted with an
  image-pixels-per-degree factor, and a warning says so.

Samples are grouped into *sessions*: a new session starts wherever the object id
changes, for nD recordings wherever the slice (the leading coordinates of the
last sample on the image) changes, and wherever the timestamps pause for more
than :data:`MAX_PAUSE` (75 ms) beyond one sample period (samples the tracker never
delivered, e.g. a paused recording). No fixation, gap fill, filter window or
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

__all__ = [
    "MAX_PAUSE",
    "GazeSignal",
    "build_fixations",
    "crosses_session",
    "finite_rows",
    "gaze_signal",
    "ranges",
    "run_bounds",
    "run_flags",
    "runs",
    "session_breaks",
    "signal_unit",
    "span_sums",
]


#: Seconds without samples (beyond one period) that end a session: the longest
#: gap the Tobii filter fills in.
MAX_PAUSE = 0.075


def finite_rows(xy: np.ndarray) -> np.ndarray:
    """``(N,)`` True where both columns of ``(N, 2)`` ``xy`` are finite."""
    finite = np.ascontiguousarray(np.isfinite(xy))
    # Both bytes of a row set: one 16-bit comparison per row (no slow axis reduction).
    return finite.view(np.uint16)[:, 0] == np.frombuffer(b"\x01\x01", dtype=np.uint16)[0]


@dataclass
class GazeSignal:
    """The signal a detector classifies.

    Attributes
    ----------
    xy : (N, 2) float64
        Tangent-plane screen coordinates ``(u, v)`` (degrees mode: the gaze
        direction is ``(u, v, 1)``, see
        :meth:`~napari_gazeseg.gaze.geometry.ScreenGeometry.normalised_to_tangent`;
        linear in the normalised screen coordinates, so interpolation, medians and
        means commute with the conversion) or image ``(row, col)`` (pixel mode);
        NaN where unusable.
    breaks : (N,) bool
        True where a sample starts a new session (see the module docstring);
        ``breaks[0]`` is False.
    unit : {"deg", "px"}
        Unit of distances between ``xy`` points.
    geometry : ScreenGeometry or None
        The screen geometry in degrees mode.
    px_per_degree : float or None
        Image pixels per degree used to convert thresholds in pixel mode.
    """

    xy: np.ndarray
    breaks: np.ndarray
    unit: str
    geometry: ScreenGeometry | None
    px_per_degree: float | None

    def distance(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Distance between ``(M, 2)`` signal points: degrees of visual angle or pixels.

        Cheap enough per call to be run on cache-sized blocks of a long signal.
        """
        if self.unit == "px":
            return np.hypot(b[:, 0] - a[:, 0], b[:, 1] - a[:, 1])
        return ScreenGeometry.tangent_angle_deg(a[:, 0], a[:, 1], b[:, 0], b[:, 1])

    def degrees_to_unit(self, degrees: float) -> float:
        """A threshold in degrees in this signal's unit (identity in degrees mode)."""
        return float(degrees) if self.unit == "deg" else float(degrees) * self.px_per_degree

    def units_meta(self) -> dict:
        meta = {"units": "deg" if self.unit == "deg" else "px"}
        if self.unit == "px":
            meta["px_per_degree"] = self.px_per_degree
        return meta


def session_breaks(rec: GazeRecording) -> np.ndarray:
    """``(N,)`` True where a sample starts a new session: the object id or the slice
    changes, or the timestamps pause for more than :data:`MAX_PAUSE`."""
    n = len(rec)
    breaks = np.zeros(n, dtype=bool)
    np.not_equal(rec.object_id[1:], rec.object_id[:-1], out=breaks[1:])
    if n > 1:
        breaks[1:] |= np.diff(rec.t) > MAX_PAUSE + 1.0 / rec.sampling_rate_hz
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
            breaks[1:] |= (slices[1:] != slices[:-1]).any(axis=1)
    return breaks


def crosses_session(break_index: np.ndarray, before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """True where a session starts in ``(before, after]`` (``break_index``: sorted
    indices of the samples that start sessions)."""
    return np.searchsorted(break_index, after, side="right") > np.searchsorted(
        break_index, before, side="right"
    )


def signal_unit(rec: GazeRecording) -> str:
    """``"deg"`` when the recording has screen coordinates and geometry, else ``"px"``."""
    return (
        "deg" if rec.screen is not None and ScreenGeometry.from_meta(rec.meta) is not None else "px"
    )


def gaze_signal(rec: GazeRecording, px_per_degree: float | None, detector: str) -> GazeSignal:
    """Pick the degrees signal when the geometry and screen are known, else pixels."""
    geometry = ScreenGeometry.from_meta(rec.meta)
    breaks = session_breaks(rec)
    if geometry is not None and rec.screen is not None:
        return GazeSignal(geometry.normalised_to_tangent(rec.screen), breaks, "deg", geometry, None)
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
    return GazeSignal(xy, breaks, "px", None, float(px_per_degree))


def run_flags(mask: np.ndarray, breaks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(N,)`` flags of the first and of the last sample of each run of True in
    ``mask``; runs also end where a session starts."""
    mask = np.asarray(mask, dtype=bool)
    starts = mask.copy()
    ends = mask.copy()
    if mask.size > 1:
        joined = mask[:-1] & mask[1:] & ~breaks[1:]  # sample i continues into sample i + 1
        starts[1:] &= ~joined
        ends[:-1] &= ~joined
    return starts, ends


def runs(mask: np.ndarray, breaks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First and last index (inclusive) of each run of True in ``mask``, split where a
    session starts."""
    starts, ends = run_flags(mask, breaks)
    return np.flatnonzero(starts), np.flatnonzero(ends)


def run_bounds(usable: np.ndarray, breaks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For every sample, the first and last index of its run of usable samples
    (meaningless at unusable samples; callers mask them)."""
    n = usable.shape[0]
    index = np.arange(n)
    starts, ends = run_flags(usable, breaks)
    starts |= ~usable
    ends |= ~usable
    first = np.maximum.accumulate(np.where(starts, index, 0))
    last = np.minimum.accumulate(np.where(ends, index, n - 1)[::-1])[::-1]
    return first, last


def ranges(starts: np.ndarray, stops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Concatenated ``arange(starts[k], stops[k] + 1)`` and, for each entry, its ``k``."""
    lengths = np.maximum(stops - starts + 1, 0)
    group = np.repeat(np.arange(starts.size), lengths)
    offsets = np.cumsum(lengths) - lengths
    return np.arange(lengths.sum()) - offsets[group] + starts[group], group


def span_sums(values: np.ndarray, first: np.ndarray, last: np.ndarray, dtype=None) -> np.ndarray:
    """Sums of ``values`` over the sample spans ``first[k]..last[k]`` (inclusive,
    sorted, disjoint), along axis 0; exact per span (no running totals)."""
    bounds = np.empty(2 * first.size, dtype=np.int64)
    bounds[0::2] = first
    bounds[1::2] = last + 1
    if bounds[-1] == values.shape[0]:
        bounds = bounds[:-1]  # the last span runs to the end
    return np.add.reduceat(values, bounds, axis=0, dtype=dtype)[0::2]


def build_fixations(
    rec: GazeRecording,
    first: np.ndarray,
    last: np.ndarray,
    detector_meta: dict,
    groups: np.ndarray | None = None,
) -> Fixations:
    """Fixations made of the sample runs ``first[j]..last[j]`` (inclusive, sorted,
    disjoint; every sample in a run belongs to the fixation).

    ``groups`` (sorted indices into the runs) starts a fixation at each listed run
    and joins the runs up to the next one (merged fixations); by default each run
    is a fixation. The centroid averages the image coordinates of the runs'
    on-image samples; fixations with none are left out (their count goes to
    ``meta["detector"]["off_image"]``). Onset is the time of the first sample;
    duration the last minus the first sample time plus one sample period.
    """
    meta = dict(rec.meta)
    if first.size == 0:
        meta["detector"] = {**detector_meta, "off_image": 0}
        return Fixations(
            np.zeros(0), np.zeros(0), np.zeros((0, rec.ndim)), np.zeros(0, np.int64), meta
        )
    period = 1.0 / rec.sampling_rate_hz
    counts = last - first + 1
    sums = span_sums(rec.coords, first, last)
    # Runs with off-image (NaN) samples, few: sum their on-image samples alone.
    partial = np.flatnonzero(np.isnan(sums[:, 0]))
    if partial.size:
        index, group = ranges(first[partial], last[partial])
        on_image = rec.valid[index]
        counts[partial] = np.bincount(group[on_image], minlength=partial.size)
        sums[partial] = np.stack(
            [
                np.bincount(group[on_image], rec.coords[index[on_image], d], minlength=partial.size)
                for d in range(rec.ndim)
            ],
            axis=1,
        )
    if groups is None:
        start_run, end_run = np.arange(first.size), np.arange(first.size)
    else:
        counts = np.add.reduceat(counts, groups)
        sums = np.add.reduceat(sums, groups, axis=0)
        start_run, end_run = groups, np.r_[groups[1:] - 1, first.size - 1]
    keep = counts > 0
    meta["detector"] = {**detector_meta, "off_image": int((~keep).sum())}
    onset, offset = first[start_run[keep]], last[end_run[keep]]
    return Fixations(
        start=rec.t[onset],
        duration=rec.t[offset] - rec.t[onset] + period,
        coords=sums[keep] / counts[keep, None],
        object_id=rec.object_id[onset],
        meta=meta,
    )
