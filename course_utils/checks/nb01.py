"""Checks for the exercises of notebook 01 (self-attention from scratch)."""

from __future__ import annotations

import math

import numpy as np

from ..numpy_attention import scaled_dot_product_attention, softmax
from .core import Case, run_check, to_numpy

__all__ = ["check_softmax", "check_context_vector", "check_attention"]


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
    if np.shape(got) != np.shape(expected):
        return None
    sums = np.sum(got, axis=-1)
    if not np.allclose(sums, 1.0):
        return (
            "each row should sum to one; normalise over the last axis "
            "(axis=-1, with keepdims=True) rather than another axis or the whole array."
        )
    return None


def check_softmax(fn) -> None:
    """Check a softmax over the last axis: fn(x) -> array of x's shape."""
    run_check(
        "softmax", fn, _softmax_cases(), hints=[_hint_overflow, _hint_axis]
    )


# Helpers shared by the attention hints. A hint sees whatever the learner
# returned (an array, a tensor, a list, a tuple of the wrong length), so each
# one converts defensively and stays silent when it cannot tell.


def _as_float(x) -> np.ndarray | None:
    x = to_numpy(x)
    if isinstance(x, (list, tuple)):
        try:
            x = np.asarray(x, dtype=float)
        except (TypeError, ValueError):
            return None
    if not isinstance(x, np.ndarray) or not np.issubdtype(x.dtype, np.number):
        return None
    return x.astype(float)


def _same(got: np.ndarray | None, candidate: np.ndarray) -> bool:
    if got is None or got.shape != candidate.shape:
        return False
    with np.errstate(all="ignore"):
        return bool(np.allclose(got, candidate, rtol=1e-6, atol=1e-8))


def _quiet(hint):
    """Wrap a hint so that an answer it cannot parse gives no advice."""

    def wrapped(got, expected, case):
        try:
            with np.errstate(all="ignore"):
                return hint(got, expected, case)
        except (TypeError, ValueError, IndexError):
            return None

    return wrapped


def _scale_advice(d: int) -> str:
    return (
        f"this matches the answer without the scale: divide the scores by "
        f"sqrt(D) = sqrt({d}) = {math.sqrt(d):.4g} before the softmax."
    )


def _by_d_advice(d: int) -> str:
    return (
        f"this matches scores divided by D = {d}; the scale is 1/sqrt(D), "
        f"so divide by sqrt({d}) = {math.sqrt(d):.4g} instead."
    )


_NOT_FINITE = (
    "NaN or inf: large scores overflow np.exp; subtract the largest score "
    "before exponentiating (the weights do not change)."
)
_NOT_NORMALISED = (
    "the weights must be positive and sum to one over the keys: apply a "
    "softmax to the scaled scores before weighting the values."
)


# Exercise 2: one query's context vector.


def _context_cases() -> list[Case]:
    rng = np.random.default_rng(11)
    big_keys = rng.normal(size=(5, 4)) * 5.0
    big_keys[2] = 20.0  # q . k = 3200 for this key: exp overflows without a shift
    inputs = [
        ("D=4, T=6, Dv=4", rng.normal(size=4), rng.normal(size=(6, 4)),
         rng.normal(size=(6, 4))),
        ("D=3, T=5, Dv=2: values narrower than keys", rng.normal(size=3),
         rng.normal(size=(5, 3)), rng.normal(size=(5, 2))),
        ("scores in the thousands", np.full(4, 40.0), big_keys,
         rng.normal(size=(5, 3))),
        ("D=16, T=8, Dv=5", rng.normal(size=16) * 2, rng.normal(size=(8, 16)),
         rng.normal(size=(8, 5))),
    ]
    cases = []
    for label, query, keys, values in inputs:
        # (D,) -> (1, D): one query row; context (1, Dv) -> (Dv,)
        context, _ = scaled_dot_product_attention(query[None, :], keys, values)
        cases.append(Case((query, keys, values), context[0], label))
    return cases


def _context_variants(query, keys, values) -> dict[str, np.ndarray]:
    """Answers that typical mistakes produce for one query, keyed by mistake."""
    d = query.shape[-1]
    scores = keys @ query  # (T, D) @ (D,) -> (T,)
    return {
        "unscaled": softmax(scores) @ values,  # (T,) @ (T, Dv) -> (Dv,)
        "by_d": softmax(scores / d) @ values,
        "no_softmax": (scores / math.sqrt(d)) @ values,
        "unnormalised": np.exp(scores / math.sqrt(d)) @ values,
    }


@_quiet
def _hint_context(got, expected, case):
    query, keys, values = case.args
    got = _as_float(got)
    if got is None:
        return None
    if not np.all(np.isfinite(got)):
        return _NOT_FINITE
    if got.shape == values.shape:
        return (
            "you returned one row per key, shape (T, Dv): sum the weighted "
            "values over the keys (axis 0) to get one vector of shape (Dv,)."
        )
    if got.shape == (1, values.shape[1]):
        return "return a vector of shape (Dv,), not a (1, Dv) row: use context[0]."
    variants = _context_variants(query, keys, values)
    if _same(got, variants["unscaled"]):
        return _scale_advice(query.shape[-1])
    if _same(got, variants["by_d"]):
        return _by_d_advice(query.shape[-1])
    if _same(got, variants["no_softmax"]) or _same(got, variants["unnormalised"]):
        return _NOT_NORMALISED
    return None


def check_context_vector(fn) -> None:
    """Check one query's context: fn(query (D,), keys (T, D), values (T, Dv)) -> (Dv,).

    The answer is softmax(keys @ query / sqrt(D)) @ values (notebook 01).
    """
    run_check(
        "context vector of one query", fn, _context_cases(), hints=[_hint_context]
    )


# Exercise 3: all queries at once, as matrices.


def _attention_cases() -> list[Case]:
    rng = np.random.default_rng(12)
    big_q = rng.normal(size=(3, 4)) * 5.0
    big_q[1] = 40.0
    big_k = rng.normal(size=(4, 4)) * 5.0
    big_k[0] = 20.0  # this query-key pair scores 1600 after the scale
    inputs = [
        ("Tq=Tk=4, D=3, Dv=2", rng.normal(size=(4, 3)), rng.normal(size=(4, 3)),
         rng.normal(size=(4, 2))),
        ("Tq=3 queries, Tk=5 keys, D=4, Dv=2", rng.normal(size=(3, 4)),
         rng.normal(size=(5, 4)), rng.normal(size=(5, 2))),
        ("scores in the thousands", big_q, big_k, rng.normal(size=(4, 3))),
        ("T=6, D=8, Dv=8", rng.normal(size=(6, 8)) * 2, rng.normal(size=(6, 8)),
         rng.normal(size=(6, 8))),
    ]
    return [
        Case((q, k, v), scaled_dot_product_attention(q, k, v), label)
        for label, q, k, v in inputs
    ]


@_quiet
def _hint_attention(got, expected, case):
    q, k, v = case.args
    d = q.shape[-1]
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        return "return a pair: `return context, weights`."
    context, weights = _as_float(got[0]), _as_float(got[1])
    if context is None or weights is None:
        return None
    if not (np.all(np.isfinite(context)) and np.all(np.isfinite(weights))):
        return _NOT_FINITE

    expected_context, expected_weights = expected
    if _same(context, expected_weights) and _same(weights, expected_context):
        return "the two results are swapped: return (context, weights) in that order."
    scores = q @ k.T  # (Tq, D) @ (D, Tk) -> (Tq, Tk)
    flipped = softmax(k @ q.T / math.sqrt(d))  # (Tk, D) @ (D, Tq) -> (Tk, Tq)
    if weights.shape == (k.shape[0], q.shape[0]) and weights.shape != scores.shape:
        return (
            f"weights have shape {weights.shape} = (Tk, Tq); compute the scores as "
            f"Q @ K.T: (Tq, D) @ (D, Tk) -> (Tq, Tk) = {scores.shape}."
        )
    if _same(weights, flipped):
        return (
            "the scores are transposed: use Q @ K.T, (Tq, D) @ (D, Tk) -> (Tq, Tk), "
            "so that row i holds query i's scores."
        )
    if _same(weights, softmax(scores / math.sqrt(d), axis=0)):
        return (
            "each row of weights should sum to one: take the softmax over the keys, "
            "the last axis (axis=-1, keepdims=True), not axis 0."
        )
    if _same(weights, softmax(scores)):
        return _scale_advice(d)
    if _same(weights, softmax(scores / d)):
        return _by_d_advice(d)
    if weights.ndim == 2 and not np.allclose(weights.sum(axis=-1), 1.0):
        return _NOT_NORMALISED
    if _same(weights, expected_weights) and not _same(context, expected_context):
        return "the weights are right; the context is weights @ V, (Tq, Tk) @ (Tk, Dv)."
    return None


def check_attention(fn) -> None:
    """Check attention as matrices: fn(Q (Tq, D), K (Tk, D), V (Tk, Dv)) -> pair.

    The pair is (context (Tq, Dv), weights (Tq, Tk)) with weights =
    softmax(Q K^T / sqrt(D)) over the keys and context = weights V (notebook 01).
    """
    run_check(
        "attention as matrices", fn, _attention_cases(), hints=[_hint_attention]
    )
