"""Replay a gaze recording as a live source, in real time or faster.

Samples are delivered from a thread of their own at their original times
divided by ``speed``. Their timestamps keep the original timing on a replay
clock (``now_us()`` runs ``speed`` times faster than the wall clock), so a
recording made from a replay has the same intervals as the file.

Where the display points come from (``mode``):

* ``"image"`` (the default when a ``display_of`` mapping is given and the file
  has image coordinates): each sample's image coordinates are mapped through
  the image as it is on screen now (:meth:`~.mapping.ViewTransform.display_of`),
  so a file recorded on this image lands on the same pixels again, whatever
  the screen, window or zoom it was recorded with;
* ``"screen"``: the file's screen coordinates as they are ("as seen on
  screen": where the eyes were on the monitor), an explicit choice; the default
  without ``display_of`` (``gazeseg record``).

Object sessions in the file are kept: every batch carries the samples'
object ids, which the recorder writes instead of its own. A file of fixations
only (GazeMedSeg CSV) is replayed as samples: each fixation held for its
duration at ``fixation_rate_hz``. A file with several stimuli needs
``stimulus``; without it :class:`SeveralStimuliError` lists them. When the last
sample is out, :attr:`ReplaySource.finished` becomes True and the message sink
hears one sentence.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from napari_gazeseg.gaze.recording import Fixations, GazeRecording

from .clock import monotonic_us
from .source import SampleBatch, SourceError, ThreadedSource

__all__ = ["ReplaySource", "SeveralStimuliError", "stimuli_in", "samples_from_fixations"]

#: Deliver due samples at least this often (seconds).
_TICK_S = 0.005
REPLAY_MODES = ("auto", "image", "screen")


class SeveralStimuliError(SourceError):
    """The file holds gaze for several stimuli; ``stimuli`` lists their names."""

    def __init__(self, path, stimuli: list[str]) -> None:
        self.stimuli = list(stimuli)
        super().__init__(
            f"{Path(path).name} holds gaze for {len(stimuli)} stimuli ({', '.join(stimuli[:8])}"
            f"{', ...' if len(stimuli) > 8 else ''}); choose which one to replay."
        )


def stimuli_in(path: str | Path) -> list[str]:
    """The stimulus / image names a gaze file holds (one name for single-recording files)."""
    from napari_gazeseg.gaze.formats import read_gaze_all

    return list(read_gaze_all(path))


def samples_from_fixations(fixations: Fixations, rate_hz: float = 120.0) -> GazeRecording:
    """Samples at ``rate_hz`` holding each fixation's position for its duration (no saccades)."""
    period = 1.0 / rate_hz
    t, coords, ids = [], [], []
    for start, duration, where, object_id in zip(
        fixations.start, fixations.duration, fixations.coords, fixations.object_id
    ):
        n = max(1, int(round(duration * rate_hz)))
        t.append(start + np.arange(n) * period)
        coords.append(np.repeat(where[None, :], n, axis=0))
        ids.append(np.full(n, object_id))
    meta = dict(fixations.meta)
    meta["sampling_rate_hz"] = float(rate_hz)
    meta["replayed_from"] = "fixations"
    if not t:
        return GazeRecording(t=np.zeros(0), coords=np.zeros((0, fixations.coords.shape[1])), meta=meta)
    t = np.concatenate(t)
    order = np.argsort(t, kind="stable")
    keep = np.r_[True, np.diff(t[order]) > 0]  # overlapping fixations: the earlier one wins
    return GazeRecording(
        t=t[order][keep], coords=np.concatenate(coords)[order][keep],
        object_id=np.concatenate(ids)[order][keep], meta=meta,
    )


def _read(path: Path, stimulus: str | None, fixation_rate_hz: float) -> GazeRecording:
    from napari_gazeseg.gaze.formats import GazeFormatError, read_gaze_all

    try:
        everything = read_gaze_all(path)
    except GazeFormatError as err:
        raise SourceError(str(err)) from None
    if stimulus is None:
        if len(everything) > 1:
            raise SeveralStimuliError(path, list(everything))
        (recording,) = everything.values()
    elif stimulus not in everything:
        raise SourceError(
            f"{path.name} has no stimulus {stimulus}; it holds {', '.join(list(everything)[:8])}."
        )
    else:
        recording = everything[stimulus]
    if isinstance(recording, Fixations):
        recording = samples_from_fixations(recording, fixation_rate_hz)
    return recording


class ReplaySource(ThreadedSource):
    """Plays a :class:`GazeRecording` (or any file :func:`read_gaze_all` reads).

    Parameters
    ----------
    recording : GazeRecording, str or Path
    speed : float
        1 plays in real time, 4 four times faster.
    display_of : callable((N, D) data coords) -> (N, 2) display points, optional
        The image as it is on screen now; needed for ``mode="image"``.
    mode : {"auto", "image", "screen"}
        See the module docstring; "auto" takes "image" when ``display_of`` is
        given and the file has image coordinates, else "screen".
    stimulus : str, optional
        Which stimulus of a file with several.
    fixation_rate_hz : float
        Sampling rate for files of fixations only.
    """

    name = "replay"

    def __init__(
        self,
        recording: GazeRecording | str | Path,
        speed: float = 1.0,
        display_of: Callable[[np.ndarray], np.ndarray] | None = None,
        mode: str = "auto",
        stimulus: str | None = None,
        fixation_rate_hz: float = 120.0,
    ) -> None:
        super().__init__()
        if not speed > 0:
            raise ValueError(f"the replay speed must be positive, got {speed}.")
        if mode not in REPLAY_MODES:
            raise ValueError(f"the replay mode must be one of {', '.join(REPLAY_MODES)}, got {mode!r}.")
        if isinstance(recording, (str, Path)):
            recording = _read(Path(recording), stimulus, fixation_rate_hz)
        elif isinstance(recording, Fixations):
            recording = samples_from_fixations(recording, fixation_rate_hz)
        if len(recording) == 0:
            raise SourceError("The recording to replay has no samples; choose another file.")
        self.recording = recording
        self.speed = float(speed)
        self.nominal_rate_hz = float(recording.sampling_rate_hz)
        has_image = bool(np.isfinite(recording.coords).all(axis=1).any())
        has_screen = recording.screen is not None and bool(np.isfinite(recording.screen).any())
        if mode == "auto":
            mode = "image" if display_of is not None and has_image else "screen"
        if mode == "image":
            if display_of is None:
                raise SourceError("Replaying through the image needs the image on screen; open it in napari.")
            self._display = np.asarray(display_of(recording.coords), dtype=float)
        elif has_screen:
            self._display = np.asarray(recording.screen, dtype=float)
        else:
            raise SourceError(
                "This recording has no screen coordinates; replay it through an image layer instead."
            )
        self.mode = mode
        self._valid = np.isfinite(self._display).all(axis=1)
        if mode == "image":
            self._valid &= np.asarray(recording.valid, bool)
        self._object_id = np.asarray(recording.object_id, dtype=np.int64)
        self._wall_start_us = monotonic_us()
        self._clock_start_us = self._wall_start_us
        self.finished = False
        self.samples_sent = 0

    def now_us(self) -> int:
        """Replay clock: original recording time (µs) since the replay began."""
        return self._clock_start_us + int((monotonic_us() - self._wall_start_us) * self.speed)

    def meta(self) -> dict:
        return {
            "source": "replay",
            "sampling_rate_hz": self.nominal_rate_hz,
            "replay": {
                "speed": self.speed,
                "mode": self.mode,
                "of": self.recording.meta.get("source", "file"),
                "image": self.recording.meta.get("image"),
            },
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
                    SampleBatch.from_arrays(
                        stamps[sent:due], self._display[sent:due], self._valid[sent:due],
                        object_id=self._object_id[sent:due],
                    )
                )
                sent = due
                self.samples_sent = sent
            if sent < len(t):
                self._stopping.wait(_TICK_S)
        if sent == len(t):
            self.finished = True
            if self._on_message is not None:
                self._on_message(f"The replayed file has ended after {sent} samples; the replay stopped.")
