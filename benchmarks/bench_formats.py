"""How fast a 10-minute 1200 Hz native gaze file (720 000 samples) reads and writes.

Run: ``.venv/bin/python benchmarks/bench_formats.py [--samples N]``.

Measures, in one run on one machine, and prints ratios against peers:

1. Reading with :func:`read_gaze` (numpy fast path, every value checked)
   against ``numpy.loadtxt`` (the naive numpy way, no checks) and
   ``pandas.read_csv`` (a C parser, no checks; pandas is not a runtime
   dependency of the plugin).
2. The line-by-line fallback the reader uses to locate a bad line, on the same
   file (what a malformed file costs before its error is raised).
3. Writing with :func:`write_gaze` against ``numpy.savetxt`` with ``%.17g``
   (also exact, but not the shortest text).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
from _common import best_time


def _recording(n: int):
    from napari_gazeseg.gaze.recording import GazeRecording

    rng = np.random.default_rng(0)
    t = np.arange(n) / 1200.0
    coords = np.cumsum(rng.normal(0, 0.5, (n, 2)), axis=0) + 256.0
    valid = rng.random(n) > 0.05
    screen = rng.random((n, 2))
    screen[~valid] = np.nan
    object_id = np.repeat(np.arange(1, 11), -(-n // 10))[:n]
    meta = {"sampling_rate_hz": 1200.0, "image": {"name": "bench", "shape": [512, 512]}}
    return GazeRecording(
        t=t, coords=coords, valid=valid, screen=screen, object_id=object_id, meta=meta
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=720_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    from napari_gazeseg.gaze.formats import read_gaze, write_gaze
    from napari_gazeseg.gaze.formats._table import _parse_slow

    recording = _recording(args.samples)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench.gaze.tsv"
        naive_path = Path(folder) / "naive.tsv"
        columns = np.column_stack(
            [recording.t, recording.coords, recording.valid, recording.screen, recording.object_id]
        )

        write_s = best_time(lambda: write_gaze(recording, path), args.repeats)
        savetxt_s = best_time(
            lambda: np.savetxt(naive_path, columns, fmt="%.17g", delimiter="\t"), args.repeats
        )
        size_mb = path.stat().st_size / 1e6

        read_s = best_time(lambda: read_gaze(path), args.repeats)
        assert read_gaze(path).equals(recording)
        loadtxt_s = best_time(lambda: np.loadtxt(path, delimiter="\t", skiprows=1), 1)
        try:
            import pandas as pd

            pandas_s = best_time(lambda: pd.read_csv(path, sep="\t"), args.repeats)
        except ImportError:
            pandas_s = None
        body = path.read_text().split("\n", 1)[1]
        header = path.read_text().split("\n", 1)[0].split("\t")
        slow_s = best_time(lambda: _parse_slow(body, header, path, 2, "\t", "."), 1)

    print(f"native file: {args.samples} samples, {size_mb:.1f} MB")
    print(f"read_gaze            {read_s:7.2f} s")
    print(
        f"numpy.loadtxt        {loadtxt_s:7.2f} s   read_gaze is {loadtxt_s / read_s:5.1f}x faster"
    )
    if pandas_s is not None:
        print(
            f"pandas.read_csv      {pandas_s:7.2f} s   read_gaze takes {read_s / pandas_s:5.2f}x pandas' time"
        )
    print(
        f"line-by-line parse   {slow_s:7.2f} s   (the fallback that names a bad line; {slow_s / read_s:4.1f}x)"
    )
    print(f"write_gaze           {write_s:7.2f} s")
    print(
        f"numpy.savetxt %.17g  {savetxt_s:7.2f} s   write_gaze takes {write_s / savetxt_s:5.2f}x savetxt's time"
    )


if __name__ == "__main__":
    main()
