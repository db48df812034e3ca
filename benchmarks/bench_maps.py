"""Speed of the gaze maps against naive methods and peers, in one process.

    .venv/bin/python benchmarks/bench_maps.py

Prints times (best of repeats, fast and slow methods run alternately so that
both see the same load on a shared machine) and ratios; every fast result is also checked
against its reference. No thresholds: read the ratios.

1. ``gaze_heatmap`` of 100 000 points on 1024 x 1024 (100 px kernel) against the
   peer a user would pick, ``scipy.signal.fftconvolve`` of the point histogram
   with the kernel; against the naive per-point kernel sum (timed on 2 000
   points and extrapolated linearly x50, as its cost is linear in the number of
   points); and against an exact separable direct convolution
   (scipy.ndimage.correlate1d) of the same point grid.
2. ``track_maps`` (ratios 0.5, 0.75, 1.0) on 1024 x 1024 against a brute force
   that, like ours, computes each segment's distances once and shares them across
   the three ratios (the fair reference: every pixel x every segment, vectorised
   over pixels); the brute force that recomputes per ratio; and an approximate
   peer: the polyline rasterised and ``scipy.ndimage.distance_transform_edt``.

At the end it prints the rows of docs/performance.md's table, with the date and
the machine's load average (``os.getloadavg``) before and after.
"""

from __future__ import annotations

import argparse
import datetime
import math
import os
import time

import numpy as np
from scipy import ndimage, signal

from napari_gazeseg.gaze.maps import gaze_heatmap, track_maps

SHAPE = (1024, 1024)
#: Rows for docs/performance.md, printed at the end.
ROWS: list[str] = []


def timed(function, repeats: int):
    """Shortest wall time in seconds over ``repeats`` calls, and the last result."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return min(times), result


def timed_pair(fast, slow, repeats: int):
    """Best times of two functions run alternately, so both see the same machine load."""
    fast_times, slow_times = [], []
    for _ in range(repeats):
        fast_s, fast_result = timed(fast, 1)
        slow_s, slow_result = timed(slow, 1)
        fast_times.append(fast_s)
        slow_times.append(slow_s)
    return min(fast_times), fast_result, min(slow_times), slow_result


# -- heatmap --------------------------------------------------------------------------
def naive_heatmap(points, shape, weights=None, kernel_size=100, sigma=100 / 6):
    """Add one clipped kernel per point (the definition, point by point)."""
    offsets = np.arange(kernel_size) - kernel_size // 2
    g = np.exp(-(offsets**2) / (2 * sigma**2))
    kernel = np.outer(g, g)
    out = np.zeros(shape)
    before = kernel_size // 2
    pixels = np.floor(points + 0.5).astype(int)
    for i, (r, c) in enumerate(pixels):
        r0, c0 = r - before, c - before
        rs, re = max(r0, 0), min(r0 + kernel_size, shape[0])
        cs, ce = max(c0, 0), min(c0 + kernel_size, shape[1])
        if rs < re and cs < ce:
            patch = kernel[rs - r0 : re - r0, cs - c0 : ce - c0]
            out[rs:re, cs:ce] += patch if weights is None else weights[i] * patch
    return out


def _padded_histogram(points, shape, kernel_size, sigma, weights=None):
    """The peers' common start: ``(grid, g)``, the (weighted) point histogram on the image
    padded by the kernel, and the 1D Gaussian kernel."""
    offsets = np.arange(kernel_size) - kernel_size // 2
    g = np.exp(-(offsets**2) / (2 * sigma**2))
    after = kernel_size - 1 - kernel_size // 2
    canvas = (shape[0] + kernel_size - 1, shape[1] + kernel_size - 1)
    pixels = np.floor(points + 0.5).astype(int) + after
    inside = ((pixels >= 0) & (pixels < np.array(canvas))).all(axis=1)
    grid = np.zeros(canvas)
    np.add.at(grid, (pixels[inside, 0], pixels[inside, 1]), 1.0 if weights is None else weights[inside])
    return grid, g


def _crop(full, shape, kernel_size):
    """The image's part of a padded canvas."""
    start = kernel_size - 1 - (kernel_size - 1) // 2
    return full[start : start + shape[0], start : start + shape[1]]


def correlate_heatmap(points, shape, kernel_size=100, sigma=100 / 6):
    """Exact separable direct convolution of the padded point-count grid."""
    grid, g = _padded_histogram(points, shape, kernel_size, sigma)
    flipped = g[::-1]  # correlate with the reversed kernel = convolve
    full = ndimage.correlate1d(
        ndimage.correlate1d(grid, flipped, axis=0, mode="constant"),
        flipped,
        axis=1,
        mode="constant",
    )
    return _crop(full, shape, kernel_size)


def fftconvolve_heatmap(points, shape, weights=None, kernel_size=100, sigma=100 / 6):
    """The peer: the (weighted) point histogram on a padded canvas, convolved with the
    kernel by ``scipy.signal.fftconvolve``, cropped to the image."""
    grid, g = _padded_histogram(points, shape, kernel_size, sigma, weights)
    return _crop(signal.fftconvolve(grid, np.outer(g, g), mode="same"), shape, kernel_size)


def bench_heatmap(repeats: int, n_points: int, n_naive: int) -> None:
    rng = np.random.default_rng(0)
    points = rng.uniform(-50, SHAPE[0] + 50, (n_points, 2))
    durations = rng.uniform(0.1, 0.6, n_points)
    print(f"gaze_heatmap: {n_points} points on {SHAPE[0]}x{SHAPE[1]}, kernel 100 px, sigma 100/6")
    for label, weights in (
        ("unweighted (gaze samples)", None),
        ("weighted (fixations + duration)", durations),
    ):
        subset = points[:n_naive]
        subset_weights = None if weights is None else weights[:n_naive]
        fast_s, fast, naive_subset_s, naive_subset = timed_pair(
            lambda: gaze_heatmap(points, SHAPE, weights),
            lambda: naive_heatmap(subset, SHAPE, subset_weights),
            repeats,
        )
        naive_s = naive_subset_s * n_points / n_naive
        fast_subset = gaze_heatmap(subset, SHAPE, subset_weights)
        error = np.max(np.abs(fast_subset - naive_subset) / np.maximum(naive_subset, 1e-300))
        print(f"  {label}")
        print(f"    gaze_heatmap (FFT)            {fast_s * 1e3:9.1f} ms")
        print(
            f"    naive per-point kernel sum    {naive_s * 1e3:9.1f} ms  (timed on {n_naive} points, "
            f"extrapolated linearly x{n_points / n_naive:g})   ratio {naive_s / fast_s:6.1f}x"
        )
        print(f"    max relative difference from the naive sum (on the subset): {error:.1e}")
        paired_s, fast, peer_s, peer = timed_pair(
            lambda: gaze_heatmap(points, SHAPE, weights),
            lambda: fftconvolve_heatmap(points, SHAPE, weights),
            repeats,
        )
        support = peer > 1e-6 * peer.max()
        peer_error = np.max(np.abs(fast - peer)[support] / peer[support])
        print(
            f"    scipy.signal.fftconvolve      {peer_s * 1e3:9.1f} ms   ratio {peer_s / paired_s:6.1f}x "
            f"(gaze_heatmap {paired_s * 1e3:.1f} ms in this pairing), "
            f"max relative difference {peer_error:.1e} (where the map exceeds 1e-6 of its peak)"
        )
        factor = f"x{n_points / n_naive:g}"
        ROWS.append(
            f"| `gaze_heatmap`, {n_points:,} points on {SHAPE[0]}², {label} | {paired_s * 1e3:.0f} ms | "
            f"`scipy.signal.fftconvolve` of the point histogram: {peer_s * 1e3:.0f} ms | "
            f"**{peer_s / paired_s:.1f}×** | `benchmarks/bench_maps.py` |"
        )
        ROWS.append(
            f"| the same | {fast_s * 1e3:.0f} ms | naive per-point kernel sum, timed on {n_naive:,} "
            f"points and extrapolated linearly {factor}: {naive_s * 1e3:.0f} ms | {naive_s / fast_s:.0f}× | "
            "`benchmarks/bench_maps.py` |"
        )
    correlate_s, correlated = timed(lambda: correlate_heatmap(points, SHAPE), 3)
    fast_s, fast = timed(lambda: gaze_heatmap(points, SHAPE), repeats)
    peer_error = np.max(np.abs(fast - correlated) / np.maximum(correlated, 1e-300))
    print(
        f"  peer: separable direct convolution (unweighted) {correlate_s * 1e3:7.1f} ms   "
        f"ratio {correlate_s / fast_s:5.1f}x, max relative difference {peer_error:.1e}"
    )


# -- track maps -------------------------------------------------------------------------
def brute_force_track_maps(track, shape, ratios=(0.5, 0.75, 1.0), beta=10.0, tau=0.25):
    """Distance of every pixel to every kept segment, per ratio independently."""
    rows, cols = np.mgrid[: shape[0], : shape[1]].astype(np.float64)
    out = {}
    for ratio in ratios:
        kept = track[len(track) - math.ceil(ratio * len(track) - 1e-9) :]
        segments = list(zip(kept[:-1], kept[1:])) or [(kept[0], kept[0])]
        best = np.full(shape, np.inf)
        for a, b in segments:
            d = b - a
            length2 = float(d @ d)
            pr, pc = rows - a[0], cols - a[1]
            t = (
                np.zeros(shape)
                if length2 == 0
                else np.clip((pr * d[0] + pc * d[1]) / length2, 0, 1)
            )
            best = np.minimum(best, (pr - t * d[0]) ** 2 + (pc - t * d[1]) ** 2)
        attention = np.exp(-np.sqrt(best) / beta)
        out[ratio] = np.where(attention > tau, attention, 0.0)
    return out


def shared_brute_force_track_maps(track, shape, ratios=(0.5, 0.75, 1.0), beta=10.0, tau=0.25):
    """Brute force sharing the distance pass, as ``track_maps`` does: the kept points of
    a ratio are the track's last ones, so segments are visited from the last, each
    pixel x segment distance computed once, and each ratio's map taken as soon as
    its segments are in (a running minimum)."""
    rows, cols = np.mgrid[: shape[0], : shape[1]].astype(np.float64)
    n = len(track)
    points_kept = {ratio: math.ceil(ratio * n - 1e-9) for ratio in ratios}
    # the last point: the whole map of a ratio keeping one point, and on every kept segment
    out, best = {}, (rows - track[-1][0]) ** 2 + (cols - track[-1][1]) ** 2
    visited = 0
    for ratio in sorted(ratios, key=points_kept.get):
        while visited < points_kept[ratio] - 1:  # segments (k-1, k) from the end
            a, b = track[n - 2 - visited], track[n - 1 - visited]
            d = b - a
            length2 = float(d @ d)
            pr, pc = rows - a[0], cols - a[1]
            t = np.zeros(shape) if length2 == 0 else np.clip((pr * d[0] + pc * d[1]) / length2, 0, 1)
            best = np.minimum(best, (pr - t * d[0]) ** 2 + (pc - t * d[1]) ** 2)
            visited += 1
        attention = np.exp(-np.sqrt(best) / beta)
        out[ratio] = np.where(attention > tau, attention, 0.0)
    return out


def edt_track_maps(track, shape, ratios=(0.5, 0.75, 1.0), beta=10.0, tau=0.25):
    """Approximate peer: rasterise the polyline, Euclidean distance transform."""
    out = {}
    for ratio in ratios:
        kept = track[len(track) - math.ceil(ratio * len(track) - 1e-9) :]
        on_track = np.zeros(shape, bool)
        for a, b in zip(kept[:-1], kept[1:]) if len(kept) > 1 else [(kept[0], kept[0])]:
            n = int(np.ceil(np.abs(b - a).max())) + 1
            samples = np.rint(a + np.linspace(0, 1, n)[:, None] * (b - a)).astype(int)
            samples = samples[((samples >= 0) & (samples < np.array(shape))).all(axis=1)]
            on_track[samples[:, 0], samples[:, 1]] = True
        distance = ndimage.distance_transform_edt(~on_track)
        attention = np.exp(-distance / beta)
        out[ratio] = np.where(attention > tau, attention, 0.0)
    return out


def bench_tracks(repeats: int) -> None:
    rng = np.random.default_rng(1)
    tracks = {
        "random walk, 60 fixations, ~60 px saccades": np.clip(
            512 + np.cumsum(rng.normal(0, 60, (60, 2)), axis=0), 0, 1023
        ),
        "30 fixations uniform over the image (long segments)": rng.uniform(0, 1023, (30, 2)),
    }
    print(f"track_maps: ratios 0.5/0.75/1.0, beta 10, tau 0.25, on {SHAPE[0]}x{SHAPE[1]}")
    for name, track in tracks.items():
        fast_s, fast, brute_s, brute = timed_pair(
            lambda: track_maps(track, SHAPE), lambda: shared_brute_force_track_maps(track, SHAPE), repeats
        )
        per_ratio_s, per_ratio = timed(lambda: brute_force_track_maps(track, SHAPE), 1)
        edt_s, edt = timed(lambda: edt_track_maps(track, SHAPE), 2)
        exact = max(float(np.abs(fast[r] - brute[r]).max()) for r in fast)
        assert max(float(np.abs(per_ratio[r] - brute[r]).max()) for r in fast) == 0.0
        approx = max(float(np.abs(edt[r] - brute[r]).max()) for r in fast)
        print(f"  {name}")
        print(f"    track_maps (exact, band)        {fast_s * 1e3:8.1f} ms")
        print(
            f"    brute force, shared distances   {brute_s * 1e3:8.1f} ms   ratio {brute_s / fast_s:6.1f}x"
        )
        print(
            f"    brute force, per ratio          {per_ratio_s * 1e3:8.1f} ms   ratio {per_ratio_s / fast_s:6.1f}x"
        )
        ROWS.append(
            f"| `track_maps` (3 ratios), {SHAPE[0]}², {name}, exact | {fast_s * 1e3:.0f} ms | brute force, "
            f"every pixel × segment, distances shared across the ratios as ours: {brute_s * 1e3:.0f} ms | "
            f"**{brute_s / fast_s:.0f}×** | `benchmarks/bench_maps.py` |"
        )
        print(
            f"    rasterise + EDT (approximate)   {edt_s * 1e3:8.1f} ms   ratio {edt_s / fast_s:6.1f}x"
        )
        print(f"    max |G - brute force|: track_maps {exact:.1e}, EDT {approx:.1e}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="timed repeats of the fast methods")
    parser.add_argument("--points", type=int, default=100_000, help="heatmap points")
    parser.add_argument(
        "--naive-points", type=int, default=2_000, help="points the naive sum is timed on"
    )
    args = parser.parse_args()
    load_before = os.getloadavg()
    bench_heatmap(args.repeats, args.points, args.naive_points)
    bench_tracks(args.repeats)
    load_after = os.getloadavg()
    print(
        f"\nrows for docs/performance.md ({datetime.date.today()}, {os.cpu_count()} CPUs, "
        f"1-min load average {load_before[0]:.1f} before, {load_after[0]:.1f} after, --repeats {args.repeats}):"
    )
    for row in ROWS:
        print(row)


if __name__ == "__main__":
    main()
