"""course_utils.attention: causal_mask and padding_mask (notebook 04)."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from course_utils.attention import (
    causal_mask,
    padding_mask,
    scaled_dot_product_attention,
)

# --- causal_mask -------------------------------------------------------------


@pytest.mark.parametrize("T", [1, 2, 5, 17])
def test_causal_mask_shape_dtype_values(T):
    mask = causal_mask(T)
    assert mask.shape == (T, T)
    assert mask.dtype == torch.bool
    assert mask.device.type == "cpu"
    i, j = np.indices((T, T))
    np.testing.assert_array_equal(mask.numpy(), j <= i)


def test_causal_mask_diagonal_allowed_and_first_row_sees_only_itself():
    mask = causal_mask(4)
    assert mask.diagonal().all()
    assert mask[0].tolist() == [True, False, False, False]
    assert mask[-1].all()
    assert int(mask.sum()) == 4 * 5 // 2


@pytest.mark.parametrize("device", ["cpu", torch.device("cpu"), "meta"])
def test_causal_mask_device(device):
    mask = causal_mask(3, device=device)
    assert mask.device == torch.device(device)
    assert mask.shape == (3, 3) and mask.dtype == torch.bool


def test_causal_mask_accepts_numpy_and_torch_ints():
    assert causal_mask(np.int64(3)).shape == (3, 3)
    assert causal_mask(torch.tensor(2)).shape == (2, 2)


@pytest.mark.parametrize("T", [0, -1, 2.5, 3.0, True, "3", None])
def test_causal_mask_rejects_bad_T(T):
    with pytest.raises(ValueError, match="T must be a positive int"):
        causal_mask(T)


# --- padding_mask ------------------------------------------------------------


def test_padding_mask_shape_dtype_values():
    mask = padding_mask([3, 1, 4, 0], T=4)
    assert mask.shape == (4, 1, 1, 4)
    assert mask.dtype == torch.bool
    expected = [
        [True, True, True, False],
        [True, False, False, False],
        [True, True, True, True],
        [False, False, False, False],
    ]
    assert mask[:, 0, 0, :].tolist() == expected


@pytest.mark.parametrize(
    "lengths",
    [[2, 3], (2, 3), np.array([2, 3]), torch.tensor([2, 3]),
     torch.tensor([2, 3], dtype=torch.int32), np.array([2, 3], dtype=np.uint8)],
)
def test_padding_mask_accepts_sequences_arrays_and_tensors(lengths):
    mask = padding_mask(lengths, 3)
    assert mask[:, 0, 0].tolist() == [[True, True, False], [True, True, True]]


def test_padding_mask_follows_the_device_of_lengths():
    lengths = torch.tensor([1, 2], device="cpu")
    assert padding_mask(lengths, 2).device == lengths.device


def test_padding_mask_broadcasts_against_scores():
    B, H, T = 3, 2, 5
    scores = torch.zeros(B, H, T, T)
    mask = padding_mask([5, 2, 1], T)
    assert torch.broadcast_shapes(mask.shape, scores.shape) == scores.shape


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 12).flatmap(
    lambda T: st.tuples(st.just(T), st.lists(st.integers(0, T), min_size=1,
                                             max_size=6))))
def test_padding_mask_counts_match_lengths(T_and_lengths):
    T, lengths = T_and_lengths
    mask = padding_mask(lengths, T)
    assert mask.shape == (len(lengths), 1, 1, T)
    assert mask.sum(dim=-1).flatten().tolist() == lengths
    # the kept keys are a prefix: no True after a False
    keep = mask[:, 0, 0].int()
    assert bool((keep[:, 1:] <= keep[:, :-1]).all())


@pytest.mark.parametrize("lengths", [[-1, 2], [2, 5], [0, 4, 7]])
def test_padding_mask_rejects_lengths_outside_0_to_T(lengths):
    with pytest.raises(ValueError, match=r"lengths must lie in 0\.\.T=4") as info:
        padding_mask(lengths, 4)
    assert str(lengths) in str(info.value)


@pytest.mark.parametrize(
    "lengths,what",
    [([[1, 2]], r"shape \(1, 2\)"), (3, r"shape \(\)"),
     ([1.0, 2.0], "torch.float"), ([True, False], "torch.bool")],
)
def test_padding_mask_rejects_wrong_rank_or_dtype(lengths, what):
    expected = "lengths must be a 1-d sequence of ints"
    with pytest.raises(ValueError, match=expected) as info:
        padding_mask(lengths, 4)
    assert info.match(what)


@pytest.mark.parametrize("T", [0, -2, 1.5, False])
def test_padding_mask_rejects_bad_T(T):
    with pytest.raises(ValueError, match="T must be a positive int"):
        padding_mask([0], T)


# --- both masks together -------------------------------------------------------


def test_causal_and_padding_combine_by_and():
    T, lengths = 4, [4, 2, 0]
    mask = causal_mask(T) & padding_mask(lengths, T)  # (T, T) & (B, 1, 1, T)
    assert mask.shape == (3, 1, T, T)
    for b, length in enumerate(lengths):
        for i in range(T):
            for j in range(T):
                assert bool(mask[b, 0, i, j]) == (j <= i and j < length)


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 6), st.integers(0, 2**16), st.data())
def test_combined_mask_gives_zero_weight_to_blocked_keys(T, seed, data):
    lengths = data.draw(st.lists(st.integers(0, T), min_size=1, max_size=3))
    gen = torch.Generator().manual_seed(seed)
    B, H, D = len(lengths), 2, 3
    q, k, v = (torch.randn(B, H, T, D, generator=gen, dtype=torch.float64)
               for _ in range(3))
    mask = causal_mask(T) & padding_mask(lengths, T)
    context, weights = scaled_dot_product_attention(q, k, v, mask)

    assert not torch.isnan(context).any()
    assert bool((weights[~mask.expand_as(weights)] == 0).all())
    has_key = mask.expand_as(weights).any(dim=-1)
    sums = weights.sum(dim=-1)
    torch.testing.assert_close(sums[has_key], torch.ones_like(sums[has_key]))
    assert bool((sums[~has_key] == 0).all())
