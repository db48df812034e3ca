"""I-VT agrees with ``pymovements.events.ivt`` when our extra stages are off.

pymovements classifies a sample as fixation when the norm of its velocity is
strictly below the threshold, groups consecutive fixation samples, keeps groups
with ``timesteps[last] - timesteps[first] >= minimum_duration`` and reports onset
and offset as the times of the first and last sample. Our fixations last one
sample period longer (last minus first sample time plus one period), so our
``min_duration`` equals pymovements' ``minimum_duration`` plus one period, and our
``end - period`` is their offset.

Two comparisons. **Same velocities**: ours
(:func:`~napari_gazeseg.gaze.fixations.ivt_velocity`) given to pymovements as
``(speed, 0)`` vectors checks classification, grouping and durations exactly.
**From positions**: pymovements computes its own velocities from the screen
positions (``pix2deg`` then ``pos2vel(method="neighbors")``, our
``velocity_window=None``), which checks our velocity stage against the peer. Not
exactly: pymovements converts each axis to degrees on its own (``arctan(x / d)``),
we measure the exact angle between two gaze directions; within the 14 degrees of
the screen centre these simulations reach the two differ by under 3 %.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pymovements")
from pymovements.events import ivt as pymovements_ivt
from pymovements.transforms.numpy import pix2deg, pos2vel

from napari_gazeseg.gaze.fixations import detect_fixations_ivt, ivt_velocity
from napari_gazeseg.gaze.geometry import ScreenGeometry
from napari_gazeseg.gaze.recording import GazeRecording
from napari_gazeseg.gaze.simulate import simulate_observer


def one_session_on_screen(rate: float, seed: int) -> GazeRecording:
    """A simulated observer's screen samples as one session, every tracked sample on
    the image (pymovements knows neither sessions nor images)."""
    scene = simulate_observer("cells", n_objects=4, rate_hz=rate, seed=seed)
    rec = scene.recording
    geometry = scene.geometry
    coords = geometry.normalised_to_px(rec.screen)[:, ::-1]
    return GazeRecording(t=rec.t, coords=coords, screen=rec.screen, meta=rec.meta)


@pytest.mark.parametrize(
    ("rate", "seed", "threshold", "minimum_duration", "velocity_window"),
    [
        (120.0, 0, 30.0, None, 0.020),
        (120.0, 1, 30.0, 0.055, 0.020),
        (120.0, 2, 20.0, 0.055, None),
        (600.0, 3, 30.0, 0.0551, 0.020),
        (1200.0, 4, 30.0, 0.1004, 0.020),
        (1200.0, 5, 50.0, None, 0.008),
    ],
)
def test_same_fixations_as_pymovements_ivt(
    rate, seed, threshold, minimum_duration, velocity_window
):
    rec = one_session_on_screen(rate, seed)
    period = 1.0 / rate
    stages_off = {"gap_fill_max": None, "noise_reduction": None, "velocity_window": velocity_window}
    speed, unit = ivt_velocity(rec, **stages_off)
    assert unit == "deg/s"
    reference = pymovements_ivt(
        np.column_stack([speed, np.zeros_like(speed)]),
        timesteps=rec.t,
        minimum_duration=0.0 if minimum_duration is None else minimum_duration,
        velocity_threshold=threshold,
    ).frame
    ours = detect_fixations_ivt(
        rec,
        threshold,
        merge_max_gap=None,
        min_duration=None if minimum_duration is None else minimum_duration + period,
        **stages_off,
    )
    assert ours.meta["detector"]["off_image"] == 0
    assert len(ours) == reference.height > 10
    np.testing.assert_allclose(ours.start, reference["onset"].to_numpy(), rtol=0, atol=1e-9)
    np.testing.assert_allclose(ours.end - period, reference["offset"].to_numpy(), rtol=0, atol=1e-9)


def test_all_stages_on_differ_from_plain_ivt():
    # The Tobii stages matter: merging and discarding change the fixations.
    rec = one_session_on_screen(120.0, 0)
    plain = detect_fixations_ivt(
        rec, gap_fill_max=None, noise_reduction=None, merge_max_gap=None, min_duration=None
    )
    tobii = detect_fixations_ivt(rec)
    assert len(tobii) < len(plain)


def pymovements_velocity(rec: GazeRecording) -> np.ndarray:
    """pymovements' (N, 2) velocity in deg/s from the screen positions alone."""
    geometry = ScreenGeometry.from_meta(rec.meta)
    screen_px = np.array([geometry.width_px, geometry.height_px], dtype=float)
    degrees = pix2deg(
        rec.screen * screen_px - screen_px / 2,  # pixels from the screen centre
        screen_px=screen_px,
        screen_cm=np.array([geometry.width_mm, geometry.height_mm]) / 10,
        distance_cm=geometry.distance_mm / 10,
        origin="center",
    )
    return pos2vel(degrees, sampling_rate=rec.sampling_rate_hz, method="neighbors")


@pytest.mark.parametrize(
    ("rate", "seed", "threshold"),
    [(60.0, 0, 30.0), (120.0, 1, 30.0), (120.0, 2, 20.0), (250.0, 3, 40.0), (300.0, 5, 50.0)],
)
def test_velocities_and_fixations_from_positions_agree_with_pymovements(rate, seed, threshold):
    rec = one_session_on_screen(rate, seed)
    period = 1.0 / rate
    theirs_velocity = pymovements_velocity(rec)
    theirs_speed = np.hypot(theirs_velocity[:, 0], theirs_velocity[:, 1])
    stages_off = {"gap_fill_max": None, "noise_reduction": None, "velocity_window": None}
    ours_speed, _ = ivt_velocity(rec, **stages_off)
    # pymovements has no one-sided windows: compare where both windows are whole.
    lost = ~np.isfinite(ours_speed)
    whole = ~(lost | np.r_[True, lost[:-1]] | np.r_[lost[1:], True])
    assert whole.sum() > 0.8 * len(rec)
    ours_w, theirs_w = ours_speed[whole], theirs_speed[whole]
    moving = theirs_w > 1.0
    np.testing.assert_allclose(ours_w[moving], theirs_w[moving], rtol=0.03)
    np.testing.assert_allclose(ours_w[~moving], theirs_w[~moving], atol=0.05)
    reference = pymovements_ivt(
        theirs_velocity, timesteps=rec.t, minimum_duration=0.05, velocity_threshold=threshold
    ).frame
    ours = detect_fixations_ivt(
        rec, threshold, merge_max_gap=None, min_duration=0.05 + period, **stages_off
    )
    assert reference.height > 30
    assert abs(len(ours) - reference.height) <= 0.1 * reference.height
    onset, offset = reference["onset"].to_numpy(), reference["offset"].to_numpy()
    onset_error = np.abs(ours.start[None, :] - onset[:, None]).min(axis=1)
    offset_error = np.abs(ours.end[None, :] - period - offset[:, None]).min(axis=1)
    assert (onset_error <= 1.01 * period).mean() >= 0.95
    assert (offset_error <= 1.01 * period).mean() >= 0.95
