"""Full-screen Qt dialog: 5-point Tobii calibration, then 5-point validation.

The dialog fills the tracked screen with a dark background and shows one
target at a time (a white disc with a dark centre). Space starts, Esc
cancels. After calibration it validates on five other points and shows the
accuracy and precision per point and overall (degrees); the user then accepts
(Enter) or recalibrates (R). The SDK's blocking ``collect_data`` runs on a
worker thread so the dialog keeps painting.

After :meth:`CalibrationDialog.exec` returns ``Accepted``,
:attr:`CalibrationDialog.result_meta` holds ``{"calibration": ..., "validation": ...}``
for the recording's metadata.
"""

from __future__ import annotations

import collections
import concurrent.futures

import numpy as np
from qtpy.QtCore import QPointF, Qt, QTimer, Signal
from qtpy.QtGui import QColor, QFont, QPainter
from qtpy.QtWidgets import QDialog

from .calibration import (
    CALIBRATION_POINTS,
    VALIDATION_POINTS,
    CalibrationFailed,
    TobiiCalibration,
    ValidationReport,
    validation_report,
)
from .source import SampleBatch

__all__ = ["CalibrationDialog"]

_BACKGROUND = QColor(64, 64, 64)


class CalibrationDialog(QDialog):
    """Calibrate and validate one Tobii tracker.

    Parameters
    ----------
    source : TittaSource or TobiiSource
        Its tracker is calibrated (through ``source.calibration()``); its gaze
        stream is used for validation.
    sdk_module : module or None
        ``tobii_research`` (or the tests' stand-in), for a source without ``calibration()``.
    directions : callable
        Normalised display ``(N, 2)`` -> gaze directions ``(N, 3)``
        (:meth:`napari_gazeseg.gaze.geometry.ScreenGeometry.directions`).
    screen : QScreen or None
        The tracked screen (default: the primary screen).
    settle_ms, collect_ms : int
        Time for the eyes to land on a target, and validation sampling time per target.
    """

    #: Emitted when a target appears, with its normalised (x, y).
    target_shown = Signal(float, float)
    #: Emitted when the validation report is on screen.
    report_ready = Signal(object)

    def __init__(self, source, sdk_module, directions, screen=None, settle_ms=800, collect_ms=1000, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Eye tracker calibration")
        self._source = source
        # each Tobii backend (TittaPy, tobii-research) brings its own calibration driver
        calibration = getattr(source, "calibration", None)
        self._calibration = calibration() if calibration else TobiiCalibration(source.tracker, sdk_module)
        self._directions = directions
        self._settle_ms = int(settle_ms)
        self._collect_ms = int(collect_ms)
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=1)
        self._target: tuple[float, float] | None = None
        self._text = "Look at each dot until it moves.\n\nSpace: start    Esc: cancel"
        self._stage = "waiting"
        self._queue: collections.deque = collections.deque()
        self._samples: list[SampleBatch] = []
        self._window_us: tuple[int, int] | None = None
        self._gathered: list[tuple[np.ndarray, np.ndarray]] = []
        self._calibration_summary: dict | None = None
        self.report: ValidationReport | None = None
        self.result_meta: dict | None = None
        if screen is not None:
            self.setGeometry(screen.geometry())
        self.setWindowState(Qt.WindowState.WindowFullScreen)

    # -- flow ---------------------------------------------------------------
    def start(self) -> None:
        """Begin calibrating (Space does the same)."""
        if self._stage not in ("waiting", "report"):
            return
        self.report = None
        self._calibration.enter()
        self._stage = "calibrating"
        self._text = ""
        self._queue = collections.deque(CALIBRATION_POINTS)
        self._next_calibration_point()

    def _next_calibration_point(self) -> None:
        if not self._queue:
            future = self._executor.submit(self._calibration.compute)
            self._when_done(future, self._calibrated)
            return
        point = self._queue.popleft()
        self._show_target(point)
        QTimer.singleShot(self._settle_ms, lambda: self._collect_calibration(point))

    def _collect_calibration(self, point) -> None:
        future = self._executor.submit(self._calibration.collect, point)
        self._when_done(future, lambda ok: self._next_calibration_point())

    def _calibrated(self, summary) -> None:
        self._calibration.leave()
        if isinstance(summary, CalibrationFailed):
            self._fail(str(summary))
            return
        self._calibration_summary = summary
        self._stage = "validating"
        self._samples = []
        self._gathered = []
        self._source.start(self._samples.append, lambda message: None)
        self._queue = collections.deque(VALIDATION_POINTS)
        self._next_validation_point()

    def _next_validation_point(self) -> None:
        if not self._queue:
            self._source.stop()
            self._finish_validation()
            return
        point = self._queue.popleft()
        self._show_target(point)
        QTimer.singleShot(self._settle_ms, self._open_window)

    def _open_window(self) -> None:
        start = self._source.now_us()
        self._window_us = (start, start + self._collect_ms * 1000)
        QTimer.singleShot(self._collect_ms, self._close_window)

    def _close_window(self) -> None:
        start, stop = self._window_us
        # the SDK delivers with a few ms latency: wait until a sample past the window arrived
        batch = SampleBatch.concatenate(list(self._samples))
        if len(batch) == 0 or batch.timestamp_us[-1] < stop:
            QTimer.singleShot(10, self._close_window)
            return
        inside = (batch.timestamp_us >= start) & (batch.timestamp_us < stop)
        self._gathered.append((batch.display[inside], batch.valid[inside]))
        self._next_validation_point()

    def _finish_validation(self) -> None:
        self.report = validation_report(VALIDATION_POINTS, self._gathered, self._directions)
        self._stage = "report"
        self._target = None
        lines = [f"Validation: {self.report.summary()}", ""]
        for point in self.report.points:
            lines.append(
                f"({point.target[0]:.1f}, {point.target[1]:.1f}): accuracy {point.accuracy_deg:.2f}°, "
                f"precision {point.precision_rms_deg:.2f}°, data loss {100 * point.data_loss:.0f} %"
            )
        lines += ["", "Enter: accept    R: recalibrate    Esc: cancel"]
        self._text = "\n".join(lines)
        self.update()
        self.report_ready.emit(self.report)

    def accept_calibration(self) -> None:
        """Keep this calibration (Enter does the same)."""
        if self._stage != "report":
            return
        self.result_meta = {"calibration": self._calibration_summary, "validation": self.report.to_meta()}
        self.accept()

    def _fail(self, message: str) -> None:
        self._stage = "waiting"
        self._target = None
        self._text = f"{message}\n\nSpace: try again    Esc: cancel"
        self.update()

    def _when_done(self, future, then) -> None:
        """Call ``then(result)`` on the UI thread once a worker future finishes."""

        def poll():
            if not future.done():
                QTimer.singleShot(10, poll)
                return
            error = future.exception()
            then(error if error is not None else future.result())

        poll()

    def _show_target(self, point) -> None:
        self._target = (float(point[0]), float(point[1]))
        self.update()
        self.target_shown.emit(*self._target)

    # -- Qt -------------------------------------------------------------------
    def keyPressEvent(self, event) -> None:
        key = event.key()
        if key == Qt.Key.Key_Space:
            self.start()
        elif key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self.accept_calibration()
        elif key == Qt.Key.Key_R and self._stage == "report":
            self._stage = "waiting"
            self.start()
        elif key == Qt.Key.Key_Escape:
            self.reject()

    def done(self, result: int) -> None:
        if self._stage == "validating":
            self._source.stop()
        self._calibration.leave()
        self._executor.shutdown(wait=False)
        super().done(result)

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), _BACKGROUND)
        if self._target is not None:
            centre = QPointF(self._target[0] * self.width(), self._target[1] * self.height())
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(QColor("white"))
            painter.drawEllipse(centre, 14.0, 14.0)
            painter.setBrush(QColor("black"))
            painter.drawEllipse(centre, 3.0, 3.0)
        if self._text:
            painter.setPen(QColor("white"))
            painter.setFont(QFont(self.font().family(), 14))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, self._text)
        painter.end()
