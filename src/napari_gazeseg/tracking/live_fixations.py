"""Fixations of the object being looked at, grown as samples arrive.

Re-running a detector over a whole session at every UI tick would cost more
the longer the session. Instead, fixations that ended well before the newest
sample are *committed* and never recomputed; each update runs the detector
(:func:`napari_gazeseg.gaze.fixations.detect_fixations_ivt` by default) only
over the samples from the end of the last committed fixation on. The last,
still-open fixation is reported as well, so the user sees the current one.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from napari_gazeseg.gaze.recording import Fixations, GazeRecording

__all__ = ["LiveFixations"]


def _default_detector(recording: GazeRecording) -> Fixations:
    from napari_gazeseg.gaze.fixations import detect_fixations_ivt

    return detect_fixations_ivt(recording)


class LiveFixations:
    """Incremental fixations of one object session.

    Parameters
    ----------
    object_id : int
    detector : callable(GazeRecording) -> Fixations
    settle_s : float
        A fixation ending more than this many seconds before the newest sample
        can no longer grow and is committed.
    """

    def __init__(
        self,
        object_id: int,
        detector: Callable[[GazeRecording], Fixations] | None = None,
        settle_s: float = 0.3,
    ) -> None:
        self.object_id = int(object_id)
        self._detect = detector or _default_detector
        self._settle_s = float(settle_s)
        self._pending: list[GazeRecording] = []
        self._committed: list[Fixations] = []
        self._open = None  # Fixations of the tail (not committed), or None
        self._signature: tuple = (0,)
        self._ndim = 2

    def add(self, samples: GazeRecording) -> bool:
        """Add this object's new samples; True when the fixations changed."""
        samples = samples.for_object(self.object_id)
        if len(samples) == 0:
            return False
        self._ndim = samples.ndim
        self._pending.append(samples)
        tail = GazeRecording.concatenate(self._pending)
        self._pending = [tail]
        if int(tail.valid.sum()) < 2:
            return False
        found = self._detect(tail).for_object(self.object_id)
        newest = float(tail.t[-1])
        settled = found.end < newest - self._settle_s
        if settled.any():
            done = found.select(settled)
            self._committed.append(done)
            self._pending = [tail.select(tail.t >= float(done.end.max()))]
        self._open = found.select(~settled) if (~settled).any() else None
        signature = self._current_signature()
        changed = signature != self._signature
        self._signature = signature
        return changed

    def fixations(self) -> Fixations:
        """Committed fixations plus the open one(s), in time order."""
        parts = list(self._committed)
        if self._open is not None:
            parts.append(self._open)
        if not parts:
            return Fixations(np.zeros(0), np.zeros(0), np.zeros((0, self._ndim)), np.zeros(0, np.int64))
        return Fixations.concatenate(parts)

    def _current_signature(self) -> tuple:
        fixations = self.fixations()
        if len(fixations) == 0:
            return (0,)
        return (len(fixations), float(fixations.start[-1]), float(fixations.duration[-1]))
