"""Everything the Tobii adapter expects of ``tobii_research`` 2.1.0, in one table.

The adapter (:mod:`.tobii`), the stand-in SDK used in tests
(``tests/fakes/tobii_research.py``) and the contract test run against the real
package (``tests/contract/test_tobii_sdk_contract.py``) all read these names, so
a change in the SDK shows up as one failing contract test rather than as a
silent ``KeyError`` on a user's tracker.

Pure data: importing this module imports nothing.
"""

from __future__ import annotations

#: Distribution name and version the adapter was written against.
SDK_DISTRIBUTION = "tobii-research"
SDK_VERSION = "2.1.0"
SDK_MODULE = "tobii_research"

#: Module-level functions used.
FUNCTIONS = ("find_all_eyetrackers", "get_system_time_stamp")

#: Subscription constants used, with their values in 2.1.0.
SUBSCRIPTIONS = {
    "EYETRACKER_GAZE_DATA": "eyetracker_gaze_data",
    "EYETRACKER_TIME_SYNCHRONIZATION_DATA": "eyetracker_time_synchronization_data",
    "EYETRACKER_NOTIFICATION_CONNECTION_LOST": "eyetracker_notification_connection_lost",
    "EYETRACKER_NOTIFICATION_CONNECTION_RESTORED": "eyetracker_notification_connection_restored",
    "EYETRACKER_STREAM_ERRORS": "eyetracker_stream_errors",
}

#: ``EyeTracker`` properties read, and methods called with their parameter names.
EYETRACKER_PROPERTIES = ("address", "model", "serial_number", "device_name", "firmware_version")
EYETRACKER_METHODS = {
    "get_gaze_output_frequency": (),
    "subscribe_to": ("subscription_type", "callback", "as_dictionary"),
    "unsubscribe_from": ("subscription_type", "callback"),
}

#: Per-eye keys of a gaze-data dictionary (``as_dictionary=True``); prefix ``left_``/``right_``.
GAZE_EYE_KEYS = (
    "gaze_point_on_display_area",  # (x, y) normalised, NaN when invalid
    "gaze_point_in_user_coordinate_system",
    "gaze_point_validity",  # int: 1 valid, 0 invalid
    "pupil_diameter",  # millimetres
    "pupil_validity",
    "gaze_origin_in_user_coordinate_system",
    "gaze_origin_validity",
)
#: Keys common to both eyes: microseconds on the tracker's and on the computer's clock.
GAZE_TIME_KEYS = ("device_time_stamp", "system_time_stamp")
GAZE_KEYS = GAZE_TIME_KEYS + tuple(
    f"{eye}_{key}" for eye in ("left", "right") for key in GAZE_EYE_KEYS
)
#: Integer validity codes in gaze-data dictionaries.
GAZE_VALID = 1
GAZE_INVALID = 0

#: Keys of a time-synchronisation dictionary (microseconds).
TIME_SYNC_KEYS = ("system_request_time_stamp", "device_time_stamp", "system_response_time_stamp")
#: Keys of a stream-error dictionary.
STREAM_ERROR_KEYS = ("system_time_stamp", "source", "error", "message")
#: Keys of connection lost / restored notification dictionaries.
NOTIFICATION_KEYS = ("system_time_stamp",)

#: Screen-based calibration: class, its methods and parameter names, result types.
CALIBRATION_CLASS = "ScreenBasedCalibration"
CALIBRATION_METHODS = {
    "__init__": ("eyetracker",),
    "enter_calibration_mode": (),
    "leave_calibration_mode": (),
    "collect_data": ("x", "y"),
    "discard_data": ("x", "y"),
    "compute_and_apply": (),
}
CALIBRATION_STATUS = {
    "CALIBRATION_STATUS_SUCCESS": "calibration_status_success",
    "CALIBRATION_STATUS_FAILURE": "calibration_status_failure",
    "CALIBRATION_STATUS_SUCCESS_LEFT_EYE": "calibration_status_success_left_eye",
    "CALIBRATION_STATUS_SUCCESS_RIGHT_EYE": "calibration_status_success_right_eye",
}
CALIBRATION_VALIDITY = {
    "VALIDITY_VALID_AND_USED": "validity_valid_and_used",
    "VALIDITY_VALID_BUT_NOT_USED": "validity_valid_but_not_used",
    "VALIDITY_INVALID_AND_NOT_USED": "validity_invalid_and_not_used",
}
#: Attributes read on calibration results, points, samples and per-eye data.
CALIBRATION_RESULT_ATTRIBUTES = {
    "CalibrationResult": ("status", "calibration_points"),
    "CalibrationPoint": ("position_on_display_area", "calibration_samples"),
    "CalibrationSample": ("left_eye", "right_eye"),
    "CalibrationEyeData": ("position_on_display_area", "validity"),
}
