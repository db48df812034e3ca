"""Tobii calibration and validation: the logic, free of Qt (the dialog drives it).

* **Calibration**: 5 points (centre and corners, inset 10 %) collected with the
  SDK's ``ScreenBasedCalibration``; ``compute_and_apply`` gives the result.
* **Validation**: 5 *other* points (centre and the corners of the middle 40 %);
  at each, gaze samples are gathered for about a second after the eyes settle.
  Per point and overall:

  - **accuracy** (degrees): angle between the target and the mean gaze
    direction of the point's valid samples;
  - **precision** (degrees): RMS of the angles between consecutive valid
    samples (RMS-S2S), the tracker-noise measure Tobii reports;
  - **data loss**: fraction of the point's samples without valid gaze.

Angles are exact visual angles between gaze *directions* from the eye, so they
hold anywhere on the screen; ``directions`` turns normalised display points
into unit vectors for a known screen geometry and viewing distance.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from . import tobii_sdk as sdk

__all__ = [
    "CALIBRATION_POINTS",
    "VALIDATION_POINTS",
    "PointQuality",
    "ValidationReport",
    "validation_report",
    "angles_deg",
    "TobiiCalibration",
    "CalibrationFailed",
]

#: Normalised display (x, y): centre, then corners inset 10 %.
CALIBRATION_POINTS = ((0.5, 0.5), (0.1, 0.1), (0.9, 0.1), (0.1, 0.9), (0.9, 0.9))
#: Normalised display (x, y): centre, then the corners of the middle 40 %.
VALIDATION_POINTS = ((0.5, 0.5), (0.3, 0.3), (0.7, 0.3), (0.3, 0.7), (0.7, 0.7))

Directions = Callable[[np.ndarray], np.ndarray]


class CalibrationFailed(RuntimeError):
    """The tracker could not compute a calibration from the data collected."""


def angles_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Angles in degrees between rows of two ``(N, 3)`` direction arrays (any length)."""
    a = np.asarray(a, float)
    b = np.asarray(b, float)
    cross = np.linalg.norm(np.cross(a, b), axis=-1)
    dot = np.sum(a * b, axis=-1)
    return np.degrees(np.arctan2(cross, dot))


@dataclass(frozen=True)
class PointQuality:
    target: tuple[float, float]  # normalised display (x, y)
    accuracy_deg: float  # NaN without valid samples
    precision_rms_deg: float  # NaN with fewer than two valid samples
    data_loss: float  # 0..1
    samples: int


@dataclass(frozen=True)
class ValidationReport:
    points: tuple[PointQuality, ...]

    @property
    def accuracy_deg(self) -> float:
        """Mean accuracy over the points with data (degrees)."""
        return _nanmean([p.accuracy_deg for p in self.points])

    @property
    def precision_rms_deg(self) -> float:
        """Mean RMS-S2S precision over the points with data (degrees)."""
        return _nanmean([p.precision_rms_deg for p in self.points])

    @property
    def data_loss(self) -> float:
        total = sum(p.samples for p in self.points)
        lost = sum(p.data_loss * p.samples for p in self.points)
        return lost / total if total else 1.0

    def summary(self) -> str:
        return (
            f"accuracy {self.accuracy_deg:.2f}°, precision (RMS-S2S) {self.precision_rms_deg:.2f}°, "
            f"data loss {100 * self.data_loss:.0f} %"
        )

    def to_meta(self) -> dict:
        """JSON-serialisable (NaN written as None) for ``meta["calibration"]["validation"]``."""

        def number(value: float):
            return None if not np.isfinite(value) else round(float(value), 4)

        return {
            "accuracy_deg": number(self.accuracy_deg),
            "precision_rms_deg": number(self.precision_rms_deg),
            "data_loss": number(self.data_loss),
            "points": [
                {
                    "target": list(p.target),
                    "accuracy_deg": number(p.accuracy_deg),
                    "precision_rms_deg": number(p.precision_rms_deg),
                    "data_loss": number(p.data_loss),
                    "samples": p.samples,
                }
                for p in self.points
            ],
        }


def _nanmean(values) -> float:
    values = np.asarray(values, float)
    values = values[np.isfinite(values)]
    return float(values.mean()) if values.size else float("nan")


def point_quality(target, display: np.ndarray, valid: np.ndarray, directions: Directions) -> PointQuality:
    """Accuracy, precision and data loss of the samples gathered at one target."""
    display = np.asarray(display, float).reshape(-1, 2)
    valid = np.asarray(valid, bool) & np.isfinite(display).all(axis=1)
    n = int(display.shape[0])
    accuracy = precision = float("nan")
    if valid.any():
        gaze = directions(display[valid])
        gaze = gaze / np.linalg.norm(gaze, axis=1, keepdims=True)
        target_direction = directions(np.asarray([target], float))
        accuracy = float(angles_deg(gaze.mean(axis=0, keepdims=True), target_direction)[0])
        if gaze.shape[0] > 1:
            precision = float(np.sqrt(np.mean(angles_deg(gaze[1:], gaze[:-1]) ** 2)))
    loss = 1.0 - valid.sum() / n if n else 1.0
    return PointQuality(tuple(float(v) for v in target), accuracy, precision, float(loss), n)


def validation_report(targets, samples, directions: Directions) -> ValidationReport:
    """A report from ``samples``: for each target a ``(display (K, 2), valid (K,))`` pair."""
    return ValidationReport(
        tuple(point_quality(target, d, v, directions) for target, (d, v) in zip(targets, samples))
    )


class TobiiCalibration:
    """The SDK's screen-based calibration, one point at a time.

    Each point is collected once and, when the SDK reports failure (eyes not
    found), once more, as Tobii's examples do.
    """

    def __init__(self, tracker, sdk_module) -> None:
        self._tr = sdk_module
        self._calibration = getattr(sdk_module, sdk.CALIBRATION_CLASS)(tracker)
        self._active = False

    def enter(self) -> None:
        self._calibration.enter_calibration_mode()
        self._active = True

    def collect(self, point) -> bool:
        """Collect data at a normalised point; True when the tracker accepted it."""
        x, y = float(point[0]), float(point[1])
        success = self._tr.CALIBRATION_STATUS_SUCCESS
        if self._calibration.collect_data(x, y) == success:
            return True
        return self._calibration.collect_data(x, y) == success

    def compute(self) -> dict:
        """Compute and apply; returns a JSON-able summary, raises :class:`CalibrationFailed`."""
        result = self._calibration.compute_and_apply()
        if result.status == self._tr.CALIBRATION_STATUS_FAILURE:
            raise CalibrationFailed(
                "The tracker could not compute a calibration; check that both eyes are "
                "seen in Eye Tracker Manager's track box and calibrate again."
            )
        used = self._tr.VALIDITY_VALID_AND_USED
        points = []
        for point in result.calibration_points:
            samples = point.calibration_samples
            n_used = sum(
                (s.left_eye.validity == used) + (s.right_eye.validity == used) for s in samples
            )
            points.append(
                {
                    "target": [float(v) for v in point.position_on_display_area],
                    "eye_samples_used": int(n_used),
                }
            )
        return {"status": str(result.status), "points": points}

    def leave(self) -> None:
        if self._active:
            self._calibration.leave_calibration_mode()
            self._active = False
