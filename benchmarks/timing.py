"""Honest timing: warm-up runs, several repetitions, median and spread, device synchronised."""

from __future__ import annotations

import statistics
import time


def measure(fn, repeat=5, warmup=2, sync=lambda: None):
    """Run ``fn`` ``warmup`` times untimed, then ``repeat`` times timed -> seconds statistics."""
    for _ in range(warmup):
        fn()
    sync()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return {"median": statistics.median(times), "min": min(times), "max": max(times), "repeat": repeat}
