"""The mouse cursor as a gaze source, for demos, teaching and users without a tracker.

A daemon thread reads the global cursor position (``QCursor.pos()``, Qt global
logical pixels) at a fixed rate (default 120 Hz) and normalises it by the
geometry of the chosen screen, as a tracker reports display-area coordinates.
Timestamps are the moment each position was read (monotonic µs). Positions off
that screen are reported as they are (outside 0..1); the mapping marks them
off-canvas.

The rate is honest: a reading that comes late (a busy computer, a slow X
server) keeps the time it was taken and the missed slots are not filled in, so
the achieved rate (:attr:`CursorSource.achieved_rate_hz`) can fall below the
rate asked for; when it falls below 95 % of it, :meth:`~CursorSource.stop` says
so in one sentence.
"""

from __future__ import annotations

import time

import numpy as np

from .clock import monotonic_us
from .source import SampleBatch, ThreadedSource

__all__ = ["CursorSource"]

#: Deliver a batch every this many seconds (the UI drains at 40 Hz anyway).
_BATCH_PERIOD_S = 0.01


class CursorSource(ThreadedSource):
    """Samples the cursor at ``rate_hz`` on its own thread.

    Parameters
    ----------
    screen : QScreen or None
        The screen whose area is the "display area"; None takes the primary screen.
    rate_hz : float
        Sampling rate.
    cursor_position : callable returning (x, y), optional
        Global logical cursor position; default ``QCursor.pos()``.
    """

    name = "cursor"

    def __init__(self, screen=None, rate_hz: float = 120.0, cursor_position=None) -> None:
        super().__init__()
        from qtpy.QtGui import QCursor, QGuiApplication

        if rate_hz <= 0:
            raise ValueError(f"the cursor sampling rate must be positive, got {rate_hz} Hz.")
        self.nominal_rate_hz = float(rate_hz)
        screen = screen or QGuiApplication.primaryScreen()
        geometry = screen.geometry()
        self._origin = np.array([geometry.x(), geometry.y()], dtype=float)
        self._size = np.array([geometry.width(), geometry.height()], dtype=float)
        if cursor_position is None:

            def cursor_position():
                point = QCursor.pos()
                return point.x(), point.y()

        self._cursor_position = cursor_position
        self.samples_taken = 0
        self._span_us = 0

    def now_us(self) -> int:
        return monotonic_us()

    @property
    def achieved_rate_hz(self) -> float:
        """Readings per second actually taken (NaN before two)."""
        if self.samples_taken < 2 or self._span_us <= 0:
            return float("nan")
        return (self.samples_taken - 1) / (self._span_us / 1e6)

    def meta(self) -> dict:
        return {
            "source": "cursor",
            "sampling_rate_hz": self.nominal_rate_hz,
            "clock": "computer monotonic clock (perf_counter), microseconds; each sample stamped "
            "when read, late readings not filled in (the achieved rate may be lower)",
        }

    def stop(self) -> None:
        super().stop()
        achieved = self.achieved_rate_hz
        if np.isfinite(achieved) and achieved < 0.95 * self.nominal_rate_hz and self._on_message is not None:
            self._on_message(
                f"The cursor was read {achieved:.0f} times a second, not the {self.nominal_rate_hz:g} asked "
                "(the computer was busy); every sample keeps the time it was read."
            )

    def _run(self) -> None:
        period_us = 1e6 / self.nominal_rate_hz
        first_us = monotonic_us()
        taken = 0
        self.samples_taken = 0
        self._span_us = 0
        first_read: int | None = None
        stamps: list[int] = []
        points: list[tuple[float, float]] = []
        last_emit = time.perf_counter()
        while not self._stopping.is_set():
            due_us = first_us + taken * period_us
            wait_s = (due_us - monotonic_us()) / 1e6
            if wait_s > 0:
                self._stopping.wait(wait_s)
                continue
            stamps.append(monotonic_us())
            points.append(self._cursor_position())
            first_read = stamps[-1] if first_read is None else first_read
            self.samples_taken += 1
            self._span_us = stamps[-1] - first_read
            taken += 1
            # a late thread does not burst: the next reading is one period from now at the earliest
            taken = max(taken, int((monotonic_us() - first_us) / period_us) + 1)
            if time.perf_counter() - last_emit >= _BATCH_PERIOD_S:
                self._emit_points(stamps, points)
                stamps, points = [], []
                last_emit = time.perf_counter()
        self._emit_points(stamps, points)

    def _emit_points(self, stamps, points) -> None:
        if not stamps:
            return
        display = (np.asarray(points, dtype=float) - self._origin) / self._size
        self._emit(SampleBatch.from_arrays(stamps, display, np.ones(len(stamps), dtype=bool)))
