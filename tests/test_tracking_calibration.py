"""Validation maths on constructed data, and the SDK calibration flow on the stand-in."""

from __future__ import annotations

import numpy as np
import pytest

from fakes import tobii_research as fake_tr
from napari_gazeseg.tracking.calibration import (
    CALIBRATION_POINTS,
    VALIDATION_POINTS,
    CalibrationFailed,
    TobiiCalibration,
    angles_deg,
    point_quality,
    validation_report,
)

# A flat screen 500 mm wide, 300 mm high, the eye 600 mm in front of its centre.
WIDTH_MM, HEIGHT_MM, DISTANCE_MM = 500.0, 300.0, 600.0


def directions(display):
    display = np.asarray(display, float)
    x_mm = (display[:, 0] - 0.5) * WIDTH_MM
    y_mm = (display[:, 1] - 0.5) * HEIGHT_MM
    return np.column_stack([x_mm, y_mm, np.full(len(display), DISTANCE_MM)])


def display_at_angle(degrees_right):
    """Display point seen ``degrees_right`` to the right of the screen centre."""
    return (0.5 + DISTANCE_MM * np.tan(np.radians(degrees_right)) / WIDTH_MM, 0.5)


def test_angles_between_directions():
    a = np.array([[0, 0, 1.0], [0, 0, 1.0]])
    b = np.array([[np.tan(np.radians(1.0)), 0, 1.0], [0, 5.0, 5.0]])
    np.testing.assert_allclose(angles_deg(a, b), [1.0, 45.0], atol=1e-9)


def test_accuracy_is_the_angle_to_the_mean_gaze():
    gaze = np.array([display_at_angle(0.8), display_at_angle(1.2)] * 10)
    quality = point_quality((0.5, 0.5), gaze, np.ones(20, bool), directions)
    assert quality.accuracy_deg == pytest.approx(1.0, abs=2e-3)
    assert quality.data_loss == 0.0


def test_precision_is_rms_of_sample_to_sample_angles():
    # alternating 0.8 / 1.2 degrees: every step is 0.4 degrees
    gaze = np.array([display_at_angle(0.8), display_at_angle(1.2)] * 10)
    quality = point_quality((0.5, 0.5), gaze, np.ones(20, bool), directions)
    assert quality.precision_rms_deg == pytest.approx(0.4, abs=1e-3)
    still = point_quality((0.5, 0.5), np.array([display_at_angle(2.0)] * 5), np.ones(5, bool), directions)
    assert still.precision_rms_deg == pytest.approx(0.0, abs=1e-6)
    assert still.accuracy_deg == pytest.approx(2.0, abs=1e-6)


def test_invalid_samples_count_as_data_loss_and_not_in_accuracy():
    gaze = np.array([display_at_angle(0.5)] * 6 + [(9.0, 9.0)] * 2 + [(np.nan, np.nan)] * 2)
    valid = np.array([True] * 6 + [False] * 4)
    quality = point_quality((0.5, 0.5), gaze, valid, directions)
    assert quality.accuracy_deg == pytest.approx(0.5, abs=1e-6)
    assert quality.data_loss == pytest.approx(0.4)
    lost = point_quality((0.5, 0.5), np.full((3, 2), np.nan), np.zeros(3, bool), directions)
    assert np.isnan(lost.accuracy_deg) and lost.data_loss == 1.0


def test_report_means_over_points_and_meta_is_json():
    samples = [
        (np.array([display_at_angle(1.0)] * 4), np.ones(4, bool)),
        (np.array([display_at_angle(3.0)] * 4), np.ones(4, bool)),
        (np.full((4, 2), np.nan), np.zeros(4, bool)),
    ]
    report = validation_report([(0.5, 0.5)] * 3, samples, directions)
    assert report.accuracy_deg == pytest.approx(2.0, abs=1e-6)
    assert report.data_loss == pytest.approx(4 / 12)
    meta = report.to_meta()
    assert meta["points"][2]["accuracy_deg"] is None
    assert meta["accuracy_deg"] == pytest.approx(2.0, abs=1e-4)
    assert "accuracy 2.00°" in report.summary()


def test_points_are_centre_and_corners_and_distinct():
    assert CALIBRATION_POINTS[0] == VALIDATION_POINTS[0] == (0.5, 0.5)
    assert len(CALIBRATION_POINTS) == len(VALIDATION_POINTS) == 5
    assert set(CALIBRATION_POINTS[1:]).isdisjoint(VALIDATION_POINTS[1:])


def test_calibration_flow_on_the_stand_in_sdk():
    tracker = fake_tr.EyeTracker(offset=(0.05, 0.0))
    calibration = TobiiCalibration(tracker, fake_tr)
    calibration.enter()
    assert tracker.calibration_mode
    assert all(calibration.collect(point) for point in CALIBRATION_POINTS)
    result = calibration.compute()
    calibration.leave()
    assert not tracker.calibration_mode
    assert result["status"] == fake_tr.CALIBRATION_STATUS_SUCCESS
    assert [p["target"] for p in result["points"]] == [list(p) for p in CALIBRATION_POINTS]


def test_calibration_with_closed_eyes_fails_with_a_clear_message():
    tracker = fake_tr.EyeTracker()
    tracker.close_eyes()
    calibration = TobiiCalibration(tracker, fake_tr)
    calibration.enter()
    assert not any(calibration.collect(point) for point in CALIBRATION_POINTS)
    with pytest.raises(CalibrationFailed, match="calibrate again"):
        calibration.compute()
    calibration.leave()
