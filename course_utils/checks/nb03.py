"""Checks for the exercises of notebook 03 (attention in PyTorch, on the GPU)."""

from __future__ import annotations

import math

import numpy as np
import torch

from ..attention import causal_mask, scaled_dot_product_attention
from ..numpy_attention import scaled_dot_product_attention_backward
from .core import Case, random_tensors, run_check, to_numpy

__all__ = ["check_torch_attention", "check_autograd_gradients", "check_fused_attention"]


def _masked_cases(seed: int, allow_empty_rows: bool) -> list[Case]:
    q, k, v = random_tensors(seed, (4, 3), (5, 3), (5, 2))
    bq, bk, bv = random_tensors(seed + 1, (2, 3, 4), (2, 3, 4), (2, 3, 4))
    mask = torch.tensor([[1, 1, 0, 0, 0], [1, 0, 1, 0, 1], [0, 0, 0, 1, 1],
                         [1, 1, 1, 1, 1]], dtype=torch.bool)
    causal = causal_mask(3)
    cases = [
        Case((q, k, v, None), None, "no mask, Tq=4, Tk=5"),
        Case((q, k, v, mask), None, "a (4, 5) mask"),
        Case((bq, bk, bv, causal), None, "a batch of 2 with a causal mask"),
    ]
    if allow_empty_rows:
        empty = mask.clone()
        empty[2] = False
        cases.append(Case((q, k, v, empty), None, "query 2 may attend to no key"))
    return cases


def _attention_cases() -> list[Case]:
    cases = _masked_cases(seed=5, allow_empty_rows=True)
    for case in cases:
        case.expected = scaled_dot_product_attention(*case.args)
    return cases


def _hint_torch_attention(got, expected, case):
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        return "return two tensors, (context, weights)."
    weights = to_numpy(got[1])
    if not isinstance(weights, np.ndarray):
        return "return torch tensors (or arrays): (context, weights)."
    if np.isnan(weights).any():
        return (
            "NaN appears where a query may attend to no key: softmax of a row of "
            "-inf is 0/0. Give such rows finite scores, then zero their weights."
        )
    q, k, v, mask = case.args
    if mask is None:
        unscaled = torch.softmax(q @ k.transpose(-2, -1), dim=-1).numpy()
        if weights.shape == unscaled.shape and np.allclose(weights, unscaled):
            return f"divide the scores by sqrt(D) = {math.sqrt(q.shape[-1]):.3g}."
        return None
    inverted = scaled_dot_product_attention(q, k, v, ~mask)[1].numpy()
    if weights.shape == inverted.shape and np.allclose(weights, inverted):
        return "the mask is inverted: True means 'may attend', so fill where ~mask."
    return None


def check_torch_attention(fn) -> None:
    """Check fn(q, k, v, mask) -> (context, weights) on torch tensors, True = attend."""
    run_check(
        "attention in torch", fn, _attention_cases(), hints=[_hint_torch_attention],
        rtol=1e-6, atol=1e-9,
    )


def _gradient_cases() -> list[Case]:
    cases = []
    for seed, (Tq, Tk, D, Dv) in enumerate([(3, 3, 2, 2), (2, 4, 3, 5), (5, 2, 4, 1)]):
        shapes = (Tq, D), (Tk, D), (Tk, Dv), (Tq, Dv)
        q, k, v, grad_context = random_tensors(seed, *shapes)
        expected = scaled_dot_product_attention_backward(
            q.numpy(), k.numpy(), v.numpy(), grad_context.numpy()
        )
        cases.append(Case((q, k, v, grad_context), tuple(expected),
                          f"Tq={Tq}, Tk={Tk}, D={D}, Dv={Dv}"))
    return cases


def _hint_gradients(got, expected, case):
    if not isinstance(got, (tuple, list)) or len(got) != 3:
        return "return three tensors, (q.grad, k.grad, v.grad)."
    q, k, v, grad_context = case.args
    leaves = [x.clone().requires_grad_() for x in (q, k, v)]
    context, _ = scaled_dot_product_attention(*leaves)
    context.sum().backward()
    if all(np.allclose(to_numpy(g), x.grad.numpy())
           for g, x in zip(got, leaves, strict=True)):
        return (
            "these are the gradients of context.sum(); pass grad_context to "
            "backward: context.backward(grad_context)."
        )
    return None


def check_autograd_gradients(fn) -> None:
    """Check fn(q, k, v, grad_context) -> (grad_q, grad_k, grad_v) by autograd."""
    run_check(
        "autograd gradients", fn, _gradient_cases(), hints=[_hint_gradients],
        rtol=1e-6, atol=1e-9,
    )


def _fused_cases() -> list[Case]:
    cases = _masked_cases(seed=7, allow_empty_rows=True)
    for case in cases:
        case.expected = scaled_dot_product_attention(*case.args)[0]
    return cases


def _hint_fused(got, expected, case):
    got = to_numpy(got)
    if isinstance(got, tuple):
        return "return only the context tensor; the fused kernel gives no weights."
    if not isinstance(got, np.ndarray):
        return None
    if np.isnan(got).any():
        return (
            "a query with no allowed key came back as NaN: set its context to zero "
            "with context.masked_fill(~mask.any(dim=-1, keepdim=True), 0.0)."
        )
    q, k, v, mask = case.args
    if mask is not None and got.shape == expected.shape:
        inverted = scaled_dot_product_attention(q, k, v, ~mask)[0].numpy()
        if np.allclose(got, inverted):
            return (
                "the mask is inverted: F.scaled_dot_product_attention's boolean "
                "attn_mask already means True = may attend, like the course's."
            )
    return None


def check_fused_attention(fn) -> None:
    """Check fn(q, k, v, mask) -> context from F.scaled_dot_product_attention."""
    run_check(
        "fused attention", fn, _fused_cases(), hints=[_hint_fused],
        rtol=1e-6, atol=1e-9,
    )
