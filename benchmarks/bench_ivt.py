"""I-VT on one hour of 1200 Hz gaze (4.32 M samples) against pymovements, in one process.

Data: simulated observers (``simulate_observer``, cells, 5 objects each, 1200 Hz,
Tobii-like noise, blinks, off-image glances) joined end to end until the
recording lasts one hour; each scene's object sessions keep distinct ids.

Timed (best of ``--repeat`` runs, wall clock, one thread of numpy):

* ``ours, all stages``: ``detect_fixations_ivt`` with the Tobii defaults (gap
  fill-in, median, 20 ms velocity window in exact degrees, threshold, merge,
  discard, sessions, centroids in image coordinates);
* ``ours, pymovements' stages``: velocity over the two neighbours, threshold,
  minimum duration (gap fill-in, median and merging off);
* ``pymovements pipeline``: ``pix2deg`` + ``pos2vel(method="neighbors")`` +
  ``events.ivt`` on the same screen samples (what a pymovements user runs from
  positions to fixations; it gives onsets and offsets, no positions);
* ``pymovements ivt only``: ``events.ivt`` given our velocities (classification
  and grouping alone).

Run: ``.venv/bin/python benchmarks/bench_ivt.py`` (``--hours 0.1`` for a quick look).
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from napari_gazeseg.gaze.fixations import detect_fixations_ivt, ivt_velocity  # noqa: E402
from napari_gazeseg.gaze.recording import GazeRecording  # noqa: E402
from napari_gazeseg.gaze.simulate import simulate_observer  # noqa: E402

RATE_HZ = 1200.0


def one_hour(hours: float) -> GazeRecording:
    """Simulated scenes joined until the recording lasts ``hours``."""
    target = int(round(hours * 3600 * RATE_HZ))
    parts, total, seed, next_id = [], 0, 0, 1
    while total < target:
        rec = simulate_observer("cells", n_objects=5, rate_hz=RATE_HZ, seed=seed).recording
        ids = rec.object_id.copy()
        session = ids > 0
        ids[session] += next_id - 1
        next_id += int(rec.object_id.max())
        parts.append((rec, ids))
        total += len(rec)
        seed += 1
    first = parts[0][0]
    return GazeRecording(
        t=np.arange(target) / RATE_HZ,
        coords=np.concatenate([rec.coords for rec, _ in parts])[:target],
        valid=np.concatenate([rec.valid for rec, _ in parts])[:target],
        screen=np.concatenate([rec.screen for rec, _ in parts])[:target],
        object_id=np.concatenate([ids for _, ids in parts])[:target],
        meta={"sampling_rate_hz": RATE_HZ, "screen": first.meta["screen"], "image": first.meta["image"]},
    )


def best_time(function, repeat: int):
    best, result = np.inf, None
    for _ in range(repeat):
        start = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - start)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=1.0)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    from pymovements.events import ivt as pymovements_ivt
    from pymovements.transforms.numpy import pix2deg, pos2vel

    rec = one_hour(args.hours)
    screen = rec.meta["screen"]
    period = 1 / RATE_HZ
    print(f"{len(rec):,} samples ({rec.duration / 3600:.2f} h at {RATE_HZ:g} Hz), {len(rec.object_ids)} object sessions")

    plain = dict(gap_fill_max=None, noise_reduction=None, velocity_window=None, merge_max_gap=None)
    minimum = 0.060  # seconds, ours: last - first + one period; pymovements: last - first

    def pymovements_pipeline():
        pixels = rec.screen * np.array([screen["width_px"], screen["height_px"]])
        degrees = pix2deg(
            pixels,
            screen_px=(screen["width_px"], screen["height_px"]),
            screen_cm=(screen["width_mm"] / 10, screen["height_mm"] / 10),
            distance_cm=screen["distance_mm"] / 10,
            origin="upper left",
        )
        velocity = pos2vel(degrees, sampling_rate=RATE_HZ, method="neighbors")
        return pymovements_ivt(velocity, timesteps=rec.t, minimum_duration=minimum - period, velocity_threshold=30.0)

    speed, _ = ivt_velocity(rec, **{k: v for k, v in plain.items() if k != "merge_max_gap"})
    velocity_vectors = np.column_stack([speed, np.zeros_like(speed)])

    rows = [
        ("ours, all stages", lambda: detect_fixations_ivt(rec)),
        ("ours, pymovements' stages", lambda: detect_fixations_ivt(rec, min_duration=minimum, **plain)),
        ("pymovements pipeline", pymovements_pipeline),
        (
            "pymovements ivt only",
            lambda: pymovements_ivt(
                velocity_vectors, timesteps=rec.t, minimum_duration=minimum - period, velocity_threshold=30.0
            ),
        ),
    ]
    timings = {}
    print(f"\n{'method':<28}{'seconds':>10}{'fixations':>11}{'M samples/s':>13}")
    for name, function in rows:
        seconds, result = best_time(function, args.repeat)
        count = result.frame.height if hasattr(result, "frame") else len(result)
        timings[name] = seconds
        print(f"{name:<28}{seconds:>10.3f}{count:>11,}{len(rec) / seconds / 1e6:>13.1f}")

    print("\nratios (pymovements time / ours; > 1: ours faster)")
    for theirs, ours in [
        ("pymovements pipeline", "ours, all stages"),
        ("pymovements pipeline", "ours, pymovements' stages"),
        ("pymovements ivt only", "ours, all stages"),
    ]:
        print(f"  {theirs} / {ours}: {timings[theirs] / timings[ours]:.2f}x")


if __name__ == "__main__":
    main()
