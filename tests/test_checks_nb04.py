"""Checks of notebook 04: the reference passes, known mistakes get their hint."""

import pytest
import torch
from check_helpers import fails_with, not_attempted

from course_utils.checks import (
    check_causal_mask,
    check_masked_softmax,
    check_padding_mask,
    strict_checks,
)


def causal(T):
    return torch.ones(T, T, dtype=torch.bool).tril()


def keys_kept(lengths, T):
    return torch.arange(T) < torch.as_tensor(lengths)[:, None]  # (B, T)


def padding(lengths, T):
    return keys_kept(lengths, T)[:, None, None, :]  # (B, T) -> (B, 1, 1, T)


def masked_softmax(scores, mask):
    scores = scores.masked_fill(~mask, float("-inf"))
    has_key = mask.any(dim=-1, keepdim=True)
    weights = torch.softmax(scores.masked_fill(~has_key, 0.0), dim=-1)
    return weights.masked_fill(~mask, 0.0)


@pytest.mark.parametrize(
    "check,solution",
    [(check_causal_mask, causal), (check_padding_mask, padding),
     (check_masked_softmax, masked_softmax)],
)
def test_reference_solutions_pass(check, solution, capsys):
    with strict_checks():
        check(solution)  # raises CheckFailed unless it passes
    assert capsys.readouterr().out.startswith("PASSED")


@pytest.mark.parametrize("check", [check_causal_mask, check_padding_mask,
                                   check_masked_softmax])
def test_stub_is_not_attempted(check):
    fails_with(check, not_attempted, "not_attempted", "not attempted yet")


def test_causal_mask_mistakes():
    fails_with(check_causal_mask, lambda T: causal(T).tril(-1), "wrong_value",
          "the diagonal is False")
    fails_with(check_causal_mask, lambda T: causal(T).T, "wrong_value", "transpose")
    fails_with(check_causal_mask, lambda T: ~causal(T), "wrong_value", "swapped")
    fails_with(check_causal_mask, lambda T: causal(T).float(), "raised",
          "return a boolean tensor")
    fails_with(check_causal_mask, lambda T: causal(T)[None], "wrong_shape",
          "wrong shape")
    fails_with(check_causal_mask, lambda T: None, "returned_none", "forget `return`")


def test_padding_mask_equally_right_forms_pass():
    """Expanded to (B, 1, T, T), or also masking padded queries: both right."""
    full = lambda lengths, T: padding(lengths, T).expand(len(lengths), 1, T, T)
    both = lambda lengths, T: padding(lengths, T) & keys_kept(lengths, T)[
        :, None, :, None]
    with strict_checks():
        check_padding_mask(full)  # raises CheckFailed unless it passes
        check_padding_mask(both)  # raises CheckFailed unless it passes


def test_padding_mask_mistakes():
    queries = lambda lengths, T: keys_kept(lengths, T)[:, None, :, None]
    fails_with(check_padding_mask, queries, "wrong_value", "masks the padded QUERIES")
    off = lambda lengths, T: (
        torch.arange(T) <= torch.as_tensor(lengths)[:, None])[:, None, None, :]
    fails_with(check_padding_mask, off, "wrong_value", "one padded key too many")
    fails_with(check_padding_mask, lambda lengths, T: ~padding(lengths, T),
          "wrong_value", "swapped")
    fails_with(check_padding_mask, keys_kept, "raised", "needs 4 axes")
    two_queries = lambda lengths, T: padding(lengths, T)[..., :1].expand(
        len(lengths), 1, 2, T)[:, :, :, :T]
    fails_with(check_padding_mask, two_queries, "raised", "does not broadcast")
    as_int = lambda lengths, T: padding(lengths, T).int()
    fails_with(check_padding_mask, as_int, "raised", "return a boolean tensor")


def test_masked_softmax_mistakes():
    def no_row_guard(scores, mask):
        return torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)

    def weak_constant(scores, mask):
        return torch.softmax(scores.masked_fill(~mask, -1e1), dim=-1)

    def wrong_axis(scores, mask):
        return torch.softmax(scores.masked_fill(~mask, -1e9), dim=-2) * mask

    fails_with(check_masked_softmax, no_row_guard, "wrong_value", "NaN")
    fails_with(check_masked_softmax, weak_constant, "wrong_value", "a blocked key got")
    fails_with(check_masked_softmax, wrong_axis, "wrong_value", r"sum to one")
