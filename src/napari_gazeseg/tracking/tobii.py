"""Tobii eye trackers through ``tobii_research`` (Tobii Pro SDK 2.1.0), and the backend choice.

:func:`open_tobii_source` opens a Tobii tracker through TittaPy (:mod:`.titta`)
wherever it imports (CPython 3.11+), else through ``tobii_research`` (the
fallback, wheels for Python 3.10 only); :func:`tobii_backends` says which of the
two load here and, for each that does not, what to install.

Importable without napari, Qt or torch: only numpy, and ``tobii_research`` is
imported when a tracker is first looked for. Every name, constant and
dictionary key used comes from :mod:`.tobii_sdk`, which the contract test
checks against the real package.

Time: each sample's ``system_time_stamp`` (µs, the computer clock the SDK
stamps the sample with), never the time the callback ran. Time-synchronisation
data (computer request/response times and the tracker's clock) is kept for the
recording's metadata so the tracker clock can be related to the computer clock.
"""

from __future__ import annotations

import importlib
import threading
from typing import Any

import numpy as np

from . import tobii_sdk as sdk
from .source import BatchSink, MessageSink, SampleBatch, SourceError, first_tobii_tracker

__all__ = [
    "TobiiSource",
    "load_sdk",
    "find_trackers",
    "gaze_rows_to_batch",
    "TOBII_BACKENDS",
    "tobii_backends",
    "open_tobii_source",
]

#: The Tobii backends, preferred first.
TOBII_BACKENDS = ("titta", "tobii-research")

_NO_SDK = (
    "The Tobii SDK (tobii-research) is not installed; install it with "
    "`pip install tobii-research==2.1.0` (Python 3.10) or record with the cursor source."
)

#: Emit a batch once the oldest buffered sample is this old (µs) or the buffer is this long.
_BATCH_AGE_US = 8_000
_BATCH_LENGTH = 32
#: Keep at most this many time-synchronisation records (they arrive about once a second).
_MAX_TIME_SYNC = 3600


def load_sdk(module_name: str = sdk.SDK_MODULE):
    """Import and return the Tobii SDK module, or raise :class:`SourceError`."""
    try:
        return importlib.import_module(module_name)
    except ImportError:
        raise SourceError(_NO_SDK) from None


def tobii_backends() -> dict[str, str | None]:
    """For each backend in :data:`TOBII_BACKENDS`: None when it loads here, else what to install."""
    from .titta import load_titta

    status: dict[str, str | None] = {}
    for backend, load in (("titta", load_titta), ("tobii-research", load_sdk)):
        try:
            load()
        except SourceError as err:
            status[backend] = str(err)
        else:
            status[backend] = None
    return status


def open_tobii_source(backend: str = "auto", address: str | None = None, frequency: float | None = None):
    """A Tobii gaze source: TittaPy when ``backend`` is "auto" and it loads, else tobii-research.

    ``address`` picks a tracker (default: the first found); ``frequency`` sets its
    sampling rate (TittaPy only; tobii-research records at the tracker's rate).
    Raises :class:`SourceError` with one sentence when no backend loads or no
    tracker is found.
    """
    if backend not in ("auto",) + TOBII_BACKENDS:
        raise ValueError(f"unknown Tobii backend {backend!r}; use auto, titta or tobii-research.")
    if backend in ("auto", "titta"):
        from .titta import TittaSource, load_titta

        try:
            titta = load_titta()
        except SourceError:
            if backend == "titta":
                raise
        else:
            return TittaSource(address=address, frequency=frequency, titta_module=titta)
    try:
        sdk_module = load_sdk()
    except SourceError:
        if backend == "tobii-research":
            raise
        raise SourceError(
            "No Tobii backend is installed; install one with `pip install napari-gazeseg[tobii]` "
            "(TittaPy on Python 3.11+, tobii-research on 3.10)."
        ) from None
    tracker = None
    if address is not None:
        matches = [t for t in find_trackers(sdk_module) if str(t.address) == address]
        if not matches:
            raise SourceError(f"No Tobii eye tracker answers at {address}; check the address in Eye Tracker Manager.")
        tracker = matches[0]
    source = TobiiSource(tracker=tracker, sdk_module=sdk_module)
    if frequency is not None and abs(float(frequency) - source.nominal_rate_hz) > 1e-6:
        raise SourceError(
            f"The tracker records at {source.nominal_rate_hz:g} Hz; set {float(frequency):g} Hz in "
            "Eye Tracker Manager (tobii-research does not change it) or install TittaPy."
        )
    return source


def find_trackers(sdk_module=None) -> list:
    """All eye trackers the SDK can see (may be empty)."""
    tr = load_sdk() if sdk_module is None else sdk_module
    return list(tr.find_all_eyetrackers())


def _gaze_row(sample: dict) -> tuple:
    """One gaze dictionary as ``(system µs, x, y, valid_left, valid_right, pupil mm)``.

    The gaze point is the mean of the valid eyes; the pupil the mean of valid pupils.
    """
    left_ok = sample["left_gaze_point_validity"] == sdk.GAZE_VALID
    right_ok = sample["right_gaze_point_validity"] == sdk.GAZE_VALID
    points = []
    if left_ok:
        points.append(sample["left_gaze_point_on_display_area"])
    if right_ok:
        points.append(sample["right_gaze_point_on_display_area"])
    if points:
        x = sum(p[0] for p in points) / len(points)
        y = sum(p[1] for p in points) / len(points)
    else:
        x = y = float("nan")
    pupils = [
        sample[f"{eye}_pupil_diameter"]
        for eye in ("left", "right")
        if sample[f"{eye}_pupil_validity"] == sdk.GAZE_VALID
    ]
    pupil = sum(pupils) / len(pupils) if pupils else float("nan")
    return (int(sample["system_time_stamp"]), x, y, left_ok, right_ok, pupil)


def gaze_rows_to_batch(rows: list[tuple]) -> SampleBatch:
    """Rows from :func:`_gaze_row` as one :class:`SampleBatch`."""
    stamps, xs, ys, left, right, pupil = zip(*rows)
    return SampleBatch(
        np.asarray(stamps, dtype=np.int64),
        np.column_stack([xs, ys]).astype(np.float64),
        np.asarray(left, dtype=bool),
        np.asarray(right, dtype=bool),
        np.asarray(pupil, dtype=np.float64),
    )


class TobiiSource:
    """Gaze from one Tobii screen-based eye tracker.

    Parameters
    ----------
    tracker : tobii_research.EyeTracker or None
        The tracker to use; None takes the first one found.
    sdk_module : module or None
        The SDK module (tests pass the stand-in); None imports ``tobii_research``.
    """

    name = "tobii"
    backend = "tobii-research"

    def __init__(self, tracker=None, sdk_module=None) -> None:
        self._tr = load_sdk() if sdk_module is None else sdk_module
        if tracker is None:
            tracker = first_tobii_tracker(find_trackers(self._tr))
        self.tracker = tracker
        self.nominal_rate_hz = float(tracker.get_gaze_output_frequency())
        self._lock = threading.Lock()
        self._rows: list[tuple] = []
        self._time_sync: list[list[int]] = []
        self._on_batch: BatchSink | None = None
        self._on_message: MessageSink | None = None
        self._subscriptions: list[tuple[str, Any]] = []

    # -- GazeSource ----------------------------------------------------------
    def start(self, on_batch: BatchSink, on_message: MessageSink) -> None:
        if self._subscriptions:
            raise SourceError("the Tobii source is already running; stop it first.")
        self._on_batch, self._on_message = on_batch, on_message
        # gaze last, so that no time-synchronisation record or error comes before we listen
        plan = [
            ("EYETRACKER_TIME_SYNCHRONIZATION_DATA", self._on_time_sync),
            ("EYETRACKER_NOTIFICATION_CONNECTION_LOST", self._on_connection_lost),
            ("EYETRACKER_NOTIFICATION_CONNECTION_RESTORED", self._on_connection_restored),
            ("EYETRACKER_STREAM_ERRORS", self._on_stream_error),
            ("EYETRACKER_GAZE_DATA", self._on_gaze),
        ]
        for constant, callback in plan:
            kind = getattr(self._tr, constant)
            self.tracker.subscribe_to(kind, callback, as_dictionary=True)
            self._subscriptions.append((kind, callback))

    def stop(self) -> None:
        for kind, callback in reversed(self._subscriptions):
            self.tracker.unsubscribe_from(kind, callback)
        self._subscriptions.clear()
        with self._lock:
            rows, self._rows = self._rows, []
        if rows and self._on_batch is not None:
            self._on_batch(gaze_rows_to_batch(rows))

    def now_us(self) -> int:
        """The SDK's computer clock in microseconds (the clock of ``system_time_stamp``)."""
        return int(self._tr.get_system_time_stamp())

    def calibration(self):
        """The calibration driver the calibration dialog uses for this tracker."""
        from .calibration import TobiiCalibration

        return TobiiCalibration(self.tracker, self._tr)

    def meta(self) -> dict:
        with self._lock:
            sync = [list(r) for r in self._time_sync]
        return {
            "source": "tobii",
            "backend": "tobii-research",
            "tracker": {
                "model": str(self.tracker.model),
                "serial_number": str(self.tracker.serial_number),
                "address": str(self.tracker.address),
                "firmware_version": str(self.tracker.firmware_version),
            },
            "sampling_rate_hz": self.nominal_rate_hz,
            "clock": "tobii_research system_time_stamp (computer clock, microseconds)",
            "time_synchronization": {
                "columns": list(sdk.TIME_SYNC_KEYS),
                "records": sync,
            },
        }

    # -- SDK callbacks (SDK thread) ------------------------------------------
    def _on_gaze(self, sample: dict) -> None:
        row = _gaze_row(sample)
        with self._lock:
            self._rows.append(row)
            if len(self._rows) < _BATCH_LENGTH and row[0] - self._rows[0][0] < _BATCH_AGE_US:
                return
            rows, self._rows = self._rows, []
        self._on_batch(gaze_rows_to_batch(rows))

    def _on_time_sync(self, data: dict) -> None:
        with self._lock:
            self._time_sync.append([int(data[key]) for key in sdk.TIME_SYNC_KEYS])
            del self._time_sync[:-_MAX_TIME_SYNC]

    def _on_connection_lost(self, data: dict) -> None:
        self._on_message(
            "The eye tracker connection was lost; samples until it returns are missing. "
            "Check the cable or network."
        )

    def _on_connection_restored(self, data: dict) -> None:
        self._on_message("The eye tracker connection was restored; recording continues.")

    def _on_stream_error(self, data: dict) -> None:
        self._on_message(
            f"Eye tracker stream error ({data['error']} from {data['source']}): {data['message']}."
        )
