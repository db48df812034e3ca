"""The interface every live gaze source implements, and the batch it delivers.

A source (Tobii tracker, mouse cursor, replayed file) calls its sink from its
own thread with :class:`SampleBatch` objects. Nothing here imports Qt, napari
or torch.

Conventions
-----------
* ``timestamp_us``: the source's own clock in microseconds (Tobii:
  ``system_time_stamp``, the computer clock the SDK stamps each sample with;
  never the arrival time of the callback).
* ``display``: normalised display-area ``(x, y)``; ``(0, 0)`` top-left and
  ``(1, 1)`` bottom-right of the tracked screen; NaN where no eye was valid.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Callable, Protocol, runtime_checkable

import numpy as np

__all__ = [
    "SampleBatch", "GazeSource", "SourceError", "BatchSink", "MessageSink", "backend_problem", "first_tobii_tracker",
]


class SourceError(RuntimeError):
    """A source cannot start (no tracker, no SDK, unreadable file)."""


def first_tobii_tracker(trackers: list):
    """The first of the Tobii trackers a backend found (Titta or tobii-research); none
    is one sentence."""
    if not trackers:
        raise SourceError(
            "No Tobii eye tracker was found; connect it, check it in Tobii Pro "
            "Eye Tracker Manager, then try again."
        )
    return trackers[0]


@dataclass(frozen=True)
class SampleBatch:
    """Consecutive gaze samples from one source, in time order.

    Attributes
    ----------
    timestamp_us : (N,) int64
        Source clock in microseconds.
    display : (N, 2) float64
        Normalised display-area ``(x, y)``, NaN where invalid.
    valid_left, valid_right : (N,) bool
        Validity of each eye's gaze point (a cursor gives both True).
    pupil_mm : (N,) float64
        Mean pupil diameter of the valid eyes in millimetres, NaN where absent.
    object_id : (N,) int64 or None
        The object session of each sample when the source knows it (a replayed
        file's sessions); None lets the recorder assign its own sessions.
    """

    timestamp_us: np.ndarray
    display: np.ndarray
    valid_left: np.ndarray
    valid_right: np.ndarray
    pupil_mm: np.ndarray
    object_id: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = self.timestamp_us.shape[0]
        if self.display.shape != (n, 2):
            raise ValueError(f"display must have shape ({n}, 2), got {self.display.shape}.")
        for name in ("valid_left", "valid_right", "pupil_mm"):
            if getattr(self, name).shape != (n,):
                raise ValueError(f"{name} must have shape ({n},).")
        if self.object_id is not None and self.object_id.shape != (n,):
            raise ValueError(f"object_id must have shape ({n},).")

    def __len__(self) -> int:
        return int(self.timestamp_us.shape[0])

    @property
    def valid(self) -> np.ndarray:
        """A sample is valid when at least one eye is and its point is finite."""
        return (self.valid_left | self.valid_right) & np.isfinite(self.display).all(axis=1)

    @classmethod
    def from_arrays(cls, timestamp_us, display, valid=None, pupil_mm=None, object_id=None) -> "SampleBatch":
        """A batch from plain arrays; ``valid`` applies to both eyes (cursor, replay)."""
        timestamp_us = np.asarray(timestamp_us, dtype=np.int64).reshape(-1)
        display = np.asarray(display, dtype=np.float64).reshape(-1, 2)
        n = timestamp_us.shape[0]
        if valid is None:
            valid = np.isfinite(display).all(axis=1)
        valid = np.asarray(valid, dtype=bool).reshape(-1)
        pupil = np.full(n, np.nan) if pupil_mm is None else np.asarray(pupil_mm, np.float64)
        ids = None if object_id is None else np.asarray(object_id, dtype=np.int64).reshape(-1)
        return cls(timestamp_us, display, valid, valid.copy(), pupil, ids)

    @classmethod
    def concatenate(cls, batches: list["SampleBatch"]) -> "SampleBatch":
        """Join batches in the order given."""
        if not batches:
            return cls.from_arrays(np.zeros(0, np.int64), np.zeros((0, 2)))
        return cls(
            np.concatenate([b.timestamp_us for b in batches]),
            np.concatenate([b.display for b in batches]),
            np.concatenate([b.valid_left for b in batches]),
            np.concatenate([b.valid_right for b in batches]),
            np.concatenate([b.pupil_mm for b in batches]),
            None if any(b.object_id is None for b in batches) else np.concatenate([b.object_id for b in batches]),
        )


#: Called from the source's thread with each new batch.
BatchSink = Callable[[SampleBatch], None]
#: Called from any thread with one sentence for the user (connection lost, ...).
MessageSink = Callable[[str], None]


@runtime_checkable
class GazeSource(Protocol):
    """What the recorder needs from a source.

    ``start(on_batch, on_message)`` begins delivery on the source's own thread;
    ``stop()`` ends it and returns once no more callbacks will come.
    ``now_us()`` reads the source clock (to time-stamp key presses).
    ``meta()`` returns JSON-serialisable facts for the recording's metadata
    (model, serial number, clock description, time-synchronisation data).
    """

    name: str
    nominal_rate_hz: float

    def start(self, on_batch: BatchSink, on_message: MessageSink) -> None: ...

    def stop(self) -> None: ...

    def now_us(self) -> int: ...

    def meta(self) -> dict: ...


class ThreadedSource:
    """Base for sources that produce samples on a daemon thread of their own.

    Subclasses implement :meth:`_run` which loops until ``self._stopping`` is set,
    calling ``self._emit(batch)``.
    """

    name = "threaded"
    nominal_rate_hz = 0.0

    def __init__(self) -> None:
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._on_batch: BatchSink | None = None
        self._on_message: MessageSink | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, on_batch: BatchSink, on_message: MessageSink) -> None:
        if self.running:
            raise SourceError(f"the {self.name} source is already running; stop it first.")
        self._on_batch, self._on_message = on_batch, on_message
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name=f"gaze-{self.name}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join()
        self._thread = None

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the source finishes by itself (replay end); True if it did."""
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _emit(self, batch: SampleBatch) -> None:
        if len(batch) and self._on_batch is not None:
            self._on_batch(batch)

    def _run(self) -> None:
        raise NotImplementedError


#: The backends a live source may need, and the loader that raises SourceError when absent.
BACKENDS = ("titta", "tobii-research", "lsl")


def backend_problem(backend: str) -> str | None:
    """None when ``backend`` ("titta", "tobii-research", "lsl") loads here, else one
    sentence saying what to install."""
    if backend == "titta":
        from .titta import load_titta as load
    elif backend == "tobii-research":
        from .tobii import load_sdk as load
    elif backend == "lsl":
        from .lsl import load_pylsl as load
    else:
        raise ValueError(f"unknown backend {backend!r}; use one of {', '.join(BACKENDS)}.")
    try:
        load()
    except SourceError as err:
        return str(err)
    return None
