"""The computer's monotonic clock in microseconds, for sources without a tracker clock."""

from __future__ import annotations

import time

__all__ = ["monotonic_us"]


def monotonic_us() -> int:
    """``time.perf_counter_ns() // 1000``: monotonic, microsecond resolution."""
    return time.perf_counter_ns() // 1000
