"""BIDS eye-tracking physio: the specification's example read, our own files written and read back, fuzzing."""

from __future__ import annotations

import gzip
import json
import tempfile
from pathlib import Path

import numpy as np
import pytest
from conftest import make_recording
from fuzz_edits import fuzz_settings, read_or_none, replace_bytes
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from napari_gazeseg.gaze.formats import (
    GazeFormatError,
    GazeFormatWarning,
    detect_format,
    read_gaze,
    read_gaze_all,
    write_bids_physio,
)
from napari_gazeseg.gaze.recording import Fixations, GazeRecording

FUZZ = fuzz_settings(30)

# The BIDS specification's eye-tracking example (Physiological recordings > Eye-tracking):
# a header-less TSV of timestamp (ms), x, y (pixels) and pupil size, its sidecar, and the
# task's events.json with StimulusPresentation.
SAMPLES = """\
7186799\t416.29\t267.39\t4612.0
7186800\t416.29\t268.10\t4623.0
7186801\tn/a\tn/a\t4623.0
7186802\t415.89\t269.60\t4613.0
7186803\t1030.0\t269.20\t4603.0
"""
SIDECAR = {
    "DeviceSerialNumber": "17535483",
    "Columns": ["timestamp", "x_coordinate", "y_coordinate", "pupil_size"],
    "Manufacturer": "SR-Research",
    "ManufacturersModelName": "EYELINK II CL v4.56 Aug 18 2010",
    "PhysioType": "eyetrack",
    "RecordedEye": "right",
    "SampleCoordinateSystem": "gaze-on-screen",
    "SamplingFrequency": 1000,
    "StartTime": -22.345,
    "timestamp": {"Description": "sampling time", "Units": "ms", "Origin": "System startup"},
    "x_coordinate": {"LongName": "Gaze position (x)", "Units": "pixel"},
    "y_coordinate": {"LongName": "Gaze position (y)", "Units": "pixel"},
    "pupil_size": {"Units": "arbitrary"},
}
EVENTS_JSON = {
    "TaskName": "Visual Search",
    "StimulusPresentation": {
        "ScreenDistance": 0.6,
        "ScreenOrigin": ["top", "left"],
        "ScreenRefreshRate": 60,
        "ScreenResolution": [1024, 768],
        "ScreenSize": [0.386, 0.29],
    },
}
STEM = "sub-01_task-visualSearch_recording-eye1"


def dataset(tmp_path, samples=SAMPLES, sidecar=SIDECAR, split=False):
    """A small BIDS dataset; ``split`` puts the shared metadata in task-level files at the root."""
    root = tmp_path / "ds"
    folder = root / "sub-01" / "beh"
    folder.mkdir(parents=True)
    (root / "dataset_description.json").write_text('{"Name": "t", "BIDSVersion": "1.10.0"}')
    data = folder / f"{STEM}_physio.tsv.gz"
    data.write_bytes(gzip.compress(samples.encode()))
    if split:  # as bids-examples/eyetracking_binocular does it
        own = {k: sidecar[k] for k in ("StartTime", "RecordedEye") if k in sidecar}
        shared = {k: v for k, v in sidecar.items() if k not in own}
        (root / "task-visualSearch_physio.json").write_text(json.dumps(shared))
        (root / "task-visualSearch_events.json").write_text(json.dumps(EVENTS_JSON))
        (folder / f"{STEM}_physio.json").write_text(json.dumps(own))
    else:
        (folder / f"{STEM}_physio.json").write_text(json.dumps(sidecar))
        (folder / "sub-01_task-visualSearch_events.json").write_text(json.dumps(EVENTS_JSON))
    return data


@pytest.mark.parametrize("split", [False, True])
def test_reads_the_specifications_example(tmp_path, split):
    data = dataset(tmp_path, split=split)
    assert detect_format(data) == "bids"
    contents = read_gaze_all(data)  # was: "not valid UTF-8 text; export it again"
    assert list(contents) == [STEM]
    recording = contents[STEM]
    np.testing.assert_allclose(recording.t, [0.0, 0.001, 0.002, 0.003, 0.004])
    np.testing.assert_allclose(recording.coords[0], [267.39, 416.29])
    assert recording.valid.tolist() == [True, True, False, True, False]  # n/a; x 1030 off the screen
    assert recording.image_shape == (768, 1024)
    assert recording.meta["sampling_rate_hz"] == 1000.0 and recording.meta["start_time_s"] == -22.345
    assert recording.meta["eye"] == "right" and recording.meta["manufacturer"] == "SR-Research"
    assert recording.meta["screen"] == {
        "width_px": 1024, "height_px": 768, "width_mm": 386.0, "height_mm": 290.0, "distance_mm": 600.0
    }
    np.testing.assert_allclose(recording.screen[0], [416.79 / 1024, 267.89 / 768])
    # the sidecar's path reads the same
    assert read_gaze(data.with_name(f"{STEM}_physio.json")).equals(recording)


def test_timestamp_without_units_takes_the_unit_of_the_sampling_frequency(tmp_path):
    sidecar = {**SIDECAR, "timestamp": {"Description": "sampling time"}}
    with pytest.warns(GazeFormatWarning, match="read as ms, which gives the sidecar's 1000 Hz"):
        recording = read_gaze(dataset(tmp_path, sidecar=sidecar))
    np.testing.assert_allclose(recording.t, [0.0, 0.001, 0.002, 0.003, 0.004])
    wrong = {**sidecar, "SamplingFrequency": 37}
    with pytest.raises(GazeFormatError, match='fits SamplingFrequency \\(37 Hz\\) in no unit'):
        read_gaze(dataset(tmp_path / "b", sidecar=wrong))


def test_without_a_timestamp_column_time_is_the_row_over_the_rate(tmp_path):
    sidecar = {**SIDECAR, "Columns": ["x_coordinate", "y_coordinate", "pupil_size"], "SamplingFrequency": 250}
    samples = "".join("\t".join(line.split("\t")[1:]) + "\n" for line in SAMPLES.splitlines())
    recording = read_gaze(dataset(tmp_path, samples, sidecar))
    np.testing.assert_allclose(recording.t, np.arange(5) / 250)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"Columns": ["timestamp", "x", "y", "pupil_size"]}, "lack x_coordinate"),
        ({"SamplingFrequency": "fast"}, "SamplingFrequency is 'fast', not a number"),
        ({"x_coordinate": {"Units": "deg"}}, "gaze positions are in 'deg'"),
        ({"Columns": None}, "has no Columns list"),
    ],
)
def test_sidecars_that_cannot_place_gaze_are_refused(tmp_path, change, message):
    sidecar = {k: v for k, v in {**SIDECAR, **change}.items() if v is not None}
    with pytest.raises(GazeFormatError, match=message):
        read_gaze_all(dataset(tmp_path, sidecar=sidecar))


def test_missing_sidecar_unknown_screen_and_header_lines(tmp_path):
    data = dataset(tmp_path)
    (data.parent / "sub-01_task-visualSearch_events.json").unlink()
    with pytest.warns(GazeFormatWarning, match="screen size is unknown"):
        assert read_gaze(data).image_shape is None
    data.write_bytes(gzip.compress(("timestamp\tx_coordinate\ty_coordinate\tpupil_size\n" + SAMPLES).encode()))
    with pytest.warns(GazeFormatWarning, match="starts with a header line"):
        assert len(read_gaze(data, image_shape=(768, 1024))) == 5
    data.with_name(f"{STEM}_physio.json").unlink()
    with pytest.raises(GazeFormatError, match="sidecar .* is missing"):
        read_gaze(data)


def test_write_then_read_is_exact_and_readable_as_plain_bids(tmp_path):
    recording = make_recording()
    recording.meta["screen"] = {
        "width_px": 1920, "height_px": 1080, "width_mm": 531.0, "height_mm": 299.0, "distance_mm": 650.0
    }
    recording.meta["messages"] = [[0.05, "image shown"]]
    fixations = Fixations(start=[0.1, 0.4], duration=[0.2, 0.25], coords=[[5.0, 6.0], [7.0, 8.0]])
    path = tmp_path / "bids" / "sub-01_task-cells_recording-eye1_physio.tsv.gz"
    written = write_bids_physio(recording, path, fixations=fixations)
    assert [p.name for p in written] == [
        "sub-01_task-cells_recording-eye1_physio.tsv.gz",
        "sub-01_task-cells_recording-eye1_physio.json",
        "sub-01_task-cells_recording-eye1_physioevents.tsv.gz",
        "sub-01_task-cells_recording-eye1_physioevents.json",
    ]
    back = read_gaze(path)
    assert back.equals(recording)
    # what any BIDS reader sees: no header, one field per sidecar column, n/a for missing
    sidecar = json.loads(written[1].read_text())
    lines = gzip.decompress(path.read_bytes()).decode().splitlines()
    assert len(lines) == len(recording)
    assert all(len(line.split("\t")) == len(sidecar["Columns"]) for line in lines)
    assert sidecar["PhysioType"] == "eyetrack" and sidecar["SamplingFrequency"] > 0
    presentation = sidecar["StimulusPresentation"]
    assert presentation["ScreenResolution"] == [1920, 1080] and presentation["ScreenDistance"] == 0.65
    np.testing.assert_allclose(presentation["ScreenSize"], [0.531, 0.299])
    events = gzip.decompress(written[2].read_bytes()).decode().splitlines()
    assert "0.1\t0.2\tfixation\t0\tn/a" in events and any(e.endswith("image shown") for e in events)
    with pytest.raises(FileExistsError, match="overwrite=True"):
        write_bids_physio(recording, path)
    write_bids_physio(recording, path, overwrite=True)


def test_writing_refuses_other_names_and_volumes(tmp_path):
    with pytest.raises(ValueError, match="ends with _physio.tsv.gz"):
        write_bids_physio(make_recording(), tmp_path / "gaze.tsv.gz")
    volume = GazeRecording(t=[0.0], coords=[[0.0, 1.0, 2.0]])
    with pytest.raises(ValueError, match="on_slice"):
        write_bids_physio(volume, tmp_path / "sub-01_recording-eye1_physio.tsv.gz")


# -- fuzzing -----------------------------------------------------------------


@st.composite
def recordings(draw):
    n = draw(st.integers(0, 30))
    t = np.sort(draw(hnp.arrays(np.float64, n, elements=st.floats(0, 1e4))))
    coords = draw(hnp.arrays(np.float64, (n, 2), elements=st.floats(-1e4, 1e4) | st.just(np.nan)))
    screen = draw(st.none() | hnp.arrays(np.float64, (n, 2), elements=st.floats(-1, 2)))
    ids = draw(hnp.arrays(np.int64, n, elements=st.integers(0, 5)))
    meta = {"sampling_rate_hz": 60.0, "image": {"name": draw(st.text(max_size=5)), "shape": [10, 20]}}
    return GazeRecording(t=t, coords=coords, screen=screen, object_id=ids, meta=meta)


_ROUND_TRIPS: list[int] = []


@FUZZ
@given(recording=recordings())
def test_fuzz_round_trip_is_exact(tmp_path, recording):
    path = tmp_path / "sub-x_recording-eye1_physio.tsv.gz"
    write_bids_physio(recording, path, overwrite=True)
    assert read_gaze(path).equals(recording)
    _ROUND_TRIPS.append(len(recording))


def test_fuzz_round_trips_ran():
    if not _ROUND_TRIPS:
        test_fuzz_round_trip_is_exact()
    assert len(_ROUND_TRIPS) >= 20


@FUZZ
@given(data=st.data())
def test_fuzz_mutated_foreign_files_fail_cleanly_or_keep_their_rows(tmp_path, data):
    content = replace_bytes(data, SAMPLES.encode(), b"\t\n.9-n/a\xff")
    folder = Path(tempfile.mkdtemp(dir=tmp_path))
    path = dataset(folder, samples=content.decode("utf-8", "replace"))
    recording = read_or_none(path, read=read_gaze)
    if recording is None:  # refused with a GazeFormatError
        return
    lines = [line for line in gzip.decompress(path.read_bytes()).decode().split("\n")]
    if lines and lines[-1] == "":
        lines = lines[:-1]
    assert len(recording) == len(lines)


@FUZZ
@given(content=st.binary(max_size=200), gz=st.booleans())
def test_fuzz_random_data_raises_only_gaze_format_errors(tmp_path, content, gz):
    path = dataset(Path(tempfile.mkdtemp(dir=tmp_path)))
    path.write_bytes(gzip.compress(content) if gz else content)
    read_or_none(path)
