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
    return _softmax_into(x, np.empty_like(x), axis)


def _softmax_into(x: np.ndarray, out: np.ndarray, axis: int) -> np.ndarray:
    """Write softmax(x) along `axis` into `out` (which may be `x`) and return it.

    When every row's maximum is finite (no NaN, no +inf, no all -inf row) the
    five steps below run in place: no temporary arrays of x's size, which is
    what makes attention over long sequences fast. Other rows take the
    general path; both give bit-for-bit the same numbers where both apply.
    """
    row_max = np.max(x, axis=axis, keepdims=True)
    if not np.isfinite(row_max).all():
        out[...] = _softmax_general(x, row_max, axis)
        return out

    np.subtract(x, row_max, out=out)
    np.exp(out, out=out)
    # The maximum contributes exp(0) = 1, so the total is at least 1.
    out /= np.sum(out, axis=axis, keepdims=True)
    return out


def _softmax_general(x: np.ndarray, row_max: np.ndarray, axis: int) -> np.ndarray:
    """Softmax for rows that may hold NaN, +inf, or only -inf."""
    with np.errstate(invalid="ignore"):
        shifted = np.where(np.isfinite(row_max), x - row_max, -np.inf)
    # Rows holding +inf: those entries take the whole weight, shared equally.
    shifted = np.where(row_max == np.inf, np.where(x == np.inf, 0.0, -np.inf), shifted)
    shifted = np.where(np.isnan(x), np.nan, shifted).astype(x.dtype, copy=False)

    exps = np.exp(shifted)
    total = np.sum(exps, axis=axis, keepdims=True)
    return exps / np.where(total == 0, 1, total)


def softmax_backward(weights, grad_weights, axis: int = -1) -> np.ndarray:
    """Gradient of a loss with respect to softmax's input (notebook 02).

    weights = softmax(scores) and grad_weights = dL/dweights, both (..., Tk)
    -> dL/dscores of the same shape. The softmax Jacobian
    d weights_i / d scores_j = weights_i (delta_ij - weights_j) gives
    dL/dscores = weights * (grad_weights - sum(grad_weights * weights)).
    Rows of zero weights (fully masked queries) get zero gradients.
    """
    weights = _as_float_array(weights, "weights")
    grad_weights = _as_float_array(grad_weights, "grad_weights")
    if weights.shape != grad_weights.shape:
        raise ValueError(
            f"grad_weights must have the shape of weights {weights.shape}, "
            f"got {grad_weights.shape}"
        )
    if weights.ndim == 0 or not -weights.ndim <= axis < weights.ndim:
        raise ValueError(f"axis={axis} is out of range for weights of shape "
                         f"{weights.shape}")
    dot = np.sum(grad_weights * weights, axis=axis, keepdims=True)
    return weights * (grad_weights - dot)


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
    scores = q @ np.swapaxes(k, -1, -2)  # (..., Tq, D) @ (..., D, Tk) -> (..., Tq, Tk)
    # In place from here on: scores is a fresh array that nobody else holds.
    scores *= scale
    if mask is not None:
        np.copyto(scores, -np.inf, where=~mask)
    weights = _softmax_into(scores, scores, axis=-1)
    context = weights @ v  # (..., Tq, Tk) @ (..., Tk, Dv) -> (..., Tq, Dv)
    return context, weights


def _sum_to_shape(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum `grad` over the axes that broadcasting added or stretched."""
    extra = grad.ndim - len(shape)
    grad = grad.sum(axis=tuple(range(extra))) if extra > 0 else grad
    stretched = tuple(
        i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1
    )
    return grad.sum(axis=stretched, keepdims=True) if stretched else grad


def scaled_dot_product_attention_backward(q, k, v, grad_context, mask=None):
    """Gradients of attention by hand: returns (grad_q, grad_k, grad_v) (notebook 02).

    q (..., Tq, D), k (..., Tk, D), v (..., Tk, Dv), grad_context = dL/dcontext
    (..., Tq, Dv), mask as for the forward pass. Each gradient has the shape
    of its input (summed over axes that broadcasting stretched). With
    scores = q k^T / sqrt(D), weights = softmax(scores), context = weights v:
    grad_v = weights^T grad_context, grad_weights = grad_context v^T,
    grad_scores = softmax_backward(weights, grad_weights),
    grad_q = grad_scores k / sqrt(D), grad_k = grad_scores^T q / sqrt(D).
    Masked keys and fully masked queries have zero weight, so no gradient
    flows through them and nothing is NaN.
    """
    q = _as_float_array(q, "q")
    k = _as_float_array(k, "k")
    v = _as_float_array(v, "v")
    grad_context = _as_float_array(grad_context, "grad_context")
    if mask is not None:
        mask = np.asarray(mask)
    scores_shape = check_attention_inputs(q, k, v, mask)
    context_shape = (*scores_shape[:-1], v.shape[-1])
    if grad_context.shape != context_shape:
        raise ValueError(
            f"grad_context must have the context's shape (..., Tq, Dv) = "
            f"{context_shape}, got {grad_context.shape}"
        )

    _, weights = scaled_dot_product_attention(q, k, v, mask)
    scale = 1.0 / math.sqrt(q.shape[-1])

    # (..., Tk, Tq) @ (..., Tq, Dv) -> (..., Tk, Dv)
    grad_v = np.swapaxes(weights, -1, -2) @ grad_context
    # (..., Tq, Dv) @ (..., Dv, Tk) -> (..., Tq, Tk)
    grad_weights = grad_context @ np.swapaxes(v, -1, -2)
    grad_scores = softmax_backward(weights, grad_weights)

    grad_q = (grad_scores @ k) * scale  # (..., Tq, Tk) @ (..., Tk, D) -> (..., Tq, D)
    # (..., Tk, Tq) @ (..., Tq, D) -> (..., Tk, D)
    grad_k = (np.swapaxes(grad_scores, -1, -2) @ q) * scale

    return tuple(
        _sum_to_shape(grad, x.shape).astype(x.dtype, copy=False)
        for grad, x in ((grad_q, q), (grad_k, k), (grad_v, v))
    )
