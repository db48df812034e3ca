"""The Tobii adapter's expectations (``tracking/tobii_sdk.py``) against the real SDK.

Runs where ``tobii_research`` is importable: ``scripts/tobii_contract.sh``
builds a Python 3.10 venv with ``tobii-research==2.1.0`` and runs this file
there with ``PYTHONPATH=src`` (no tracker needed: names, constants, signatures
and the dictionary keys the SDK's own data classes read). Skipped elsewhere.
"""

from __future__ import annotations

import inspect
import re
import subprocess
import sys

import pytest

from napari_gazeseg.tracking import tobii_sdk as expected

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
