"""Timing shared by the benchmarks (not a benchmark itself: ``make bench`` runs it, to no effect).

Benchmarks run as scripts, so their folder is on ``sys.path``: ``from _common import best_time``.
"""

from __future__ import annotations

import statistics
import time


def best_time(function, repeats: int = 3) -> float:
    """The shortest wall time of ``repeats`` calls of ``function``, in seconds."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def median_time(function, repeats: int, device=None) -> float:
    """The median wall time of ``repeats`` calls of ``function``, in seconds; on a CUDA
    ``torch.device`` the GPU's queue is drained before and after each call, so that the
    time is the work's, not its launch's."""

    def sync() -> None:
        if device is not None and device.type == "cuda":
            import torch

            torch.cuda.synchronize(device)

    times = []
    for _ in range(repeats):
        sync()
        start = time.perf_counter()
        function()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)
