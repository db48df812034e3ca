"""The native reader parses big files chunk by chunk: same recording, same errors as whole.

``read_native`` reads plain UTF-8 files ``_CHUNK_BYTES`` at a time (so that an
hour at 1200 Hz never sits in memory as text, ``benchmarks/bench_reader_memory.py``);
with tiny chunks every boundary case happens in a small file, and each must
give exactly what reading the whole text gives: the recording, the warning
about a torn last line, the one sentence naming the bad line.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from napari_gazeseg.gaze.formats import GazeFormatError, native, write_gaze
from napari_gazeseg.gaze.formats.native import _read_native_whole, read_native, read_sidecar

from conftest import make_recording

CHUNKS = [1, 7, 64, 1000, 8 * 2**20]


def _both(path, monkeypatch, chunk):
    """``(chunked, whole)``: each a recording or the message it raised, and its warnings."""
    monkeypatch.setattr(native, "_CHUNK_BYTES", chunk)
    results = []
    for read in (read_native, lambda p: _read_native_whole(p, read_sidecar(p))):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                result = read(path)
            except GazeFormatError as err:
                result = str(err)
        results.append((result, [str(w.message) for w in caught]))
    return results


def _same(chunked, whole):
    (a, warned_a), (b, warned_b) = chunked, whole
    assert warned_a == warned_b
    if isinstance(b, str):
        assert a == b
    else:
        assert a.equals(b)


@pytest.mark.parametrize("chunk", CHUNKS)
@pytest.mark.parametrize("ndim", [2, 3])
def test_chunked_reading_gives_the_whole_recording(tmp_path, monkeypatch, chunk, ndim):
    recording = make_recording(ndim)
    path = tmp_path / "r.gaze.tsv"
    write_gaze(recording, path)
    chunked, whole = _both(path, monkeypatch, chunk)
    _same(chunked, whole)
    assert chunked[0].equals(recording)


def _lines(tmp_path):
    path = tmp_path / "r.gaze.tsv"
    write_gaze(make_recording(2, n=120), path)
    return path, path.read_text().splitlines(keepends=True)


@pytest.mark.parametrize("chunk", CHUNKS)
@pytest.mark.parametrize(
    "edit",
    ["torn last line", "bad number late", "time back at a boundary", "long line", "crlf",
     "no rows", "blank line", "valid 2", "infinite screen", "not utf-8 late", "no screen"],
)
def test_chunked_reading_says_what_the_whole_text_says(tmp_path, monkeypatch, chunk, edit):
    path, lines = _lines(tmp_path)
    if edit == "torn last line":
        lines[-1] = lines[-1][:-7]
    elif edit == "bad number late":
        lines[35] = lines[35].replace("\t", "\t1.5x\t", 1)
    elif edit == "time back at a boundary":
        lines[20] = "0.001" + lines[20][lines[20].index("\t"):]
    elif edit == "long line":
        lines[10] = "0" * 3000 + lines[10]  # a time of 3000 leading zeros: longer than a chunk
    elif edit == "crlf":
        lines = [line.replace("\n", "\r\n") for line in lines]
    elif edit == "no rows":
        lines = lines[:1]
    elif edit == "blank line":
        lines.insert(17, "\n")
    elif edit == "valid 2":
        fields = lines[30].split("\t")
        fields[3] = "2"
        lines[30] = "\t".join(fields)
    elif edit == "infinite screen":
        fields = lines[12].split("\t")
        fields[4] = "inf"
        lines[12] = "\t".join(fields)
    elif edit == "no screen":
        lines = [lines[0]] + ["\t".join(line.split("\t")[:4] + ["nan", "nan", line.split("\t")[-1]]) for line in lines[1:]]
    path.write_bytes("".join(lines).encode("utf-8"))
    if edit == "not utf-8 late":
        data = path.read_bytes()
        path.write_bytes(data[: len(data) - 40] + b"\xff" + data[len(data) - 39 :])
    chunked, whole = _both(path, monkeypatch, chunk)
    _same(chunked, whole)
    if edit in ("torn last line",):
        assert "line 121" in chunked[1][0]
    if edit in ("bad number late", "time back at a boundary", "valid 2", "infinite screen", "blank line"):
        assert isinstance(chunked[0], str) and ", line " in chunked[0]
    if edit == "no screen":
        assert chunked[0].screen is None
    if edit == "long line":
        assert not isinstance(chunked[0], str)
        np.testing.assert_array_equal(chunked[0].t, whole[0].t)
