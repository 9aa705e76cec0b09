"""course_utils.checks.nb01: right answers pass, known wrong answers get hints."""

import math

import numpy as np
import pytest
import torch
from check_helpers import fails_with, not_attempted, passes

from course_utils.checks import (
    check_attention,
    check_context_vector,
    check_softmax,
)

# Softmax --------------------------------------------------------------------


def softmax_right(x):
    exps = np.exp(x - np.max(x, axis=-1, keepdims=True))
    return exps / np.sum(exps, axis=-1, keepdims=True)


def softmax_no_shift(x):
    exps = np.exp(x)
    return exps / np.sum(exps, axis=-1, keepdims=True)


def softmax_axis0(x):
    exps = np.exp(x - np.max(x, axis=0, keepdims=True))
    return exps / np.sum(exps, axis=0, keepdims=True)


def test_softmax_right_answers_pass(capsys):
    passes(check_softmax, softmax_right, capsys)
    passes(check_softmax, lambda x: torch.softmax(torch.as_tensor(x), -1), capsys)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_softmax_without_max_subtraction_gets_the_overflow_hint():
    fails_with(check_softmax, softmax_no_shift, "wrong_value", "subtract")


def test_softmax_over_axis_0_gets_the_axis_hint():
    fails_with(check_softmax, softmax_axis0, "wrong_value", r"axis=-1")


@pytest.mark.parametrize("fn,outcome,match", [
    (not_attempted, "not_attempted", "not attempted yet"),
    (lambda x: None, "returned_none", "returned None"),
    (lambda x: softmax_right(x)[..., :-1], "wrong_shape", "wrong shape"),
])
def test_softmax_other_outcomes(fn, outcome, match):
    fails_with(check_softmax, fn, outcome, match)


# One query's context vector ---------------------------------------------------


def context_right(query, keys, values):
    scores = keys @ query / math.sqrt(query.shape[0])  # (T, D) @ (D,) -> (T,)
    weights = softmax_right(scores)
    return weights @ values  # (T,) @ (T, Dv) -> (Dv,)


def context_unscaled(query, keys, values):
    return softmax_right(keys @ query) @ values


def context_scaled_by_d(query, keys, values):
    return softmax_right(keys @ query / query.shape[0]) @ values


def context_no_softmax(query, keys, values):
    return (keys @ query / math.sqrt(query.shape[0])) @ values


def context_not_summed(query, keys, values):
    weights = softmax_right(keys @ query / math.sqrt(query.shape[0]))
    return weights[:, None] * values  # forgot to add the rows up


def context_row(query, keys, values):
    return context_right(query, keys, values)[None, :]


def context_no_shift(query, keys, values):
    return softmax_no_shift(keys @ query / math.sqrt(query.shape[0])) @ values


def test_context_right_answers_pass(capsys):
    passes(check_context_vector, context_right, capsys)

    def in_torch(query, keys, values):
        q, k, v = (torch.as_tensor(a) for a in (query, keys, values))
        return torch.softmax(k @ q / math.sqrt(q.shape[0]), dim=0) @ v

    passes(check_context_vector, in_torch, capsys)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("fn,outcome,match", [
    (context_unscaled, "wrong_value", r"without the scale: divide .* sqrt\(4\) = 2"),
    (context_scaled_by_d, "wrong_value", r"divided by D = 4; the scale is 1/sqrt"),
    (context_no_softmax, "wrong_value", "sum to one"),
    (context_not_summed, "wrong_value", r"one row per key.*axis 0"),
    (context_row, "wrong_value", r"not a \(1, Dv\) row"),
    (context_no_shift, "wrong_value", "subtract the largest score"),
    (not_attempted, "not_attempted", "not attempted yet"),
    (lambda q, k, v: None, "returned_none", "forget `return`"),
    ("context", "not_callable", "expected a function"),
])
def test_context_wrong_answers_fail_with_hints(fn, outcome, match):
    fails_with(check_context_vector, fn, outcome, match)


def test_context_wrong_shape_without_a_known_cause_reports_the_shape():
    fails_with(check_context_vector, lambda q, k, v: np.zeros(7), "wrong_shape",
               r"wrong shape: expected \(4,\), got \(7,\)")


# All queries at once ----------------------------------------------------------


def attention_right(Q, K, V):
    scores = Q @ K.T / math.sqrt(Q.shape[-1])  # (Tq, D) @ (D, Tk) -> (Tq, Tk)
    weights = softmax_right(scores)
    return weights @ V, weights  # (Tq, Tk) @ (Tk, Dv) -> (Tq, Dv)


def attention_transposed(Q, K, V):
    weights = softmax_right(K @ Q.T / math.sqrt(Q.shape[-1]))  # (Tk, Tq)
    return weights.T @ V, weights


def attention_axis0(Q, K, V):
    weights = softmax_axis0(Q @ K.T / math.sqrt(Q.shape[-1]))
    return weights @ V, weights


def attention_unscaled(Q, K, V):
    weights = softmax_right(Q @ K.T)
    return weights @ V, weights


def attention_swapped(Q, K, V):
    context, weights = attention_right(Q, K, V)
    return weights, context


def attention_no_shift(Q, K, V):
    weights = softmax_no_shift(Q @ K.T / math.sqrt(Q.shape[-1]))
    return weights @ V, weights


def attention_unnormalised(Q, K, V):
    weights = np.exp(Q @ K.T / math.sqrt(Q.shape[-1]))
    return weights @ V, weights


def attention_bad_context(Q, K, V):
    _, weights = attention_right(Q, K, V)
    return weights @ V[::-1], weights


def test_attention_right_answers_pass(capsys):
    passes(check_attention, attention_right, capsys)

    def in_torch(Q, K, V):
        q, k, v = (torch.as_tensor(a) for a in (Q, K, V))
        weights = torch.softmax(q @ k.T / math.sqrt(q.shape[-1]), dim=-1)
        return weights @ v, weights

    passes(check_attention, in_torch, capsys)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("fn,outcome,match", [
    (attention_transposed, "wrong_value", r"scores are transposed: use Q @ K\.T"),
    (attention_axis0, "wrong_value", r"softmax over the keys.*not axis 0"),
    (attention_unscaled, "wrong_value", r"without the scale: divide .* sqrt\(3\)"),
    (attention_swapped, "wrong_value", r"swapped: return \(context, weights\)"),
    (attention_no_shift, "wrong_value", "subtract the largest score"),
    (attention_unnormalised, "wrong_value", "sum to one"),
    (attention_bad_context, "wrong_value", r"weights are right; the context is"),
    (lambda Q, K, V: attention_right(Q, K, V)[0], "wrong_value", "return a pair"),
    (not_attempted, "not_attempted", "not attempted yet"),
    (lambda Q, K, V: None, "returned_none", "forget `return`"),
])
def test_attention_wrong_answers_fail_with_hints(fn, outcome, match):
    fails_with(check_attention, fn, outcome, match)


def test_attention_weights_of_shape_tk_tq_get_the_shape_hint():
    """The transposed mistake with Tq != Tk: weights come back (Tk, Tq)."""

    def flipped_shape(Q, K, V):
        if Q.shape[0] == K.shape[0]:
            return attention_right(Q, K, V)
        weights = softmax_right(K @ Q.T / math.sqrt(Q.shape[-1]))  # (Tk, Tq)
        return np.zeros((Q.shape[0], V.shape[1])), weights

    fails_with(check_attention, flipped_shape, "wrong_value",
               r"weights have shape \(5, 3\) = \(Tk, Tq\).*-> \(Tq, Tk\) = \(3, 5\)")


def test_hints_survive_answers_they_cannot_read():
    fails_with(check_attention, lambda Q, K, V: ("a", "b"), "wrong_value",
               "expected an array, got str")
    fails_with(check_context_vector, lambda q, k, v: "text", "wrong_value",
               "expected an array, got str")
