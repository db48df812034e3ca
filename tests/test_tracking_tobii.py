"""The Tobii adapter against the stand-in SDK, and the stand-in against the SDK table."""

from __future__ import annotations

import inspect
import sys
import threading
import time

import numpy as np
import pytest

from collector import Collector, stream_then_blink
from fakes import tobii_research as fake_tr
from napari_gazeseg.tracking import tobii_sdk as expected
from napari_gazeseg.tracking.source import GazeSource, SourceError
from napari_gazeseg.tracking.tobii import TobiiSource, _gaze_row, load_sdk


@pytest.fixture
def tracker(monkeypatch):
    tracker = fake_tr.EyeTracker(frequency=600.0, offset=(0.0, 0.0), noise_sd=0.0)
    monkeypatch.setattr(fake_tr, "connected_trackers", [tracker])
    return tracker


def test_stand_in_has_the_names_the_adapter_relies_on(tracker):
    for name in expected.FUNCTIONS:
        assert callable(getattr(fake_tr, name))
    for name, value in expected.SUBSCRIPTIONS.items():
        assert getattr(fake_tr, name) == value
    for table in (expected.CALIBRATION_STATUS, expected.CALIBRATION_VALIDITY):
        for name, value in table.items():
            assert getattr(fake_tr, name) == value
    for name in expected.EYETRACKER_PROPERTIES:
        assert isinstance(getattr(fake_tr.EyeTracker, name), property)
    for name, parameters in expected.EYETRACKER_METHODS.items():
        assert tuple(inspect.signature(getattr(fake_tr.EyeTracker, name)).parameters)[1:] == parameters
    for name, parameters in expected.CALIBRATION_METHODS.items():
        method = getattr(fake_tr.ScreenBasedCalibration, name)
        assert tuple(inspect.signature(method).parameters)[1:] == parameters


def test_stand_in_gaze_dictionaries_have_the_real_keys(tracker):
    received = []
    tracker.subscribe_to(fake_tr.EYETRACKER_GAZE_DATA, received.append, as_dictionary=True)
    deadline = time.monotonic() + 5
    while not received and time.monotonic() < deadline:
        time.sleep(0.01)
    tracker.unsubscribe_from(fake_tr.EYETRACKER_GAZE_DATA, received.append)
    assert set(received[0]) == set(expected.GAZE_KEYS)
    assert received[0]["left_gaze_point_validity"] == expected.GAZE_VALID


def _sample(left, right, left_valid=1, right_valid=1, stamp=5_000_000):
    sample = {"device_time_stamp": 1, "system_time_stamp": stamp}
    for eye, point, valid in (("left", left, left_valid), ("right", right, right_valid)):
        sample[f"{eye}_gaze_point_on_display_area"] = point if valid else (np.nan, np.nan)
        sample[f"{eye}_gaze_point_validity"] = valid
        sample[f"{eye}_pupil_diameter"] = 3.0 if eye == "left" else 4.0
        sample[f"{eye}_pupil_validity"] = valid
    return sample


def test_valid_eyes_are_averaged_and_system_time_is_used():
    stamp, x, y, left, right, pupil = _gaze_row(_sample((0.2, 0.4), (0.4, 0.6)))
    assert (stamp, x, y, left, right, pupil) == (5_000_000, pytest.approx(0.3), pytest.approx(0.5), True, True, 3.5)
    _, x, y, left, right, pupil = _gaze_row(_sample((0.2, 0.4), (0.9, 0.9), right_valid=0))
    assert (x, y, left, right, pupil) == (0.2, 0.4, True, False, 3.0)
    _, x, y, left, right, pupil = _gaze_row(_sample((0, 0), (0, 0), 0, 0))
    assert np.isnan([x, y, pupil]).all() and not (left or right)


def test_stream_arrives_in_batches_on_the_sdk_thread_with_tracker_timestamps(tracker):
    source = TobiiSource(sdk_module=fake_tr)
    assert isinstance(source, GazeSource)
    assert source.nominal_rate_hz == 600.0
    sink = stream_then_blink(source, tracker)
    batch = sink.batch()
    # delivered on the SDK's thread; only the remainder held at stop() comes on the caller's
    assert threading.get_ident() not in sink.threads[:-1]
    assert len(batch) == tracker.samples_sent
    steps = np.diff(batch.timestamp_us)
    assert np.all(steps > 0)
    np.testing.assert_allclose(np.median(steps), 1e6 / 600.0, rtol=0.01)  # stamped at the device rate
    open_eyes = batch.valid
    np.testing.assert_allclose(batch.display[open_eyes], [[0.25, 0.75]] * open_eyes.sum(), atol=1e-9)
    assert not batch.valid[-1] and np.isnan(batch.display[-1]).all()
    assert max(len(b) for b in sink.batches) > 1
    assert source.meta()["time_synchronization"]["records"]
    assert source.meta()["tracker"]["serial_number"] == tracker.serial_number


def test_connection_loss_and_stream_errors_become_messages(tracker):
    source = TobiiSource(sdk_module=fake_tr)
    sink = Collector.of(source)
    tracker.lose_connection()
    tracker.restore_connection()
    tracker.raise_stream_error()
    source.stop()
    assert "connection was lost" in sink.messages[0]
    assert "restored" in sink.messages[1]
    assert "stream error" in sink.messages[2]


def test_no_tracker_and_no_sdk_are_one_clear_sentence(monkeypatch):
    monkeypatch.setattr(fake_tr, "connected_trackers", [])
    with pytest.raises(SourceError, match="No Tobii eye tracker was found"):
        TobiiSource(sdk_module=fake_tr)
    monkeypatch.setitem(sys.modules, "tobii_research", None)
    with pytest.raises(SourceError, match="pip install tobii-research"):
        load_sdk()
