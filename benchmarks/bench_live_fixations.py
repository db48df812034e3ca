"""Live fixations during a long stare: incremental I-VT against re-detecting the open tail.

The recorder's UI thread updates the current object's fixations every 25 ms
tick. Before, each tick re-ran ``detect_fixations_ivt`` over every sample since
the last settled fixation; during a long stare nothing settles, so the cost
grew with the stare. ``LiveFixations`` now classifies only the new samples plus
a fixed context (``tracking/live_fixations.py``).

Data: a steady look at one point (one fixation, tiny noise), 1200 Hz, with
screen geometry (degrees). Both methods get the first ``--minutes`` minus one
second in one batch, then 40 ticks of 25 ms (30 samples each); timed: the
median tick (wall clock), and the ratio. Results are checked equal.

Run: ``.venv/bin/python benchmarks/bench_live_fixations.py`` (``--minutes 1`` for a quick look).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np

from napari_gazeseg.gaze.fixations import detect_fixations_ivt
from napari_gazeseg.gaze.recording import GazeRecording
from napari_gazeseg.gaze.simulate import simulate_observer
from napari_gazeseg.tracking.live_fixations import LiveFixations

RATE_HZ = 1200.0
TICK = 30  # samples per 25 ms tick at 1200 Hz


def stare(seconds: float) -> GazeRecording:
    n = int(seconds * RATE_HZ)
    rng = np.random.default_rng(1)
    screen = 0.5 + rng.normal(0, 0.0002, (n, 2))
    coords = np.column_stack([60 + 400 * (screen[:, 1] - 0.5), 60 + 400 * (screen[:, 0] - 0.5)])
    meta = dict(simulate_observer("cells", shape=(64, 64), rate_hz=RATE_HZ, seed=0).recording.meta)
    return GazeRecording(t=np.arange(n) / RATE_HZ, coords=coords, screen=screen, object_id=np.ones(n, int), meta=meta)


def ticks(live: LiveFixations, rec: GazeRecording, n_ticks: int) -> list[float]:
    head = len(rec) - n_ticks * TICK
    live.add(rec.select(np.arange(head)))
    times = []
    for k in range(n_ticks):
        batch = rec.select(np.arange(head + k * TICK, head + (k + 1) * TICK))
        begin = time.perf_counter()
        live.add(batch)
        live.fixations()
        times.append(time.perf_counter() - begin)
    return times


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--ticks", type=int, default=40)
    args = parser.parse_args(argv)
    rec = stare(60.0 * args.minutes)
    incremental = LiveFixations(1)  # I-VT, incremental
    redetect = LiveFixations(1, lambda r: detect_fixations_ivt(r))  # any callable: the old re-detection
    new = ticks(incremental, rec, args.ticks)
    old = ticks(redetect, rec, args.ticks)
    a, b = incremental.fixations(), redetect.fixations()
    assert len(a) == len(b) == 1 and a.start[0] == b.start[0] and a.duration[0] == b.duration[0]
    print(f"{args.minutes:g}-minute stare at {RATE_HZ:g} Hz, one 25 ms tick ({TICK} new samples), median of {args.ticks}:")
    print(f"  re-detect the open tail : {1000 * np.median(old):8.2f} ms")
    print(f"  incremental (now)       : {1000 * np.median(new):8.2f} ms")
    print(f"  ratio                   : {np.median(old) / np.median(new):8.1f} x")


if __name__ == "__main__":
    main(sys.argv[1:])
