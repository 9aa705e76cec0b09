"""Checks of notebook 06: the reference passes, known mistakes get their hint."""

import pytest
import torch
from check_helpers import fails_with, not_attempted

from course_utils.checks import (
    check_block_forward,
    check_gpt_parameter_count,
    check_previous_token_score,
    check_sampling_probs,
    strict_checks,
)


def sampling_probs(logits, temperature, top_k):
    scaled = logits / temperature
    if top_k is not None:
        kth = torch.topk(scaled, top_k, dim=-1).values[:, -1:]
        scaled = scaled.masked_fill(scaled < kth, float("-inf"))
    return torch.softmax(scaled, dim=-1)


def block_forward(block, x):
    x = x + block.attn(block.ln_1(x), is_causal=True)
    return x + block.mlp(block.ln_2(x))


def gpt_parameter_count(vocab_size, block_size, n_layer, n_embd):
    C = n_embd
    per_block = 4 * C * C + 8 * C * C + 2 * C
    return vocab_size * C + block_size * C + n_layer * per_block + C


def previous_token_score(weights):
    return torch.diagonal(weights, offset=-1, dim1=-2, dim2=-1).mean(-1)


CHECKS = [(check_sampling_probs, sampling_probs), (check_block_forward, block_forward),
          (check_gpt_parameter_count, gpt_parameter_count),
          (check_previous_token_score, previous_token_score)]


@pytest.mark.parametrize("check,solution", CHECKS)
def test_reference_solutions_pass(check, solution, capsys):
    with strict_checks():
        check(solution)  # raises CheckFailed unless it passes
    assert capsys.readouterr().out.startswith("PASSED")


@pytest.mark.parametrize("check,solution", CHECKS)
def test_stub_is_not_attempted(check, solution):
    fails_with(check, not_attempted, "not_attempted", "not attempted yet")


def test_sampling_mistakes_get_hints():
    no_temperature = lambda logits, t, k: sampling_probs(logits, 1.0, k)  # noqa: E731
    fails_with(check_sampling_probs, no_temperature, "wrong_value",
          "temperature has no effect")
    times = lambda logits, t, k: sampling_probs(logits * t * t, t, k)  # noqa: E731
    fails_with(check_sampling_probs, times, "wrong_value", "divide")
    no_top_k = lambda logits, t, k: sampling_probs(logits, t, None)  # noqa: E731
    fails_with(check_sampling_probs, no_top_k, "wrong_value", "exactly top_k=2")
    unnormalised = lambda logits, t, k: torch.exp(logits / t)  # noqa: E731
    fails_with(check_sampling_probs, unnormalised, "wrong_value", "sum to one")


def test_block_mistakes_get_hints():
    def not_causal(block, x):
        x = x + block.attn(block.ln_1(x))
        return x + block.mlp(block.ln_2(x))

    def post_norm(block, x):
        x = block.ln_1(x + block.attn(x, is_causal=True))
        return block.ln_2(x + block.mlp(x))

    def no_residual(block, x):
        return block.mlp(block.ln_2(block.attn(block.ln_1(x), is_causal=True)))

    # One token has nothing later to hide, so causality shows from case 2 on.
    fails_with(check_block_forward, not_causal, "wrong_value", "is_causal=True")
    fails_with(check_block_forward, post_norm, "wrong_value", "post-norm")
    fails_with(check_block_forward, no_residual, "wrong_value", "residual")


def test_parameter_count_mistakes_get_hints():
    untied = lambda V, T, L, C: gpt_parameter_count(V, T, L, C) + V * C  # noqa: E731
    fails_with(check_gpt_parameter_count, untied, "wrong_value", "shares its weights")
    no_pos = lambda V, T, L, C: gpt_parameter_count(V, T, L, C) - T * C  # noqa: E731
    fails_with(check_gpt_parameter_count, no_pos, "wrong_value", "position embedding")
    no_norms = lambda V, T, L, C: V * C + T * C + L * 12 * C * C  # noqa: E731
    fails_with(check_gpt_parameter_count, no_norms, "wrong_value", "LayerNorms")


def test_score_mistakes_get_hints():
    diagonal = lambda w: torch.diagonal(w, dim1=-2, dim2=-1).mean(-1)  # noqa: E731
    fails_with(check_previous_token_score, diagonal, "wrong_value", "itself")
    above = lambda w: torch.diagonal(w, 1, dim1=-2, dim2=-1).mean(-1)  # noqa: E731
    fails_with(check_previous_token_score, above, "wrong_value", "offset=-1")
    per_t = lambda w: torch.diagonal(w, -1, -2, -1).sum(-1) / w.shape[-1]  # noqa: E731
    fails_with(check_previous_token_score, per_t, "wrong_value", "T-1")
