"""Self-attention from scratch in NumPy (notebook 01; the backward pass: 02).

Shapes use the course legend: q (..., Tq, D), k (..., Tk, D), v (..., Tk, Dv).
Masks are boolean with True meaning "may attend" (PyTorch's convention for
boolean masks) and broadcast against the scores, shape (..., Tq, Tk).
"""

from __future__ import annotations

import math

import numpy as np


def _as_float_array(x, name: str) -> np.ndarray:
    array = np.asarray(x)
    if array.dtype == bool or not np.issubdtype(array.dtype, np.number):
        raise TypeError(f"{name} must hold real numbers, got dtype {array.dtype}")
    if np.issubdtype(array.dtype, np.complexfloating):
        raise TypeError(f"{name} must hold real numbers, got dtype {array.dtype}")
    if not np.issubdtype(array.dtype, np.floating):
        array = array.astype(np.float64)
    return array


def softmax(x, axis: int = -1) -> np.ndarray:
    """Numerically stable softmax of `x` along `axis`; same shape as `x`.

    Subtracting each row's maximum leaves the result unchanged (the factor
    exp(-max) cancels) but keeps every exponent <= 0, so exp cannot overflow.
    A row whose entries are all -inf has nothing to weigh and gives zeros;
    entries equal to +inf share the weight equally (the limit of large logits).
    """
    x = _as_float_array(x, "x")
    if x.ndim == 0:
        raise ValueError("x must have at least one axis, got a 0-d scalar")
    if not -x.ndim <= axis < x.ndim:
        raise ValueError(f"axis={axis} is out of range for x of shape {x.shape}")

    row_max = np.max(x, axis=axis, keepdims=True)
    with np.errstate(invalid="ignore"):
        shifted = np.where(np.isfinite(row_max), x - row_max, -np.inf)
    # Rows holding +inf: those entries take the whole weight, shared equally.
    shifted = np.where(row_max == np.inf, np.where(x == np.inf, 0.0, -np.inf), shifted)
    shifted = np.where(np.isnan(x), np.nan, shifted).astype(x.dtype, copy=False)

    exps = np.exp(shifted)
    total = np.sum(exps, axis=axis, keepdims=True)
    return exps / np.where(total == 0, 1, total)


def check_attention_inputs(q, k, v, mask=None) -> tuple[int, ...]:
    """Validate shapes for attention and return the scores' shape (..., Tq, Tk).

    Works for NumPy arrays and torch tensors alike. Raises ValueError or
    TypeError naming the argument and showing the shapes involved.
    """
    for name, x in (("q", q), ("k", k), ("v", v)):
        if x.ndim < 2:
            raise ValueError(
                f"{name} must have shape (..., T, features) with at least 2 axes, "
                f"got shape {tuple(x.shape)}"
            )
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(
            f"q and k must share the head size D (last axis): q has shape "
            f"{tuple(q.shape)}, k has shape {tuple(k.shape)}"
        )
    if k.shape[-2] != v.shape[-2]:
        raise ValueError(
            f"k and v must have the same number of keys Tk (axis -2): k has shape "
            f"{tuple(k.shape)}, v has shape {tuple(v.shape)}"
        )
    try:
        batch = np.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])
    except ValueError as err:
        raise ValueError(
            f"the leading (batch) axes of q, k and v do not broadcast: q "
            f"{tuple(q.shape)}, k {tuple(k.shape)}, v {tuple(v.shape)}"
        ) from err
    scores_shape = (*batch, q.shape[-2], k.shape[-2])
    if mask is not None:
        check_mask(mask, scores_shape)
    return scores_shape


def check_mask(mask, scores_shape: tuple[int, ...]) -> None:
    """Raise unless `mask` is boolean and broadcasts to `scores_shape`."""
    dtype = getattr(mask, "dtype", None)
    if dtype is None or str(dtype) not in ("bool", "torch.bool"):
        raise TypeError(
            f"mask must be boolean (True = may attend), got dtype {dtype}; "
            "for a 0/1 array use mask.astype(bool)"
        )
    mask_shape = tuple(mask.shape)
    try:
        joint = np.broadcast_shapes(mask_shape, tuple(scores_shape))
    except ValueError:
        joint = None
    if joint != tuple(scores_shape):
        raise ValueError(
            f"mask of shape {mask_shape} does not broadcast to the scores' shape "
            f"{tuple(scores_shape)} (..., Tq, Tk)"
        )


def scaled_dot_product_attention(q, k, v, mask=None):
    """Attention in NumPy: returns (context (..., Tq, Dv), weights (..., Tq, Tk)).

    scores = q k^T / sqrt(D); weights = softmax(scores) over the keys, with
    disallowed keys (mask False) given zero weight; context = weights v. A
    query with no allowed key gets all-zero weights and a zero context.
    """
    q = _as_float_array(q, "q")
    k = _as_float_array(k, "k")
    v = _as_float_array(v, "v")
    if mask is not None:
        mask = np.asarray(mask)
    check_attention_inputs(q, k, v, mask)

    scale = 1.0 / math.sqrt(q.shape[-1])
    scores = (q @ np.swapaxes(k, -1, -2)) * scale  # (..., Tq, D) -> (..., Tq, Tk)
    if mask is not None:
        scores = np.where(mask, scores, -np.inf)
    weights = softmax(scores, axis=-1)
    context = weights @ v  # (..., Tq, Tk) @ (..., Tk, Dv) -> (..., Tq, Dv)
    return context, weights
