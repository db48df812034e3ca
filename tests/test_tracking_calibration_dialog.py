"""The calibration dialog driving the stand-in SDK end to end (run under xvfb-run)."""

from __future__ import annotations

import numpy as np
import pytest
from qtpy.QtWidgets import QDialog

from fakes import tobii_research as fake_tr
from napari_gazeseg.gaze.geometry import ScreenGeometry
from napari_gazeseg.tracking.calibration import VALIDATION_POINTS
from napari_gazeseg.tracking.calibration_dialog import CalibrationDialog
from napari_gazeseg.tracking.tobii import TobiiSource

pytestmark = pytest.mark.gui

GEOMETRY = ScreenGeometry.default()


def _dialog(qtbot, tracker, look_offset):
    source = TobiiSource(tracker=tracker, sdk_module=fake_tr)
    dialog = CalibrationDialog(source, fake_tr, GEOMETRY.directions, settle_ms=50, collect_ms=150)
    qtbot.addWidget(dialog)
    dialog.target_shown.connect(lambda x, y: tracker.look_at(x + look_offset, y))
    return dialog


def test_calibrate_validate_accept(qtbot):
    # uncalibrated, the tracker is off by 0.05 of the screen width; calibration removes that,
    # and during validation the user looks 0.01 of the width right of each target
    tracker = fake_tr.EyeTracker(frequency=300.0, offset=(0.05, 0.0), noise_sd=0.0)
    dialog = _dialog(qtbot, tracker, look_offset=0.01)
    dialog.show()
    with qtbot.waitSignal(dialog.report_ready, timeout=20_000):
        dialog.start()
    # the fake's two eyes sit 0.001 either side of the gaze point; their mean is the point
    expected = [GEOMETRY.visual_angle_deg(np.array(p), np.array(p) + [0.01, 0.0]) for p in VALIDATION_POINTS]
    np.testing.assert_allclose([p.accuracy_deg for p in dialog.report.points], expected, rtol=1e-3)
    assert all(p.data_loss == 0.0 for p in dialog.report.points)
    assert all(p.samples >= 30 for p in dialog.report.points)  # 150 ms at 300 Hz = 45
    dialog.accept_calibration()
    assert dialog.result() == QDialog.DialogCode.Accepted
    assert dialog.result_meta["validation"]["accuracy_deg"] == pytest.approx(dialog.report.accuracy_deg, abs=1e-4)
    assert dialog.result_meta["calibration"]["status"] == fake_tr.CALIBRATION_STATUS_SUCCESS
    assert not tracker.calibration_mode


def test_failed_calibration_says_what_to_do(qtbot):
    tracker = fake_tr.EyeTracker(frequency=300.0)
    tracker.close_eyes()
    dialog = _dialog(qtbot, tracker, look_offset=0.0)
    dialog.show()
    dialog.start()
    qtbot.waitUntil(lambda: "calibrate again" in dialog._text, timeout=10_000)
    assert dialog.report is None
    assert not tracker.calibration_mode
    dialog.reject()
