"""Checks for the exercises of notebook 06 (a tiny GPT)."""

from __future__ import annotations

import numpy as np
import torch

from ..attention import causal_mask
from ..gpt import GPT, Block, GPTConfig, next_token_probs
from .core import Case, random_tensors, run_check, to_numpy

__all__ = [
    "check_sampling_probs",
    "check_block_forward",
    "check_gpt_parameter_count",
    "check_previous_token_score",
]


def _random(shape, seed, scale=1.0):
    return random_tensors(seed, shape)[0] * scale


# --- temperature and top-k --------------------------------------------------------


def _sampling_cases() -> list[Case]:
    settings = [
        ("temperature 1, no top-k", (2, 6), 1.0, None),
        ("temperature 0.5 sharpens", (2, 6), 0.5, None),
        ("temperature 2 flattens", (3, 5), 2.0, None),
        ("top_k=2", (2, 6), 1.0, 2),
        ("top_k=1 is greedy", (2, 7), 1.0, 1),
        ("temperature 0.7 and top_k=3", (4, 10), 0.7, 3),
    ]
    cases = []
    for i, (label, shape, temperature, top_k) in enumerate(settings):
        logits = _random(shape, seed=60 + i, scale=2.0)
        expected = next_token_probs(logits, temperature, top_k)
        cases.append(Case((logits, temperature, top_k), expected.numpy(), label))
    return cases


def _hint_sampling(got, expected, case):
    got = to_numpy(got)
    if not isinstance(got, np.ndarray) or got.shape != expected.shape:
        return None
    logits, temperature, top_k = case.args
    logits = logits.numpy()
    if not np.allclose(got.sum(-1), 1.0):
        return "each row must sum to one: finish with a softmax over the last axis."
    if top_k is not None:
        kept = (got > 0).sum(-1)
        if np.any(kept != top_k):
            return (
                f"exactly top_k={top_k} tokens should keep a non-zero probability: "
                "set every logit below the k-th largest to -inf before the softmax."
            )
    no_temp = next_token_probs(torch.from_numpy(logits), 1.0, top_k).numpy()
    if temperature != 1.0 and np.allclose(got, no_temp):
        return "the temperature has no effect: divide the logits by it."
    times = next_token_probs(torch.from_numpy(logits * temperature), 1.0, top_k)
    if temperature != 1.0 and np.allclose(got, times.numpy()):
        return "multiply by 1/temperature, i.e. divide: logits / temperature."
    return None


def check_sampling_probs(fn) -> None:
    """Check fn(logits (B, V), temperature, top_k) -> probabilities (B, V)."""
    run_check("sampling probabilities", fn, _sampling_cases(),
                     hints=[_hint_sampling], rtol=1e-6, atol=1e-9)


# --- one block's forward pass ---------------------------------------------------


def _block(C, H, seed):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        block = Block(GPTConfig(vocab_size=2, n_embd=C, n_head=H)).double().eval()
        # Non-trivial norms, so that a missing LayerNorm shows in the values.
        for norm in (block.ln_1, block.ln_2):
            norm.weight.data.uniform_(0.5, 1.5)
    return block


def _block_cases() -> list[Case]:
    settings = [("B=1, T=4, C=8, H=2", 1, 4, 8, 2),
                ("B=2, T=6, C=16, H=4", 2, 6, 16, 4), ("one token", 1, 1, 8, 1)]
    cases = []
    for i, (label, B, T, C, H) in enumerate(settings):
        block = _block(C, H, seed=70 + i)
        x = _random((B, T, C), seed=80 + i)
        with torch.no_grad():
            expected = block(x)
        cases.append(Case((block, x), expected.numpy(), label))
    return cases


def _hint_block(got, expected, case):
    got = to_numpy(got)
    if not isinstance(got, np.ndarray) or got.shape != expected.shape:
        return None
    block, x = case.args
    with torch.no_grad():
        attn = lambda h, causal=True: block.attn(h, is_causal=causal)  # noqa: E731
        no_causal = x + attn(block.ln_1(x), causal=False)
        no_causal = no_causal + block.mlp(block.ln_2(no_causal))
        post = block.ln_1(x + attn(x))
        post = block.ln_2(post + block.mlp(post))
        no_residual = block.mlp(block.ln_2(attn(block.ln_1(x))))
    if np.allclose(got, no_causal.numpy()):
        return "pass is_causal=True to the attention: a token must not see later ones."
    if np.allclose(got, post.numpy()):
        return (
            "that is post-norm. In a pre-norm block the LayerNorm comes first, "
            "inside the branch: x = x + attn(ln_1(x)), then x = x + mlp(ln_2(x))."
        )
    if np.allclose(got, no_residual.numpy()):
        return "add each sub-layer's output to its input (the residual connection)."
    return None


def check_block_forward(fn) -> None:
    """Check fn(block, x (B, T, C)) -> (B, T, C), one pre-norm block by hand."""
    run_check("block forward", fn, _block_cases(), hints=[_hint_block],
                     rtol=1e-6, atol=1e-9)


# --- parameter count ------------------------------------------------------------


def _gpt_count(vocab_size, block_size, n_layer, n_embd):
    config = GPTConfig(vocab_size=vocab_size, block_size=block_size, n_layer=n_layer,
                       n_head=1, n_embd=n_embd)
    with torch.random.fork_rng(devices=[]):
        return GPT(config).num_parameters()


def _hint_gpt_count(got, expected, case):
    try:
        got = int(got)
    except (TypeError, ValueError):
        return "return one integer."
    V, T, L, C = case.args
    expected = int(expected)
    if got == expected + V * C:
        return "the head shares its weights with the token embedding: count them once."
    if got == expected - T * C:
        return "the learned position embedding has block_size x C weights."
    if got in (expected - (2 * L + 1) * C, expected - 2 * L * C, expected - C):
        return "each block has two LayerNorms and there is a final one: C weights each."
    if got == expected - L * 8 * C * C:
        return "each block's MLP has two C x 4C matrices."
    return None


def check_gpt_parameter_count(fn) -> None:
    """Check fn(vocab_size, block_size, n_layer, n_embd) -> parameter count."""
    settings = [(65, 64, 4, 128), (103, 64, 4, 128), (10, 8, 1, 16), (50, 32, 6, 48)]
    cases = [Case(args, np.asarray(_gpt_count(*args)),
                  f"V={args[0]}, T={args[1]}, layers={args[2]}, C={args[3]}")
             for args in settings]
    run_check("GPT parameter count", fn, cases, hints=[_hint_gpt_count],
                     rtol=0.0, atol=0.0)


# --- scoring heads by measurement -----------------------------------------------


def _previous_token_score(weights: torch.Tensor) -> torch.Tensor:
    """Mean weight on the previous token: (..., T, T) -> (...), positions 1..T-1."""
    return torch.diagonal(weights, offset=-1, dim1=-2, dim2=-1).mean(-1)


def _score_cases() -> list[Case]:
    cases = []
    for i, (label, shape) in enumerate([("one head (T=5)", (5, 5)),
                                        ("(H=3, T=6)", (3, 6, 6)),
                                        ("(L=2, H=2, T=4)", (2, 2, 4, 4))]):
        T = shape[-1]
        scores = _random(shape, seed=90 + i)
        mask = causal_mask(T)
        weights = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)
        cases.append(Case((weights,), _previous_token_score(weights).numpy(), label))
    return cases


def _hint_score(got, expected, case):
    got = to_numpy(got)
    if not isinstance(got, np.ndarray) or got.shape != expected.shape:
        return None
    (weights,) = case.args
    diag = torch.diagonal(weights, dim1=-2, dim2=-1).mean(-1).numpy()
    above = torch.diagonal(weights, offset=1, dim1=-2, dim2=-1).mean(-1).numpy()
    T = weights.shape[-1]
    padded = torch.diagonal(weights, offset=-1, dim1=-2, dim2=-1).sum(-1) / T
    if np.allclose(got, diag):
        return "that is the weight on the token itself; take the diagonal below it."
    if np.allclose(got, above):
        return "use offset=-1: query t looks back at key t-1, below the diagonal."
    if np.allclose(got, padded.numpy()):
        return f"average over the T-1 = {T - 1} queries that have a previous token."
    return None


def check_previous_token_score(fn) -> None:
    """Check fn(weights (..., T, T)) -> (...) mean weight on the previous token."""
    run_check("previous-token score", fn, _score_cases(), hints=[_hint_score],
                     rtol=1e-6, atol=1e-9)
