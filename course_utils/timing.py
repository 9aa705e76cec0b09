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


def compare(
    fns: dict[str, Callable[[], object]],
    *,
    rounds: int = 3,
    repeats: int = 5,
    warmup: int = 1,
    device: torch.device | str | None = None,
) -> dict[str, list[float]]:
    """Time several functions round-robin: per name, its median seconds per round.

    Each function is warmed up `warmup` times, then every round measures each
    one in turn (median of `repeats` runs). On a shared machine a burst of
    other work then falls on all of them alike; take min() of a list for the
    best round, or statistics.median for a typical one.
    """
    if rounds < 1:
        raise ValueError(f"need rounds >= 1, got {rounds}")
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            times[name].append(measure(fn, repeats=repeats, warmup=0, device=device))
    return times


def speedup(slow: Callable[[], object], fast: Callable[[], object], **kwargs) -> float:
    """How many times faster `fast` runs than `slow`, both measured now."""
    return measure(slow, **kwargs) / measure(fast, **kwargs)
