"""Live data-quality counters of a gaze stream: rate achieved, samples lost, % valid.

Updated per batch on the writer thread, read from the UI thread; a lock keeps
each read consistent. Samples lost are counted from gaps in the timestamps:
a gap of ``k`` nominal periods (``k >= 1.5``) means ``round(k) - 1`` samples
never arrived (connection loss, tracker hiccups).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

__all__ = ["StreamQuality", "QualityReport"]


@dataclass(frozen=True)
class QualityReport:
    samples: int
    valid_fraction: float  # 0..1 of samples received; NaN before the first sample
    rate_hz: float  # samples received per second of source time; NaN before two samples
    lost: int  # samples the nominal rate says should have arrived but did not

    def summary(self) -> str:
        """One line for the widget, e.g. ``"119.8 Hz, 0 lost, 97 % valid"``."""
        if self.samples < 2:
            return "waiting for samples"
        return f"{self.rate_hz:.1f} Hz, {self.lost} lost, {100 * self.valid_fraction:.0f} % valid"


class StreamQuality:
    """Running counters over all batches of one recording."""

    def __init__(self, nominal_rate_hz: float) -> None:
        self.nominal_rate_hz = float(nominal_rate_hz)
        self._lock = threading.Lock()
        self._samples = 0
        self._valid = 0
        self._lost = 0
        self._first_us: int | None = None
        self._last_us: int | None = None

    def add(self, timestamp_us: np.ndarray, valid: np.ndarray) -> None:
        if timestamp_us.size == 0:
            return
        stamps = timestamp_us.astype(np.int64)
        with self._lock:
            if self._last_us is not None:
                stamps_with_previous = np.concatenate([[self._last_us], stamps])
            else:
                stamps_with_previous = stamps
                self._first_us = int(stamps[0])
            if self.nominal_rate_hz > 0 and stamps_with_previous.size > 1:
                periods = np.diff(stamps_with_previous) * self.nominal_rate_hz / 1e6
                gaps = periods[periods >= 1.5]
                self._lost += int(np.sum(np.round(gaps) - 1))
            self._samples += int(stamps.size)
            self._valid += int(np.count_nonzero(valid))
            self._last_us = int(stamps[-1])

    def report(self) -> QualityReport:
        with self._lock:
            n = self._samples
            valid_fraction = self._valid / n if n else float("nan")
            span_s = (self._last_us - self._first_us) / 1e6 if n > 1 else 0.0
            rate = (n - 1) / span_s if span_s > 0 else float("nan")
            return QualityReport(n, valid_fraction, rate, self._lost)
