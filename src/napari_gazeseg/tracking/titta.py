"""Tobii eye trackers through TittaPy (``tittapy`` 2.1.0, module ``TittaPy_v2``).

TittaPy wraps the Tobii Pro SDK in C++: the SDK's callbacks fill C++ buffers,
so no sample is lost when Python is busy (the loss ``tobii_research``'s Python
callbacks show under load, Titta#54). It ships wheels for CPython 3.11+ with
the SDK inside; ``tobii-research`` (:mod:`.tobii`) stays the fallback.

Importable with numpy alone; ``TittaPy_v2`` is imported when a tracker is first
looked for. Every name, signature, enum member and dictionary key used is in
the tables below, which ``tests/test_tracking_titta.py`` checks against the real
installed module (and the stand-in ``tests/fakes/tittapy_v2.py`` against the
same tables).

* **Gaze** is pulled off the UI thread: a thread of the source's own consumes
  the C++ buffers every ``poll_interval_s`` (4 ms) and hands each batch on.
* **Time**: each sample's ``system_time_stamp`` (µs, the computer clock the SDK
  stamps it with); ``now_us()`` reads the same clock (``get_system_timestamp``).
  Time-synchronisation records (computer request/response times and the
  tracker's clock) go into the recording's metadata.
* **Errors and notifications** (connection lost/restored, stream errors from the
  SDK log, sampling-rate and display-area changes, device faults and warnings,
  buffer overflows) reach the user as one sentence each.
* **Calibration**: :class:`TittaCalibration` has the interface of
  :class:`~.calibration.TobiiCalibration` (``enter``, ``collect``, ``compute``,
  ``leave``) over TittaPy's asynchronous calibration queue; the calibration
  dialog takes it from :meth:`TittaSource.calibration`.
"""

from __future__ import annotations

import importlib
import threading
import time

import numpy as np

from .source import BatchSink, MessageSink, SampleBatch, SourceError, first_tobii_tracker

__all__ = [
    "TittaSource",
    "TittaCalibration",
    "load_titta",
    "find_trackers",
    "gaze_to_batch",
]

# -- what the adapter expects of TittaPy 2.1.0 (checked by the contract test) -----
TITTA_DISTRIBUTION = "tittapy"
TITTA_VERSION = "2.1.0"
TITTA_MODULE = "TittaPy_v2"

#: Module-level functions used, with their parameter names.
FUNCTIONS = {
    "find_all_eye_trackers": (),
    "get_system_timestamp": (),
    "start_logging": ("initial_buffer_size",),
    "get_log": ("clear_log",),
    "stop_logging": (),
}
#: ``EyeTracker`` properties read (``frequency`` is also set).
EYETRACKER_PROPERTIES = (
    "address", "model", "serial_number", "device_name", "firmware_version",
    "frequency", "supported_frequencies",
)
#: ``EyeTracker`` methods called, with their parameter names (first overload).
EYETRACKER_METHODS = {
    "__init__": ("address",),
    "start": ("stream", "initial_buffer_size", "as_gif"),
    "stop": ("stream", "clear_buffer"),
    "consume_N": ("stream", "N_samples", "side"),
    "enter_calibration_mode": ("do_monocular",),
    "leave_calibration_mode": ("force",),
    "calibration_collect_data": ("coordinates", "eye"),
    "calibration_compute_and_apply": (),
    "calibration_retrieve_result": (),
}
#: Stream names passed to ``start`` / ``stop`` / ``consume_N`` (members of ``EyeTracker.stream``).
STREAMS = ("gaze", "time_sync", "notification")
#: Enums read, with the members used.
ENUMS = {
    "notification_type": (
        "connection_lost", "connection_restored", "calibration_mode_entered",
        "calibration_mode_left", "calibration_changed", "display_area_changed",
        "gaze_output_frequency_changed", "eye_tracking_mode_changed", "device_faults",
        "device_warnings", "stream_buffer_overflow", "notification_unknown",
    ),
    "calibration_status": ("failure", "success", "success_left_eye", "success_right_eye"),
    "calibration_eye_validity": ("invalid_and_not_used", "valid_but_not_used", "valid_and_used", "unknown"),
    "calibration_action": ("enter", "collect_data", "compute", "exit"),
    "stream_error": ("connection_lost", "insufficient_license", "not_supported",
                     "too_many_subscribers", "internal_error", "user_error"),
    "stream_error_source": ("user", "stream_pump", "subscription_gaze_data"),
}
#: Keys of a tracker dictionary from ``find_all_eye_trackers()``.
TRACKER_KEYS = ("device_name", "serial_number", "model", "firmware_version", "runtime_version",
                "address", "frequency", "tracking_mode", "capabilities", "supported_frequencies",
                "supported_modes")
#: Keys of ``consume_N("gaze")`` (arrays, one entry per sample) that the adapter reads.
GAZE_KEYS = ("system_time_stamp",) + tuple(
    f"{eye}_{key}"
    for eye in ("left", "right")
    for key in ("gaze_point_on_display_area_x", "gaze_point_on_display_area_y",
                "gaze_point_valid", "pupil_diameter", "pupil_valid")
)
#: Keys of ``consume_N("time_sync")`` (µs).
TIME_SYNC_KEYS = ("system_request_time_stamp", "device_time_stamp", "system_response_time_stamp")
#: Keys of ``consume_N("notification")``.
NOTIFICATION_KEYS = ("system_time_stamp", "notification_type", "output_frequency", "display_area",
                     "errors_or_warnings")
#: Keys of a stream-error entry of ``get_log()`` (log messages have ``level`` instead of ``error``).
STREAM_ERROR_KEYS = ("machine_serial", "system_time_stamp", "error", "source", "message")
#: Keys of ``calibration_retrieve_result()`` and of its ``calibration_result`` and points.
CALIBRATION_RESULT_KEYS = ("work_item", "status", "status_string", "calibration_result")
CALIBRATION_POINT_KEYS = ("position_on_display_area_x", "position_on_display_area_y",
                          "samples_left_validity", "samples_right_validity")
#: ``status`` of a calibration work result: the SDK's ``TOBII_RESEARCH_STATUS_OK``.
STATUS_OK = 0

_NO_TITTA = (
    "TittaPy is not installed; install it with `pip install tittapy==2.1.0` (Python 3.11 or "
    "newer), or use tobii-research, an LSL stream or the cursor."
)
#: Pull the C++ buffers this often (seconds).
_POLL_INTERVAL_S = 0.004
#: Keep at most this many time-synchronisation records (about one a second).
_MAX_TIME_SYNC = 3600


def load_titta(module_name: str = TITTA_MODULE):
    """Import and return TittaPy, or raise :class:`SourceError` saying what to install."""
    try:
        return importlib.import_module(module_name)
    except ImportError:  # also a wheel whose bundled SDK cannot load
        raise SourceError(_NO_TITTA) from None


def find_trackers(titta_module=None) -> list[dict]:
    """Dictionaries (``TRACKER_KEYS``) of all Tobii trackers TittaPy sees (may be empty)."""
    titta = load_titta() if titta_module is None else titta_module
    return list(titta.find_all_eye_trackers())


def _name(value) -> str:
    """The member name of a TittaPy enum value (``str`` of anything else)."""
    return str(getattr(value, "name", value))


def gaze_to_batch(data: dict) -> SampleBatch:
    """``consume_N("gaze")`` arrays as one :class:`SampleBatch`.

    The point is the mean of the valid eyes' display-area points, the pupil the
    mean of the valid pupils (millimetres).
    """
    stamps = np.asarray(data["system_time_stamp"], dtype=np.int64)
    points, valid, pupils, pupil_ok = [], [], [], []
    for eye in ("left", "right"):
        xy = np.column_stack([
            np.asarray(data[f"{eye}_gaze_point_on_display_area_x"], dtype=np.float64),
            np.asarray(data[f"{eye}_gaze_point_on_display_area_y"], dtype=np.float64),
        ]).reshape(-1, 2)
        ok = np.asarray(data[f"{eye}_gaze_point_valid"], dtype=bool) & np.isfinite(xy).all(axis=1)
        points.append(np.where(ok[:, None], xy, 0.0))
        valid.append(ok)
        diameter = np.asarray(data[f"{eye}_pupil_diameter"], dtype=np.float64)
        good = np.asarray(data[f"{eye}_pupil_valid"], dtype=bool) & np.isfinite(diameter)
        pupils.append(np.where(good, diameter, 0.0))
        pupil_ok.append(good)
    n_valid = valid[0].astype(float) + valid[1]
    with np.errstate(invalid="ignore", divide="ignore"):
        display = (points[0] + points[1]) / n_valid[:, None]
        n_pupil = pupil_ok[0].astype(float) + pupil_ok[1]
        pupil = (pupils[0] + pupils[1]) / n_pupil
    display[n_valid == 0] = np.nan
    pupil[n_pupil == 0] = np.nan
    return SampleBatch(stamps, display, valid[0], valid[1], pupil)


def _first_line(error: BaseException) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


class TittaSource:
    """Gaze from one Tobii screen-based eye tracker through TittaPy.

    Parameters
    ----------
    address : str or None
        The tracker's address (``tet-tcp://...``); None takes the first one found.
    frequency : float or None
        Sampling rate to set (one of :attr:`supported_frequencies`); None keeps the tracker's.
    titta_module : module or None
        TittaPy (tests pass the stand-in); None imports ``TittaPy_v2``.
    poll_interval_s : float
        How often the source thread pulls the buffers.
    """

    name = "tobii"
    backend = "TittaPy"

    def __init__(self, address: str | None = None, frequency: float | None = None,
                 titta_module=None, poll_interval_s: float = _POLL_INTERVAL_S) -> None:
        self._titta = load_titta() if titta_module is None else titta_module
        if address is None:
            address = first_tobii_tracker(find_trackers(self._titta))["address"]
        try:
            self.tracker = self._titta.EyeTracker(address)
        except RuntimeError as err:
            raise SourceError(
                f"Could not connect to the Tobii eye tracker at {address} ({_first_line(err)}); "
                "check it in Tobii Pro Eye Tracker Manager and try again."
            ) from None
        if frequency is not None:
            self.set_frequency(frequency)
        self.nominal_rate_hz = float(self.tracker.frequency)
        self.poll_interval_s = float(poll_interval_s)
        self._lock = threading.Lock()
        self._time_sync: list[list[int]] = []
        self._notifications: list[dict] = []
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._on_batch: BatchSink | None = None
        self._on_message: MessageSink | None = None
        self._started: list[str] = []
        self._logging = False

    # -- choices ------------------------------------------------------------------
    @property
    def supported_frequencies(self) -> list[float]:
        return [float(f) for f in self.tracker.supported_frequencies]

    def set_frequency(self, frequency: float) -> None:
        """Set the sampling rate; raises :class:`SourceError` for a rate the tracker lacks."""
        supported = self.supported_frequencies
        if not any(abs(float(frequency) - f) < 1e-6 for f in supported):
            rates = ", ".join(f"{f:g}" for f in supported)
            raise SourceError(
                f"This {self.tracker.model} cannot sample at {float(frequency):g} Hz; choose one of {rates} Hz."
            )
        self.tracker.frequency = float(frequency)
        self.nominal_rate_hz = float(self.tracker.frequency)

    def calibration(self) -> "TittaCalibration":
        """The calibration driver the calibration dialog uses for this tracker."""
        return TittaCalibration(self.tracker, self._titta)

    # -- GazeSource ------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._thread is not None

    def start(self, on_batch: BatchSink, on_message: MessageSink) -> None:
        if self.running:
            raise SourceError("the Tobii source is already running; stop it first.")
        self._on_batch, self._on_message = on_batch, on_message
        self._logging = bool(self._titta.start_logging())  # stream errors go to the log
        self._titta.get_log(True)  # what came before this recording is not ours
        for stream in STREAMS[::-1]:  # gaze last: nothing else is missed before it flows
            try:
                ok = self.tracker.start(stream)
            except RuntimeError as err:
                ok, reason = False, _first_line(err)
            else:
                reason = "the tracker refused"
            if not ok:
                self._stop_streams()
                raise SourceError(
                    f"The eye tracker's {stream} stream could not start ({reason}); "
                    "check the tracker in Eye Tracker Manager and try again."
                )
            self._started.append(stream)
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="gaze-titta", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the streams, deliver every sample still buffered, then return."""
        if self._thread is None:
            return
        self._stopping.set()
        self._thread.join()
        self._thread = None
        self._stop_streams()
        self._pull()  # the samples that arrived after the last poll
        if self._logging:
            self._titta.stop_logging()
            self._logging = False

    def now_us(self) -> int:
        """The SDK's computer clock in microseconds (the clock of ``system_time_stamp``)."""
        return int(self._titta.get_system_timestamp())

    def meta(self) -> dict:
        with self._lock:
            sync = [list(r) for r in self._time_sync]
            notifications = list(self._notifications)
        tracker = self.tracker
        return {
            "source": "tobii",
            "backend": f"TittaPy {getattr(self._titta, '__version__', '?')}".replace('"', ""),
            "tracker": {
                "model": str(tracker.model),
                "serial_number": str(tracker.serial_number),
                "address": str(tracker.address),
                "firmware_version": str(tracker.firmware_version),
            },
            "sampling_rate_hz": self.nominal_rate_hz,
            "clock": "Tobii SDK system_time_stamp (computer clock, microseconds)",
            "time_synchronization": {"columns": list(TIME_SYNC_KEYS), "records": sync},
            "notifications": notifications,
        }

    # -- source thread ------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self._pull()
            except Exception as err:  # the tracker went away mid-call: say so, keep polling
                self._on_message(f"Reading the eye tracker failed ({_first_line(err)}); retrying.")
                self._stopping.wait(0.5)
            self._stopping.wait(self.poll_interval_s)

    def _stop_streams(self) -> None:
        for stream in reversed(self._started):
            try:
                self.tracker.stop(stream)
            except RuntimeError:
                pass
        self._started.clear()

    def _pull(self) -> None:
        gaze = self.tracker.consume_N("gaze")
        if len(gaze.get("system_time_stamp", ())):
            self._on_batch(gaze_to_batch(gaze))
        sync = self.tracker.consume_N("time_sync")
        if len(sync.get("system_request_time_stamp", ())):
            rows = np.column_stack([np.asarray(sync[k], dtype=np.int64) for k in TIME_SYNC_KEYS])
            with self._lock:
                self._time_sync.extend(rows.tolist())
                del self._time_sync[:-_MAX_TIME_SYNC]
        notes = self.tracker.consume_N("notification")
        for i in range(len(notes.get("system_time_stamp", ()))):
            self._notify({key: notes[key][i] for key in NOTIFICATION_KEYS})
        for entry in self._titta.get_log(True) if self._logging else ():
            if "error" in entry:
                self._on_message(
                    f"Eye tracker stream error ({_name(entry['error'])} from {_name(entry['source'])}): "
                    f"{entry['message']}."
                )

    def _notify(self, note: dict) -> None:
        kind = _name(note["notification_type"])
        with self._lock:
            self._notifications.append({"system_time_stamp": int(note["system_time_stamp"]), "type": kind})
        if kind == "connection_lost":
            text = ("The eye tracker connection was lost; samples until it returns are missing. "
                    "Check the cable or network.")
        elif kind == "connection_restored":
            text = "The eye tracker connection was restored; recording continues."
        elif kind == "gaze_output_frequency_changed":
            text = (f"The eye tracker's sampling rate changed to {note['output_frequency']:g} Hz "
                    "during the recording; check who changed it.")
        elif kind == "display_area_changed":
            text = "The eye tracker's display area changed; calibrate again before trusting the gaze."
        elif kind in ("device_faults", "device_warnings"):
            text = f"The eye tracker reports {kind[7:]}: {note['errors_or_warnings']}."
        elif kind == "stream_buffer_overflow":
            text = "The eye tracker's stream buffer overflowed and samples were lost; close other programs reading it."
        else:  # calibration mode entered/left/changed, tracking mode: expected, not news
            return
        self._on_message(text)


class TittaCalibration:
    """Screen-based calibration through TittaPy's calibration queue, one point at a time.

    The interface of :class:`~.calibration.TobiiCalibration`: each point is
    collected once and, when the SDK reports failure (eyes not found), once more.
    TittaPy runs each step on a thread of its own; this class waits for the
    step's result (at most ``timeout_s``).
    """

    def __init__(self, tracker, titta_module, timeout_s: float = 30.0) -> None:
        self._tracker = tracker
        self._titta = titta_module
        self._timeout_s = float(timeout_s)
        self._active = False

    def enter(self) -> None:
        from .calibration import CalibrationFailed

        self._tracker.leave_calibration_mode(False)  # a previous session left open
        self._tracker.enter_calibration_mode(False)
        self._active = True
        result = self._wait("enter")
        if result["status"] != STATUS_OK:
            raise CalibrationFailed(
                f"The tracker refused to calibrate ({result['status_string']}); "
                "close other programs calibrating it and try again."
            )

    def collect(self, point) -> bool:
        """Collect data at a normalised point; True when the tracker accepted it."""
        for _ in range(2):
            self._tracker.calibration_collect_data([float(point[0]), float(point[1])])
            if self._wait("collect_data")["status"] == STATUS_OK:
                return True
        return False

    def compute(self) -> dict:
        """Compute and apply; returns a JSON-able summary, raises :class:`CalibrationFailed`."""
        from .calibration import CalibrationFailed

        self._tracker.calibration_compute_and_apply()
        work = self._wait("compute")
        result = work.get("calibration_result")
        failure = self._titta.calibration_status.failure
        if work["status"] != STATUS_OK or result is None or result["status"] == failure:
            raise CalibrationFailed(
                "The tracker could not compute a calibration; check that both eyes are "
                "seen in Eye Tracker Manager's track box and calibrate again."
            )
        used = self._titta.calibration_eye_validity.valid_and_used
        points = []
        for point in result["points"]:
            n_used = sum(v == used for v in point["samples_left_validity"]) + sum(
                v == used for v in point["samples_right_validity"]
            )
            points.append({
                "target": [float(point["position_on_display_area_x"]), float(point["position_on_display_area_y"])],
                "eye_samples_used": int(n_used),
            })
        return {"status": _name(result["status"]), "backend": "TittaPy", "points": points}

    def leave(self) -> None:
        if self._active:
            self._tracker.leave_calibration_mode(False)  # joins TittaPy's calibration thread
            self._active = False
            while self._tracker.calibration_retrieve_result() is not None:
                pass

    def _wait(self, action: str) -> dict:
        from .calibration import CalibrationFailed

        deadline = time.monotonic() + self._timeout_s
        while time.monotonic() < deadline:
            result = self._tracker.calibration_retrieve_result()
            if result is None:
                time.sleep(0.005)
            elif _name(result["work_item"]["action"]) == action:
                return result
        raise CalibrationFailed(
            f"The eye tracker did not answer the calibration step '{action}' within "
            f"{self._timeout_s:g} s; check its connection and calibrate again."
        )
