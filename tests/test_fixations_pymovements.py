"""I-VT agrees with ``pymovements.events.ivt`` when our extra stages are off.

pymovements classifies a sample as fixation when the norm of its velocity is
strictly below the threshold, groups consecutive fixation samples, keeps groups
with ``timesteps[last] - timesteps[first] >= minimum_duration`` and reports onset
and offset as the times of the first and last sample. Our fixations last one
sample period longer (last minus first sample time plus one period), so our
``min_duration`` equals pymovements' ``minimum_duration`` plus one period, and our
``end - period`` is their offset. Both get the same velocities: ours
(:func:`~napari_gazeseg.gaze.fixations.ivt_velocity`), given to pymovements as
``(speed, 0)`` vectors.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pymovements")
from pymovements.events import ivt as pymovements_ivt

from napari_gazeseg.gaze.fixations import detect_fixations_ivt, ivt_velocity
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
