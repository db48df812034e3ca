"""pymovements interop: round trips, pymovements' own pipeline on our data, its ASC reader against ours."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from conftest import make_recording
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

pm = pytest.importorskip("pymovements")

from napari_gazeseg.gaze.formats import read_gaze  # noqa: E402
from napari_gazeseg.gaze.interop import from_pymovements, to_pymovements  # noqa: E402
from napari_gazeseg.gaze.recording import Fixations, GazeRecording  # noqa: E402

DATA = Path(__file__).parent / "data" / "pymovements"
GEOMETRY = {"width_px": 1920, "height_px": 1080, "width_mm": 530.0, "height_mm": 300.0, "distance_mm": 600.0}


@pytest.mark.parametrize("ndim", [2, 3])
@pytest.mark.parametrize("with_screen", [True, False])
def test_round_trip_is_exact(ndim, with_screen):
    recording = make_recording(ndim=ndim)
    if with_screen:
        recording.meta["screen"] = dict(GEOMETRY)
    else:
        del recording.meta["screen"]
    gaze = to_pymovements(recording)
    assert isinstance(gaze, pm.Gaze)
    assert gaze.metadata["pixel_space"] == ("screen" if with_screen else "image")
    assert from_pymovements(gaze).equals(recording)


def test_pixels_are_screen_pixels_when_the_screen_is_known():
    recording = make_recording()
    recording.meta["screen"] = dict(GEOMETRY)
    gaze = to_pymovements(recording)
    pixel = np.array(gaze.samples["pixel"].to_list(), dtype=float)
    np.testing.assert_allclose(pixel[10], recording.screen[10] * [1920, 1080] - 0.5)
    assert gaze.experiment.screen.width_px == 1920 and gaze.experiment.screen.distance_cm == 60.0
    np.testing.assert_allclose(gaze.samples["time"].to_numpy(), recording.t * 1000.0)
    # image pixels when it is not: x = col, y = row, and the image is the experiment's screen
    bare = make_recording()
    del bare.meta["screen"]
    gaze = to_pymovements(bare)
    pixel = np.array(gaze.samples["pixel"].to_list(), dtype=float)
    np.testing.assert_allclose(pixel[0], bare.coords[0, ::-1])
    assert (gaze.experiment.screen.width_px, gaze.experiment.screen.height_px) == (80, 64)


def test_pymovements_pipeline_runs_on_our_recording():
    from napari_gazeseg.gaze.simulate import simulate_observer

    recording = simulate_observer("cells", rate_hz=120.0, seed=0).recording  # screen and geometry known
    fixations = Fixations(start=[0.1, 0.5], duration=[0.2, 0.3], coords=[[1.0, 2.0], [3.0, 4.0]])
    gaze = to_pymovements(recording, fixations=fixations)
    frame = gaze.events.frame
    assert frame["name"].to_list() == ["fixation", "fixation"]
    np.testing.assert_allclose(frame["onset"].to_numpy(), [100.0, 500.0])
    np.testing.assert_allclose(frame["offset"].to_numpy(), [300.0, 800.0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gaze.pix2deg()
        gaze.pos2vel()
        gaze.detect("ivt")
    detected = gaze.events.frame.filter(gaze.events.frame["name"] == "fixation").height - len(fixations)
    assert detected > 5  # pymovements' I-VT finds the simulated observer's fixations


def test_pymovements_asc_reader_and_ours_agree_through_interop():
    path = DATA / "eyelink_binocular_example.asc"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = from_pymovements(pm.gaze.from_asc(path))
    ours = read_gaze(path)
    assert len(theirs) == len(ours) and theirs.image_shape == ours.image_shape
    np.testing.assert_allclose(theirs.t, ours.t)
    np.testing.assert_array_equal(theirs.valid, ours.valid)
    np.testing.assert_allclose(theirs.coords[ours.valid], ours.coords[ours.valid])


def test_a_gaze_without_positions_is_refused():
    import polars as pl

    gaze = pm.Gaze(pl.DataFrame({"time": [0.0, 1.0]}), time_column="time", time_unit="ms")
    with pytest.raises(ValueError, match="no time and pixel columns"):
        from_pymovements(gaze)


_ROUND_TRIPS: list[int] = []


@settings(max_examples=20, deadline=None, derandomize=True)
@given(
    n=st.integers(0, 20),
    data=st.data(),
)
def test_fuzz_round_trip(n, data):
    t = np.sort(data.draw(hnp.arrays(np.float64, n, elements=st.floats(0, 1e4))))
    coords = data.draw(hnp.arrays(np.float64, (n, 2), elements=st.floats(-1e4, 1e4) | st.just(np.nan)))
    screen = data.draw(st.none() | hnp.arrays(np.float64, (n, 2), elements=st.floats(-1, 2) | st.just(np.nan)))
    ids = data.draw(hnp.arrays(np.int64, n, elements=st.integers(0, 4)))
    meta = {"image": {"name": "x", "shape": [50, 60]}, "sampling_rate_hz": 100.0}
    if data.draw(st.booleans()):
        meta["screen"] = dict(GEOMETRY)
    recording = GazeRecording(t=t, coords=coords, screen=screen, object_id=ids, meta=meta)
    assert from_pymovements(to_pymovements(recording)).equals(recording)
    _ROUND_TRIPS.append(n)


def test_fuzz_round_trips_ran():
    if not _ROUND_TRIPS:
        test_fuzz_round_trip()
    assert len(_ROUND_TRIPS) >= 15
