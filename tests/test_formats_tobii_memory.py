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
