"""The Tobii I-VT fixation filter (Olsen 2012), as stages that can each be turned off.

Stages, in Olsen's order, each a function of arrays so it can be tested alone:

1. :func:`fill_gaps`: linear interpolation over gaps of unusable samples up to
   ``max_gap`` seconds (default 75 ms) inside one session.
2. :func:`select_eyes`: per-eye screen coordinates into one signal
   (``"average"``, ``"strict_average"``, ``"left"``, ``"right"``). A
   :class:`~napari_gazeseg.gaze.recording.GazeRecording` holds the tracker's
   average of both eyes in ``screen``; the stage applies only when the caller
   passes per-eye screen coordinates (``eyes=(left, right)``), which are then gap
   filled one eye at a time before being combined, as Tobii does.
3. :func:`reduce_noise`: a centred moving median (or mean) over 3 samples.
4. :func:`window_velocity`: the angle between the first and last sample of a
   window of about 20 ms centred on each sample, over the time between them.
5. classification: a sample with velocity strictly below the threshold
   (30 deg/s) is a fixation sample; consecutive fixation samples form a fixation.
6. :func:`merge_adjacent`: neighbouring fixations less than 75 ms and 0.5 deg
   apart become one.
7. discard: fixations shorter than 60 ms are dropped.

See :mod:`napari_gazeseg.gaze._detection` for the signal (degrees on the screen,
or image pixels when the screen geometry is unknown), sessions and positions.
Everything is vectorised: array operations over all samples (the per-sample
arithmetic in cache-sized blocks of 16384 samples) and over fixations; no Python
loop visits samples or fixations one at a time.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ._detection import (
    GazeSignal,
    build_fixations,
    crosses_session,
    finite_rows,
    gaze_signal,
    ranges,
    run_flags,
    runs,
    signal_unit,
    span_sums,
)
from .recording import Fixations, GazeRecording

__all__ = [
    "EYE_SELECTIONS",
    "NOISE_FILTERS",
    "detect_fixations_ivt",
    "fill_gaps",
    "ivt_velocity",
    "merge_adjacent",
    "reduce_noise",
    "select_eyes",
    "window_velocity",
]

EYE_SELECTIONS = ("average", "strict_average", "left", "right")
NOISE_FILTERS = ("median", "mean")

# Slack for comparing times built from float seconds (1 microsecond).
_TIME_TOLERANCE = 1e-6
# Samples per block in the per-sample arithmetic: the temporaries of a block stay
# in the CPU cache, which makes long recordings about 1.5 times faster.
_BLOCK = 16384


def fill_gaps(
    t: np.ndarray,
    xy: np.ndarray,
    breaks: np.ndarray,
    max_gap: float,
    period: float,
    *,
    inplace: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Linearly interpolate ``xy`` over short gaps of unusable (NaN) samples.

    A gap is a run of unusable samples with a usable sample on each side in the
    same session (``breaks``: True where a sample starts a session). Its duration
    is the time from the last usable sample before it to the first usable sample
    after it, less one sample ``period``: the time during which data were missing
    (at 120 Hz, 9 missing samples last 75 ms). Gaps up to ``max_gap`` seconds are
    filled; gaps at the start or end of the recording are not.

    Returns the filled ``(N, 2)`` signal (``xy`` itself when ``inplace``) and a
    boolean mask of the filled samples.
    """
    n = t.shape[0]
    out = xy if inplace else xy.copy()
    filled = np.zeros(n, dtype=bool)
    lost = ~finite_rows(xy)
    if not lost.any():
        return out, filled
    gap_first, gap_last = runs(lost, np.zeros(n, dtype=bool))
    inner = (gap_first > 0) & (gap_last < n - 1)
    before, after = gap_first[inner] - 1, gap_last[inner] + 1
    short = t[after] - t[before] - period <= max_gap + _TIME_TOLERANCE
    fill = short & ~crosses_session(np.flatnonzero(breaks), before, after)
    index, group = ranges(before[fill] + 1, after[fill] - 1)
    b, a = before[fill][group], after[fill][group]
    span = t[a] - t[b]
    fraction = np.divide(t[index] - t[b], span, out=np.full(index.size, 0.5), where=span > 0)
    out[index] = out[b] + fraction[:, None] * (out[a] - out[b])
    filled[index] = True
    return out, filled


def select_eyes(left: np.ndarray, right: np.ndarray, mode: str = "average") -> np.ndarray:
    """Combine per-eye ``(N, 2)`` signals (NaN where an eye was not tracked).

    ``"average"``: the mean where both eyes are valid, the valid eye where only
    one is (Tobii's default). ``"strict_average"``: the mean, NaN unless both are
    valid. ``"left"`` / ``"right"``: one eye only.
    """
    if mode not in EYE_SELECTIONS:
        raise ValueError(f"eye_selection must be one of {', '.join(EYE_SELECTIONS)}, got {mode!r}.")
    left = np.asarray(left, dtype=np.float64)
    right = np.asarray(right, dtype=np.float64)
    if left.shape != right.shape or left.ndim != 2 or left.shape[1] != 2:
        raise ValueError(
            f"left and right eye samples must both be (N, 2), got {left.shape} and {right.shape}."
        )
    if mode == "left":
        return left.copy()
    if mode == "right":
        return right.copy()
    both = (left + right) / 2.0
    if mode == "strict_average":
        return both
    left_ok = finite_rows(left)[:, None]
    right_ok = finite_rows(right)[:, None]
    return np.where(left_ok & right_ok, both, np.where(left_ok, left, right))


def reduce_noise(
    xy: np.ndarray, breaks: np.ndarray, window: int = 3, kind: str = "median"
) -> np.ndarray:
    """A centred moving median (or mean) of ``window`` samples, per coordinate.

    A sample is filtered only when its whole window lies in its run of usable
    samples (same session, no NaN); other samples keep their value, so the filter
    never reaches across a gap or a session boundary. ``window`` is odd.
    """
    if kind not in NOISE_FILTERS:
        raise ValueError(
            f"noise_reduction must be one of {', '.join(NOISE_FILTERS)} or None, got {kind!r}."
        )
    if window < 1 or window % 2 == 0:
        raise ValueError(f"the noise filter window must be an odd number of samples, got {window}.")
    n = xy.shape[0]
    half = window // 2
    if half == 0 or n < window:
        return xy.copy()
    usable = finite_rows(xy)
    starts, ends = run_flags(usable, breaks)
    whole = usable
    for shift in range(half):  # not within `half` samples of a run's first or last sample
        whole[shift:] &= ~starts[: n - shift]
        whole[: n - shift] &= ~ends[shift:]
    out = np.empty_like(xy)
    smooth = out[half : n - half]
    if kind == "median" and window == 3:
        for lo in range(0, n - 2, _BLOCK):  # median of three: max(min(a, b), min(max(a, b), c))
            hi = min(lo + _BLOCK, n - 2)
            a, b, c = xy[lo:hi], xy[lo + 1 : hi + 1], xy[lo + 2 : hi + 2]
            high = np.maximum(a, b)
            np.minimum(high, c, out=high)
            np.minimum(a, b, out=smooth[lo:hi])
            np.maximum(smooth[lo:hi], high, out=smooth[lo:hi])
    else:
        # Windows as a (n - 2 half, 2, window) view.
        views = np.lib.stride_tricks.sliding_window_view(xy, window, axis=0)
        if kind == "median":
            np.median(views, axis=-1, out=smooth)
        else:
            np.mean(views, axis=-1, out=smooth)
    out[:half] = xy[:half]
    out[n - half :] = xy[n - half :]
    kept = np.flatnonzero(~whole)  # run ends and lost samples: few
    out[kept] = xy[kept]
    return out


def window_velocity(
    t: np.ndarray, signal: GazeSignal, xy: np.ndarray, half_window: int
) -> np.ndarray:
    """Speed at every sample: distance between the window's end samples over their time.

    The window runs from ``half_window`` samples before to ``half_window`` after the
    sample, clipped to the sample's run of usable samples (so the first and last
    samples of a run get one-sided windows). Units: degrees per second, or image
    pixels per second in pixel mode. NaN where the sample is unusable or alone in
    its run; not finite where the window's end samples share a timestamp.
    """
    n = t.shape[0]
    k = half_window
    usable = finite_rows(xy)
    speed = np.full(n, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        # Samples whose whole window lies in their run (the vast majority), by blocks.
        for lo in range(0, n - 2 * k, _BLOCK):
            hi = min(lo + _BLOCK, n - 2 * k)
            block = signal.distance(xy[lo:hi], xy[lo + 2 * k : hi + 2 * k])
            block /= t[lo + 2 * k : hi + 2 * k] - t[lo:hi]
            speed[lo + k : hi + k] = block
        run_first, run_last = runs(usable, signal.breaks)
        # Samples within k of their run's ends get a window clipped to the run.
        head, head_run = ranges(run_first, np.minimum(run_first + k - 1, run_last))
        tail, tail_run = ranges(np.maximum(run_last - k + 1, run_first), run_last)
        index = np.concatenate([head, tail])
        run = np.concatenate([head_run, tail_run])
        lo = np.maximum(index - k, run_first[run])
        hi = np.minimum(index + k, run_last[run])
        edge_speed = signal.distance(xy[lo], xy[hi]) / (t[hi] - t[lo])
        edge_speed[hi == lo] = np.nan
        speed[index] = edge_speed
    speed[np.flatnonzero(~usable)] = np.nan
    return speed


def merge_adjacent(
    t: np.ndarray,
    first: np.ndarray,
    last: np.ndarray,
    position: np.ndarray,
    breaks: np.ndarray,
    distance,
    max_gap: float,
    max_distance: float,
    period: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Join consecutive fixations that are close in time and in space.

    Fixation ``k`` and ``k + 1`` join when no session starts between them
    (``breaks``), the time between them (``t[first[k+1]] - t[last[k]]`` less one
    sample ``period``: the time no fixation sample was recorded) is at most
    ``max_gap`` seconds, and ``distance(position[k], position[k+1])`` (their mean
    signal positions) is at most ``max_distance``. Chains of such pairs become one
    fixation.

    Returns the index of the first fixation of each merged group (sorted).
    """
    if first.size < 2:
        return np.arange(first.size)
    gap = t[first[1:]] - t[last[:-1]] - period
    close = (
        ~crosses_session(np.flatnonzero(breaks), last[:-1], first[1:])
        & (gap <= max_gap + _TIME_TOLERANCE)
        & (distance(position[:-1], position[1:]) <= max_distance)
    )
    return np.flatnonzero(np.concatenate([[True], ~close]))


def _half_window(window: float | None, rate_hz: float) -> int:
    if window is None:
        return 1
    if not window > 0:
        raise ValueError(f"velocity_window must be positive seconds or None, got {window}.")
    return max(1, round(window * rate_hz / 2.0))


def _prepare(
    rec: GazeRecording,
    gap_fill_max: float | None,
    eyes: Sequence[np.ndarray] | None,
    eye_selection: str,
    noise_reduction: str | None,
    noise_window: int,
    px_per_degree: float | None,
    detector: str,
) -> tuple[GazeSignal, np.ndarray]:
    """Stages 1-3: the signal (gap filled, eyes combined) and its noise-reduced samples."""
    if eye_selection not in EYE_SELECTIONS:
        raise ValueError(
            f"eye_selection must be one of {', '.join(EYE_SELECTIONS)}, got {eye_selection!r}."
        )
    signal = gaze_signal(rec, px_per_degree, detector)
    period = 1.0 / rec.sampling_rate_hz
    if gap_fill_max is not None and gap_fill_max < 0:
        raise ValueError(f"gap_fill_max must be non-negative seconds or None, got {gap_fill_max}.")
    if eyes is not None:
        if signal.unit != "deg":
            raise ValueError(
                "per-eye screen coordinates need the screen geometry: set meta['screen'] "
                "(width_px, height_px, width_mm, height_mm, distance_mm)."
            )
        left, right = (np.asarray(eye, dtype=np.float64) for eye in eyes)
        if left.shape != (len(rec), 2) or right.shape != (len(rec), 2):
            raise ValueError(
                f"eyes must be two ({len(rec)}, 2) arrays of normalised screen (x, y), one per "
                f"sample, got {left.shape} and {right.shape}."
            )
        if gap_fill_max is not None:
            left, _ = fill_gaps(rec.t, left, signal.breaks, gap_fill_max, period)
            right, _ = fill_gaps(rec.t, right, signal.breaks, gap_fill_max, period)
        signal.xy = signal.geometry.normalised_to_tangent(select_eyes(left, right, eye_selection))
    elif gap_fill_max is not None:
        # The signal is the detector's own array: fill it in place.
        signal.xy, _ = fill_gaps(
            rec.t, signal.xy, signal.breaks, gap_fill_max, period, inplace=True
        )
    xy = signal.xy
    if noise_reduction is not None:
        xy = reduce_noise(xy, signal.breaks, noise_window, noise_reduction)
    return signal, xy


def ivt_velocity(
    rec: GazeRecording,
    *,
    gap_fill_max: float | None = 0.075,
    eyes: Sequence[np.ndarray] | None = None,
    eye_selection: str = "average",
    noise_reduction: str | None = "median",
    noise_window: int = 3,
    velocity_window: float | None = 0.020,
    px_per_degree: float | None = None,
) -> tuple[np.ndarray, str]:
    """The per-sample speed the I-VT classifier thresholds (stages 1-4).

    Returns ``(speed, unit)``: an ``(N,)`` array in degrees per second
    (``unit == "deg/s"``), or image pixels per second (``"px/s"``) when the screen
    geometry is unknown; NaN where no speed is defined. Parameters as in
    :func:`detect_fixations_ivt`.
    """
    if len(rec) == 0:
        return np.zeros(0), f"{signal_unit(rec)}/s"
    signal, xy = _prepare(
        rec,
        gap_fill_max,
        eyes,
        eye_selection,
        noise_reduction,
        noise_window,
        px_per_degree,
        "ivt_velocity",
    )
    speed = window_velocity(rec.t, signal, xy, _half_window(velocity_window, rec.sampling_rate_hz))
    return speed, f"{signal.unit}/s"


def detect_fixations_ivt(
    rec: GazeRecording,
    velocity_threshold: float = 30.0,
    *,
    gap_fill_max: float | None = 0.075,
    eyes: Sequence[np.ndarray] | None = None,
    eye_selection: str = "average",
    noise_reduction: str | None = "median",
    noise_window: int = 3,
    velocity_window: float | None = 0.020,
    merge_max_gap: float | None = 0.075,
    merge_max_angle: float = 0.5,
    min_duration: float | None = 0.060,
    px_per_degree: float | None = None,
) -> Fixations:
    """Fixations by the Tobii I-VT fixation filter (Olsen 2012).

    Parameters
    ----------
    rec : GazeRecording
        Samples with ``screen`` coordinates and ``meta["screen"]`` for thresholds
        in degrees; otherwise image pixels are used (with a warning).
    velocity_threshold : float
        Degrees per second; samples strictly slower are fixation samples.
    gap_fill_max : float or None
        Longest gap (seconds) filled by linear interpolation; None turns gap fill-in off.
    eyes : (left, right) of (N, 2) arrays, optional
        Per-eye normalised screen ``(x, y)``, NaN where an eye was lost. When given
        they replace ``rec.screen`` for classification, combined by ``eye_selection``.
    eye_selection : {"average", "strict_average", "left", "right"}
        How per-eye samples are combined (see :func:`select_eyes`).
    noise_reduction : {"median", "mean"} or None
        Moving filter over ``noise_window`` samples (odd); None turns it off.
    velocity_window : float or None
        Seconds spanned by the velocity window (rounded to a whole number of
        samples each side, at least one); None uses the two neighbours.
    merge_max_gap, merge_max_angle : float
        Seconds and degrees below which neighbouring fixations merge;
        ``merge_max_gap=None`` turns merging off.
    min_duration : float or None
        Shortest fixation kept, seconds; None keeps all.
    px_per_degree : float, optional
        Image pixels per degree for converting thresholds when the screen geometry
        is unknown (default: the image at native size on the default screen).

    Returns
    -------
    Fixations
        Onset = time of the first fixation sample; duration = last minus first
        sample time plus one sample period; position = centroid of the fixation
        samples that are on the image (image data coordinates); object id of its
        session. ``meta`` = the recording's meta plus ``meta["detector"]`` with
        every parameter, ``units`` (``"deg"`` or ``"px"``) and the number of
        fixations left out because they lay off the image (``off_image``).
    """
    params = {
        "name": "ivt",
        "velocity_threshold": float(velocity_threshold),
        "gap_fill_max": gap_fill_max,
        "eye_selection": eye_selection if eyes is not None else "as recorded",
        "noise_reduction": noise_reduction,
        "noise_window": int(noise_window),
        "velocity_window": velocity_window,
        "merge_max_gap": merge_max_gap,
        "merge_max_angle": float(merge_max_angle),
        "min_duration": min_duration,
    }
    if not velocity_threshold > 0:
        raise ValueError(f"velocity_threshold must be positive, got {velocity_threshold}.")
    if len(rec) == 0:
        params["units"] = signal_unit(rec)
        return build_fixations(rec, np.zeros(0, np.int64), np.zeros(0, np.int64), params)
    signal, xy = _prepare(
        rec,
        gap_fill_max,
        eyes,
        eye_selection,
        noise_reduction,
        noise_window,
        px_per_degree,
        "detect_fixations_ivt",
    )
    params.update(signal.units_meta())
    rate = rec.sampling_rate_hz
    period = 1.0 / rate
    speed = window_velocity(rec.t, signal, xy, _half_window(velocity_window, rate))
    threshold = signal.degrees_to_unit(velocity_threshold)
    with np.errstate(invalid="ignore"):
        fixation_sample = speed < threshold
    first, last = runs(fixation_sample, signal.breaks)
    groups = None
    if merge_max_gap is not None and first.size > 1:
        # Every sample of a run is a fixation sample with a finite signal.
        position = span_sums(xy, first, last) / (last - first + 1)[:, None]
        groups = merge_adjacent(
            rec.t,
            first,
            last,
            position,
            signal.breaks,
            signal.distance,
            merge_max_gap,
            signal.degrees_to_unit(merge_max_angle),
            period,
        )
    if min_duration is not None and first.size:
        group_first = np.arange(first.size) if groups is None else groups
        group_last = np.r_[group_first[1:] - 1, first.size - 1]
        duration = rec.t[last[group_last]] - rec.t[first[group_first]] + period
        long_enough = duration >= min_duration - _TIME_TOLERANCE
        # Keep the runs of the fixations long enough, regrouped.
        run_kept = np.repeat(long_enough, group_last - group_first + 1)
        sizes = (group_last - group_first + 1)[long_enough]
        first, last = first[run_kept], last[run_kept]
        groups = np.cumsum(sizes) - sizes
    if signal.unit == "px":
        params["velocity_threshold_px"] = threshold
        params["merge_max_distance_px"] = signal.degrees_to_unit(merge_max_angle)
    return build_fixations(rec, first, last, params, groups)
