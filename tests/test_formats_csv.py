"""Plain gaze tables and format detection."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_recording
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from napari_gazeseg.gaze.formats import (
    FORMATS,
    GazeFormatError,
    detect_format,
    read_gaze,
    read_gaze_all,
    write_gaze,
    write_gazemedseg_csv,
)
from napari_gazeseg.gaze.recording import Fixations

FUZZ = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@pytest.mark.parametrize(
    ("header", "factor"),
    [
        ("t", 1.0),
        ("time [ms]", 1e-3),
        ("timestamp (us)", 1e-6),
        ("Time_ms", 1e-3),
        ("t [µs]", 1e-6),
        ("time (ns)", 1e-9),
    ],
)
def test_time_units_from_the_header(tmp_path, header, factor):
    path = tmp_path / "gaze.csv"
    path.write_text(f"{header},x,y\n0,1.5,2.5\n10,3,4\n")
    assert detect_format(path) == "csv"
    recording = read_gaze(path)
    np.testing.assert_array_equal(recording.t, [0.0, 10 * factor])
    np.testing.assert_array_equal(recording.coords, [[2.5, 1.5], [4.0, 3.0]])  # (row, col) = (y, x)


@pytest.mark.parametrize(
    ("text", "coords"),
    [
        ("t\trow\tcol\n0\t1\t2\n", [[1.0, 2.0]]),
        ("t;plane;row;col\n0;3;1;2\n", [[3.0, 1.0, 2.0]]),
        ("t,x,y,z,pupil,label\n0,2,1,3,4.1,left\n", [[3.0, 1.0, 2.0]]),
        ('"t","x","y"\n0,2,1\n', [[1.0, 2.0]]),
        ("t;x;y\n0;2,5;1,25\n", [[1.25, 2.5]]),  # comma decimals (spreadsheet locales)
    ],
)
def test_separators_layouts_and_ignored_columns(tmp_path, text, coords):
    path = tmp_path / "gaze.txt"
    path.write_text(text)
    assert read_gaze(path, format="csv").coords.tolist() == coords


def test_invalid_samples_validity_and_object_ids(tmp_path):
    path = tmp_path / "gaze.csv"
    path.write_text("t,x,y,valid,object_id\n0,1,2,1,3\n0.1,,,1,3\n0.2,1,2,0,0\n0.3,nan,2,1,1\n")
    recording = read_gaze(path)
    assert recording.valid.tolist() == [True, False, False, False]
    assert recording.object_id.tolist() == [3, 3, 0, 1]
    assert recording.meta == {"source": "csv", "image": {"name": "gaze"}}
    assert list(read_gaze_all(path)) == ["gaze"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("t,x,y\n0,1,2\n-1,1,2\n", r"line 3: time goes backwards"),
        ("t,x,y\n0,1,2\n,1,2\n", r"line 3: the time is not a finite number"),
        ("t,x,y\n0,1,2\n1,one,2\n", r"line 3: 'one' in column 'x' is not a number"),
        ("t,x,y\n0,1,2\n1,2\n", r"line 3: 2 fields where the header names 3"),
        ("t,x,y,valid\n0,1,2,2\n", r"line 2: valid is neither 0 nor 1"),
        ("t,x,y\n0,inf,2\n", r"line 2: a coordinate is infinite"),
        ("time,lat,lon\n0,1,2\n", r"line 1: the header \(time, lat, lon\) lacks"),
    ],
)
def test_malformed_tables_name_the_line(tmp_path, text, message):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(GazeFormatError, match=message):
        read_gaze(path, format="csv")


def test_detection_by_sidecar_and_header(tmp_path):
    write_gaze(make_recording(), tmp_path / "a.gaze.tsv")
    assert detect_format(tmp_path / "a.gaze.tsv") == "native"
    write_gazemedseg_csv(
        {
            "x.png": Fixations(
                start=[0.0], duration=[0.2], coords=[[1.0, 1.0]], meta={"image": {"shape": [4, 4]}}
            )
        },
        tmp_path / "b.csv",
    )
    assert detect_format(tmp_path / "b.csv") == "gazemedseg"
    (tmp_path / "c.tsv").write_text(
        "Recording timestamp [ms]\tGaze point X [DACS px]\n", encoding="utf-16"
    )
    assert detect_format(tmp_path / "c.tsv") == "tobii-pro-lab"
    (tmp_path / "d.csv").write_text("t,x,y\n")
    assert detect_format(tmp_path / "d.csv") == "csv"
    (tmp_path / "e.csv").write_text("t_s,x,y\n0,1,2\n")  # starts like native, but is a plain table
    assert detect_format(tmp_path / "e.csv") == "csv" and read_gaze(
        tmp_path / "e.csv"
    ).coords.tolist() == [[2.0, 1.0]]
    assert set(FORMATS) == {"native", "tobii-pro-lab", "gazemedseg", "csv"}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "the file is empty"),
        (b"\n\nt,x,y\n", "line 1: the first line is empty"),
        (b"name,age\nbob,3\n", r"line 1: the header \(name, age\) matches no gaze format"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "not valid UTF-8"),
        (b"t,x\x00,y\n", "NUL characters"),
        (b"t,x,y\xff\n", "not valid UTF-8"),
    ],
)
def test_undetectable_files(tmp_path, content, message):
    path = tmp_path / "unknown.csv"
    path.write_bytes(content)
    with pytest.raises(GazeFormatError, match=message):
        read_gaze(path)


def test_unknown_format_names_and_what(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("t,x,y\n0,1,1\n")
    with pytest.raises(ValueError, match="unknown gaze format 'eyelink'"):
        read_gaze(path, format="eyelink")
    with pytest.raises(ValueError, match="what must be"):
        read_gaze(path, what="saccades")
    with pytest.raises(TypeError, match="write_gazemedseg_csv"):
        write_gaze(
            Fixations(start=[0.0], duration=[0.1], coords=[[1.0, 1.0]]), tmp_path / "f.gaze.tsv"
        )


# -- fuzzing -----------------------------------------------------------------


@FUZZ
@given(
    values=hnp.arrays(
        np.float64,
        st.tuples(st.integers(0, 30), st.just(3)),
        elements=st.floats(-1e6, 1e6, allow_nan=False),
    ),
    separator=st.sampled_from([",", "\t", ";"]),
)
def test_fuzz_every_row_becomes_one_sample(tmp_path, values, separator):
    values[:, 0] = np.sort(values[:, 0])
    path = tmp_path / "fuzz.csv"
    path.write_text(
        separator.join("txy")
        + "\n"
        + "".join(separator.join(map(repr, row)) + "\n" for row in values.tolist())
    )
    recording = read_gaze(path)
    assert len(recording) == len(values)
    np.testing.assert_array_equal(recording.coords, values[:, [2, 1]])


@FUZZ
@given(data=st.data())
def test_fuzz_mutated_tables_fail_cleanly_or_keep_their_row_count(tmp_path, data):
    n = data.draw(st.integers(1, 20))
    path = tmp_path / "mutated.csv"
    path.write_text("t,x,y\n" + "".join(f"{i / 60!r},{i * 1.5!r},{-i / 7!r}\n" for i in range(n)))
    content = bytearray(path.read_bytes())
    for _ in range(data.draw(st.integers(1, 3))):
        position = data.draw(st.integers(0, len(content) - 1))
        content[position] = data.draw(st.sampled_from(list(b",\n 9.-e\t\xff")))
    path.write_bytes(bytes(content))
    try:
        recording = read_gaze(path, format="csv")
    except GazeFormatError:
        return
    body = bytes(content).decode("utf-8").split("\n", 1)[1].rstrip("\n")
    assert len(recording) == (len(body.split("\n")) if body else 0)


@FUZZ
@given(
    content=st.binary(max_size=300),
    prefix=st.sampled_from([b"", b"t,x,y\n", b"time [ms];row;col\n"]),
)
def test_fuzz_random_bytes_raise_only_gaze_format_errors(tmp_path, content, prefix):
    path = tmp_path / "random.csv"
    path.write_bytes(prefix + content)
    for format in (None, "csv"):
        try:
            read_gaze_all(path, format=format)
        except GazeFormatError:
            pass
