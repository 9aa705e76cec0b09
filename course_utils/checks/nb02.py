"""Checks for the exercises of notebook 02 (trainable self-attention in NumPy)."""

from __future__ import annotations

import math

import numpy as np

from ..numpy_attention import softmax, softmax_backward
from .core import Case, run_check

__all__ = ["check_projections", "check_scaled_scores", "check_softmax_backward"]


def _projection_cases() -> list[Case]:
    rng = np.random.default_rng(2)
    cases = []
    for label, (T, C, D, Dv) in [
        ("T=4, C=6, D=3, Dv=3", (4, 6, 3, 3)),
        ("D differs from Dv", (5, 8, 2, 4)),
        ("a batch of 2 sequences", (3, 5, 4, 2)),
    ]:
        shape = (2, T, C) if "batch" in label else (T, C)
        x = rng.normal(size=shape)
        w_q, w_k = rng.normal(size=(C, D)), rng.normal(size=(C, D))
        w_v = rng.normal(size=(C, Dv))
        cases.append(Case((x, w_q, w_k, w_v), (x @ w_q, x @ w_k, x @ w_v), label))
    return cases


def _hint_projection_order(got, expected, case):
    if not isinstance(got, (tuple, list)) or len(got) != 3:
        return "return the three arrays as a tuple (q, k, v), in that order."
    x, w_q, w_k, _ = case.args
    shapes = [np.shape(g) for g in got]
    if any(s != e.shape and sorted(s) == sorted(e.shape)
           for s, e in zip(shapes, expected, strict=True)):
        return (
            "a result is transposed: with x of shape (T, C) and W of shape (C, D), "
            "q = x @ W_q has shape (T, D)."
        )
    swapped = (x @ w_k, x @ w_q)
    if all(s == e.shape and np.allclose(g, e)
           for s, g, e in zip(shapes[:2], got[:2], swapped, strict=True)):
        return "q and k are swapped: q = x @ W_q, k = x @ W_k."
    return None


def check_projections(fn) -> None:
    """Check fn(x, W_q, W_k, W_v) -> (q, k, v) = (x W_q, x W_k, x W_v)."""
    run_check(
        "projections", fn, _projection_cases(), hints=[_hint_projection_order]
    )


def _scores_cases() -> list[Case]:
    rng = np.random.default_rng(3)
    cases = []
    for label, q_shape, k_shape in [
        ("Tq=3, Tk=3, D=4", (3, 4), (3, 4)),
        ("Tq=2, Tk=5, D=16", (2, 16), (5, 16)),
        ("a (2, 4, 9) batch", (2, 4, 9), (2, 4, 9)),
    ]:
        q, k = rng.normal(size=q_shape), rng.normal(size=k_shape)
        expected = q @ np.swapaxes(k, -1, -2) / math.sqrt(q.shape[-1])
        cases.append(Case((q, k), expected, label))
    return cases


def _hint_scale(got, expected, case):
    q, _ = case.args
    D = q.shape[-1]
    got = np.asarray(got)
    if got.shape != expected.shape:
        return (
            "scores are (Tq, Tk): multiply q by k transposed over its last two axes, "
            "np.swapaxes(k, -1, -2) (or k.T for a 2-d k)."
        )
    if np.allclose(got, np.swapaxes(expected, -1, -2)):
        return "rows are queries, columns keys: compute q @ k^T, not k @ q^T."
    mistakes = [
        (math.sqrt(D), "the scale is missing: divide q k^T by sqrt(D)."),
        (D, "divide by sqrt(D); multiplying by it makes the scores larger still."),
        (1 / math.sqrt(D), "divide by sqrt(D), the square root of D, not by D."),
    ]
    for factor, advice in mistakes:
        if np.allclose(got, expected * factor):
            return advice
    return None


def check_scaled_scores(fn) -> None:
    """Check fn(q, k) -> scores = q k^T / sqrt(D), shape (..., Tq, Tk)."""
    run_check("scaled scores", fn, _scores_cases(), hints=[_hint_scale])


def _softmax_backward_cases() -> list[Case]:
    rng = np.random.default_rng(4)
    cases = []
    for label, shape in [
        ("one row of 4 weights", (4,)),
        ("a (3, 5) matrix, one softmax per row", (3, 5)),
        ("a (2, 3, 6) batch", (2, 3, 6)),
    ]:
        weights = softmax(rng.normal(size=shape) * 2)
        grad_weights = rng.normal(size=shape)
        expected = softmax_backward(weights, grad_weights)
        cases.append(Case((weights, grad_weights), expected, label))
    return cases


def _hint_softmax_backward(got, expected, case):
    weights, grad_weights = case.args
    got = np.asarray(got)
    if got.shape != weights.shape:
        return (
            "the gradient has the shape of the weights; keep the row axis with "
            "np.sum(..., axis=-1, keepdims=True)."
        )
    if np.allclose(got, weights * grad_weights):
        return (
            "the Jacobian's off-diagonal part is missing: subtract the row's "
            "sum(grad_weights * weights) before multiplying by weights."
        )
    if np.allclose(got, weights * (1 - weights) * grad_weights):
        return (
            "that is the Jacobian's diagonal only; changing one score moves every "
            "weight in the row: use weights * (grad_weights - row sum)."
        )
    total = np.sum(grad_weights * weights)
    if weights.ndim > 1 and np.allclose(got, weights * (grad_weights - total)):
        return "sum over the last axis only (axis=-1, keepdims=True), one sum per row."
    return None


def check_softmax_backward(fn) -> None:
    """Check fn(weights, grad_weights) -> grad_scores through a row-wise softmax."""
    run_check(
        "softmax backward", fn, _softmax_backward_cases(),
        hints=[_hint_softmax_backward],
    )
