"""course_utils.checks.nb02: right answers pass, known wrong answers get hints."""

import math

import numpy as np
import pytest
from check_helpers import fails_with, not_attempted, passes

from course_utils.checks import (
    CheckFailed,
    check_projections,
    check_scaled_scores,
    check_softmax_backward,
    strict_checks,
)


@pytest.mark.parametrize(
    "check", [check_projections, check_scaled_scores, check_softmax_backward]
)
def test_stub_is_not_attempted(check):
    fails_with(check, not_attempted, "not_attempted", "not attempted yet")


@pytest.mark.parametrize(
    "check", [check_projections, check_scaled_scores, check_softmax_backward]
)
def test_forgotten_return_is_reported(check):
    fails_with(check, lambda *args: None, "returned_none", "forget `return`")


# Projections ------------------------------------------------------------------


def test_projections_right_answer_passes(capsys):
    passes(check_projections, lambda x, wq, wk, wv: (x @ wq, x @ wk, x @ wv), capsys)


def test_projections_swapped_q_and_k_get_a_hint():
    fails_with(check_projections, lambda x, wq, wk, wv: (x @ wk, x @ wq, x @ wv),
               "wrong_value", "q and k are swapped")


def test_projections_transposed_get_a_hint():
    def transposed(x, wq, wk, wv):
        return (wq.T @ x.T, wk.T @ x.T, wv.T @ x.T)

    # A hinted failure reports "wrong_value" even when the shape is what is wrong.
    fails_with(check_projections, transposed, "wrong_value", "transposed")


def test_projections_returning_one_array_get_a_hint():
    fails_with(check_projections, lambda x, wq, wk, wv: x @ wq, "wrong_value",
               r"tuple \(q, k, v\)")


# Scaled scores ----------------------------------------------------------------


def scores_right(q, k):
    return q @ np.swapaxes(k, -1, -2) / math.sqrt(q.shape[-1])


def test_scaled_scores_right_answer_passes(capsys):
    passes(check_scaled_scores, scores_right, capsys)


@pytest.mark.parametrize(
    ("wrong", "match"),
    [
        (lambda q, k: q @ np.swapaxes(k, -1, -2), "scale is missing"),
        (lambda q, k: q @ np.swapaxes(k, -1, -2) * math.sqrt(q.shape[-1]),
         "multiplying"),
        (lambda q, k: q @ np.swapaxes(k, -1, -2) / q.shape[-1], "not by D"),
    ],
)
def test_scaled_scores_wrong_scale_gets_a_hint(wrong, match):
    fails_with(check_scaled_scores, wrong, "wrong_value", match)


def test_scaled_scores_without_transpose_raise():
    fails_with(check_scaled_scores, lambda q, k: q @ k / 2, "raised", "matmul")


def test_scaled_scores_keys_times_queries_get_a_hint():
    def k_times_q(q, k):
        return k @ np.swapaxes(q, -1, -2) / math.sqrt(q.shape[-1])

    fails_with(check_scaled_scores, k_times_q, "wrong_value", r"q @ k\^T")


# Softmax backward ---------------------------------------------------------------


def softmax_backward_right(weights, grad_weights):
    row = np.sum(grad_weights * weights, axis=-1, keepdims=True)
    return weights * (grad_weights - row)


def test_softmax_backward_right_answer_passes(capsys):
    passes(check_softmax_backward, softmax_backward_right, capsys)


@pytest.mark.parametrize(
    ("wrong", "match"),
    [
        (lambda w, g: w * g, "off-diagonal part is missing"),
        (lambda w, g: w * (1 - w) * g, "diagonal only"),
        (lambda w, g: w * (g - np.sum(g * w)), "last axis only"),
    ],
)
def test_softmax_backward_known_mistakes_get_hints(wrong, match):
    fails_with(check_softmax_backward, wrong, "wrong_value", match)


def test_softmax_backward_lost_axis_gets_a_hint():
    def no_keepdims(w, g):
        return w * (g - np.sum(g * w, axis=-1))

    # Broadcasting without keepdims fails (or misaligns) on the matrix cases.
    with strict_checks(), pytest.raises(CheckFailed) as failed:
        check_softmax_backward(no_keepdims)
    assert failed.value.outcome in ("raised", "wrong_value", "wrong_shape")
