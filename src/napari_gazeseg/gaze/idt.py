"""Dispersion-threshold fixation identification, I-DT (Salvucci and Goldberg 2000).

A window covering at least ``min_duration`` starts at the first unclaimed sample.
When its *dispersion* ``(max x - min x) + (max y - min y)`` is at most
``dispersion_threshold``, the window grows one sample at a time for as long as the
dispersion stays within the threshold, and its samples become one fixation;
otherwise the window moves on by one sample. Windows never contain unusable
samples nor cross a session (object or slice) boundary.

Units: ``x, y`` are the gaze's azimuth and elevation in degrees
(:meth:`~napari_gazeseg.gaze.geometry.ScreenGeometry.normalised_to_degrees`) when
the screen geometry is known; otherwise image ``(row, col)`` pixels, with the
threshold converted from degrees and a warning (see
:mod:`napari_gazeseg.gaze._detection`).

The first windows of all samples are tested at once (sliding minima and
maxima); the loop runs over fixations only, each growing in vectorised chunks.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import maximum_filter1d, minimum_filter1d

from ._detection import build_fixations, finite_rows, gaze_signal, run_bounds, signal_unit
from .recording import Fixations, GazeRecording

__all__ = ["detect_fixations_idt", "dispersion"]

_TIME_TOLERANCE = 1e-6


def dispersion(xy: np.ndarray) -> float:
    """``(max x - min x) + (max y - min y)`` of ``(K, 2)`` points."""
    xy = np.asarray(xy, dtype=np.float64)
    return float(np.ptp(xy[:, 0]) + np.ptp(xy[:, 1]))


def _first_window_dispersion(
    xy: np.ndarray, last_of_window: np.ndarray, starts: np.ndarray
) -> np.ndarray:
    """Dispersion of ``xy[i : last_of_window[i] + 1]`` for each ``i`` in ``starts``
    (NaN-free ``xy``; windows inside the array)."""
    lengths = last_of_window[starts] - starts + 1
    out = np.empty(starts.size)
    if starts.size == 0:
        return out
    columns = [np.ascontiguousarray(xy[:, d]) for d in range(2)]
    # Windows of a common length (with a steady sampling rate, nearly all): one
    # sliding maximum and minimum over the whole signal. Rare lengths (windows
    # shortened by a pause in the timestamps): the windows themselves.
    for length in np.unique(lengths):
        which = np.flatnonzero(lengths == length)
        at = starts[which]
        spread = np.zeros(which.size)
        if which.size * length < xy.shape[0]:
            windows = at[:, None] + np.arange(length)
            for column in columns:
                values = column[windows]
                spread += values.max(axis=1) - values.min(axis=1)
        else:
            # A filter of size L with origin -(L // 2) covers [i, i + L - 1].
            origin = -(int(length) // 2)
            for column in columns:
                spread += maximum_filter1d(column, int(length), origin=origin, mode="nearest")[at]
                spread -= minimum_filter1d(column, int(length), origin=origin, mode="nearest")[at]
        out[which] = spread
    return out


def _grow(xy: np.ndarray, start: int, stop: int, limit: int, threshold: float) -> int:
    """Last index ``>= stop`` (and ``<= limit``) such that ``xy[start:last+1]`` keeps
    dispersion within ``threshold``; ``xy[start:stop+1]`` is known to."""
    low = xy[start : stop + 1].min(axis=0)
    high = xy[start : stop + 1].max(axis=0)
    end = stop
    chunk = max(16, stop - start + 1)
    while end < limit:
        block = xy[end + 1 : min(limit, end + chunk) + 1]
        lows = np.minimum(np.minimum.accumulate(block, axis=0), low)
        highs = np.maximum(np.maximum.accumulate(block, axis=0), high)
        over = np.flatnonzero((highs - lows).sum(axis=1) > threshold)
        if over.size:
            return end + int(over[0])
        end += block.shape[0]
        low, high = lows[-1], highs[-1]
        chunk *= 2
    return end


def detect_fixations_idt(
    rec: GazeRecording,
    dispersion_threshold: float = 1.0,
    min_duration: float = 0.100,
    *,
    px_per_degree: float | None = None,
) -> Fixations:
    """Fixations by dispersion threshold (I-DT, Salvucci and Goldberg 2000).

    Parameters
    ----------
    rec : GazeRecording
    dispersion_threshold : float
        Largest ``(max x - min x) + (max y - min y)`` of a fixation, degrees.
    min_duration : float
        Shortest fixation, seconds (last minus first sample time plus one period).
    px_per_degree : float, optional
        Image pixels per degree for the threshold when the geometry is unknown.

    Returns
    -------
    Fixations
        As :func:`~napari_gazeseg.gaze.ivt.detect_fixations_ivt`: onset of the first
        sample, duration last minus first plus one sample period, centroid of the
        on-image samples, ``meta["detector"]`` with the parameters and ``units``.
    """
    params = {
        "name": "idt",
        "dispersion_threshold": float(dispersion_threshold),
        "min_duration": float(min_duration),
    }
    if not dispersion_threshold > 0:
        raise ValueError(f"dispersion_threshold must be positive, got {dispersion_threshold}.")
    if not min_duration > 0:
        raise ValueError(f"min_duration must be positive seconds, got {min_duration}.")
    n = len(rec)
    empty = np.zeros(0, np.int64)
    if n == 0:
        params["units"] = signal_unit(rec)
        return build_fixations(rec, empty, empty, params)
    signal = gaze_signal(rec, px_per_degree, "detect_fixations_idt")
    params.update(signal.units_meta())
    threshold = signal.degrees_to_unit(dispersion_threshold)
    if signal.unit == "px":
        params["dispersion_threshold_px"] = threshold
    xy = signal.geometry.tangent_to_degrees(signal.xy) if signal.unit == "deg" else signal.xy
    usable = finite_rows(xy)
    _, run_last = run_bounds(usable, signal.breaks)
    period = 1.0 / rec.sampling_rate_hz
    # The first window of each sample: the fewest samples lasting min_duration.
    window_last = np.searchsorted(
        rec.t, rec.t + (min_duration - period - _TIME_TOLERANCE), side="left"
    )
    fits = np.flatnonzero(usable & (window_last <= run_last))
    xy_filled = np.where(usable[:, None], xy, 0.0)
    starts_ok = fits[_first_window_dispersion(xy_filled, window_last, fits) <= threshold]
    first, last = [], []
    cursor = 0
    while True:
        k = np.searchsorted(starts_ok, cursor)
        if k == starts_ok.size:
            break
        start = int(starts_ok[k])
        end = _grow(xy_filled, start, int(window_last[start]), int(run_last[start]), threshold)
        first.append(start)
        last.append(end)
        cursor = end + 1
    first_index = np.asarray(first, dtype=np.int64)
    last_index = np.asarray(last, dtype=np.int64)
    return build_fixations(rec, first_index, last_index, params)
