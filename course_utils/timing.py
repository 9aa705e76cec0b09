"""Fair timings for the notebooks and benchmarks (notebooks 01, 03, 05).

A fair timing warms up first (caches, lazy initialisation), synchronises the
GPU before reading the clock (its kernels run asynchronously), repeats, and
reports the median, which a single slow run does not move.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch

from .device import synchronize


def measure(
    fn: Callable[[], object],
    *,
    repeats: int = 5,
    warmup: int = 1,
    device: torch.device | str | None = None,
) -> float:
    """Median wall-clock seconds of `fn()` over `repeats` runs after `warmup`."""
    if repeats < 1 or warmup < 0:
        raise ValueError(f"need repeats >= 1 and warmup >= 0, got {repeats}, {warmup}")
    for _ in range(warmup):
        fn()
    if device is not None:
        synchronize(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        if device is not None:
            synchronize(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def speedup(slow: Callable[[], object], fast: Callable[[], object], **kwargs) -> float:
    """How many times faster `fast` runs than `slow`, both measured now."""
    return measure(slow, **kwargs) / measure(fast, **kwargs)
