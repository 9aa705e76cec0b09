"""Checks for the exercises of notebook 01 (self-attention from scratch)."""

from __future__ import annotations

import numpy as np

from ..numpy_attention import softmax
from .core import Case, run_check

__all__ = ["check_softmax"]


def _softmax_cases() -> list[Case]:
    rng = np.random.default_rng(1)
    inputs = [
        ("one row", np.array([1.0, 2.0, 3.0])),
        ("a (3, 4) matrix, one softmax per row", rng.normal(size=(3, 4))),
        ("logits near 1000", np.array([[1000.0, 1001.0, 999.0], [-5.0, 0.0, 5.0]])),
        ("logits near -1000", np.array([-1000.0, -1002.0, -1001.0])),
        ("a (2, 3, 5) batch", rng.normal(size=(2, 3, 5)) * 4),
    ]
    return [Case((x,), softmax(x, axis=-1), label) for label, x in inputs]


def _hint_overflow(got, expected, case):
    if not np.all(np.isfinite(got)):
        return (
            "NaN or inf after exp: subtract each row's max before exponentiating "
            "(the result does not change, the exponents stop overflowing)."
        )
    return None


def _hint_axis(got, expected, case):
    sums = np.sum(got, axis=-1)
    if not np.allclose(sums, 1.0):
        return (
            "each row should sum to one; normalise over the last axis "
            "(axis=-1, with keepdims=True) rather than another axis or the whole array."
        )
    return None


def check_softmax(fn) -> bool:
    """Check a softmax over the last axis: fn(x) -> array of x's shape."""
    return run_check(
        "softmax", fn, _softmax_cases(), hints=[_hint_overflow, _hint_axis]
    )
