"""Replay a gaze recording as a live source, in real time or faster.

Samples are delivered from a thread of their own at their original times
divided by ``speed``. Their timestamps keep the original timing on a replay
clock (``now_us()`` runs ``speed`` times faster than the wall clock), so a
recording made from a replay has the same intervals as the file.

Display points come from the file's screen coordinates where it has them.
Recordings without them (e.g. GazeMedSeg CSV) are shown as if the image were on
screen as it is now: ``display_of`` maps their data coordinates back to display
points (:meth:`~.mapping.ViewTransform.display_of`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from napari_gazeseg.gaze.recording import GazeRecording

from .clock import monotonic_us
from .source import SampleBatch, SourceError, ThreadedSource

__all__ = ["ReplaySource"]

#: Deliver due samples at least this often (seconds).
_TICK_S = 0.005


class ReplaySource(ThreadedSource):
    """Plays a :class:`GazeRecording` (or any file :func:`read_gaze` reads).

    Parameters
    ----------
    recording : GazeRecording, str or Path
    speed : float
        1 plays in real time, 4 four times faster.
    display_of : callable((N, D) data coords) -> (N, 2) display points, optional
        Needed when the recording has no screen coordinates.
    """

    name = "replay"

    def __init__(
        self,
        recording: GazeRecording | str | Path,
        speed: float = 1.0,
        display_of: Callable[[np.ndarray], np.ndarray] | None = None,
    ) -> None:
        super().__init__()
        if not speed > 0:
            raise ValueError(f"the replay speed must be positive, got {speed}.")
        if isinstance(recording, (str, Path)):
            from napari_gazeseg.gaze.formats import read_gaze

            recording = read_gaze(recording)
            if not isinstance(recording, GazeRecording):
                raise SourceError(
                    "This file holds fixations only; replay needs a file of gaze samples."
                )
        if len(recording) == 0:
            raise SourceError("The recording to replay has no samples; choose another file.")
        self.recording = recording
        self.speed = float(speed)
        self.nominal_rate_hz = float(recording.sampling_rate_hz)
        if recording.screen is not None and np.isfinite(recording.screen).any():
            self._display = recording.screen
        elif display_of is not None:
            self._display = np.asarray(display_of(recording.coords), dtype=float)
        else:
            raise SourceError(
                "This recording has no screen coordinates; replay it over an image layer."
            )
        self._valid = np.isfinite(self._display).all(axis=1)
        self._wall_start_us = monotonic_us()
        self._clock_start_us = self._wall_start_us

    def now_us(self) -> int:
        """Replay clock: original recording time (µs) since the replay began."""
        return self._clock_start_us + int((monotonic_us() - self._wall_start_us) * self.speed)

    def meta(self) -> dict:
        return {
            "source": "replay",
            "sampling_rate_hz": self.nominal_rate_hz,
            "replay": {"speed": self.speed, "of": self.recording.meta.get("source", "file")},
            "clock": "replay clock: original sample times, microseconds",
        }

    def _run(self) -> None:
        t = self.recording.t - self.recording.t[0]
        self._wall_start_us = monotonic_us()
        self._clock_start_us = self._wall_start_us
        stamps = self._clock_start_us + np.round(t * 1e6).astype(np.int64)
        sent = 0
        while sent < len(t) and not self._stopping.is_set():
            due = int(np.searchsorted(stamps, self.now_us(), side="right"))
            if due > sent:
                self._emit(
                    SampleBatch.from_arrays(stamps[sent:due], self._display[sent:due], self._valid[sent:due])
                )
                sent = due
            self._stopping.wait(_TICK_S)
