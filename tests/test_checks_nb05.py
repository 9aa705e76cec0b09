"""Checks of notebook 05: the reference passes, known mistakes get their hint."""

import math

import pytest
import torch
from check_helpers import fails_with, not_attempted

from course_utils.checks import (
    check_head_weights,
    check_merge_heads,
    check_mha_parameter_count,
    check_split_heads,
    strict_checks,
)


def split_heads(x, n_heads):
    B, T, C = x.shape
    return x.view(B, T, n_heads, C // n_heads).transpose(1, 2)


def merge_heads(x):
    B, H, T, D = x.shape
    return x.transpose(1, 2).reshape(B, T, H * D)


def parameter_count(d_model, n_heads, bias):
    return 4 * d_model * d_model + (4 * d_model if bias else 0)


def head_weights(x, w_q, w_k, head, n_heads, scale_dim=None, columns=False):
    D = x.shape[-1] // n_heads
    rows = slice(head * D, (head + 1) * D)
    if columns:
        q, k = x @ w_q[:, rows], x @ w_k[:, rows]
    else:
        q, k = x @ w_q[rows].T, x @ w_k[rows].T
    scores = q @ k.transpose(-2, -1) / math.sqrt(scale_dim or D)
    return torch.softmax(scores, dim=-1)


CHECKS = [(check_split_heads, split_heads), (check_merge_heads, merge_heads),
          (check_mha_parameter_count, parameter_count),
          (check_head_weights, head_weights)]


@pytest.mark.parametrize("check,solution", CHECKS)
def test_reference_solutions_pass(check, solution, capsys):
    with strict_checks():
        check(solution)  # raises CheckFailed unless it passes
    assert capsys.readouterr().out.startswith("PASSED")


@pytest.mark.parametrize("check", [check for check, _ in CHECKS])
def test_stub_is_not_attempted(check):
    fails_with(check, not_attempted, "not_attempted", "not attempted yet")


def test_checks_leave_the_global_rng_alone():
    torch.manual_seed(0)
    before = torch.get_rng_state()
    for check, solution in CHECKS:
        check(solution)
    assert torch.equal(torch.get_rng_state(), before)


def test_split_heads_mistakes():
    no_transpose = lambda x, H: x.view(*x.shape[:2], H, -1)
    fails_with(check_split_heads, no_transpose, "wrong_value", "wrong order")
    one_view = lambda x, H: x.reshape(x.shape[0], H, x.shape[1], -1)
    fails_with(check_split_heads, one_view, "wrong_value", "mixes tokens with features")


def test_merge_heads_mistakes():
    one_view = lambda x: x.reshape(x.shape[0], x.shape[2], -1)
    fails_with(check_merge_heads, one_view, "wrong_value", "mixes tokens with features")
    swapped = lambda x: x.transpose(1, 2)
    fails_with(check_merge_heads, swapped, "wrong_shape", "wrong shape")


def test_parameter_count_mistakes():
    no_out = lambda C, H, bias: 3 * C * C + (3 * C if bias else 0)
    fails_with(check_mha_parameter_count, no_out, "wrong_value", "output projection")
    no_bias = lambda C, H, bias: 4 * C * C
    fails_with(check_mha_parameter_count, no_bias, "wrong_value", "C biases")
    per_head = lambda C, H, bias: 4 * C * (C // H)
    fails_with(check_mha_parameter_count, per_head, "wrong_value", "one head's share")
    fails_with(check_mha_parameter_count, lambda C, H, bias: "many", "wrong_value",
          "return one integer")


def test_head_weights_mistakes():
    sqrt_c = lambda x, wq, wk, h, H: head_weights(x, wq, wk, h, H,
                                                  scale_dim=x.shape[-1])
    fails_with(check_head_weights, sqrt_c, "wrong_value", r"sqrt\(D\)")
    columns = lambda x, wq, wk, h, H: head_weights(x, wq, wk, h, H, columns=True)
    fails_with(check_head_weights, columns, "wrong_value", "ROWS")
    wrong_axis = lambda x, wq, wk, h, H: head_weights(x, wq, wk, h, H).transpose(1, 2)
    fails_with(check_head_weights, wrong_axis, "wrong_value", "dim=-1")
