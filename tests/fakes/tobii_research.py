"""A stand-in for ``tobii_research`` 2.1.0 that behaves as the real SDK does.

Same public names, constants, signatures and dictionary keys as the real
package (``tests/contract/test_tobii_sdk_contract.py`` holds the adapter's
expectations against the real one; ``test_tracking_tobii.py`` holds this fake to
the same table). Differences from real hardware, all deliberate:

* the "eye" looks wherever a test says (:meth:`EyeTracker.look_at`), with a
  constant offset (an uncalibrated tracker's error) that a successful
  calibration removes, plus Gaussian noise (seeded);
* :meth:`EyeTracker.close_eyes`, :meth:`EyeTracker.lose_connection` and
  :meth:`EyeTracker.raise_stream_error` script what a user or a cable does.

Callbacks run on a thread of the fake's own, one call per sample, at the
device rate in real time; ``system_time_stamp`` is the computer clock in µs at
the moment the sample was taken (not when the callback runs), as the SDK does.
"""

from __future__ import annotations

import math
import threading
import time

import numpy as np

EYETRACKER_GAZE_DATA = "eyetracker_gaze_data"
EYETRACKER_TIME_SYNCHRONIZATION_DATA = "eyetracker_time_synchronization_data"
EYETRACKER_NOTIFICATION_CONNECTION_LOST = "eyetracker_notification_connection_lost"
EYETRACKER_NOTIFICATION_CONNECTION_RESTORED = "eyetracker_notification_connection_restored"
EYETRACKER_STREAM_ERRORS = "eyetracker_stream_errors"

CALIBRATION_STATUS_FAILURE = "calibration_status_failure"
CALIBRATION_STATUS_SUCCESS = "calibration_status_success"
CALIBRATION_STATUS_SUCCESS_LEFT_EYE = "calibration_status_success_left_eye"
CALIBRATION_STATUS_SUCCESS_RIGHT_EYE = "calibration_status_success_right_eye"
VALIDITY_INVALID_AND_NOT_USED = "validity_invalid_and_not_used"
VALIDITY_VALID_BUT_NOT_USED = "validity_valid_but_not_used"
VALIDITY_VALID_AND_USED = "validity_valid_and_used"

STREAM_ERROR_SOURCE_SUBSCRIPTION_GAZE_DATA = "stream_error_source_subscription_gaze_data"
STREAM_ERROR_CONNECTION_LOST = "stream_error_connection_lost"

_EPOCH_NS = time.monotonic_ns()


class EyeTrackerInvalidOperationError(Exception):
    """Raised, as by the SDK, for calls made in the wrong calibration state."""


def get_system_time_stamp() -> int:
    """The computer clock in microseconds (monotonic), as the SDK's."""
    return (time.monotonic_ns() - _EPOCH_NS) // 1000 + 1_000_000_000


#: Trackers "connected" to this machine; tests set this list.
connected_trackers: list["EyeTracker"] = []


def find_all_eyetrackers():
    return tuple(connected_trackers)


class EyeTracker:
    def __init__(
        self,
        address="tet-tcp://169.254.10.20",
        model="Tobii Pro Spectrum",
        serial_number="TPSP1-010109123456",
        frequency=120.0,
        offset=(0.03, -0.02),
        noise_sd=0.002,
        seed=0,
    ):
        self._address = address
        self._model = model
        self._serial_number = serial_number
        self._frequency = float(frequency)
        self._offset = np.asarray(offset, dtype=float)
        self._noise_sd = float(noise_sd)
        self._rng = np.random.default_rng(seed)
        self._target = (0.5, 0.5)
        self._eyes_open = True
        self._connected = True
        self._lock = threading.Lock()
        self._subscriptions: dict[str, list[tuple]] = {}
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._device_offset_us = 123_456_789
        self.calibration_mode = False
        self.samples_sent = 0

    @property
    def address(self):
        return self._address

    @property
    def model(self):
        return self._model

    @property
    def serial_number(self):
        return self._serial_number

    @property
    def device_name(self):
        return "fake tracker"

    @property
    def firmware_version(self):
        return "2.6.1"

    # -- what a user does --------------------------------------------------
    def look_at(self, x: float, y: float) -> None:
        """The user looks at normalised display point (x, y)."""
        self._target = (float(x), float(y))

    def close_eyes(self, closed: bool = True) -> None:
        self._eyes_open = not closed

    def lose_connection(self) -> None:
        self._connected = False
        self._notify(EYETRACKER_NOTIFICATION_CONNECTION_LOST, {"system_time_stamp": get_system_time_stamp()})

    def restore_connection(self) -> None:
        self._connected = True
        self._notify(
            EYETRACKER_NOTIFICATION_CONNECTION_RESTORED, {"system_time_stamp": get_system_time_stamp()}
        )

    def raise_stream_error(self) -> None:
        self._notify(
            EYETRACKER_STREAM_ERRORS,
            {
                "system_time_stamp": get_system_time_stamp(),
                "source": STREAM_ERROR_SOURCE_SUBSCRIPTION_GAZE_DATA,
                "error": STREAM_ERROR_CONNECTION_LOST,
                "message": "Stream lost",
            },
        )

    # -- SDK API ------------------------------------------------------------
    def get_gaze_output_frequency(self):
        return self._frequency

    def get_all_gaze_output_frequencies(self):
        return (self._frequency,)

    def subscribe_to(self, subscription_type, callback, as_dictionary=False):
        if not as_dictionary:
            raise NotImplementedError("the stand-in only delivers dictionaries")
        with self._lock:
            self._subscriptions.setdefault(subscription_type, []).append(callback)
            if subscription_type == EYETRACKER_GAZE_DATA and self._thread is None:
                self._stop.clear()
                self._thread = threading.Thread(target=self._pump, name="fake-tobii", daemon=True)
                self._thread.start()

    def unsubscribe_from(self, subscription_type, callback=None):
        with self._lock:
            callbacks = self._subscriptions.get(subscription_type, [])
            if callback is None:
                callbacks.clear()
            elif callback in callbacks:
                callbacks.remove(callback)
            gaze_left = bool(self._subscriptions.get(EYETRACKER_GAZE_DATA))
            thread = self._thread if not gaze_left else None
            if thread is not None:
                self._stop.set()
                self._thread = None
        if thread is not None and thread is not threading.current_thread():
            thread.join()

    # -- internals ------------------------------------------------------------
    def _notify(self, kind, data):
        with self._lock:
            callbacks = list(self._subscriptions.get(kind, []))
        for callback in callbacks:
            callback(dict(data))

    def _sample(self, system_us: int) -> dict:
        valid = self._eyes_open and self._connected
        sample = {"device_time_stamp": system_us + self._device_offset_us, "system_time_stamp": system_us}
        for eye, shift in (("left", -0.001), ("right", 0.001)):
            if valid:
                point = np.asarray(self._target) + self._offset + shift
                point = point + self._rng.normal(0.0, self._noise_sd, 2)
                gaze, validity, pupil = (float(point[0]), float(point[1])), 1, 3.5
            else:
                gaze, validity, pupil = (math.nan, math.nan), 0, math.nan
            sample.update(
                {
                    f"{eye}_gaze_point_on_display_area": gaze,
                    f"{eye}_gaze_point_in_user_coordinate_system": (math.nan,) * 3 if not valid else (0.0, 0.0, 0.0),
                    f"{eye}_gaze_point_validity": validity,
                    f"{eye}_pupil_diameter": pupil,
                    f"{eye}_pupil_validity": validity,
                    f"{eye}_gaze_origin_in_user_coordinate_system": (math.nan,) * 3 if not valid else (30.0, 0.0, 600.0),
                    f"{eye}_gaze_origin_validity": validity,
                }
            )
        return sample

    def _pump(self):
        period_us = 1e6 / self._frequency
        first_us = get_system_time_stamp()
        sent = 0
        next_sync_us = first_us
        while not self._stop.is_set():
            now_us = get_system_time_stamp()
            due = int((now_us - first_us) / period_us) + 1
            while sent < due and not self._stop.is_set():
                stamp = int(first_us + sent * period_us)
                if self._connected:
                    self._notify(EYETRACKER_GAZE_DATA, self._sample(stamp))
                    self.samples_sent += 1
                sent += 1
            if now_us >= next_sync_us:
                self._notify(
                    EYETRACKER_TIME_SYNCHRONIZATION_DATA,
                    {
                        "system_request_time_stamp": now_us,
                        "device_time_stamp": now_us + self._device_offset_us + 50,
                        "system_response_time_stamp": now_us + 100,
                    },
                )
                next_sync_us = now_us + 1_000_000
            time.sleep(min(period_us / 1e6, 0.002))


class CalibrationEyeData:
    def __init__(self, position_on_display_area, validity):
        self.position_on_display_area = position_on_display_area
        self.validity = validity


class CalibrationSample:
    def __init__(self, left_eye, right_eye):
        self.left_eye = left_eye
        self.right_eye = right_eye


class CalibrationPoint:
    def __init__(self, position_on_display_area, calibration_samples):
        self.position_on_display_area = position_on_display_area
        self.calibration_samples = calibration_samples


class CalibrationResult:
    def __init__(self, status, calibration_points):
        self.status = status
        self.calibration_points = calibration_points


class ScreenBasedCalibration:
    """Collects data only while the eyes are open; applying it removes the offset."""

    def __init__(self, eyetracker):
        self._tracker = eyetracker
        self._points: dict[tuple, int] = {}

    def enter_calibration_mode(self):
        if self._tracker.calibration_mode:
            raise EyeTrackerInvalidOperationError("already in calibration mode")
        self._tracker.calibration_mode = True

    def leave_calibration_mode(self):
        if not self._tracker.calibration_mode:
            raise EyeTrackerInvalidOperationError("not in calibration mode")
        self._tracker.calibration_mode = False

    def collect_data(self, x, y):
        if not self._tracker.calibration_mode:
            raise EyeTrackerInvalidOperationError("not in calibration mode")
        if not (self._tracker._eyes_open and self._tracker._connected):
            return CALIBRATION_STATUS_FAILURE
        self._points[(float(x), float(y))] = 1
        return CALIBRATION_STATUS_SUCCESS

    def discard_data(self, x, y):
        self._points.pop((float(x), float(y)), None)

    def compute_and_apply(self):
        if len(self._points) < 3:
            return CalibrationResult(CALIBRATION_STATUS_FAILURE, ())
        self._tracker._offset = np.zeros(2)
        points = tuple(
            CalibrationPoint(
                position,
                tuple(
                    CalibrationSample(
                        CalibrationEyeData(position, VALIDITY_VALID_AND_USED),
                        CalibrationEyeData(position, VALIDITY_VALID_AND_USED),
                    )
                    for _ in range(8)
                ),
            )
            for position in self._points
        )
        return CalibrationResult(CALIBRATION_STATUS_SUCCESS, points)
