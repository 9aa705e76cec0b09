"""Choosing where tensors live, and making runs repeatable (notebooks 01 and 03).

`get_device()` prefers a CUDA GPU, then Apple's mps, then the CPU. The
environment variable COURSE_DEVICE overrides the choice, for example
`COURSE_DEVICE=cpu` to reproduce the stored CPU outputs on a GPU machine.
"""

from __future__ import annotations

import os
import random

import numpy as np
import torch

DEVICE_ENV_VAR = "COURSE_DEVICE"
KNOWN_DEVICE_TYPES = ("cuda", "mps", "cpu")


def available_devices() -> list[str]:
    """The device types usable on this machine, most preferred first."""
    found = []
    if torch.cuda.is_available():
        found.append("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        found.append("mps")
    found.append("cpu")
    return found


def get_device(name: str | None = None) -> torch.device:
    """Return the device to compute on: `name`, else $COURSE_DEVICE, else the best.

    The best is cuda, then mps, then cpu. A name that is not available raises a
    RuntimeError saying which devices are.
    """
    requested = name if name is not None else os.environ.get(DEVICE_ENV_VAR)
    available = available_devices()
    if requested is None or requested.strip() == "":
        return torch.device(available[0])

    source = "name" if name is not None else f"${DEVICE_ENV_VAR}"
    try:
        device = torch.device(requested.strip())
    except RuntimeError as err:
        raise ValueError(
            f"{source}={requested!r} is not a device name; expected one of "
            f"{', '.join(KNOWN_DEVICE_TYPES)} (available here: "
            f"{', '.join(available)})"
        ) from err
    if device.type not in available:
        raise RuntimeError(
            f"{source}={requested!r} asks for a {device.type} device, which this "
            f"machine does not have; available: {', '.join(available)}"
        )
    if device.type == "cuda" and device.index is not None:
        count = torch.cuda.device_count()
        if device.index >= count:
            raise RuntimeError(
                f"{source}={requested!r} asks for cuda:{device.index}, but this "
                f"machine has {count} CUDA device(s): cuda:0..cuda:{count - 1}"
            )
    return device


def synchronize(device: torch.device | str) -> None:
    """Wait until queued work on `device` has finished (a no-op on the CPU).

    GPU kernels run asynchronously: without this, a timer stops when the work
    was queued, not when it was done.
    """
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's random generators (all devices)."""
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
