"""Memory of reading a long Tobii Pro Lab export grows with its arrays, not its text (issue 10).

The export table used to keep every used field of every row as a Python string
(about 60x the recording's arrays); it now keeps compact codes and float64
columns, parsed in chunks. The full figure (a 10-minute 1200 Hz export, RSS) is
``benchmarks/bench_reader_memory.py --formats tobii``; this test bounds the
memory each extra row costs, measured with tracemalloc, so the chunk's fixed
cost cancels out.
"""

from __future__ import annotations

import gc
import tracemalloc

import numpy as np
import pytest

from napari_gazeseg.gaze.formats import GazeFormatError
from napari_gazeseg.gaze.formats.tobii_prolab import read_tobii_pro_lab

HEADER = [
    "Recording timestamp [μs]", "Sensor", "Participant name", "Recording name",
    "Recording resolution height [px]", "Recording resolution width [px]",
    "Eyetracker timestamp [μs]", "Event", "Gaze point X [DACS px]", "Gaze point Y [DACS px]",
    "Validity left", "Validity right", "Presented Stimulus name", "Presented Media name",
    "Presented Media width [px]", "Presented Media height [px]",
    "Presented Media position X [DACS px]", "Presented Media position Y [DACS px]",
    "Original Media width [px]", "Original Media height [px]", "Eye movement type",
    "Gaze event duration [ms]", "Eye movement type index",
]


def _export(path, n: int) -> None:
    """``n`` eye-tracker rows at 1200 Hz over two stimuli, gaze wandering on the media."""
    rng = np.random.default_rng(n)
    x = rng.uniform(400, 1500, n).round()
    y = rng.uniform(150, 900, n).round()
    lines = ["\t".join(HEADER)]
    for i in range(n):
        t = round(i * 1e6 / 1200)
        stimulus = f"image{2 * i // n}"
        lines.append(
            f"{t}\tEye Tracker\tP01\tRecording1\t1080\t1920\t{t + 987654321}\t\t"
            f"{x[i]:.0f}\t{y[i]:.0f}\tValid\tValid\t{stimulus}\t{stimulus}.png\t1280\t960\t320\t60"
            f"\t2560\t1920\t{'Fixation' if i % 300 < 240 else 'Saccade'}\t200\t{i // 300 + 1}"
        )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _peak_and_arrays(path) -> tuple[int, int]:
    gc.collect()
    tracemalloc.start()
    try:
        contents = read_tobii_pro_lab(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    arrays = sum(
        getattr(recording, name).nbytes
        for recording in contents.values()
        for name in ("t", "coords", "valid", "screen")
        if getattr(recording, name) is not None
    )
    return peak, arrays


def test_each_row_of_a_long_export_costs_a_few_times_its_arrays(tmp_path):
    small, large = tmp_path / "small.tsv", tmp_path / "large.tsv"
    _export(small, 10_000)
    _export(large, 40_000)
    read_tobii_pro_lab(small)  # imports and caches: not the rows' cost
    peak_small, arrays_small = _peak_and_arrays(small)
    peak_large, arrays_large = _peak_and_arrays(large)
    per_row = (peak_large - peak_small) / (arrays_large - arrays_small)
    assert per_row < 8, f"each row costs {per_row:.1f}x its arrays at the peak"


# -- chunks and blocks change nothing ------------------------------------------------

MIXED = [
    "Recording timestamp [μs]", "Sensor", "Participant name", "Recording name", "Event",
    "Recording resolution width [px]", "Recording resolution height [px]",
    "Gaze point X [DACS px]", "Gaze point Y [DACS px]", "Gaze point X [DACS mm]",
    "Gaze point Y [DACS mm]", "Eye position left Z [DACS mm]", "Validity left", "Validity right",
    "Presented Stimulus name", "Presented Media name", "Presented Media width [px]",
    "Presented Media height [px]", "Presented Media position X [DACS px]",
    "Presented Media position Y [DACS px]", "Original Media width [px]",
    "Original Media height [px]", "Eye movement type", "Gaze event duration [ms]",
    "Eye movement type index", "Fixation point X [DACS px]", "Fixation point Y [DACS px]",
    "AOI hit [A - left half]",
]
#: (presented width, height, position x, y, original width, height) of each stimulus.
MEDIA = {"A": (800, 600, 560, 240, 400, 300), "B": (100, 50, 10, 20, 100, 50),
         "C": (1000, 700, 100, 50, 2000, 1400)}


def _mixed_export(path, n: int = 240, backwards_at: int | None = None) -> None:
    """Stimuli A, B, C shown in turns of 7 to 40 rows over two recordings, gaze in whole
    pixels in some runs and decimals in others, lost samples, event rows and a blank line."""
    rng = np.random.default_rng(5)
    lines = ["\t".join(MIXED)]
    turns = np.repeat(rng.choice(list(MEDIA), 20), rng.integers(7, 40, 20))[:n]
    for i, name in enumerate(turns):
        t = 10_000_000 + round(i * 1e6 / 600) + (2_000_000 if i > n // 2 else 0)
        if i == backwards_at:
            t -= 5_000_000
        pw, ph, px, py, ow, oh = MEDIA[name]
        x, y = px + rng.uniform(-30, pw + 30), py + rng.uniform(-30, ph + 30)
        text = (f"{x:.0f}", f"{y:.0f}") if (i // 25) % 2 else (f"{x:.3f}", f"{y:.3f}")
        lost = rng.random() < 0.1
        gx, gy = ("", "") if lost else text
        mm = ("", "") if lost else (f"{x * 0.2745:.4f}", f"{y * 0.2745:.4f}")
        kind = "EyesNotFound" if lost else ("Fixation" if i % 30 < 22 else "Saccade")
        lines.append("\t".join((
            str(t), "Eye Tracker", "P01", "Recording1" if i < 2 * n // 3 else "Recording2", "",
            "1920", "1080", gx, gy, *mm, f"{640 + rng.normal():.2f}",
            "Invalid" if lost else "Valid", "Valid" if i % 7 else "Invalid",
            name, f"{name}.png", str(pw), str(ph), str(px), str(py), str(ow), str(oh),
            kind, str(200 + i % 3), str(i // 30 + 1), text[0], text[1], str(int(x < px + pw / 2)),
        )))
        if i % 41 == 3:
            lines.append(f"{t + 1}\tEvent\tP01\tRecording1\tKeyPress" + "\t" * (len(MIXED) - 5))
        if i == 100:
            lines.append("")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _everything(path) -> dict:
    from napari_gazeseg.gaze.formats.tobii_prolab import read_prolab_aoi_hits

    return {
        "samples": read_tobii_pro_lab(path),
        "fixations": read_tobii_pro_lab(path, what="fixations"),
        "aoi_hits": read_prolab_aoi_hits(path),
    }


def _assert_same(got, expected, where="") -> None:
    if isinstance(expected, dict):
        assert list(got) == list(expected), where
        for key in expected:
            _assert_same(got[key], expected[key], f"{where}/{key}")
    elif isinstance(expected, np.ndarray):
        assert got.dtype == expected.dtype and got.shape == expected.shape, where
        assert got.tobytes() == expected.tobytes(), where  # bit for bit, NaN where NaN
    elif hasattr(expected, "__dataclass_fields__"):
        _assert_same(vars(got), vars(expected), where)
    else:
        assert got == expected, where


def test_chunked_reading_gives_the_arrays_of_a_single_chunk_read(tmp_path, monkeypatch):
    """Stimuli split across chunk and block boundaries, columns whose chunks are kept
    as codes, whole numbers or decimals by turns: the same arrays and meta, bit for bit,
    and errors naming the same line."""
    from napari_gazeseg.gaze.formats import _tobii, tobii_prolab

    path, bad = tmp_path / "mixed.tsv", tmp_path / "backwards.tsv"
    _mixed_export(path)
    _mixed_export(bad, backwards_at=120)
    monkeypatch.setattr(_tobii.TobiiTable, "CHUNK_ROWS", 10**6)
    monkeypatch.setattr(tobii_prolab, "_BLOCK", 10**6)
    whole = _everything(path)
    with pytest.raises(GazeFormatError) as whole_error:
        read_tobii_pro_lab(bad)
    monkeypatch.setattr(_tobii.TobiiTable, "CHUNK_ROWS", 13)
    monkeypatch.setattr(tobii_prolab, "_BLOCK", 11)
    chunked = _everything(path)
    _assert_same(chunked, whole)
    assert len(whole["samples"]) >= 4  # keyed RECORDING/STIMULUS, each in several turns
    assert all("screen" in item.meta for item in whole["samples"].values())
    with pytest.raises(GazeFormatError) as chunked_error:
        read_tobii_pro_lab(bad)
    assert str(chunked_error.value) == str(whole_error.value)
    assert "goes backwards" in str(whole_error.value)
