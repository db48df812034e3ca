"""Peak memory of opening a long gaze recording: the reader and the napari reader path.

Run: ``.venv/bin/python benchmarks/bench_reader_memory.py [--minutes 60] [--rate 1200]``.

Writes a ``--minutes`` long recording at ``--rate`` Hz (default: one hour at
1200 Hz, 4.32 million samples) twice, as a native ``.gaze.tsv`` and as a Tobii
Pro Lab-like data export (34 columns, six stimuli of ten minutes, as Pro Lab
writes them), then opens each file in a fresh subprocess, once per stage:

``read``
    :func:`~napari_gazeseg.gaze.formats.read_gaze_all` (the recordings' arrays);
``reader``
    the npe2 reader function (:func:`~napari_gazeseg._napari.reader.read_gaze_layers`):
    read, detect fixations and build every layer's data (what napari is handed).

For each it prints the peak resident memory the stage added (``VmHWM`` after
resetting it through ``/proc/self/clear_refs``, minus the resident memory
before; Linux only) and its ratios to the size of the recording's arrays
(``t``, ``coords``, ``valid``, ``screen``, ``object_id``: 49 bytes a sample)
and to the file size. ``--tracemalloc`` measures the peak of Python and numpy
allocations instead (slower, excludes the interpreter's free lists).
The target (issue 10): each stage peaks under 3x the arrays.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

_CHILD = r"""
import gc, json, os, sys, time
import numpy, pandas
from napari_gazeseg.gaze.formats import read_gaze_all
from napari_gazeseg._napari.reader import read_gaze_layers
import napari, napari.utils.colormaps  # what building layers imports: not the file's cost
import napari_gazeseg._napari._deleted_visuals_guard, napari_gazeseg._napari.layers
import napari_gazeseg.gaze.fixations, napari_gazeseg.gaze.maps, scipy.fft, scipy.ndimage
napari.current_viewer()  # imports the viewer's modules, as the reader's first call does

stage, path, use_tracemalloc = sys.argv[1], sys.argv[2], sys.argv[3] == "1"

def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

def hwm():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024

def arrays(contents):
    total = 0
    for item in contents.values():
        for name in ("t", "coords", "valid", "screen", "object_id", "start", "duration"):
            value = getattr(item, name, None)
            if isinstance(value, numpy.ndarray):
                total += value.nbytes
    return total

gc.collect()
if use_tracemalloc:
    import tracemalloc
    tracemalloc.start()
base = rss()
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # reset the peak resident size to the current one
start = time.perf_counter()
if stage == "read":
    result = read_gaze_all(path)
    size = arrays(result)
    samples = sum(len(r) for r in result.values())
else:
    result = read_gaze_layers(path)
    size = samples = None
seconds = time.perf_counter() - start
peak = tracemalloc.get_traced_memory()[1] if use_tracemalloc else hwm() - base
print(json.dumps({"peak": peak, "arrays": size, "samples": samples, "seconds": seconds}))
"""

TOBII_COLUMNS = [
    "Recording timestamp [μs]", "Computer timestamp [μs]", "Sensor", "Participant name",
    "Recording name", "Recording resolution height [px]", "Recording resolution width [px]",
    "Eyetracker timestamp [μs]", "Event", "Event value",
    "Gaze point X [DACS px]", "Gaze point Y [DACS px]",
    "Gaze point left X [DACS px]", "Gaze point left Y [DACS px]",
    "Gaze point right X [DACS px]", "Gaze point right Y [DACS px]",
    "Pupil diameter left [mm]", "Pupil diameter right [mm]", "Validity left", "Validity right",
    "Eye position left X [DACS mm]", "Eye position left Y [DACS mm]",
    "Eye position left Z [DACS mm]", "Presented Stimulus name", "Presented Media name",
    "Presented Media width [px]", "Presented Media height [px]",
    "Presented Media position X [DACS px]", "Presented Media position Y [DACS px]",
    "Original Media width [px]", "Original Media height [px]", "Eye movement type",
    "Gaze event duration [ms]", "Eye movement type index",
]


def _gaze_walk(n: int, rng) -> np.ndarray:
    """``(n, 2)`` screen pixels: fixations of ~250 ms joined by saccades, some blinks."""
    centres = rng.uniform([400, 150], [1500, 900], (n // 300 + 2, 2))
    which = np.minimum(np.arange(n) // 300, len(centres) - 1)
    return centres[which] + rng.normal(0, 3, (n, 2))


def write_native(path: Path, n: int, rate: float) -> None:
    from napari_gazeseg.gaze.formats import NativeGazeWriter

    rng = np.random.default_rng(0)
    meta = {"sampling_rate_hz": rate, "image": {"name": "bench", "shape": [1080, 1920]}}
    with NativeGazeWriter(path, 2, meta) as writer:
        for first in range(0, n, 200_000):
            m = min(200_000, n - first)
            xy = _gaze_walk(m, rng)
            valid = rng.random(m) > 0.05
            coords = np.where(valid[:, None], xy[:, ::-1], np.nan)
            screen = xy / [1920.0, 1080.0]
            ids = 1 + (np.arange(first, first + m) * 10 // n)
            writer.append((first + np.arange(m)) / rate, coords, valid, screen, ids)


def write_tobii(path: Path, n: int, rate: float, stimuli: int = 6) -> None:
    """A Pro Lab-like export: every sample row with the columns Pro Lab writes by default."""
    rng = np.random.default_rng(1)
    period_us = 1e6 / rate
    with open(path, "w", encoding="utf-8", newline="") as file:
        file.write("\t".join(TOBII_COLUMNS) + "\r\n")
        for first in range(0, n, 100_000):
            m = min(100_000, n - first)
            index = np.arange(first, first + m)
            xy = _gaze_walk(m, rng)
            valid = rng.random(m) > 0.05
            stimulus = index * stimuli // n
            fixation = (index % 300) < 240
            t_us = np.round(index * period_us).astype(np.int64)
            lines = []
            for i in range(m):
                ok = valid[i]
                gx, gy = (f"{xy[i, 0]:.0f}", f"{xy[i, 1]:.0f}") if ok else ("", "")
                s = stimulus[i]
                lines.append(
                    "\t".join(
                        (
                            str(t_us[i]), str(t_us[i] + 123456789), "Eye Tracker", "P01",
                            "Recording1", "1080", "1920", str(t_us[i] + 987654321), "", "",
                            gx, gy, gx, gy, gx, gy,
                            "3,12" if ok else "", "3,08" if ok else "",
                            "Valid" if ok else "Invalid", "Valid" if ok else "Invalid",
                            "312,5", "190,1", "612,4",
                            f"image{s}", f"image{s}.png", "1280", "960", "320", "60",
                            "2560", "1920",
                            "Fixation" if fixation[i] else "Saccade",
                            "200" if fixation[i] else "50", str(index[i] // 300 + 1),
                        )
                    )
                )
            file.write("\r\n".join(lines) + "\r\n")


def _measure(stage: str, path: Path, use_tracemalloc: bool) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, stage, str(path), "1" if use_tracemalloc else "0"],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"{stage} of {path.name} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--rate", type=float, default=1200.0)
    parser.add_argument("--formats", default="native,tobii")
    parser.add_argument("--tracemalloc", action="store_true")
    parser.add_argument("--folder", help="keep the files here and reuse them (default: a temporary folder)")
    args = parser.parse_args()
    n = int(round(args.minutes * 60 * args.rate))
    print(f"{args.minutes:g} min at {args.rate:g} Hz: {n} samples")
    what = "tracemalloc peak" if args.tracemalloc else "peak RSS added"
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(args.folder or temporary)
        folder.mkdir(parents=True, exist_ok=True)
        for kind in args.formats.split(","):
            stem = f"{kind}-{args.minutes:g}min-{args.rate:g}hz"
            path = folder / (f"{stem}.gaze.tsv" if kind == "native" else f"{stem}.tsv")
            start = time.perf_counter()
            if not (args.folder and path.is_file()):
                (write_native if kind == "native" else write_tobii)(path, n, args.rate)
            size = path.stat().st_size
            print(f"\n{kind}: {size / 2**20:.0f} MiB, made in {time.perf_counter() - start:.0f} s")
            arrays = None
            for stage in ("read", "reader"):
                result = _measure(stage, path, args.tracemalloc)
                arrays = result["arrays"] or arrays
                print(
                    f"  {stage:7s} {what} {result['peak'] / 2**20:7.0f} MiB = "
                    f"{result['peak'] / arrays:4.2f} x the arrays ({arrays / 2**20:.0f} MiB), "
                    f"{result['peak'] / size:4.2f} x the file; {result['seconds']:.1f} s"
                )
            if not args.folder:
                os.remove(path)


if __name__ == "__main__":
    main()
