"""Eye-movement kinematics and eye-tracker error for the simulated observer.

Pure functions of numpy arrays; times in seconds, angles in degrees unless a
name says ``_rad``. The observer's *plan* (where it looks and for how long) comes
from :mod:`napari_gazeseg.gaze.simulate`; this module turns a plan into samples.

* Fixation durations: a gamma distribution shifted by a minimum (default mean
  250 ms, never below 80 ms), as in scene viewing and image reading.
* Saccades: the main sequence, duration ``2.2 ms/deg * amplitude + 21 ms``, with a
  minimum-jerk position profile whose time axis is warped so that the velocity
  peak comes earlier for larger saccades (at half the duration for small ones,
  at 35 % for 20 deg and more), as measured saccades skew. Peak velocities are
  about 150 deg/s at 2 deg, 420 deg/s at 10 deg and 550 deg/s at 20 deg.
* Tracker error: accuracy is a systematic angular offset per fixation whose
  direction drifts smoothly over the screen (calibration error); precision is
  white noise whose sample-to-sample RMS equals the requested degrees. No
  fixational drift or microsaccades are modelled: within a fixation the only
  movement is tracker noise.
* Data loss: blinks and short track-loss gaps as Poisson processes.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "fixation_durations",
    "inside_intervals",
    "loss_intervals",
    "minimum_jerk",
    "precision_noise_rad",
    "saccade_durations",
    "saccade_progress",
]

#: Main-sequence slope (seconds per degree) and intercept (seconds) of saccade duration.
SACCADE_S_PER_DEG = 0.0022
SACCADE_INTERCEPT_S = 0.021


def fixation_durations(
    rng: np.random.Generator, n: int, mean_s: float = 0.25, min_s: float = 0.08, shape: float = 3.0
) -> np.ndarray:
    """``n`` fixation durations (s): ``min_s`` plus a gamma variate of the given shape.

    The gamma part has mean ``mean_s - min_s``, so the durations have mean ``mean_s``.
    """
    if not mean_s > min_s > 0:
        raise ValueError(
            f"the mean fixation duration ({mean_s} s) must exceed its minimum ({min_s} s) > 0."
        )
    return min_s + rng.gamma(shape, (mean_s - min_s) / shape, n)


def saccade_durations(amplitude_deg: np.ndarray) -> np.ndarray:
    """Main-sequence saccade durations (s) for amplitudes in degrees."""
    return SACCADE_S_PER_DEG * np.asarray(amplitude_deg, dtype=np.float64) + SACCADE_INTERCEPT_S


def minimum_jerk(progress: np.ndarray) -> np.ndarray:
    """Fraction of the saccade amplitude covered at normalised time ``progress`` in [0, 1]."""
    tau = np.clip(progress, 0.0, 1.0)
    return tau**3 * (10.0 - 15.0 * tau + 6.0 * tau**2)


def saccade_progress(progress: np.ndarray, amplitude_deg: np.ndarray) -> np.ndarray:
    """Fraction of the amplitude covered at normalised time ``progress`` in [0, 1].

    A minimum-jerk profile on the warped time ``progress ** gamma``, chosen so that
    half the amplitude is covered at ``progress = midpoint``, which falls from 0.5
    (small saccades) to 0.4 at 20 deg and beyond; the velocity then peaks a little
    earlier (0.35 at 20 deg) and starts and ends at zero.
    """
    midpoint = 0.5 - 0.1 * np.clip(np.asarray(amplitude_deg, dtype=np.float64) / 20.0, 0.0, 1.0)
    gamma = np.log(0.5) / np.log(midpoint)
    return minimum_jerk(np.clip(progress, 0.0, 1.0) ** gamma)


def loss_intervals(
    rng: np.random.Generator,
    total_s: float,
    mean_interval_s: float | None,
    duration_range_s: tuple[float, float],
    min_gap_s: float = 1.0,
) -> np.ndarray:
    """``(K, 2)`` start/stop times (s) of data-loss events within ``[0, total_s)``.

    Onsets follow a Poisson process with mean spacing ``mean_interval_s`` (at least
    ``min_gap_s`` apart); durations are uniform in ``duration_range_s``. ``None``
    gives no events.
    """
    if mean_interval_s is None or total_s <= 0:
        return np.empty((0, 2))
    if mean_interval_s <= min_gap_s:
        raise ValueError(
            f"the mean interval between losses ({mean_interval_s} s) must exceed {min_gap_s} s."
        )
    expected = int(total_s / mean_interval_s * 2 + 10)
    gaps = min_gap_s + rng.exponential(mean_interval_s - min_gap_s, expected)
    onsets = np.cumsum(gaps) - min_gap_s * rng.uniform()
    onsets = onsets[onsets < total_s]
    durations = rng.uniform(*duration_range_s, onsets.shape[0])
    return np.stack([onsets, onsets + durations], axis=1)


def inside_intervals(t: np.ndarray, intervals: np.ndarray) -> np.ndarray:
    """Boolean mask of the times that fall in any ``[start, stop)`` interval (in any order,
    overlapping or not)."""
    if intervals.shape[0] == 0:
        return np.zeros(t.shape, bool)
    order = np.argsort(intervals[:, 0])
    starts = intervals[order, 0]
    stops = np.maximum.accumulate(intervals[order, 1])
    last = np.searchsorted(starts, t, side="right") - 1
    return (last >= 0) & (t < stops[np.clip(last, 0, None)])


def precision_noise_rad(rng: np.random.Generator, n: int, precision_deg: float) -> np.ndarray:
    """``(n, 2)`` white angular noise (radians) whose sample-to-sample RMS is ``precision_deg``.

    Consecutive independent 2D samples with per-axis SD ``s`` differ by an RMS
    distance ``2 s``, so ``s = precision / 2``.
    """
    return rng.normal(0.0, np.deg2rad(precision_deg) / 2.0, (n, 2))
