"""Checks for the exercises of notebook 05 (multi-head attention)."""

from __future__ import annotations

import math

import numpy as np
import torch

from ..attention import MultiHeadAttention
from .core import Case, random_tensors, run_check, to_numpy

__all__ = [
    "check_split_heads",
    "check_merge_heads",
    "check_mha_parameter_count",
    "check_head_weights",
]

_SHAPES = [("B=1, T=3, C=4, H=2", (1, 3, 4, 2)), ("B=2, T=5, C=12, H=3", (2, 5, 12, 3)),
           ("one head: H=1", (2, 4, 6, 1)), ("D=1: H=C", (1, 3, 4, 4))]


def _module(d_model, n_heads, bias=True):
    """A reference module whose initialisation leaves the global RNG untouched."""
    with torch.random.fork_rng(devices=[]):
        return MultiHeadAttention(d_model, n_heads, bias=bias).double()


def _random(shape, seed):
    return random_tensors(seed, shape)[0]


# --- split and merge ---------------------------------------------------------------


def _hint_heads_layout(got, expected, case):
    got = to_numpy(got)
    if not isinstance(got, np.ndarray):
        return None
    if got.shape != expected.shape:
        if sorted(got.shape) == sorted(expected.shape):
            return (
                f"the axes are in the wrong order: expected {expected.shape}. "
                "After the view, swap the token and head axes with transpose(1, 2)."
            )
        return None
    flat = np.asarray(case.args[0]).reshape(expected.shape)
    if np.allclose(got, flat):
        return (
            "right shape, wrong values: a single view/reshape to the final shape "
            "mixes tokens with features. Reshape to keep each token's C features "
            "together, then transpose the token and head axes."
        )
    return None


def check_split_heads(fn) -> None:
    """Check fn(x (B, T, C), n_heads) -> (B, H, T, D)."""
    cases = []
    for i, (label, (B, T, C, H)) in enumerate(_SHAPES):
        x = _random((B, T, C), seed=10 + i)
        expected = _module(C, H).split_heads(x)
        cases.append(Case((x, H), expected.numpy(), label))
    run_check("split_heads", fn, cases, hints=[_hint_heads_layout])


def check_merge_heads(fn) -> None:
    """Check fn(x (B, H, T, D)) -> (B, T, C), the inverse of split_heads."""
    cases = []
    for i, (label, (B, T, C, H)) in enumerate(_SHAPES):
        x = _random((B, H, T, C // H), seed=20 + i)
        expected = _module(C, H).merge_heads(x)
        cases.append(Case((x,), expected.numpy(), label))
    run_check("merge_heads", fn, cases, hints=[_hint_heads_layout])


# --- parameter count ------------------------------------------------------------


def _count(d_model, n_heads, bias):
    module = _module(d_model, n_heads, bias=bias)
    return sum(p.numel() for p in module.parameters())


def _hint_count(got, expected, case):
    try:
        got = int(got)
    except (TypeError, ValueError):
        return "return one integer."
    C, H, bias = case.args
    if got == 3 * C * C + (3 * C if bias else 0):
        return "the output projection (C x C weights, C biases) counts too."
    if bias and got == 4 * C * C:
        return "each of the four nn.Linear layers also has C biases."
    if got in (4 * C * (C // H), 4 * C * (C // H) + 4 * (C // H)):
        return (
            "that is one head's share: the H heads together span all C features, "
            "so the count does not depend on H."
        )
    return None


def check_mha_parameter_count(fn) -> None:
    """Check fn(d_model, n_heads, bias) -> the number of parameters."""
    settings = [(8, 2, True), (64, 4, True), (64, 4, False), (12, 3, True),
                (256, 8, False)]
    cases = [Case(args, np.asarray(_count(*args)), f"C={args[0]}, H={args[1]}, "
                  f"bias={args[2]}") for args in settings]
    run_check("parameter count", fn, cases, hints=[_hint_count], rtol=0.0,
                     atol=0.0)


# --- one head's weights ---------------------------------------------------------


def _head_weights(x, w_q, w_k, head, n_heads, scale_by=None, columns=False):
    """Weights (B, T, T) of one head; the keyword arguments build known mistakes."""
    C = x.shape[-1]
    D = C // n_heads
    part = slice(head * D, (head + 1) * D)
    if columns:
        q, k = x @ w_q[:, part], x @ w_k[:, part]  # (B, T, C) @ (C, D) -> (B, T, D)
    else:
        q, k = x @ w_q[part].T, x @ w_k[part].T  # (B, T, C) @ (C, D) -> (B, T, D)
    scores = q @ k.transpose(-2, -1) / math.sqrt(scale_by or D)  # -> (B, T, T)
    return torch.softmax(scores, dim=-1)


def _head_cases() -> list[Case]:
    cases = []
    for i, (label, (B, T, C, H), head) in enumerate([
        ("B=1, T=3, C=4, H=2, head 1", (1, 3, 4, 2), 1),
        ("B=2, T=5, C=12, H=3, head 0", (2, 5, 12, 3), 0),
        ("B=2, T=4, C=12, H=4, head 2", (2, 4, 12, 4), 2),
    ]):
        x = _random((B, T, C), 30 + i)
        w_q, w_k = _random((C, C), 40 + i), _random((C, C), 50 + i)
        module = _module(C, H, bias=False)
        with torch.no_grad():
            module.q_proj.weight.copy_(w_q)
            module.k_proj.weight.copy_(w_k)
            _, weights = module(x, return_weights=True)  # (B, H, T, T)
        cases.append(Case((x, w_q, w_k, head, H), weights[:, head].numpy(), label))
    return cases


def _hint_head(got, expected, case):
    got = to_numpy(got)
    if not isinstance(got, np.ndarray) or got.shape != expected.shape:
        return None
    x, w_q, w_k, head, H = case.args
    if np.allclose(got, _head_weights(x, w_q, w_k, head, H, scale_by=x.shape[-1])):
        return "scale by sqrt(D), the head size C / H, not by sqrt(C)."
    if np.allclose(got, _head_weights(x, w_q, w_k, head, H, columns=True)):
        return (
            "nn.Linear computes x @ W.T, so head h uses ROWS h*D..(h+1)*D - 1 of "
            "the (C, C) weight, then a transpose."
        )
    if not np.allclose(got.sum(axis=-1), 1.0):
        return "softmax over the keys, the last axis (dim=-1)."
    return None


def check_head_weights(fn) -> None:
    """Check fn(x, w_q, w_k, head, n_heads) -> that head's weights (B, T, T)."""
    run_check("one head's weights", fn, _head_cases(), hints=[_hint_head])
