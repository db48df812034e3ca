"""A stand-in for ``TittaPy_v2`` (tittapy 2.1.0) that behaves as the real module does.

Same public names, enum members and values, parameter names and dictionary keys
as the real module (``tests/test_tracking_titta.py`` checks the adapter's table
against the real TittaPy and this stand-in against the same table). Like the
real one, the tracker handle keeps C++-style buffers that the SDK's thread fills
and ``consume_N`` empties; the calibration runs on a worker thread and posts
results that ``calibration_retrieve_result`` returns one at a time.

What a user or a cable does is scripted on the *device* (:class:`Device`):
:meth:`Device.look_at` (with a constant offset that a successful calibration
removes, plus seeded Gaussian noise), :meth:`Device.close_eyes`,
:meth:`Device.lose_connection`, :meth:`Device.restore_connection`,
:meth:`Device.raise_stream_error`, :meth:`Device.overflow`. Tests put devices in
:data:`connected_devices`.
"""

from __future__ import annotations

import enum
import math
import queue
import threading
import time

import numpy as np

__version__ = '"2.1.0"'  # sic: the real module's version string carries the quotes


class calibration_action(enum.Enum):
    nothing = 0
    enter = 1
    collect_data = 2
    discard_data = 3
    compute = 4
    get_calibration_data = 5
    apply_calibration_data = 6
    exit = 7


class calibration_eye_validity(enum.Enum):
    invalid_and_not_used = -1
    valid_but_not_used = 0
    valid_and_used = 1
    unknown = 2


class calibration_state(enum.Enum):
    not_yet_entered = 0
    awaiting_cal_point = 1
    collecting_data = 2
    discarding_data = 3
    computing = 4
    getting_calibration_data = 5
    applying_calibration_data = 6
    left = 7


class calibration_status(enum.Enum):
    failure = 0
    success = 1
    success_left_eye = 2
    success_right_eye = 3


class notification_type(enum.Enum):
    connection_lost = 0
    connection_restored = 1
    calibration_mode_entered = 2
    calibration_mode_left = 3
    calibration_changed = 4
    display_area_changed = 5
    gaze_output_frequency_changed = 6
    eye_tracking_mode_changed = 7
    device_faults = 8
    device_warnings = 9
    stream_buffer_overflow = 10
    notification_unknown = 11


class stream_error(enum.Enum):
    connection_lost = 0
    insufficient_license = 1
    not_supported = 2
    too_many_subscribers = 3
    internal_error = 4
    user_error = 5


class stream_error_source(enum.Enum):
    user = 0
    stream_pump = 1
    subscription_gaze_data = 2
    subscription_external_signal = 3
    subscription_time_synchronization_data = 4
    subscription_eye_image = 5
    subscription_notification = 6
    subscription_user_position_guide = 7


class log_level(enum.Enum):
    error = 0
    warning = 1
    information = 2
    debug = 3
    trace = 4


class log_source(enum.Enum):
    stream_engine = 0
    SDK = 1
    firmware_upgrade = 2


_EPOCH_NS = time.monotonic_ns()
_SE_OPERATION_FAILED = 205  # a non-OK TobiiResearchStatus, as collect_data returns without eyes


def get_system_timestamp() -> int:
    """The computer clock in microseconds (monotonic), as the SDK's."""
    return (time.monotonic_ns() - _EPOCH_NS) // 1000 + 1_000_000_000


def get_SDK_version() -> str:
    return "2.1.0.1"


_log: list[dict] | None = None
_log_lock = threading.Lock()


def start_logging(initial_buffer_size=None) -> bool:
    global _log
    with _log_lock:
        if _log is None:
            _log = []
    return True


def get_log(clear_log=None) -> list:
    with _log_lock:
        if _log is None:
            return []
        out = list(_log)
        if clear_log is None or clear_log:
            _log.clear()
        return out


def stop_logging() -> bool:
    global _log
    with _log_lock:
        _log = None
    return True


def _append_log(entry: dict) -> None:
    with _log_lock:
        if _log is not None:
            _log.append(entry)


class Device:
    """The tracker hardware a test scripts."""

    def __init__(self, address="tet-tcp://169.254.10.20", model="Tobii Pro Spectrum",
                 serial_number="TPSP1-010109123456", frequency=600.0,
                 supported_frequencies=(60.0, 120.0, 300.0, 600.0, 1200.0),
                 offset=(0.03, -0.02), noise_sd=0.002, seed=0):
        self.address = address
        self.model = model
        self.serial_number = serial_number
        self.frequency = float(frequency)
        self.supported_frequencies = [float(f) for f in supported_frequencies]
        self.offset = np.asarray(offset, dtype=float)
        self.noise_sd = float(noise_sd)
        self.rng = np.random.default_rng(seed)
        self.target = (0.5, 0.5)
        self.eyes_open = True
        self.connected = True
        self.samples_sent = 0
        self.handles: list[EyeTracker] = []

    def info(self) -> dict:
        return {
            "device_name": "fake tracker", "serial_number": self.serial_number, "model": self.model,
            "firmware_version": "2.6.1", "runtime_version": "2.6.1", "address": self.address,
            "frequency": self.frequency, "tracking_mode": "human", "capabilities": [],
            "supported_frequencies": list(self.supported_frequencies), "supported_modes": ["human"],
        }

    def look_at(self, x: float, y: float) -> None:
        self.target = (float(x), float(y))

    def close_eyes(self, closed: bool = True) -> None:
        self.eyes_open = not closed

    def lose_connection(self) -> None:
        self.connected = False
        self._notify(notification_type.connection_lost)
        _append_log({"machine_serial": self.serial_number, "system_time_stamp": get_system_timestamp(),
                     "error": stream_error.connection_lost, "source": stream_error_source.stream_pump,
                     "message": "Connection lost"})

    def restore_connection(self) -> None:
        self.connected = True
        self._notify(notification_type.connection_restored)

    def raise_stream_error(self) -> None:
        _append_log({"machine_serial": self.serial_number, "system_time_stamp": get_system_timestamp(),
                     "error": stream_error.internal_error, "source": stream_error_source.subscription_gaze_data,
                     "message": "Stream lost"})

    def overflow(self) -> None:
        self._notify(notification_type.stream_buffer_overflow)

    def _notify(self, kind, output_frequency=None) -> None:
        for handle in list(self.handles):
            handle._push("notification", {
                "system_time_stamp": get_system_timestamp(), "notification_type": kind,
                "output_frequency": output_frequency, "display_area": None, "errors_or_warnings": None,
            })


#: Devices "connected" to this machine; tests set this list.
connected_devices: list[Device] = []


def find_all_eye_trackers() -> list:
    return [device.info() for device in connected_devices]


_GAZE_EYE_KEYS = (
    "gaze_point_on_display_area_x", "gaze_point_on_display_area_y",
    "gaze_point_in_user_coordinates_x", "gaze_point_in_user_coordinates_y", "gaze_point_in_user_coordinates_z",
    "gaze_point_valid", "gaze_point_available", "pupil_diameter", "pupil_valid", "pupil_available",
    "gaze_origin_in_user_coordinates_x", "gaze_origin_in_user_coordinates_y", "gaze_origin_in_user_coordinates_z",
    "gaze_origin_valid", "gaze_origin_available",
    "eye_openness_diameter", "eye_openness_valid", "eye_openness_available",
)
STREAM_KEYS = {
    "gaze": ("device_time_stamp", "system_time_stamp")
    + tuple(f"{eye}_{key}" for eye in ("left", "right") for key in _GAZE_EYE_KEYS),
    "time_sync": ("system_request_time_stamp", "device_time_stamp", "system_response_time_stamp"),
    "notification": ("system_time_stamp", "notification_type", "output_frequency", "display_area",
                     "errors_or_warnings"),
}
_LISTS = {"notification_type", "output_frequency", "display_area", "errors_or_warnings"}


class EyeTracker:
    """The TittaPy handle of one tracker."""

    class stream(enum.Enum):
        gaze = 1
        eye_openness = 2
        eye_image = 3
        external_signal = 4
        time_sync = 5
        positioning = 6
        notification = 7

    class buffer_side(enum.Enum):
        start = 1
        end = 2

    def __init__(self, address):
        for device in connected_devices:
            if device.address == address:
                break
        else:
            raise RuntimeError(
                f'Titta::cpp Error: Titta::cpp: Cannot get eye tracker "{address}"\n'
                "Error code: 200: TOBII_RESEARCH_STATUS_SE_INTERNAL (Internal stream engine error)"
            )
        self._device = device
        self._lock = threading.Lock()
        self._buffers = {name: [] for name in STREAM_KEYS}
        self._recording = {"gaze": False, "time_sync": False, "notification": True}  # as Titta: on connect
        self._pump_thread: threading.Thread | None = None
        self._pump_stop = threading.Event()
        self._calibration_thread: threading.Thread | None = None
        self._work: queue.Queue = queue.Queue()
        self._results: queue.Queue = queue.Queue()
        self._calibration_points: list[tuple[float, float]] = []
        self.calibration_mode = False
        device.handles.append(self)

    # -- properties ----------------------------------------------------------------
    address = property(lambda self: self._device.address)
    model = property(lambda self: self._device.model)
    serial_number = property(lambda self: self._device.serial_number)
    device_name = property(lambda self: "fake tracker")
    firmware_version = property(lambda self: "2.6.1")
    supported_frequencies = property(lambda self: list(self._device.supported_frequencies))

    @property
    def frequency(self):
        return self._device.frequency

    @frequency.setter
    def frequency(self, value):
        if float(value) not in self._device.supported_frequencies:
            raise RuntimeError("Titta::cpp Error: Titta::cpp::setFrequency: Cannot set frequency")
        self._device.frequency = float(value)
        self._device._notify(notification_type.gaze_output_frequency_changed, float(value))

    # -- streams ---------------------------------------------------------------------
    def start(self, stream, initial_buffer_size=None, as_gif=None):
        name = self._stream_name(stream)
        with self._lock:
            self._recording[name] = True
            if name in ("gaze", "time_sync") and self._pump_thread is None:
                self._pump_stop.clear()
                self._pump_thread = threading.Thread(target=self._pump, name="fake-titta", daemon=True)
                self._pump_thread.start()
        return True

    def stop(self, stream, clear_buffer=None):
        name = self._stream_name(stream)
        with self._lock:
            self._recording[name] = False
            if clear_buffer:
                self._buffers[name].clear()
            thread = None
            if not (self._recording["gaze"] or self._recording["time_sync"]):
                thread, self._pump_thread = self._pump_thread, None
                self._pump_stop.set()
        if thread is not None:
            thread.join()
        return True

    def is_recording(self, stream):
        return self._recording[self._stream_name(stream)]

    def consume_N(self, stream, N_samples=None, side=None):
        name = self._stream_name(stream)
        with self._lock:
            buffer = self._buffers[name]
            n = len(buffer) if N_samples is None else min(int(N_samples), len(buffer))
            taken, self._buffers[name] = buffer[:n], buffer[n:]
        return self._to_dict(name, taken)

    # -- calibration --------------------------------------------------------------------
    def enter_calibration_mode(self, do_monocular):
        if self._calibration_thread is not None:
            return False
        self._work.put({"action": calibration_action.enter})
        self._calibration_thread = threading.Thread(target=self._calibrate, daemon=True)
        self._calibration_thread.start()
        return True

    def is_in_calibration_mode(self, issue_error_if_not_=None):
        return self._calibration_thread is not None

    def leave_calibration_mode(self, force=None):
        if self._calibration_thread is None:
            return False
        self._work.put({"action": calibration_action.exit})
        self._calibration_thread.join()
        self._calibration_thread = None
        return True

    def calibration_collect_data(self, coordinates, eye=None):
        self._need_calibration_mode()
        self._work.put({"action": calibration_action.collect_data, "coordinates": [float(c) for c in coordinates]})

    def calibration_discard_data(self, coordinates, eye=None):
        self._need_calibration_mode()
        self._work.put({"action": calibration_action.discard_data, "coordinates": [float(c) for c in coordinates]})

    def calibration_compute_and_apply(self):
        self._need_calibration_mode()
        self._work.put({"action": calibration_action.compute})

    def calibration_retrieve_result(self):
        try:
            return self._results.get_nowait()
        except queue.Empty:
            return None

    # -- internals --------------------------------------------------------------------------
    def _need_calibration_mode(self):
        if self._calibration_thread is None:
            raise RuntimeError(
                "Titta::cpp::isInCalibrationMode: you have not entered calibration mode, "
                "call enterCalibrationMode first"
            )

    @staticmethod
    def _stream_name(stream) -> str:
        name = stream.name if isinstance(stream, enum.Enum) else str(stream)
        if name not in STREAM_KEYS:
            raise RuntimeError(f"Titta::cpp: stream '{name}' is not supported by the stand-in")
        return name

    def _push(self, name: str, record: dict) -> bool:
        """Buffer a record if its stream records (checked under the lock, as the SDK's
        callback is stopped atomically); whether it was buffered."""
        with self._lock:
            if self._recording[name]:
                self._buffers[name].append(record)
                return True
            return False

    @staticmethod
    def _to_dict(name: str, records: list[dict]) -> dict:
        out = {}
        for key in STREAM_KEYS[name]:
            values = [r[key] for r in records]
            out[key] = values if key in _LISTS else np.asarray(values, dtype=_dtype(key))
        return out

    def _sample(self, system_us: int) -> dict:
        device = self._device
        valid = device.eyes_open and device.connected
        sample = {"device_time_stamp": system_us + 123_456_789, "system_time_stamp": system_us}
        for eye, shift in (("left", -0.001), ("right", 0.001)):
            if valid:
                point = np.asarray(device.target) + device.offset + shift
                point = point + device.rng.normal(0.0, device.noise_sd, 2)
                gx, gy, pupil = float(point[0]), float(point[1]), 3.5
            else:
                gx = gy = pupil = math.nan
            sample.update({
                f"{eye}_gaze_point_on_display_area_x": gx, f"{eye}_gaze_point_on_display_area_y": gy,
                f"{eye}_gaze_point_in_user_coordinates_x": 0.0 if valid else math.nan,
                f"{eye}_gaze_point_in_user_coordinates_y": 0.0 if valid else math.nan,
                f"{eye}_gaze_point_in_user_coordinates_z": 0.0 if valid else math.nan,
                f"{eye}_gaze_point_valid": valid, f"{eye}_gaze_point_available": True,
                f"{eye}_pupil_diameter": pupil, f"{eye}_pupil_valid": valid, f"{eye}_pupil_available": True,
                f"{eye}_gaze_origin_in_user_coordinates_x": 30.0 if valid else math.nan,
                f"{eye}_gaze_origin_in_user_coordinates_y": 0.0 if valid else math.nan,
                f"{eye}_gaze_origin_in_user_coordinates_z": 600.0 if valid else math.nan,
                f"{eye}_gaze_origin_valid": valid, f"{eye}_gaze_origin_available": True,
                f"{eye}_eye_openness_diameter": math.nan, f"{eye}_eye_openness_valid": False,
                f"{eye}_eye_openness_available": False,
            })
        return sample

    def _pump(self):
        device = self._device
        period_us = 1e6 / device.frequency
        first_us = get_system_timestamp()
        sent = 0
        next_sync_us = first_us
        while not self._pump_stop.is_set():
            now_us = get_system_timestamp()
            due = int((now_us - first_us) / period_us) + 1
            while sent < due and not self._pump_stop.is_set():
                stamp = int(first_us + sent * period_us)
                if device.connected and self._push("gaze", self._sample(stamp)):
                    device.samples_sent += 1  # only what reached the buffer was sent
                sent += 1
            if now_us >= next_sync_us:
                self._push("time_sync", {"system_request_time_stamp": now_us,
                                         "device_time_stamp": now_us + 123_456_789 + 50,
                                         "system_response_time_stamp": now_us + 100})
                next_sync_us = now_us + 1_000_000
            time.sleep(min(period_us / 1e6, 0.002))

    def _calibrate(self):
        device = self._device
        while True:
            item = self._work.get()
            action = item["action"]
            result = {"work_item": dict(item), "status": 0, "status_string": ""}
            if action is calibration_action.enter:
                self.calibration_mode = True
                self._device._notify(notification_type.calibration_mode_entered)
            elif action is calibration_action.collect_data:
                if device.eyes_open and device.connected:
                    self._calibration_points.append(tuple(item["coordinates"]))
                else:
                    result["status"] = _SE_OPERATION_FAILED
            elif action is calibration_action.discard_data:
                point = tuple(item["coordinates"])
                self._calibration_points = [p for p in self._calibration_points if p != point]
            elif action is calibration_action.compute:
                result["calibration_result"] = self._compute()
            elif action is calibration_action.exit:
                self.calibration_mode = False
                self._calibration_points = []
                self._device._notify(notification_type.calibration_mode_left)
            result["status_string"] = f"Tobii SDK code: {result['status']}"
            self._results.put(result)
            if action is calibration_action.exit:
                return

    def _compute(self) -> dict:
        points = sorted(set(self._calibration_points))
        if len(points) < 3:
            return {"points": [], "status": calibration_status.failure}
        self._device.offset = np.zeros(2)
        used = calibration_eye_validity.valid_and_used
        out = []
        for x, y in points:
            out.append({
                "position_on_display_area_x": x, "position_on_display_area_y": y,
                "samples_left_position_on_display_area_x": np.full(8, x, np.float32),
                "samples_left_position_on_display_area_y": np.full(8, y, np.float32),
                "samples_left_validity": [used] * 8,
                "samples_right_position_on_display_area_x": np.full(8, x, np.float32),
                "samples_right_position_on_display_area_y": np.full(8, y, np.float32),
                "samples_right_validity": [used] * 8,
            })
        return {"points": out, "status": calibration_status.success}


def _dtype(key: str):
    if key.endswith("time_stamp"):
        return np.int64
    if key.endswith(("_valid", "_available")):
        return bool
    return np.float32
