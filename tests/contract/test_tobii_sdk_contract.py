"""The Tobii adapter's expectations (``tracking/tobii_sdk.py``) against the real SDK.

Runs where ``tobii_research`` is importable: ``scripts/tobii_contract.sh``
builds a Python 3.10 venv with ``tobii-research==2.1.0`` and runs this file
there with ``PYTHONPATH=src`` and ``GAZESEG_REQUIRE_SDK=1`` (then a missing SDK
fails); skipped elsewhere, with the reason in pytest's summary. No tracker needed.

Checked: the adapter's table (names, constants, signatures, the dictionary keys
the SDK's own data classes read) and the stand-in SDK of the other tests
(``tests/fakes/tobii_research.py``): its constants' values, its methods'
parameters, and its gaze, time-sync, stream-error and notification dictionaries
fed to the real SDK's data classes. Not checkable without a tracker: the thread
the real SDK calls back on, its timing and its values (see DEVELOPERS.md).
"""

from __future__ import annotations

import importlib
import inspect
import os
import re
import subprocess
import sys

import pytest

from napari_gazeseg.tracking import tobii_sdk as expected

if os.environ.get("GAZESEG_REQUIRE_SDK"):  # scripts/tobii_contract.sh: absent SDK = failure
    tr = importlib.import_module(expected.SDK_MODULE)
else:
    tr = pytest.importorskip(expected.SDK_MODULE)


def _parameters(function) -> tuple[str, ...]:
    names = tuple(inspect.signature(function).parameters)
    return names[1:] if names and names[0] == "self" else names


def _keys_read(cls) -> set[str]:
    """The dictionary keys a data class's constructor reads (``data["key"]``)."""
    return set(re.findall(r'data\["(\w+)"\]', inspect.getsource(cls.__init__)))


def test_sdk_version():
    from importlib.metadata import version

    assert version(expected.SDK_DISTRIBUTION) == expected.SDK_VERSION


def test_functions_exist():
    for name in expected.FUNCTIONS:
        assert callable(getattr(tr, name)), name
    assert _parameters(tr.find_all_eyetrackers) == ()
    assert _parameters(tr.get_system_time_stamp) == ()


def test_subscription_constants():
    for name, value in expected.SUBSCRIPTIONS.items():
        assert getattr(tr, name) == value, name


def test_eyetracker_properties_and_methods():
    for name in expected.EYETRACKER_PROPERTIES:
        assert isinstance(getattr(tr.EyeTracker, name), property), name
    for name, parameters in expected.EYETRACKER_METHODS.items():
        assert _parameters(getattr(tr.EyeTracker, name)) == parameters, name
    assert inspect.signature(tr.EyeTracker.subscribe_to).parameters["as_dictionary"].default is False


def test_gaze_dictionary_keys():
    assert _keys_read(tr.GazeData) == set(expected.GAZE_KEYS)


def test_gaze_validity_is_an_integer_flag():
    source = inspect.getsource(tr.GazePoint.__init__)
    assert "isinstance(gaze_point_validity, int)" in source
    assert "bool(gaze_point_validity)" in source  # 1 -> valid, 0 -> invalid


def test_time_sync_stream_error_and_notification_keys():
    assert _keys_read(tr.TimeSynchronizationData) == set(expected.TIME_SYNC_KEYS)
    assert _keys_read(tr.StreamErrorData) == set(expected.STREAM_ERROR_KEYS)
    assert _keys_read(tr.ConnectionLostData) == set(expected.NOTIFICATION_KEYS)
    assert _keys_read(tr.ConnectionRestoredData) == set(expected.NOTIFICATION_KEYS)


def test_screen_based_calibration_api():
    calibration = getattr(tr, expected.CALIBRATION_CLASS)
    for name, parameters in expected.CALIBRATION_METHODS.items():
        assert _parameters(getattr(calibration, name)) == parameters, name
    for table in (expected.CALIBRATION_STATUS, expected.CALIBRATION_VALIDITY):
        for name, value in table.items():
            assert getattr(tr, name) == value, name
    for class_name, attributes in expected.CALIBRATION_RESULT_ATTRIBUTES.items():
        cls = getattr(tr, class_name)
        for attribute in attributes:
            assert isinstance(getattr(cls, attribute), property), f"{class_name}.{attribute}"


def test_adapter_imports_without_gui_or_torch():
    code = (
        "import sys, napari_gazeseg.tracking.tobii as t; "
        "bad = [m for m in ('napari', 'qtpy', 'PyQt5', 'PyQt6', 'torch') if m in sys.modules]; "
        "print(','.join(bad))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""


# -- the stand-in SDK the other tests use (tests/fakes/tobii_research.py) against the real one
def _stand_in():
    """The stand-in, loaded from its file under another name (the real SDK holds the name)."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "fakes" / "tobii_research.py"
    spec = importlib.util.spec_from_file_location("stand_in_tobii_research", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_stand_in_constants_are_the_sdks():
    """Every enum-like constant the stand-in defines has the real SDK's value."""
    fake = _stand_in()
    constants = {name: value for name, value in vars(fake).items() if name.isupper() and isinstance(value, str)}
    assert len(constants) >= 14
    for name, value in constants.items():
        assert getattr(tr, name) == value, name


def test_stand_in_methods_have_the_sdks_parameters():
    fake = _stand_in()
    for cls_name in ("EyeTracker", "ScreenBasedCalibration"):
        real_cls, fake_cls = getattr(tr, cls_name), getattr(fake, cls_name)
        for name in expected.EYETRACKER_METHODS if cls_name == "EyeTracker" else expected.CALIBRATION_METHODS:
            assert _parameters(getattr(fake_cls, name)) == _parameters(getattr(real_cls, name)), name
    assert _parameters(fake.find_all_eyetrackers) == _parameters(tr.find_all_eyetrackers)


@pytest.mark.parametrize("eyes_open", [True, False], ids=["tracked", "eyes closed"])
def test_stand_in_gaze_dictionaries_build_the_sdks_gaze_data(eyes_open):
    """The real SDK's GazeData accepts the stand-in's dictionary: the same keys, and
    values of the types its constructor checks; what it makes of them is what the
    adapter reads from the dictionary."""
    fake = _stand_in()
    tracker = fake.EyeTracker(noise_sd=0.0)
    tracker.look_at(0.25, 0.75)
    tracker.close_eyes(not eyes_open)
    sample = tracker._sample(fake.get_system_time_stamp())
    assert set(sample) == _keys_read(tr.GazeData) == set(expected.GAZE_KEYS)
    gaze = tr.GazeData(sample)
    assert gaze.system_time_stamp == sample["system_time_stamp"]
    assert gaze.device_time_stamp == sample["device_time_stamp"]
    for eye, data in (("left", gaze.left_eye), ("right", gaze.right_eye)):
        point = data.gaze_point
        assert point.validity is (sample[f"{eye}_gaze_point_validity"] == expected.GAZE_VALID) is eyes_open
        assert tuple(point.position_on_display_area) == pytest.approx(
            sample[f"{eye}_gaze_point_on_display_area"], nan_ok=True
        )
        assert data.pupil.validity is eyes_open
        assert data.pupil.diameter == pytest.approx(sample[f"{eye}_pupil_diameter"], nan_ok=True)


def test_stand_in_time_sync_errors_and_notifications_build_the_sdks_objects():
    fake = _stand_in()
    now = fake.get_system_time_stamp()
    sync = {"system_request_time_stamp": now, "device_time_stamp": now + 50, "system_response_time_stamp": now + 100}
    assert set(sync) == _keys_read(tr.TimeSynchronizationData)
    assert tr.TimeSynchronizationData(sync).device_time_stamp == now + 50
    received = []
    tracker = fake.EyeTracker()
    for kind in (fake.EYETRACKER_STREAM_ERRORS, fake.EYETRACKER_NOTIFICATION_CONNECTION_LOST):
        tracker.subscribe_to(kind, received.append, as_dictionary=True)
    tracker.raise_stream_error()
    tracker.lose_connection()
    error, lost = received
    assert set(error) == _keys_read(tr.StreamErrorData) and set(lost) == _keys_read(tr.ConnectionLostData)
    assert tr.StreamErrorData(error).message == "Stream lost"
    assert tr.ConnectionLostData(lost).system_time_stamp == lost["system_time_stamp"]
