"""Tobii I-VT filter: every stage on constructed signals, edge cases, simulated observers.

Constructed signals are noise-free screen paths on the default screen (24", 1920 x
1080, 650 mm): fixations are plateaus, saccades ramps or NaN gaps, and image
coordinates are the screen pixels ``(row, col) = (y * 1080, x * 1920)``, so every
expected onset, offset, speed and centroid follows from the construction.
"""

from __future__ import annotations

import numpy as np
import pytest

from napari_gazeseg.gaze._detection import runs
from napari_gazeseg.gaze.fixations import detect_fixations_ivt, ivt_velocity
from napari_gazeseg.gaze.geometry import ScreenGeometry
from napari_gazeseg.gaze.ivt import fill_gaps, reduce_noise, select_eyes
from napari_gazeseg.gaze.recording import GazeRecording
from napari_gazeseg.gaze.simulate import simulate_observer

GEOMETRY = ScreenGeometry.default()
CENTRE = np.array([0.5, 0.5])
ALL_STAGES_OFF = {
    "gap_fill_max": None,
    "noise_reduction": None,
    "merge_max_gap": None,
    "min_duration": None,
}


def make_recording(screen, rate=120.0, object_id=None, coords=None, geometry=True) -> GazeRecording:
    """A recording of normalised screen samples; image coordinates = screen pixels."""
    screen = np.asarray(screen, dtype=np.float64)
    if coords is None:
        coords = screen[:, ::-1] * np.array([1080.0, 1920.0])
    meta = {"sampling_rate_hz": rate, "image": {"shape": [1080, 1920], "name": "constructed"}}
    if geometry:
        meta["screen"] = GEOMETRY.to_meta()
    return GazeRecording(
        t=np.arange(len(screen)) / rate,
        coords=coords,
        screen=screen,
        object_id=object_id,
        meta=meta,
    )


def at_angle(angle_deg, direction_deg=0.0, start=CENTRE):
    """Normalised points at ``angle_deg`` (scalar or array) from ``start``."""
    angle = np.atleast_1d(np.asarray(angle_deg, dtype=np.float64))
    return GEOMETRY.offset_by_angle(
        np.broadcast_to(start, angle.shape + (2,)), angle, direction_deg
    )


def plateau(n, angle_deg=0.0):
    return np.repeat(at_angle(angle_deg), n, axis=0)


def gap(n):
    return np.full((n, 2), np.nan)


def spans(fixations, rate):
    """(first sample, last sample) of each fixation."""
    first = np.round(fixations.start * rate).astype(int)
    last = np.round(fixations.end * rate).astype(int) - 1
    return list(zip(first.tolist(), last.tolist()))


# -- stage 1: gap fill-in ----------------------------------------------------
@pytest.mark.parametrize(
    ("rate", "missing", "filled"),
    [
        (120.0, 9, True),  # 9 samples = 75.0 ms
        (120.0, 10, False),  # 83.3 ms
        (60.0, 4, True),  # 66.7 ms
        (60.0, 5, False),  # 83.3 ms
        (1200.0, 90, True),  # 75.0 ms
        (1200.0, 91, False),
    ],
)
def test_gap_fill_up_to_75_ms(rate, missing, filled):
    n = 20 + missing
    t = np.arange(n) / rate
    xy = np.stack([np.linspace(0.2, 0.8, n), np.linspace(0.9, 0.1, n)], axis=1)
    holed = xy.copy()
    holed[10 : 10 + missing] = np.nan
    out, was_filled = fill_gaps(t, holed, np.zeros(n, dtype=bool), 0.075, 1 / rate)
    assert was_filled.sum() == (missing if filled else 0)
    if filled:
        np.testing.assert_allclose(out, xy, atol=1e-12)  # linear in time: exact
    else:
        assert np.isnan(out[10 : 10 + missing]).all()


@pytest.mark.parametrize(
    ("where", "session_change"),
    [("start", None), ("end", None), ("middle", 12)],
)
def test_gap_fill_never_at_edges_nor_across_sessions(where, session_change):
    n = 30
    xy = np.tile([0.5, 0.5], (n, 1))
    hole = {"start": slice(0, 4), "end": slice(n - 4, n), "middle": slice(10, 14)}[where]
    xy[hole] = np.nan
    breaks = np.zeros(n, dtype=bool)
    if session_change is not None:
        breaks[session_change] = True
    _, filled = fill_gaps(np.arange(n) / 120, xy, breaks, 0.075, 1 / 120)
    assert not filled.any()


@pytest.mark.parametrize(
    ("gap_fill_max", "expected"), [(0.075, [(0, 59)]), (None, [(0, 24), (31, 59)])]
)
def test_gap_fill_joins_a_fixation_across_a_short_blink(gap_fill_max, expected):
    rec = make_recording(np.concatenate([plateau(25), gap(6), plateau(29)]))
    found = detect_fixations_ivt(rec, **{**ALL_STAGES_OFF, "gap_fill_max": gap_fill_max})
    assert spans(found, 120) == expected


# -- stage 2: eye selection ----------------------------------------------------
L, R, NAN = [0.2, 0.4], [0.4, 0.6], [np.nan, np.nan]


@pytest.mark.parametrize(
    ("mode", "left", "right", "expected"),
    [
        ("average", L, R, [0.3, 0.5]),
        ("average", L, NAN, L),
        ("average", NAN, R, R),
        ("average", NAN, NAN, NAN),
        ("strict_average", L, R, [0.3, 0.5]),
        ("strict_average", L, NAN, NAN),
        ("left", L, R, L),
        ("left", NAN, R, NAN),
        ("right", L, R, R),
    ],
)
def test_eye_selection(mode, left, right, expected):
    out = select_eyes(np.array([left]), np.array([right]), mode)
    np.testing.assert_allclose(out, [expected])


def test_eye_selection_drives_classification():
    # The right eye jumps 5 degrees in the middle; the left holds still.
    n = 40
    left = plateau(n)
    right = np.concatenate([plateau(20), plateau(20, 5.0)])
    rec = make_recording(plateau(n))
    by_eye = {
        mode: detect_fixations_ivt(rec, eyes=(left, right), eye_selection=mode, **ALL_STAGES_OFF)
        for mode in ("left", "right")
    }
    assert spans(by_eye["left"], 120) == [(0, 39)]
    assert spans(by_eye["right"], 120) == [(0, 18), (21, 39)]
    assert by_eye["right"].meta["detector"]["eye_selection"] == "right"


def test_per_eye_samples_need_the_geometry():
    rec = make_recording(plateau(10), geometry=False)
    with pytest.warns(UserWarning), pytest.raises(ValueError, match="meta\\['screen'\\]"):
        detect_fixations_ivt(rec, eyes=(plateau(10), plateau(10)))


def test_unknown_eye_selection_is_refused():
    with pytest.raises(ValueError, match="eye_selection must be one of"):
        select_eyes(np.zeros((2, 2)), np.zeros((2, 2)), "both")


# -- stage 3: noise reduction ------------------------------------------------------
@pytest.mark.parametrize(
    ("values", "kind", "expected"),
    [
        ([0, 0, 9, 0, 0], "median", [0, 0, 0, 0, 0]),  # a one-sample spike goes
        ([0, 0, 9, 0, 0], "mean", [0, 3, 3, 3, 0]),
        ([0, 0, 1, 1, 1], "median", [0, 0, 1, 1, 1]),  # a step stays sharp
        ([9, 0, 0, 0, 9], "median", [9, 0, 0, 0, 9]),  # run ends keep their values
        ([0, 9, np.nan, 9, 0], "median", [0, 9, np.nan, 9, 0]),  # no window across a gap
    ],
)
def test_moving_filter_over_three_samples(values, kind, expected):
    xy = np.stack([values, values], axis=1).astype(float)
    out = reduce_noise(xy, np.zeros(len(values), dtype=bool), 3, kind)
    np.testing.assert_allclose(out[:, 0], expected)
    np.testing.assert_allclose(out[:, 1], expected)


def test_moving_filter_stops_at_session_boundaries():
    xy = np.array([[0.0, 0], [0, 0], [9, 9], [0, 0]])
    out = reduce_noise(xy, np.array([False, False, True, False]), 3, "median")
    np.testing.assert_allclose(out, xy)


@pytest.mark.parametrize(
    ("noise_reduction", "expected"), [("median", [(0, 40)]), (None, [(0, 18), (20, 20), (22, 40)])]
)
def test_median_keeps_a_one_sample_spike_from_splitting_a_fixation(noise_reduction, expected):
    # Unfiltered, the spike's neighbours move fast; the spike itself sits between
    # two equal samples and so is a one-sample "fixation".
    screen = plateau(41)
    screen[20] = at_angle(2.0)[0]
    found = detect_fixations_ivt(
        make_recording(screen), **{**ALL_STAGES_OFF, "noise_reduction": noise_reduction}
    )
    assert spans(found, 120) == expected


@pytest.mark.parametrize(
    ("window", "kind", "message"), [(2, "median", "odd"), (3, "gauss", "one of")]
)
def test_bad_noise_filters_are_refused(window, kind, message):
    with pytest.raises(ValueError, match=message):
        reduce_noise(np.zeros((5, 2)), np.zeros(5, dtype=bool), window, kind)


# -- stage 4: velocity over a 20 ms window ---------------------------------------------
@pytest.mark.parametrize(
    ("rate", "half_window"), [(60.0, 1), (120.0, 1), (300.0, 3), (600.0, 6), (1200.0, 12)]
)
def test_velocity_window_spans_about_20_ms(rate, half_window):
    # A 1 degree step between samples 49 and 50: every window holding both moves.
    screen = np.concatenate([plateau(50), plateau(50, 1.0)])
    speed, unit = ivt_velocity(
        make_recording(screen, rate), gap_fill_max=None, noise_reduction=None
    )
    assert unit == "deg/s"
    moving = np.flatnonzero(speed > 0)
    np.testing.assert_array_equal(moving, np.arange(50 - half_window, 50 + half_window))
    np.testing.assert_allclose(speed[moving], 1.0 / (2 * half_window / rate), rtol=1e-9)


@pytest.mark.parametrize("rate", [120.0, 1200.0])
@pytest.mark.parametrize("degrees_per_second", [10.0, 45.0, 120.0])
def test_velocity_of_a_constant_speed_sweep(rate, degrees_per_second):
    n = 20
    screen = at_angle(np.arange(n) * degrees_per_second / rate, 30.0, start=[0.2, 0.3])
    speed, _ = ivt_velocity(make_recording(screen, rate))
    # Exact everywhere, including the one-sided windows at both ends.
    np.testing.assert_allclose(speed, degrees_per_second, rtol=1e-7)


def test_velocity_is_undefined_at_lost_and_lone_samples():
    screen = np.concatenate([plateau(3), gap(3), plateau(1), gap(3), plateau(3)])
    speed, _ = ivt_velocity(make_recording(screen), gap_fill_max=None)
    assert np.isnan(speed[3:10]).all()
    np.testing.assert_array_equal(speed[[0, 1, 2, 10, 11, 12]], 0.0)


# -- stage 5: threshold ---------------------------------------------------------
@pytest.mark.parametrize(
    ("degrees_per_second", "threshold", "fixation"),
    [(29.0, 30.0, True), (31.0, 30.0, False), (31.0, 40.0, True), (60.0, 50.0, False)],
)
def test_threshold_in_degrees_per_second(degrees_per_second, threshold, fixation):
    screen = at_angle(np.arange(30) * degrees_per_second / 120, 200.0)
    found = detect_fixations_ivt(make_recording(screen), threshold, **ALL_STAGES_OFF)
    assert spans(found, 120) == ([(0, 29)] if fixation else [])


def test_plateaus_between_saccades_are_found_within_one_sample():
    # Fixations of 30, 24 and 40 samples joined by 3-sample saccades of 8 and 12 degrees.
    a, b, c = (
        at_angle(0.0)[0],
        at_angle(8.0, 0.0)[0],
        at_angle(12.0, 90.0, start=at_angle(8.0, 0.0)[0])[0],
    )
    ramp = lambda p, q: p + (q - p) * np.array([[0.25], [0.5], [0.75]])
    screen = np.concatenate(
        [np.tile(a, (30, 1)), ramp(a, b), np.tile(b, (24, 1)), ramp(b, c), np.tile(c, (40, 1))]
    )
    found = detect_fixations_ivt(make_recording(screen))
    truth = [(0, 29), (33, 56), (60, 99)]
    assert len(found) == 3
    for (first, last), (true_first, true_last) in zip(spans(found, 120), truth):
        assert abs(first - true_first) <= 1 and abs(last - true_last) <= 1


# -- stage 6: merge adjacent fixations --------------------------------------------------
@pytest.mark.parametrize(
    ("missing", "angle", "merged"),
    [
        (9, 0.4, True),  # 75 ms apart, 0.4 degrees
        (10, 0.4, False),  # 83 ms apart
        (9, 0.6, False),  # 0.6 degrees apart
        (1, 0.0, True),
    ],
)
def test_merge_adjacent_fixations(missing, angle, merged):
    screen = np.concatenate([plateau(20), gap(missing), plateau(20, angle)])
    found = detect_fixations_ivt(make_recording(screen), gap_fill_max=None, min_duration=None)
    end = 40 + missing - 1
    assert spans(found, 120) == ([(0, end)] if merged else [(0, 19), (20 + missing, end)])
    if merged:
        # The centroid of all fixation samples: half at each position.
        expected = (make_recording(screen).coords[[0, end]]).mean(axis=0)
        np.testing.assert_allclose(found.coords[0], expected)


def test_merge_needs_the_same_object():
    screen = np.concatenate([plateau(20), gap(3), plateau(20)])
    object_id = np.repeat([1, 2], [21, 22])
    found = detect_fixations_ivt(make_recording(screen, object_id=object_id), gap_fill_max=None)
    assert found.object_id.tolist() == [1, 2]


# -- stage 7: discard short fixations ------------------------------------------------------
@pytest.mark.parametrize(
    ("samples", "min_duration", "kept"),
    [(7, 0.060, False), (8, 0.060, True), (11, 0.100, False), (12, 0.100, True), (2, None, True)],
)
def test_discard_short_fixations(samples, min_duration, kept):
    screen = np.concatenate([gap(5), plateau(samples), gap(5)])
    found = detect_fixations_ivt(make_recording(screen), min_duration=min_duration)
    assert len(found) == int(kept)
    if kept:
        assert found.duration[0] == pytest.approx(samples / 120)


# -- what comes out -------------------------------------------------------------------
def test_onset_duration_centroid_and_meta():
    screen = np.concatenate([gap(4), plateau(30, 3.0), gap(4)])
    rec = make_recording(screen)
    found = detect_fixations_ivt(rec)
    assert found.start.tolist() == [pytest.approx(4 / 120)]
    assert found.duration.tolist() == [pytest.approx(30 / 120)]  # last - first + one period
    np.testing.assert_allclose(found.coords[0], rec.coords[4])
    assert found.meta["image"] == rec.meta["image"]
    assert found.meta["screen"] == GEOMETRY.to_meta()
    detector = found.meta["detector"]
    assert detector["name"] == "ivt" and detector["units"] == "deg"
    assert detector["velocity_threshold"] == 30.0 and detector["min_duration"] == 0.06
    assert detector["gap_fill_max"] == 0.075 and detector["merge_max_angle"] == 0.5


def test_fixations_split_where_the_object_changes():
    object_id = np.repeat([1, 2], [20, 25])
    found = detect_fixations_ivt(make_recording(plateau(45), object_id=object_id))
    assert spans(found, 120) == [(0, 19), (20, 44)]
    assert found.object_id.tolist() == [1, 2]


def test_fixations_split_where_the_slice_changes():
    screen = plateau(45)
    rows_cols = screen[:, ::-1] * np.array([1080.0, 1920.0])
    plane = np.repeat([3.0, 4.0], [25, 20])
    rec = make_recording(screen, coords=np.column_stack([plane, rows_cols]))
    found = detect_fixations_ivt(rec)
    assert spans(found, 120) == [(0, 24), (25, 44)]
    np.testing.assert_allclose(found.coords[:, 0], [3.0, 4.0])


def test_off_image_samples_move_the_eye_but_not_the_centroid():
    # On screen throughout; the middle fixation lies off the image, the last half off.
    screen = np.concatenate([plateau(30), gap(20), plateau(30, 4.0), gap(20), plateau(30, 2.0)])
    coords = screen[:, ::-1] * np.array([1080.0, 1920.0])
    coords[50:80] = np.nan
    coords[115:130] = np.nan
    rec = make_recording(screen, coords=coords)
    found = detect_fixations_ivt(rec)
    assert spans(found, 120) == [(0, 29), (100, 129)]
    assert found.meta["detector"]["off_image"] == 1
    np.testing.assert_allclose(found.coords[1], coords[100])


@pytest.mark.parametrize(
    "screen",
    [np.zeros((0, 2)), gap(50), np.concatenate([plateau(1), gap(10), plateau(1)])],
    ids=["empty", "no valid samples", "lone samples"],
)
def test_recordings_without_fixations(screen):
    found = detect_fixations_ivt(make_recording(screen))
    assert len(found) == 0 and found.ndim == 2
    assert found.meta["detector"]["name"] == "ivt"


def test_pixel_units_without_geometry():
    # 20 image px per sample at 120 Hz = 2400 px/s, shown at 100 px per degree = 24 deg/s.
    n = 30
    coords = np.column_stack([np.full(n, 50.0), 20.0 * np.arange(n)])
    rec = GazeRecording(t=np.arange(n) / 120, coords=coords, meta={"sampling_rate_hz": 120.0})
    with pytest.warns(UserWarning, match="image pixels"):
        speed, unit = ivt_velocity(rec, px_per_degree=100.0)
    assert unit == "px/s"
    np.testing.assert_allclose(speed, 2400.0)
    with pytest.warns(UserWarning, match="100 image px per degree"):
        slow_enough = detect_fixations_ivt(rec, px_per_degree=100.0)
    with pytest.warns(UserWarning, match="pass px_per_degree"):
        too_fast = detect_fixations_ivt(rec)  # about 41 px per degree: 58 deg/s
    assert len(slow_enough) == 1 and len(too_fast) == 0
    detector = slow_enough.meta["detector"]
    assert detector["units"] == "px" and detector["px_per_degree"] == 100.0
    assert detector["velocity_threshold_px"] == 3000.0 and detector["merge_max_distance_px"] == 50.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"velocity_threshold": 0.0}, "velocity_threshold must be positive"),
        ({"velocity_window": -0.01}, "velocity_window"),
        ({"gap_fill_max": -1.0}, "gap_fill_max"),
        ({"noise_window": 4}, "odd"),
    ],
)
def test_bad_parameters_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        detect_fixations_ivt(make_recording(plateau(10)), **kwargs)


# -- simulated observers ----------------------------------------------------------------
def detectable_true_fixations(scene):
    """(onset, offset) of the simulated fixation sample runs an I-VT filter can find:
    at least 100 ms, wholly on the image, between saccades of at least 1 degree
    that hold no blink."""
    rec, kind, geometry = scene.recording, scene.sample_kind, scene.geometry
    period = 1.0 / rec.sampling_rate_hz
    breaks = np.r_[False, rec.object_id[1:] != rec.object_id[:-1]]
    session = np.cumsum(breaks)
    first, last = runs(kind == 0, breaks)
    centres = np.array([rec.screen[a : b + 1].mean(axis=0) for a, b in zip(first, last)])
    amplitude = geometry.visual_angle_deg(centres[:-1], centres[1:])
    between_clean = np.array(
        [not (kind[b + 1 : a] == 2).any() for b, a in zip(last[:-1], first[1:])]
    )
    separated = (amplitude >= 1.0) & between_clean & (session[first[1:]] == session[last[:-1]])
    ok_before = np.r_[False, separated]
    ok_after = np.r_[separated, False]
    on_image = np.array([rec.valid[a : b + 1].all() for a, b in zip(first, last)])
    long_enough = rec.t[last] - rec.t[first] + period >= 0.1
    keep = ok_before & ok_after & on_image & long_enough
    return rec.t[first[keep]], rec.t[last[keep]] + period


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_simulated_fixations_recovered_within_one_sample(seed):
    scene = simulate_observer("cells", n_objects=3, rate_hz=120.0, seed=seed)
    onsets, offsets = detectable_true_fixations(scene)
    assert onsets.size >= 10
    found = detect_fixations_ivt(scene.recording)
    period = 1 / 120
    nearest = np.abs(found.start[None, :] - onsets[:, None]).argmin(axis=1)
    np.testing.assert_array_less(np.abs(found.start[nearest] - onsets), period * 1.01)
    np.testing.assert_array_less(np.abs(found.end[nearest] - offsets), period * 1.01)
    # Every detected fixation lies on a true one: most of its time was fixation samples.
    kind = scene.sample_kind
    for start, end in zip(found.start, found.end):
        inside = kind[(scene.recording.t >= start - 1e-9) & (scene.recording.t < end - 1e-9)]
        assert (inside == 0).mean() > 0.6


@pytest.mark.parametrize(("pause", "split"), [(0.070, False), (0.5, True)])
def test_pauses_in_the_timestamps_end_fixations(pause, split):
    # The tracker delivered nothing for `pause` seconds (beyond one period) mid-fixation.
    rec = make_recording(plateau(60))
    t = rec.t + np.where(np.arange(60) >= 30, pause, 0.0)
    rec = GazeRecording(t, rec.coords, rec.valid, rec.screen, rec.object_id, rec.meta)
    found = detect_fixations_ivt(rec, merge_max_gap=None)
    assert len(found) == (2 if split else 1)
    assert found.start[0] == 0.0 and found.end[-1] == pytest.approx(t[-1] + 1 / 120)


@pytest.mark.parametrize(
    ("gap_fill_max", "expected"), [(0.075, [(0, 39)]), (None, [(0, 16), (19, 19), (22, 39)])]
)
def test_each_eye_is_gap_filled_before_the_eyes_are_averaged(gap_fill_max, expected):
    # The eyes look 2 degrees apart; the left one is lost for 3 samples. Unfilled,
    # the average jumps 1 degree to the right eye alone and back.
    left = plateau(40)
    left[18:21] = np.nan
    right = plateau(40, 2.0)
    found = detect_fixations_ivt(
        make_recording(plateau(40)),
        eyes=(left, right),
        **{**ALL_STAGES_OFF, "gap_fill_max": gap_fill_max},
    )
    assert spans(found, 120) == expected


def test_geometry_without_screen_samples_falls_back_to_pixels():
    rec = make_recording(plateau(20))
    rec = GazeRecording(rec.t, rec.coords, rec.valid, None, rec.object_id, rec.meta)
    with pytest.warns(UserWarning, match="no screen coordinates"):
        found = detect_fixations_ivt(rec)
    assert found.meta["detector"]["units"] == "px" and len(found) == 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"eye_selection": "both"}, "eye_selection must be one of"),
        ({"eyes": (np.zeros((3, 2)), np.zeros((3, 2)))}, "one per sample"),
    ],
)
def test_bad_eye_arguments_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        detect_fixations_ivt(make_recording(plateau(10)), **kwargs)


# -- every user-set threshold at its exact boundary ---------------------------------------
# In pixel units at 128 Hz every quantity is exact in floating point (times are k / 128,
# distances whole pixels), so "at the threshold" means exactly equal, not "within rounding".
# At 4 image px per degree: 32 deg/s = 128 px/s, 0.5 deg = 2 px.
EXACT_RATE, EXACT_PX_PER_DEGREE = 128.0, 4.0


def pixel_recording(cols, rows=None, rate=EXACT_RATE) -> GazeRecording:
    cols = np.asarray(cols, dtype=np.float64)
    rows = np.zeros_like(cols) if rows is None else np.asarray(rows, dtype=np.float64)
    return GazeRecording(
        t=np.arange(cols.size) / rate, coords=np.column_stack([rows, cols]), meta={"sampling_rate_hz": rate}
    )


def ivt_px(rec, **kwargs):
    with pytest.warns(UserWarning, match="image pixels"):
        return detect_fixations_ivt(rec, px_per_degree=EXACT_PX_PER_DEGREE, **kwargs)


@pytest.mark.parametrize(
    ("velocity_threshold", "fixation"),
    [
        (32.0, False),  # 128 px/s exactly: a sample at the threshold is no fixation sample
        (np.nextafter(32.0, 64.0), True),  # the next float above
        (31.0, False),
        (33.0, True),
    ],
)
def test_velocity_exactly_at_the_threshold_is_not_a_fixation(velocity_threshold, fixation):
    # A drift of 1 px per sample: every sample moves at exactly 128 px/s = 32 deg/s.
    rec = pixel_recording(np.arange(20.0))
    with pytest.warns(UserWarning):
        speed, unit = ivt_velocity(rec, px_per_degree=EXACT_PX_PER_DEGREE, noise_reduction=None)
    assert unit == "px/s" and (speed == 128.0).all()
    found = ivt_px(rec, velocity_threshold=velocity_threshold, **ALL_STAGES_OFF)
    assert spans(found, EXACT_RATE) == ([(0, 19)] if fixation else [])


@pytest.mark.parametrize("at_sample", [5, 12, 18])
def test_velocity_threshold_in_degrees_is_strict(at_sample):
    # An accelerating sweep: every sample is faster than the one before. With the
    # threshold set to one sample's own speed, that sample and all later ones are saccade.
    screen = at_angle(0.02 * np.arange(25) ** 2, 30.0, start=[0.3, 0.4])
    rec = make_recording(screen)
    speed, _ = ivt_velocity(rec, gap_fill_max=None, noise_reduction=None)
    assert np.all(np.diff(speed[1:-1]) > 0)
    threshold = float(speed[at_sample])
    found = detect_fixations_ivt(rec, threshold, **ALL_STAGES_OFF)
    assert spans(found, 120) == [(0, at_sample - 1)]


@pytest.mark.parametrize(
    ("samples", "min_duration", "kept"),
    [
        (8, 8 / 128, True),  # exactly the minimum: kept ("shorter than" are discarded)
        (8, 8 / 128 + 2e-6, False),  # beyond the microsecond tolerance
        (8, 8 / 128 - 2e-6, True),
        (7, 8 / 128, False),
        (9, 8 / 128, True),
    ],
)
def test_min_duration_boundary(samples, min_duration, kept):
    cols = np.r_[np.full(samples, 10.0), np.nan]
    found = ivt_px(pixel_recording(cols), min_duration=min_duration, gap_fill_max=None, merge_max_gap=None)
    assert len(found) == int(kept)
    if kept:
        assert found.duration[0] == samples / 128


@pytest.mark.parametrize(
    ("rate", "samples", "kept"),
    [(100.0, 6, True), (100.0, 5, False), (250.0, 15, True), (250.0, 14, False), (50.0, 3, True)],
)
def test_the_default_60_ms_minimum_keeps_60_ms_fixations(rate, samples, kept):
    # 6 samples at 100 Hz last 5 * 0.01 + 0.01 s: 60 ms up to float rounding.
    screen = np.concatenate([gap(3), plateau(samples), gap(3)])
    found = detect_fixations_ivt(make_recording(screen, rate), merge_max_gap=None)
    assert len(found) == int(kept)


@pytest.mark.parametrize(
    ("missing", "merge_max_gap", "merged"),
    [
        (8, 8 / 128, True),  # the gap is exactly 62.5 ms: merged
        (8, 8 / 128 - 2e-6, False),
        (9, 8 / 128, False),
        (7, 8 / 128, True),
    ],
)
def test_merge_gap_boundary(missing, merge_max_gap, merged):
    cols = np.r_[np.full(20, 10.0), np.full(missing, np.nan), np.full(20, 10.0)]
    found = ivt_px(pixel_recording(cols), merge_max_gap=merge_max_gap, gap_fill_max=None, min_duration=None)
    assert len(found) == (1 if merged else 2)


@pytest.mark.parametrize(
    ("offset_px", "merge_max_angle", "merged"),
    [
        (2.0, 0.5, True),  # exactly 0.5 degrees (2 px) apart: merged
        (2.0, np.nextafter(0.5, 0.0), False),
        ((3.0, 4.0), 1.25, True),  # 5 px diagonally: Euclidean ...
        ((3.0, 4.5), 1.25, False),  # ... not per axis (4.5 px < 5 px on each)
        (4.0, 1.0, True),
        (4.0, 0.99, False),
    ],
)
def test_merge_angle_boundary(offset_px, merge_max_angle, merged):
    d_row, d_col = (0.0, offset_px) if np.isscalar(offset_px) else offset_px
    cols = np.r_[np.full(20, 10.0), np.nan, np.full(20, 10.0 + d_col)]
    rows = np.r_[np.full(20, 30.0), np.nan, np.full(20, 30.0 + d_row)]
    found = ivt_px(
        pixel_recording(cols, rows),
        merge_max_angle=merge_max_angle,
        gap_fill_max=None,
        min_duration=None,
        noise_reduction=None,
    )
    assert len(found) == (1 if merged else 2)


@pytest.mark.parametrize(("angle", "merged"), [(0.5 - 1e-7, True), (0.5 + 1e-7, False)])
def test_merge_angle_in_degrees_of_visual_angle(angle, merged):
    # Away from the screen centre, where degrees and screen pixels differ most.
    start = [0.9, 0.15]
    screen = np.concatenate([plateau_at(start, 20), gap(1), plateau_at(at_angle(angle, 135.0, start=start)[0], 20)])
    found = detect_fixations_ivt(make_recording(screen), gap_fill_max=None, min_duration=None)
    assert len(found) == (1 if merged else 2)


def plateau_at(point, n):
    return np.repeat(np.asarray(point, dtype=np.float64)[None, :], n, axis=0)


@pytest.mark.parametrize(
    ("missing", "gap_fill_max", "filled"),
    [(8, 8 / 128, True), (8, 8 / 128 - 2e-6, False), (9, 8 / 128, False)],
)
def test_gap_fill_boundary(missing, gap_fill_max, filled):
    # The gap lasts (missing + 1) / 128 - 1 / 128 = missing / 128 seconds.
    n = 20 + missing
    t = np.arange(n) / 128
    xy = np.zeros((n, 2))
    xy[10 : 10 + missing] = np.nan
    _, was_filled = fill_gaps(t, xy, np.zeros(n, dtype=bool), gap_fill_max, 1 / 128)
    assert was_filled.sum() == (missing if filled else 0)
