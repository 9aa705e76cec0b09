"""course_utils.checks.nb03: right answers pass, known wrong answers get hints."""

import math

import pytest
import torch
import torch.nn.functional as F
from check_helpers import fails_with, not_attempted, passes

from course_utils.checks import (
    CheckFailed,
    check_autograd_gradients,
    check_fused_attention,
    check_torch_attention,
    strict_checks,
)

CHECKS = [check_torch_attention, check_autograd_gradients, check_fused_attention]


@pytest.mark.parametrize("check", CHECKS)
def test_stub_is_not_attempted(check):
    fails_with(check, not_attempted, "not_attempted", "not attempted yet")


@pytest.mark.parametrize("check", CHECKS)
def test_forgotten_return_is_reported(check):
    fails_with(check, lambda *args: None, "returned_none", "forget `return`")


# Attention in torch -------------------------------------------------------------


def attention(q, k, v, mask=None, scale=True, invert=False):
    scores = q @ k.transpose(-2, -1)
    if scale:
        scores = scores / math.sqrt(q.shape[-1])
    if mask is not None:
        allowed = ~mask if invert else mask
        scores = scores.masked_fill(~allowed, float("-inf"))
        scores = scores.masked_fill(~allowed.any(-1, keepdim=True), 0.0)
        weights = torch.softmax(scores, dim=-1).masked_fill(~allowed, 0.0)
    else:
        weights = torch.softmax(scores, dim=-1)
    return weights @ v, weights


def test_torch_attention_right_answer_passes(capsys):
    passes(check_torch_attention, attention, capsys)


def test_torch_attention_without_scale_gets_a_hint():
    fails_with(check_torch_attention, lambda q, k, v, m: attention(q, k, v, m, False),
               "wrong_value", "sqrt")


def test_torch_attention_inverted_mask_gets_a_hint():
    fails_with(check_torch_attention,
               lambda q, k, v, m: attention(q, k, v, m, invert=m is not None),
               "wrong_value", "inverted")


def test_torch_attention_nan_rows_get_a_hint():
    def naive(q, k, v, mask):
        scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
        if mask is not None:
            scores = scores.masked_fill(~mask, float("-inf"))
        weights = torch.softmax(scores, dim=-1)
        return weights @ v, weights

    fails_with(check_torch_attention, naive, "wrong_value", "no key")


def test_torch_attention_context_only_gets_a_hint():
    fails_with(check_torch_attention, lambda q, k, v, m: attention(q, k, v, m)[0],
               "wrong_value", r"\(context, weights\)")


# Autograd gradients ---------------------------------------------------------------


def gradients(q, k, v, grad_context, use_upstream=True):
    leaves = [x.clone().requires_grad_() for x in (q, k, v)]
    context, _ = attention(*leaves)
    if use_upstream:
        context.backward(grad_context)
    else:
        context.sum().backward()
    return tuple(x.grad for x in leaves)


def test_autograd_gradients_right_answer_passes(capsys):
    passes(check_autograd_gradients, gradients, capsys)


def test_autograd_gradients_of_the_sum_get_a_hint():
    fails_with(check_autograd_gradients,
               lambda q, k, v, g: gradients(q, k, v, g, use_upstream=False),
               "wrong_value", "backward\\(grad_context\\)")


def test_autograd_gradients_in_the_wrong_order_fail():
    def swapped(q, k, v, g):
        grad_q, grad_k, grad_v = gradients(q, k, v, g)
        return grad_k, grad_q, grad_v

    with strict_checks(), pytest.raises(CheckFailed) as failed:
        check_autograd_gradients(swapped)
    assert failed.value.outcome in ("wrong_shape", "wrong_value")


# Fused attention --------------------------------------------------------------------


def fused(q, k, v, mask):
    context = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    if mask is None:
        return context
    return context.masked_fill(~mask.any(dim=-1, keepdim=True), 0.0)


def test_fused_attention_right_answer_passes(capsys):
    passes(check_fused_attention, fused, capsys)


def test_fused_attention_inverted_mask_gets_a_hint():
    fails_with(
        check_fused_attention,
        lambda q, k, v, m: fused(q, k, v, None if m is None else ~m),
        "wrong_value", "inverted",
    )


def test_fused_attention_nan_rows_get_a_hint():
    def with_nan(q, k, v, mask):
        context = fused(q, k, v, mask)
        if mask is not None:
            context = context.masked_fill(~mask.any(dim=-1, keepdim=True), math.nan)
        return context

    fails_with(check_fused_attention, with_nan, "wrong_value", "masked_fill")


def test_fused_attention_tuple_gets_a_hint():
    fails_with(check_fused_attention, lambda q, k, v, m: attention(q, k, v, m),
               "wrong_value", "only the context")
