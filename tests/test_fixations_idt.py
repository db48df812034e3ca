"""I-DT: the vectorised detector against a plain per-sample reading of Salvucci and
Goldberg's pseudocode, and on constructed signals with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from napari_gazeseg.gaze.fixations import detect_fixations_idt
from napari_gazeseg.gaze.geometry import ScreenGeometry
from napari_gazeseg.gaze.idt import dispersion
from napari_gazeseg.gaze.recording import GazeRecording
from napari_gazeseg.gaze.simulate import simulate_observer


def reference_idt(t, xy, session, threshold, min_duration, period):
    """Salvucci and Goldberg's I-DT, one sample at a time: (first, last) of each fixation."""
    n = len(t)
    usable = np.isfinite(xy).all(axis=1)
    found = []
    i = 0
    while i < n:
        j = i
        while j < n and t[j] - t[i] + period < min_duration - 1e-6:
            j += 1
        if j >= n:
            break
        window_ok = usable[i : j + 1].all() and (session[i : j + 1] == session[i]).all()
        if window_ok and dispersion(xy[i : j + 1]) <= threshold:
            while (
                j + 1 < n
                and usable[j + 1]
                and session[j + 1] == session[i]
                and dispersion(xy[i : j + 2]) <= threshold
            ):
                j += 1
            found.append((i, j))
            i = j + 1
        else:
            i += 1
    return found


def spans(fixations, rec):
    """(first, last) sample of each fixation: onset = t[first], end = t[last] + one period."""
    period = 1 / rec.sampling_rate_hz
    first = np.searchsorted(rec.t, fixations.start - 1e-9)
    last = np.searchsorted(rec.t, fixations.end - period + 1e-9, side="right") - 1
    return list(zip(first.tolist(), last.tolist()))


@pytest.mark.parametrize(
    ("rate", "seed", "threshold", "min_duration"),
    [
        (120.0, 0, 1.0, 0.100),
        (120.0, 1, 0.5, 0.060),
        (300.0, 2, 1.5, 0.150),
        (600.0, 3, 1.0, 0.080),
    ],
)
def test_matches_the_per_sample_reference_in_degrees(rate, seed, threshold, min_duration):
    scene = simulate_observer("cells", shape=(160, 160), n_objects=2, rate_hz=rate, seed=seed)
    rec = scene.recording
    # Keep every tracked sample on the image so that no fixation is left out.
    rec = GazeRecording(
        t=rec.t,
        coords=scene.geometry.normalised_to_px(rec.screen)[:, ::-1],
        screen=rec.screen,
        object_id=rec.object_id,
        meta=rec.meta,
    )
    found = detect_fixations_idt(rec, threshold, min_duration)
    session = np.cumsum(np.r_[0, rec.object_id[1:] != rec.object_id[:-1]])
    degrees = scene.geometry.normalised_to_degrees(rec.screen)
    expected = reference_idt(rec.t, degrees, session, threshold, min_duration, 1 / rate)
    assert len(expected) > 10
    assert spans(found, rec) == expected
    assert found.meta["detector"] == {
        "name": "idt",
        "dispersion_threshold": threshold,
        "min_duration": min_duration,
        "units": "deg",
        "off_image": 0,
    }
    np.testing.assert_array_equal(found.object_id, rec.object_id[[first for first, _ in expected]])


def pixel_recording(cols, rows=None, rate=100.0, object_id=None) -> GazeRecording:
    cols = np.asarray(cols, dtype=float)
    rows = np.zeros_like(cols) if rows is None else np.asarray(rows, dtype=float)
    return GazeRecording(
        t=np.arange(cols.size) / rate,
        coords=np.column_stack([rows, cols]),
        object_id=object_id,
        meta={"sampling_rate_hz": rate},
    )


def idt_px(rec, threshold_px, min_duration):
    with pytest.warns(UserWarning, match="image pixels"):
        return detect_fixations_idt(rec, threshold_px, min_duration, px_per_degree=1.0)


def test_dispersion_is_the_sum_of_the_ranges():
    assert dispersion([[0.0, 0.0], [1.0, 3.0], [2.0, 1.0]]) == 5.0


@pytest.mark.parametrize(
    ("threshold", "expected"),
    [
        (10.0, [(0, 10), (11, 21), (22, 32)]),  # a dispersion of exactly 10 px still counts
        (9.5, [(0, 9), (10, 19), (20, 29), (30, 33)]),
        (3.0, [(0, 3), (4, 7), (8, 11), (12, 15), (16, 19), (20, 23), (24, 27), (28, 31)]),
    ],
)
def test_windows_grow_while_the_dispersion_stays_within_the_threshold(threshold, expected):
    # A slow drift of 1 px per sample; every window of 4 samples (40 ms) qualifies.
    found = idt_px(pixel_recording(np.arange(34)), threshold, 0.040)
    assert spans(found, pixel_recording(np.arange(34))) == expected


@pytest.mark.parametrize(
    ("min_duration", "expected"),
    [(0.050, [(0, 7)]), (0.080, [(0, 7)]), (0.090, [])],
)
def test_minimum_duration(min_duration, expected):
    # 8 still samples (80 ms at 100 Hz) then a jump of 50 px.
    rec = pixel_recording(np.r_[np.zeros(8), 50.0])
    assert spans(idt_px(rec, 1.0, min_duration), rec) == expected


def test_centroid_duration_and_units_in_pixels():
    rec = pixel_recording(
        np.r_[np.full(10, 4.0), np.full(10, 40.0)], rows=np.r_[np.arange(10.0), np.zeros(10)]
    )
    found = idt_px(rec, 10.0, 0.05)
    np.testing.assert_allclose(found.coords, [[4.5, 4.0], [0.0, 40.0]])
    np.testing.assert_allclose(found.duration, [0.1, 0.1])
    detector = found.meta["detector"]
    assert detector["units"] == "px" and detector["dispersion_threshold_px"] == 10.0


def test_windows_never_hold_lost_samples_or_cross_sessions():
    cols = np.zeros(30)
    cols[10] = np.nan
    object_id = np.repeat([1, 2], [20, 10])
    rec = pixel_recording(cols, object_id=object_id)
    found = idt_px(rec, 1.0, 0.05)
    assert spans(found, rec) == [(0, 9), (11, 19), (20, 29)]
    assert found.object_id.tolist() == [1, 1, 2]


def test_off_image_fixations_are_left_out():
    geometry = ScreenGeometry.default()
    screen = np.repeat([[0.5, 0.5], [0.9, 0.5]], 30, axis=0)
    coords = geometry.normalised_to_px(screen)[:, ::-1]
    coords[30:] = np.nan  # the second fixation rests beside the image
    rec = GazeRecording(
        t=np.arange(60) / 120,
        coords=coords,
        screen=screen,
        meta={"sampling_rate_hz": 120.0, "screen": geometry.to_meta()},
    )
    found = detect_fixations_idt(rec)
    assert len(found) == 1 and found.meta["detector"]["off_image"] == 1


@pytest.mark.parametrize(
    "cols", [np.zeros(0), np.full(20, np.nan)], ids=["empty", "no valid samples"]
)
def test_recordings_without_fixations(cols):
    rec = pixel_recording(cols)
    found = idt_px(rec, 1.0, 0.05) if cols.size else detect_fixations_idt(rec)
    assert len(found) == 0 and found.meta["detector"]["name"] == "idt"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"dispersion_threshold": 0.0}, "dispersion_threshold"),
        ({"min_duration": -1.0}, "min_duration"),
    ],
)
def test_bad_parameters_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        detect_fixations_idt(pixel_recording(np.zeros(5)), **kwargs)


def test_matches_the_reference_with_jittered_and_paused_timestamps():
    # Window lengths in samples then vary: both the sliding and the per-window paths run.
    scene = simulate_observer("cells", shape=(160, 160), n_objects=2, rate_hz=300.0, seed=7)
    rec = scene.recording
    rng = np.random.default_rng(0)
    # Pauses of 50 ms every 2 s: shorter than MAX_PAUSE, so windows reach across them.
    t = rec.t + rng.uniform(0, 0.4 / 300, len(rec)) + 0.05 * np.floor(rec.t / 2.0)
    t = np.sort(t)
    rec = GazeRecording(
        t=t,
        coords=scene.geometry.normalised_to_px(rec.screen)[:, ::-1],
        screen=rec.screen,
        object_id=rec.object_id,
        meta=rec.meta,
    )
    found = detect_fixations_idt(rec, 1.0, 0.1)
    session = np.cumsum(np.r_[0, rec.object_id[1:] != rec.object_id[:-1]])
    degrees = scene.geometry.normalised_to_degrees(rec.screen)
    expected = reference_idt(rec.t, degrees, session, 1.0, 0.1, 1 / 300)
    assert len(expected) > 10
    assert spans(found, rec) == expected


@pytest.mark.parametrize(("pause", "split"), [(0.070, False), (0.5, True)])
def test_pauses_in_the_timestamps_end_fixations(pause, split):
    rec = pixel_recording(np.zeros(40))
    t = rec.t + np.where(np.arange(40) >= 20, pause, 0.0)
    rec = GazeRecording(t, rec.coords, object_id=rec.object_id, meta=rec.meta)
    assert len(idt_px(rec, 1.0, 0.05)) == (2 if split else 1)
