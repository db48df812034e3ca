"""Speed of the AOI metrics against a straightforward per-fixation Python loop, in one process.

    .venv/bin/python benchmarks/bench_aoi.py [--minutes 60] [--repeats 3]

The workload of issue 15: 1 h of gaze at 1200 Hz (4.32 M samples, about 10 k
fixations) over 200 AOIs on a 1024 x 1024 label image. Both methods compute the
same per-AOI metrics (fixation count and dwell, time to first fixation, first
fixation duration, visit count and visit duration, and the sample-based time on
AOI); the results are checked equal before the times are printed. The reference
is what a researcher would write first: for every fixation, look up its AOI and
update per-AOI accumulators; for every sample, the same. Times are best of
``--repeats``, the two methods run alternately so they see the same machine load.
No thresholds: read the ratio.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from napari_gazeseg.gaze.aoi import AOISet, aoi_metrics
from napari_gazeseg.gaze.recording import Fixations, GazeRecording

SHAPE = (1024, 1024)


def make_workload(minutes: float, n_aois: int = 200, rate: float = 1200.0, seed: int = 0):
    rng = np.random.default_rng(seed)
    labels = np.zeros(SHAPE, dtype=np.int32)
    # 200 AOIs: 20 x 10 grid of rectangles of random size inside their cells.
    rows, cols = 20, n_aois // 20
    ch, cw = SHAPE[0] // rows, SHAPE[1] // cols
    label = 1
    for i in range(rows):
        for j in range(cols):
            h, w = rng.integers(ch // 3, ch, endpoint=False), rng.integers(cw // 3, cw)
            r0, c0 = i * ch + rng.integers(0, ch - h + 1), j * cw + rng.integers(0, cw - w + 1)
            labels[r0 : r0 + h, c0 : c0 + w] = label
            label += 1
    n = int(minutes * 60 * rate)
    t = np.arange(n) / rate
    # ~10 k fixations of ~300 ms each: a new target every ~360 ms; saccade samples between.
    n_fix = int(n / rate / 0.36)
    starts = np.sort(rng.choice(n - 1, size=n_fix, replace=False))
    targets = rng.uniform(0, SHAPE[0] - 1, size=(n_fix, 2))
    seg = np.searchsorted(starts, np.arange(n), side="right") - 1
    seg = np.clip(seg, 0, n_fix - 1)
    coords = targets[seg] + rng.normal(0, 2.0, size=(n, 2))
    valid = rng.random(n) > 0.02
    coords[~valid] = np.nan
    rec = GazeRecording(t=t, coords=coords, valid=valid)
    durations = np.diff(np.append(starts, n)) / rate * 0.8
    fix = Fixations(start=starts / rate, duration=durations, coords=targets)
    return labels, rec, fix


def naive_metrics(labels: np.ndarray, rec: GazeRecording, fix: Fixations) -> dict:
    """Per-fixation and per-sample Python loops: the definition, one step at a time."""
    ids = np.unique(labels)
    ids = ids[ids != 0]
    index = {int(v): k for k, v in enumerate(ids)}
    k = len(ids)
    n_fix = [0] * k
    dwell = [0.0] * k
    ttff = [float("nan")] * k
    first_dur = [float("nan")] * k
    visits = [0] * k
    visit_dur = [0.0] * k
    t0 = float(rec.t[0])
    prev = None
    prev_end = 0.0
    h, w = labels.shape
    for start, dur, (r, c) in zip(fix.start, fix.duration, fix.coords):
        ri, ci = int(np.floor(r + 0.5)), int(np.floor(c + 0.5))
        lab = int(labels[ri, ci]) if 0 <= ri < h and 0 <= ci < w else 0
        a = index.get(lab)
        if a is not None:
            n_fix[a] += 1
            dwell[a] += dur
            if n_fix[a] == 1:
                ttff[a] = start - t0
                first_dur[a] = dur
            if prev != a:
                visits[a] += 1
                visit_dur[a] += dur
            else:  # the visit goes on: it now ends where this fixation ends
                visit_dur[a] += start + dur - prev_end
        prev_end = start + dur
        prev = a
    on_time = [0.0] * k
    t = rec.t
    step = np.median(np.diff(t))
    cap = 2 * step
    for i in range(len(t)):
        if not rec.valid[i]:
            continue
        r, c = rec.coords[i]
        ri, ci = int(np.floor(r + 0.5)), int(np.floor(c + 0.5))
        if 0 <= ri < h and 0 <= ci < w:
            a = index.get(int(labels[ri, ci]))
            if a is not None:
                dt = (t[i + 1] - t[i]) if i + 1 < len(t) else 0.0
                on_time[a] += min(max(dt, 0.0), cap)
    span = float(t[-1] - t[0])
    return {
        "Number_of_fixations": np.array(n_fix),
        "Total_duration_of_fixations": np.array(dwell),
        "Time_to_first_fixation": np.array(ttff),
        "Duration_of_first_fixation": np.array(first_dur),
        "Number_of_visits": np.array(visits),
        "Total_duration_of_visits": np.array(visit_dur),
        "Proportion_of_time_on_AOI": np.array(on_time) / span,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    labels, rec, fix = make_workload(args.minutes)
    aois = AOISet.from_labels(labels)
    print(
        f"workload: {len(rec)} samples ({args.minutes:g} min at 1200 Hz), {len(fix)} fixations, "
        f"{len(aois)} AOIs on {SHAPE[0]}x{SHAPE[1]}"
    )
    fast_t, slow_t = [], []
    for _ in range(args.repeats):
        start = time.perf_counter()
        fast = aoi_metrics(fix, aois, recording=rec)
        fast_t.append(time.perf_counter() - start)
        start = time.perf_counter()
        slow = naive_metrics(labels, rec, fix)
        slow_t.append(time.perf_counter() - start)
    for key, ref in slow.items():
        np.testing.assert_allclose(fast[key], ref, rtol=1e-9, atol=1e-9, err_msg=key)
    print(f"aoi_metrics (vectorised): {min(fast_t) * 1e3:9.1f} ms")
    print(f"per-fixation/per-sample Python loop: {min(slow_t) * 1e3:9.1f} ms")
    print(f"ratio: {min(slow_t) / min(fast_t):.0f}x  (results equal to 1e-9)")


if __name__ == "__main__":
    main()
