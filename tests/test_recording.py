"""The data model: validation on construction and the selection helpers."""

import json

import numpy as np
import pytest

from napari_gazeseg.gaze.recording import DEFAULT_OBJECT, NO_OBJECT, Fixations, GazeRecording


def make_recording(n=6, ndim=2, **kwargs):
    t = np.arange(n) / 120.0
    coords = np.arange(n * ndim, dtype=float).reshape(n, ndim)
    return GazeRecording(t=t, coords=coords, **kwargs)


def test_defaults_valid_from_finite_coords_and_object_one():
    rec = GazeRecording(t=[0.0, 0.1, 0.2], coords=[[1, 2], [np.nan, 3], [4, 5]])
    assert rec.valid.tolist() == [True, False, True]
    assert np.isnan(rec.coords[1]).all(), "an invalid sample's coordinates are NaN as a whole"
    assert rec.object_id.tolist() == [DEFAULT_OBJECT] * 3
    assert rec.object_id.dtype == np.int64 and rec.t.dtype == np.float64
    assert rec.screen is None and rec.meta == {}


def test_invalid_flag_blanks_coordinates_but_keeps_screen():
    rec = make_recording(
        3, valid=[True, False, True], screen=[[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]]
    )
    assert np.isnan(rec.coords[1]).all()
    np.testing.assert_array_equal(rec.screen[1], [0.3, 0.4])


def test_inputs_are_copied():
    t = np.array([0.0, 1.0])
    coords = np.array([[1.0, 2.0], [3.0, 4.0]])
    rec = GazeRecording(t=t, coords=coords)
    coords[0, 0] = 99
    assert rec.coords[0, 0] == 1.0


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(t=[0.0, 0.2, 0.1], coords=np.zeros((3, 2))), "sample 2 goes back in time"),
        (dict(t=[0.0, np.nan], coords=np.zeros((2, 2))), "NaN"),
        (dict(t=[0.0, 0.1], coords=np.zeros((3, 2))), "shape"),
        (dict(t=[0.0, 0.1], coords=np.zeros((2, 1))), "at least 2 columns"),
        (dict(t=[0.0, 0.1], coords=[[0, 0], [np.inf, 1]]), "infinite"),
        (dict(t=[[0.0, 0.1]], coords=np.zeros((2, 2))), "one-dimensional"),
        (dict(t=[0.0, 0.1], coords=np.zeros((2, 2)), valid=[True]), "valid has 1 entries"),
        (dict(t=[0.0, 0.1], coords=np.zeros((2, 2)), screen=np.zeros((2, 3))), "screen"),
        (dict(t=[0.0, 0.1], coords=np.zeros((2, 2)), object_id=[1, -1]), "non-negative"),
        (dict(t=[0.0, 0.1], coords=np.zeros((2, 2)), object_id=[1, 1.5]), "integers"),
        (dict(t=[0.0, 0.1], coords=np.zeros((2, 2)), meta={"a": object()}), "JSON"),
        (dict(t=[0.0, 0.1], coords=np.zeros((2, 2)), meta={"a": float("nan")}), "JSON"),
    ],
)
def test_construction_rejects_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        GazeRecording(**kwargs)


def test_empty_recording_is_allowed():
    rec = GazeRecording(t=[], coords=np.zeros((0, 2)))
    assert len(rec) == 0 and rec.duration == 0.0 and rec.object_ids.size == 0
    assert len(GazeRecording(t=[], coords=[])) == 0


def test_meta_round_trips_through_json():
    meta = {
        "sampling_rate_hz": 120.0,
        "source": "test",
        "image": {"shape": [64, 80], "name": "cells"},
        "screen": {"width_px": 1920, "height_px": 1080, "width_mm": 531.0,
                   "height_mm": 299.0, "distance_mm": 650.0},
    }
    rec = make_recording(meta=meta)
    assert json.loads(json.dumps(rec.meta)) == meta
    assert rec.image_shape == (64, 80)
    assert rec.sampling_rate_hz == 120.0


def test_sampling_rate_estimated_when_meta_lacks_it():
    rec = make_recording(10)
    assert rec.sampling_rate_hz == pytest.approx(120.0)
    with pytest.raises(ValueError, match="sampling rate is unknown"):
        GazeRecording(t=[0.0], coords=[[0, 0]]).sampling_rate_hz


def test_select_by_object_time_and_slice():
    t = np.arange(8) * 0.1
    coords = np.array([[p, r, c] for p, r, c in zip([0, 0, 1, 1, 2, 2, 2, 1], range(8), range(8))],
                      dtype=float)
    ids = [1, 1, 1, 0, 2, 2, 2, 2]
    rec = GazeRecording(t=t, coords=coords, object_id=ids)
    assert rec.object_ids.tolist() == [1, 2], "0 is 'no object' and is not listed"
    assert len(rec.for_object(2)) == 4
    assert rec.for_object(NO_OBJECT).t.tolist() == [pytest.approx(0.3)]
    window = rec.between(0.2, 0.5)
    np.testing.assert_allclose(window.t, [0.2, 0.3, 0.4])
    on_plane_1 = rec.on_slice(1)
    np.testing.assert_allclose(on_plane_1.t, [0.2, 0.3, 0.7])
    assert on_plane_1.ndim == 3
    with pytest.raises(ValueError, match="needs 1 leading"):
        rec.on_slice([1, 2])


def test_on_slice_rounds_plane_coordinate_and_skips_invalid():
    rec = GazeRecording(t=[0, 1, 2], coords=[[0.6, 1, 1], [np.nan] * 3, [1.4, 2, 2]])
    assert rec.on_slice(1).t.tolist() == [0.0, 2.0]


def test_concatenate_keeps_order_and_checks_time():
    a = make_recording(3, object_id=[1, 1, 1], meta={"source": "a"})
    b = GazeRecording(t=a.t + 1.0, coords=a.coords, object_id=[2, 2, 2])
    joined = GazeRecording.concatenate([a, b])
    assert len(joined) == 6 and joined.object_ids.tolist() == [1, 2]
    assert joined.meta == {"source": "a"}
    with pytest.raises(ValueError, match="back in time"):
        GazeRecording.concatenate([b, a])
    with pytest.raises(ValueError, match="dimensionality"):
        GazeRecording.concatenate([a, make_recording(3, ndim=3)])


def test_concatenate_fills_missing_screen_with_nan():
    a = make_recording(2, screen=[[0.1, 0.1], [0.2, 0.2]])
    b = GazeRecording(t=a.t + 1, coords=a.coords)
    joined = GazeRecording.concatenate([a, b])
    assert joined.screen.shape == (4, 2) and np.isnan(joined.screen[2:]).all()


def test_equals_treats_nan_as_equal_and_compares_meta():
    a = GazeRecording(t=[0, 1], coords=[[np.nan, np.nan], [1, 2]], meta={"k": 1})
    b = GazeRecording(t=[0, 1], coords=[[np.nan, np.nan], [1, 2]], meta={"k": 1})
    assert a.equals(b)
    assert not a.equals(GazeRecording(t=[0, 1], coords=[[np.nan, np.nan], [1, 2]], meta={"k": 2}))
    assert not a.equals(GazeRecording(t=[0, 1.5], coords=[[np.nan, np.nan], [1, 2]], meta={"k": 1}))


def test_fixations_sorted_by_start_and_validated():
    fix = Fixations(start=[0.5, 0.1], duration=[0.2, 0.3], coords=[[5, 5], [1, 1]], object_id=[2, 1])
    assert fix.start.tolist() == [0.1, 0.5]
    assert fix.coords[0].tolist() == [1, 1] and fix.object_id.tolist() == [1, 2]
    np.testing.assert_allclose(fix.end, [0.4, 0.7])
    assert fix.object_ids.tolist() == [1, 2]
    with pytest.raises(ValueError, match="non-negative"):
        Fixations(start=[0.0], duration=[-1.0], coords=[[0, 0]])
    with pytest.raises(ValueError, match="finite"):
        Fixations(start=[0.0], duration=[1.0], coords=[[np.nan, 0]])


def test_fixations_selection_and_concatenate():
    fix = Fixations(start=[0.0, 1.0, 2.0], duration=[0.1] * 3,
                    coords=[[0, 1, 1], [1, 2, 2], [1, 3, 3]], object_id=[1, 1, 2])
    assert len(fix.for_object(1)) == 2
    assert fix.between(0.5, 2.0).start.tolist() == [1.0]
    assert fix.on_slice(1).start.tolist() == [1.0, 2.0]
    both = Fixations.concatenate([fix.for_object(2), fix.for_object(1)])
    assert both.start.tolist() == [0.0, 1.0, 2.0], "concatenation re-sorts by onset"
    assert both.equals(fix.select(np.array([0, 1, 2])))
