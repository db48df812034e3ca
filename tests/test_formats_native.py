"""Native gaze files: exact round trips, crash-safe appending, strict reading, fuzzing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import make_recording
from fuzz_edits import fuzz_settings, garbage_edits, read_or_none, valid_edits
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from napari_gazeseg.gaze.formats import (
    GazeFormatError,
    NativeGazeWriter,
    _table,
    detect_format,
    read_gaze,
    read_gaze_all,
    write_gaze,
)
from napari_gazeseg.gaze.formats.native import (
    GazeFileError,
    GazeFileLostError,
    native_columns,
    sidecar_path,
)
from napari_gazeseg.gaze.recording import GazeRecording

FUZZ = fuzz_settings(40)


@pytest.fixture(params=["pandas", "numpy"])
def engine(request, monkeypatch):
    """Run a test with each fast parser (pandas when installed, numpy.loadtxt without)."""
    monkeypatch.setattr(_table, "FAST_ENGINE", request.param)
    return request.param


def awkward_recording(ndim: int) -> GazeRecording:
    """Floats with long shortest-reprs, tiny and huge values, NaN screen, ids 0..3."""
    rng = np.random.default_rng(ndim)
    n = 50
    t = np.cumsum(rng.exponential(1 / 1200, n))
    t[10] = t[9]
    coords = rng.normal(0, 1, (n, ndim)) * np.array([1e-300, 1 / 3, 1e15, 7.0, 0.1][:ndim])
    valid = rng.random(n) > 0.2
    screen = rng.random((n, 2))
    screen[::7] = np.nan
    screen[3, 0] = -0.0
    meta = {
        "sampling_rate_hz": 1200.0,
        "image": {"name": "awkward", "shape": [5] * ndim},
        "x": [0.1, None, "é"],
    }
    return GazeRecording(
        t=t, coords=coords, valid=valid, screen=screen, object_id=rng.integers(0, 4, n), meta=meta
    )


@pytest.mark.parametrize("ndim", [2, 3, 4])
def test_round_trip_is_exact(tmp_path, ndim, engine):
    recording = awkward_recording(ndim)
    path = tmp_path / "awkward.gaze.tsv"
    write_gaze(recording, path)
    back = read_gaze(path)
    assert back.equals(recording)
    assert np.array_equal(np.signbit(back.screen), np.signbit(recording.screen))  # -0.0 kept
    header = path.read_text().split("\n")[0].split("\t")
    assert header == native_columns(ndim)
    assert (
        header[1 : 1 + ndim]
        == {2: ["row", "col"], 3: ["plane", "row", "col"], 4: ["axis0", "axis1", "row", "col"]}[
            ndim
        ]
    )


def test_fixture_round_trip_and_keys(tmp_path):
    recording = make_recording(ndim=3)
    path = tmp_path / "fixture.gaze.tsv"
    write_gaze(recording, path)
    assert detect_format(path) == "native"
    assert read_gaze(path).equals(recording)
    assert list(read_gaze_all(path)) == ["fixture3d"]  # keyed by meta["image"]["name"]
    assert read_gaze(sidecar_path(path)).equals(recording)  # the sidecar names the same file


def test_recording_without_screen_reads_back_without_screen(tmp_path):
    recording = GazeRecording(t=[0.0, 0.5], coords=[[1.0, 2.0], [np.nan, np.nan]])
    write_gaze(recording, tmp_path / "plain.gaze.tsv")
    back = read_gaze(tmp_path / "plain.gaze.tsv")
    assert back.screen is None and back.equals(recording)
    assert list(read_gaze_all(tmp_path / "plain.gaze.tsv")) == ["plain"]


def test_pandas_reads_the_file_as_documented(tmp_path):
    recording = make_recording()
    path = tmp_path / "fixture.gaze.tsv"
    write_gaze(recording, path)
    frame = pd.read_csv(path, sep="\t")
    assert list(frame.columns) == native_columns(2)
    np.testing.assert_array_equal(frame["t_s"].to_numpy(), recording.t)
    np.testing.assert_array_equal(frame[["row", "col"]].to_numpy(), recording.coords)
    np.testing.assert_array_equal(frame["valid"].to_numpy(), recording.valid.astype(int))
    sidecar = json.loads(sidecar_path(path).read_text())
    assert sidecar["meta"] == recording.meta and sidecar["format_version"] == 1
    assert set(sidecar["columns"]) == set(frame.columns)


def test_writer_appends_batches_and_is_readable_at_every_flush(tmp_path):
    recording = make_recording()
    path = tmp_path / "live.gaze.tsv"
    with NativeGazeWriter(path, 2, recording.meta) as writer:
        assert len(read_gaze(path)) == 0  # sidecar and header exist from the start
        for start in range(0, len(recording), 100):
            part = recording.select(np.arange(start, min(start + 100, len(recording))))
            writer.append(part.t, part.coords, part.valid, part.screen, part.object_id)
            writer.flush()
            assert read_gaze(path).equals(recording.select(np.arange(0, start + len(part))))
    assert writer.closed and writer.samples_written == len(recording)


def test_writer_defaults_and_refusals(tmp_path):
    path = tmp_path / "defaults.gaze.tsv"
    with NativeGazeWriter(path, 2) as writer:
        writer.append([0.0, 0.1], [[1.0, 2.0], [3.0, np.nan]])
        with pytest.raises(ValueError, match="non-decreasing"):
            writer.append([0.05], [[1.0, 1.0]])
        with pytest.raises(ValueError, match="3 columns"):
            writer.append([0.2], [[1.0, 1.0, 1.0]])
        with pytest.raises(ValueError, match="non-negative integers"):
            writer.append([0.2], [[1.0, 1.0]], object_id=[-1])
    back = read_gaze(path)
    assert back.object_id.tolist() == [1, 1] and back.valid.tolist() == [True, False]
    assert back.meta == {} and back.screen is None
    with pytest.raises(ValueError, match="JSON-serialisable"):
        NativeGazeWriter(tmp_path / "bad.gaze.tsv", 2, {"x": np.float32(1)})


def test_torn_last_line_is_dropped_with_a_warning(tmp_path):
    recording = make_recording()
    path = tmp_path / "torn.gaze.tsv"
    write_gaze(recording, path)
    with open(path, "a") as file:
        file.write("2.0083333\t12.5\t3")
    with pytest.warns(UserWarning, match=r"line 242: the last line is incomplete"):
        back = read_gaze(path)
    assert back.equals(recording)


KILLED_WRITER = textwrap.dedent(
    """
    import os, sys, numpy as np
    from napari_gazeseg.gaze.formats import NativeGazeWriter
    writer = NativeGazeWriter(sys.argv[1], 2, {{"source": "killed"}})
    t = np.arange({n}) / 600.0
    writer.append(t, np.column_stack([t, t]), screen=np.full(({n}, 2), 0.5))
    writer.flush()
    os.write(writer._fd, b"9.5\\t1.25\\t")  # half a line reaches the disk, then the process dies
    os._exit(9)
    """
)


def test_a_writer_killed_mid_line_leaves_everything_flushed(tmp_path):
    path = tmp_path / "killed.gaze.tsv"
    result = subprocess.run(
        [sys.executable, "-c", KILLED_WRITER.format(n=1234), str(path)], env=os.environ
    )
    assert result.returncode == 9
    with pytest.warns(UserWarning, match="incomplete"):
        back = read_gaze(path)
    assert len(back) == 1234 and back.meta == {"source": "killed"}
    np.testing.assert_array_equal(back.t, np.arange(1234) / 600.0)


def test_a_file_without_sidecar_reads_with_empty_meta(tmp_path):
    path = tmp_path / "bare.gaze.tsv"
    write_gaze(make_recording(), path)
    sidecar_path(path).unlink()
    assert detect_format(path) == "native"
    back = read_gaze(path)
    assert back.meta == {} and len(back) == 240


def test_files_we_write_take_the_fast_path(tmp_path, engine, monkeypatch):
    path = tmp_path / "fast.gaze.tsv"
    write_gaze(awkward_recording(3), path)

    def refuse(*args):
        raise AssertionError("the line-by-line parser ran")

    monkeypatch.setattr(_table, "_parse_slow", refuse)
    assert read_gaze(path).equals(awkward_recording(3))


def test_empty_fields_read_as_nan(tmp_path, engine):
    path = tmp_path / "hand.tsv"
    path.write_text(
        "\t".join(native_columns(2)) + "\n0.5\t\t\t0\t\t\t1\n0.75\t1\t2\t1\t0.5\t0.5\t2\n"
    )
    back = read_gaze(path)
    assert back.valid.tolist() == [False, True] and np.isnan(back.screen[0]).all()
    assert back.object_id.tolist() == [1, 2]


def write_lines(tmp_path, lines, ndim=2):
    path = tmp_path / "bad.gaze.tsv"
    path.write_text("\t".join(native_columns(ndim)) + "\n" + "".join(line + "\n" for line in lines))
    return path


GOOD = "0.5\t1\t2\t1\t0.5\t0.5\t1"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("0.6\t1\tx\t1\t0.5\t0.5\t1", r"line 3: 'x' in column 'col' is not a number"),
        ("0.6\t1\t2\t1\t0.5\t0.5", r"line 3: 6 fields where the header names 7"),
        ("nan\t1\t2\t1\t0.5\t0.5\t1", r"line 3: the time t_s is not a finite number"),
        ("0.4\t1\t2\t1\t0.5\t0.5\t1", r"line 3: time goes backwards"),
        ("0.6\t1\t2\t2\t0.5\t0.5\t1", r"line 3: valid is neither 0 nor 1"),
        ("0.6\t1\t2\t1\t0.5\t0.5\t1.5", r"line 3: object_id is not a non-negative integer"),
        ("0.6\tinf\t2\t1\t0.5\t0.5\t1", r"line 3: a coordinate is infinite"),
        ("0.6\t1 2\t2\t1\t0.5\t0.5\t1", r"line 3: '1 2' in column 'row' is not a number"),
        ("0.6\t1,5\t2\t1\t0.5\t0.5\t1", r"line 3: '1,5' in column 'row' is not a number"),
    ],
)
def test_malformed_lines_are_named(tmp_path, line, message, engine):
    path = write_lines(tmp_path, [GOOD, line, GOOD.replace("0.5", "0.7", 1)])
    with pytest.raises(GazeFormatError, match=message) as caught:
        read_gaze(path)
    assert str(path) in str(caught.value) and str(caught.value).endswith(".")
    assert isinstance(caught.value, ValueError)


def test_bad_headers_sidecars_and_encodings(tmp_path):
    path = tmp_path / "h.gaze.tsv"
    path.write_text("t_s\trow\tcol\tvalid\n0\t1\t2\t1\n")
    with pytest.raises(GazeFormatError, match="line 1: the header"):
        read_gaze(path, format="native")
    path.write_bytes(b"")
    with pytest.raises(GazeFormatError, match="empty"):
        read_gaze(path, format="native")
    write_gaze(make_recording(), path)
    sidecar = sidecar_path(path)
    sidecar.write_text(sidecar.read_text().replace('"format_version": 1', '"format_version": 99'))
    with pytest.raises(GazeFormatError, match="update napari-gazeseg"):
        read_gaze(path)
    sidecar.write_text("{not json")
    with pytest.raises(GazeFormatError, match="not valid JSON"):
        read_gaze(path)
    sidecar.unlink()
    path.write_bytes(path.read_bytes()[:200] + b"\xff\xfe\xfa" + path.read_bytes()[200:])
    with pytest.raises(GazeFormatError, match="not valid UTF-8"):
        read_gaze(path, format="native")


def test_samples_only_format_refuses_fixations(tmp_path):
    write_gaze(make_recording(), tmp_path / "a.gaze.tsv")
    with pytest.raises(GazeFormatError, match="detect_fixations_ivt"):
        read_gaze_all(tmp_path / "a.gaze.tsv", what="fixations")
    with pytest.raises(GazeFormatError, match="no gaze for stimulus 'other'"):
        read_gaze(tmp_path / "a.gaze.tsv", stimulus="other")


# -- fuzzing -----------------------------------------------------------------

finite = st.floats(allow_nan=False, allow_infinity=False, width=64)


@st.composite
def recordings(draw):
    n = draw(st.integers(0, 30))
    ndim = draw(st.integers(2, 4))
    t = np.sort(draw(hnp.arrays(np.float64, n, elements=finite)))
    coords = draw(hnp.arrays(np.float64, (n, ndim), elements=finite | st.just(np.nan)))
    valid = draw(hnp.arrays(bool, n))
    screen = draw(st.none() | hnp.arrays(np.float64, (n, 2), elements=finite | st.just(np.nan)))
    if screen is not None and np.isnan(screen).all():
        screen = None  # an all-unknown screen reads back as None (documented)
    ids = draw(hnp.arrays(np.int64, n, elements=st.integers(0, 2**53)))
    meta = draw(
        st.dictionaries(st.text(max_size=5), st.none() | finite | st.text(max_size=5), max_size=3)
    )
    return GazeRecording(t=t, coords=coords, valid=valid, screen=screen, object_id=ids, meta=meta)


@FUZZ
@given(recording=recordings())
def test_fuzz_any_recording_round_trips_exactly(tmp_path, engine, recording):
    path = tmp_path / "fuzz.gaze.tsv"
    write_gaze(recording, path)
    assert read_gaze(path).equals(recording)


@FUZZ
@given(data=st.data())
def test_fuzz_valid_edits_keep_every_line(tmp_path, engine, branches, data):
    """Lines deleted or repeated, digits of coordinates and screen positions changed,
    CRLF line ends: every line is read, each value as its text says."""
    branches.need(**{"every line read": FUZZ.max_examples})
    recording = data.draw(recordings())
    path = tmp_path / "edited.gaze.tsv"
    write_gaze(recording, path)
    ndim = recording.ndim
    numbers = [*range(1, ndim + 1), ndim + 2, ndim + 3]  # coordinates, screen_x, screen_y
    text, lines = valid_edits(data.draw, path.read_text(), "\t", numbers, keep_order=[0])
    path.write_bytes(text.encode())
    back = read_gaze(path)
    assert len(back) == lines
    expected = np.array(
        [[float(v) for v in row.split("\t")] for row in text.splitlines()[1:]]
    ).reshape(lines, len(native_columns(ndim)))
    np.testing.assert_array_equal(back.t, expected[:, 0])
    np.testing.assert_array_equal(back.coords, expected[:, 1 : ndim + 1])
    if back.screen is not None:
        np.testing.assert_array_equal(back.screen, expected[:, ndim + 2 : ndim + 4])
    branches["every line read"] += 1


@FUZZ
@given(data=st.data())
def test_fuzz_garbage_is_refused_or_keeps_its_row_count(tmp_path, engine, branches, data):
    """Bytes replaced, deleted or inserted anywhere: a GazeFormatError, or every complete
    line read (and the fast parser agrees with the line-by-line one)."""
    branches.need(refused=FUZZ.max_examples // 2)
    recording = data.draw(recordings())
    path = tmp_path / "mutated.gaze.tsv"
    write_gaze(recording, path)
    content = garbage_edits(data, path.read_bytes(), b"\t\n 0.5-e,x\x00\xff", max_edits=4)
    back = branches.read_edited(path, content, read=read_gaze)
    if back is None:  # refused with a GazeFormatError (counted)
        return
    text = content.decode("utf-8")
    complete = text.count("\n") - 1  # the header's and every complete sample's line end
    assert len(back) == complete
    # the fast parser agrees with the line-by-line reference on whatever it accepted
    fast = _table.parse_fast
    try:
        _table.parse_fast = lambda *args: None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            assert read_gaze(path).equals(back)
    finally:
        _table.parse_fast = fast
    branches["read"] += 1


@FUZZ
@given(content=st.binary(max_size=300))
def test_fuzz_random_bytes_raise_only_gaze_format_errors(tmp_path, content):
    path = tmp_path / "random.gaze.tsv"
    path.write_bytes(content)
    for format in (None, "native"):
        read_or_none(path, read=read_gaze, format=format)


# -- the writer never loses a user's file (issue 10, items 1, 3, 4) -------------------------
def test_writer_never_replaces_an_existing_recording(tmp_path):
    path = tmp_path / "first.gaze.tsv"
    write_gaze(make_recording(), path)
    before = path.read_bytes(), sidecar_path(path).read_bytes()
    with pytest.raises(GazeFileError, match=r"first\.gaze\.tsv already exists") as refused:
        NativeGazeWriter(path, 2, {"second": True})
    assert isinstance(refused.value, FileExistsError) and "\n" not in str(refused.value)
    assert (path.read_bytes(), sidecar_path(path).read_bytes()) == before
    # a sidecar left alone is someone's metadata: also kept
    lone = tmp_path / "lone.gaze.tsv"
    sidecar_path(lone).write_text("{}")
    with pytest.raises(GazeFileError, match="already exists"):
        NativeGazeWriter(lone, 2)
    assert sidecar_path(lone).read_text() == "{}" and not lone.exists()


def test_a_file_being_written_refuses_a_second_writer(tmp_path):
    path = tmp_path / "busy.gaze.tsv"
    recording = make_recording()
    with NativeGazeWriter(path, 2, {"first": True}) as first:
        first.append(recording.t[:10], recording.coords[:10])
        first.flush()
        for second in (
            lambda: NativeGazeWriter(path, 2, {"second": True}),
            lambda: NativeGazeWriter(path, 2, {"second": True}, overwrite=True),
            lambda: write_gaze(recording, path),
        ):
            with pytest.raises(GazeFileError, match=r"busy\.gaze\.tsv is being written by another recording"):
                second()
        first.append(recording.t[10:20], recording.coords[10:20])
    back = read_gaze(path)
    assert len(back) == 20 and back.meta == {"first": True}
    write_gaze(recording, path)  # closed: an explicit save may replace it
    assert read_gaze(path).equals(recording)


def test_writer_notices_its_folder_removed_and_moves_everything_to_a_new_file(tmp_path):
    import shutil

    recording = make_recording()
    folder = tmp_path / "session"
    folder.mkdir()
    path = folder / "lost.gaze.tsv"
    writer = NativeGazeWriter(path, 2, recording.meta)
    writer.append(recording.t[:100], recording.coords[:100], recording.valid[:100])
    writer.flush()
    shutil.rmtree(folder)
    writer.append(recording.t[100:150], recording.coords[100:150], recording.valid[100:150])
    with pytest.raises(GazeFileLostError, match=r"lost\.gaze\.tsv was removed") as lost:
        writer.flush()
    assert lost.value.path == path
    fallback = tmp_path / "kept.gaze.tsv"
    writer.move_to(fallback)
    assert writer.path == fallback
    writer.append(recording.t[150:], recording.coords[150:], recording.valid[150:])
    writer.close()
    back = read_gaze(fallback)
    assert back.meta == recording.meta
    np.testing.assert_array_equal(back.t, recording.t)  # nothing lost, nothing twice
    np.testing.assert_array_equal(back.valid, recording.valid)


def test_writer_notices_its_file_replaced_by_another(tmp_path):
    path = tmp_path / "swapped.gaze.tsv"
    writer = NativeGazeWriter(path, 2)
    writer.append([0.0], [[1.0, 2.0]])
    path.unlink()
    path.write_text("someone else's file\n")
    with pytest.raises(GazeFileLostError, match="was removed or replaced"):
        writer.flush()
    writer.move_to(tmp_path / "mine.gaze.tsv")
    writer.close()
    assert path.read_text() == "someone else's file\n"  # theirs untouched
    assert len(read_gaze(tmp_path / "mine.gaze.tsv")) == 1


def test_writer_errors_name_the_users_file_never_a_temporary(tmp_path, monkeypatch):
    import errno

    real_open = os.open

    def denied(path, flags, *args, **kwargs):
        if os.fspath(path).startswith(str(tmp_path / "locked")) and flags & (os.O_WRONLY | os.O_RDWR):
            raise PermissionError(errno.EACCES, "Permission denied", os.fspath(path))
        return real_open(path, flags, *args, **kwargs)

    (tmp_path / "locked").mkdir()
    monkeypatch.setattr(os, "open", denied)
    with pytest.raises(GazeFileError) as refused:
        NativeGazeWriter(tmp_path / "locked" / "mine.gaze.tsv", 2)
    message = str(refused.value)
    assert "mine.gaze.tsv" in message and ".part" not in message and "Errno" not in message
    assert "permission" in message.lower() and refused.value.errno == errno.EACCES
