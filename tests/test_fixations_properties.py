"""Invariants of both detectors on random recordings (hypothesis): lost samples,
object sessions, slices, off-image samples, pixel and degree units."""

from __future__ import annotations

import warnings

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from napari_gazeseg.gaze.fixations import detect_fixations_idt, detect_fixations_ivt
from napari_gazeseg.gaze.geometry import ScreenGeometry
from napari_gazeseg.gaze.recording import GazeRecording

GEOMETRY = ScreenGeometry.default()


@st.composite
def recordings(draw):
    """Random walks with jumps (saccades), lost stretches, sessions and slices."""
    seed = draw(st.integers(0, 2**32 - 1))
    n = draw(st.integers(0, 400))
    rate = draw(st.sampled_from([60.0, 120.0, 300.0]))
    ndim = draw(st.sampled_from([2, 3]))
    with_screen = draw(st.booleans())
    rng = np.random.default_rng(seed)
    steps = rng.normal(0, 0.0005, (n, 2))
    jumps = rng.random(n) < 0.03
    steps[jumps] += rng.normal(0, 0.05, (int(jumps.sum()), 2))
    screen = np.clip(0.5 + np.cumsum(steps, axis=0), 0.0, 1.0)
    lost = np.repeat(rng.random(n // 10 + 1) < 0.15, 10)[:n]
    screen[lost] = np.nan
    rows_cols = screen[:, ::-1] * np.array([1080.0, 1920.0])
    if ndim == 3:
        plane = np.repeat(rng.integers(0, 3, max(n // 50 + 1, 1)), 50)[:n].astype(float)
        coords = np.column_stack([plane, rows_cols])
    else:
        coords = rows_cols
    valid = np.isfinite(screen).all(axis=1) & (rng.random(n) > 0.05)  # some samples off the image
    object_id = np.repeat(rng.integers(0, 4, max(n // 80 + 1, 1)), 80)[:n]
    meta = {"sampling_rate_hz": rate, "image": {"shape": [1080, 1920], "name": "random"}}
    if with_screen:
        meta["screen"] = GEOMETRY.to_meta()
    return GazeRecording(np.arange(n) / rate, coords, valid, screen, object_id, meta)


def check_invariants(rec: GazeRecording, fixations, min_duration: float) -> None:
    period = 1.0 / rec.sampling_rate_hz if len(rec) else 0.0
    assert fixations.meta["image"] == rec.meta["image"]
    assert fixations.ndim == rec.ndim
    assert np.all(fixations.duration >= min_duration - 1e-9)
    assert np.all(fixations.start[1:] >= fixations.end[:-1] - 1e-9)  # sorted, disjoint
    for start, end, coords, object_id in zip(
        fixations.start, fixations.end, fixations.coords, fixations.object_id
    ):
        inside = (rec.t >= start - 1e-9) & (rec.t <= end - period + 1e-9)
        assert np.all(rec.object_id[inside] == object_id)  # one session
        on_image = rec.coords[inside & rec.valid]
        assert on_image.size  # the centroid comes from on-image samples
        assert np.all(coords >= on_image.min(axis=0) - 1e-6) and np.all(
            coords <= on_image.max(axis=0) + 1e-6
        )
        if rec.ndim == 3:
            assert np.all(on_image[:, 0] == coords[0])  # one slice


@settings(max_examples=40, deadline=None)
@given(rec=recordings(), threshold=st.sampled_from([20.0, 30.0, 100.0]), merge=st.booleans())
def test_ivt_invariants(rec, threshold, merge):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # pixel units without geometry
        fixations = detect_fixations_ivt(rec, threshold, merge_max_gap=0.075 if merge else None)
    check_invariants(rec, fixations, 0.060)
    assert fixations.meta["detector"]["units"] == ("deg" if "screen" in rec.meta else "px")


@settings(max_examples=40, deadline=None)
@given(
    rec=recordings(),
    threshold=st.sampled_from([0.5, 1.0, 3.0]),
    min_duration=st.sampled_from([0.05, 0.1]),
)
def test_idt_invariants(rec, threshold, min_duration):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        fixations = detect_fixations_idt(rec, threshold, min_duration)
    check_invariants(rec, fixations, min_duration)
