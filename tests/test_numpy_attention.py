"""course_utils.numpy_attention: softmax and the forward pass against PyTorch."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from course_utils.numpy_attention import scaled_dot_product_attention as sdpa
from course_utils.numpy_attention import softmax

TOL = {
    np.float64: dict(rtol=1e-10, atol=1e-10),
    np.float32: dict(rtol=1e-5, atol=1e-5),
}


def random_qkv(rng, batch, Tq, Tk, D, Dv, dtype):
    q = rng.normal(size=(*batch, Tq, D)).astype(dtype)
    k = rng.normal(size=(*batch, Tk, D)).astype(dtype)
    v = rng.normal(size=(*batch, Tk, Dv)).astype(dtype)
    return q, k, v


# --- softmax ---------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape,axis", [((5,), -1), ((3, 7), -1), ((2, 3, 4), 1),
                                        ((4, 2, 6), 0)])
def test_softmax_matches_torch(dtype, shape, axis):
    x = (np.random.default_rng(0).normal(size=shape) * 5).astype(dtype)
    ours = softmax(x, axis=axis)
    theirs = torch.softmax(torch.from_numpy(x), dim=axis).numpy()
    assert ours.dtype == dtype
    np.testing.assert_allclose(ours, theirs, **TOL[dtype])


def test_softmax_huge_logits_give_no_nan():
    x = np.array([[1e4, 1e4 - 1, -1e4], [-1e4, -1e4, -1e4]])
    out = softmax(x)
    assert np.isfinite(out).all()
    np.testing.assert_allclose(out[0], [1 / (1 + math.exp(-1)), 1 / (1 + math.e), 0])
    np.testing.assert_allclose(out[1], [1 / 3] * 3)


def test_softmax_special_values():
    out = softmax(np.array([[-np.inf, -np.inf], [np.inf, 0.0], [np.inf, np.inf],
                            [np.nan, 1.0]]))
    np.testing.assert_array_equal(out[0], [0.0, 0.0])  # nothing to weigh
    np.testing.assert_array_equal(out[1], [1.0, 0.0])
    np.testing.assert_array_equal(out[2], [0.5, 0.5])
    assert np.isnan(out[3]).all()  # NaN in, NaN out: never hidden


def test_softmax_integers_become_float():
    out = softmax(np.array([1, 2, 3]))
    assert out.dtype == np.float64
    np.testing.assert_allclose(out.sum(), 1.0)


@pytest.mark.parametrize("bad,error,match", [
    (np.array([True, False]), TypeError, "x must hold real numbers"),
    (np.array(["a"]), TypeError, "x must hold real numbers"),
    (np.array([1 + 2j]), TypeError, "x must hold real numbers"),
    (np.float64(3.0), ValueError, "at least one axis"),
])
def test_softmax_bad_input(bad, error, match):
    with pytest.raises(error, match=match):
        softmax(bad)


def test_softmax_bad_axis():
    match = r"axis=2 is out of range for x of shape \(3, 4\)"
    with pytest.raises(ValueError, match=match):
        softmax(np.zeros((3, 4)), axis=2)


@settings(max_examples=50, deadline=None)
@given(hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=3, max_side=6),
                  elements=st.floats(-1e6, 1e6)))
def test_softmax_rows_are_distributions(x):
    out = softmax(x)
    assert np.all(out >= 0)
    np.testing.assert_allclose(out.sum(axis=-1), 1.0, rtol=1e-12)


@settings(max_examples=50, deadline=None)
@given(hnp.arrays(np.float64, (3, 5), elements=st.floats(-1e3, 1e3)),
       st.floats(-1e3, 1e3))
def test_softmax_is_shift_invariant(x, shift):
    np.testing.assert_allclose(softmax(x + shift), softmax(x), atol=1e-12)


# --- scaled dot-product attention ------------------------------------------


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(
    "batch,Tq,Tk,D,Dv",
    [((), 4, 4, 8, 8), ((3,), 5, 7, 4, 6), ((2, 3), 6, 6, 16, 5), ((2, 1), 1, 9, 3, 2)],
)
def test_attention_matches_torch_sdpa(dtype, batch, Tq, Tk, D, Dv):
    q, k, v = random_qkv(np.random.default_rng(1), batch, Tq, Tk, D, Dv, dtype)
    context, weights = sdpa(q, k, v)
    expected = F.scaled_dot_product_attention(*map(torch.from_numpy, (q, k, v)))
    assert context.shape == (*batch, Tq, Dv) and weights.shape == (*batch, Tq, Tk)
    assert context.dtype == dtype
    np.testing.assert_allclose(context, expected.numpy(), **TOL[dtype])
    np.testing.assert_allclose(weights.sum(-1), 1.0, **TOL[dtype])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_masked_attention_matches_torch_sdpa(dtype):
    rng = np.random.default_rng(2)
    q, k, v = random_qkv(rng, (2, 3), 5, 6, 8, 4, dtype)
    mask = rng.random((2, 1, 5, 6)) > 0.4
    mask[..., 0] = True  # every query keeps a key, so PyTorch gives no NaN either
    context, weights = sdpa(q, k, v, mask)
    expected = F.scaled_dot_product_attention(
        *map(torch.from_numpy, (q, k, v)), attn_mask=torch.from_numpy(mask))
    np.testing.assert_allclose(context, expected.numpy(), **TOL[dtype])
    assert np.all(weights[np.broadcast_to(~mask, weights.shape)] == 0)
    np.testing.assert_allclose(weights.sum(-1), 1.0, **TOL[dtype])


def test_fully_masked_rows_give_zeros_not_nan():
    q, k, v = random_qkv(np.random.default_rng(3), (2,), 4, 5, 8, 3, np.float64)
    mask = np.ones((2, 4, 5), dtype=bool)
    mask[0, 2] = False
    mask[1] = False
    context, weights = sdpa(q, k, v, mask)
    assert np.isfinite(context).all() and np.isfinite(weights).all()
    assert np.all(weights[0, 2] == 0) and np.all(context[0, 2] == 0)
    assert np.all(weights[1] == 0) and np.all(context[1] == 0)
    np.testing.assert_allclose(weights[0, [0, 1, 3]].sum(-1), 1.0)


def test_huge_logits_give_no_nan():
    q = np.full((1, 3, 4), 1e4)
    k = np.concatenate([np.full((1, 2, 4), 1e4), np.full((1, 2, 4), -1e4)], axis=1)
    v = np.arange(16.0).reshape(1, 4, 4)
    context, weights = sdpa(q, k, v)
    assert np.isfinite(context).all()
    np.testing.assert_allclose(weights[0, 0], [0.5, 0.5, 0.0, 0.0])


def test_causal_mask_as_numpy_broadcasts():
    q, k, v = random_qkv(np.random.default_rng(4), (3,), 6, 6, 4, 4, np.float64)
    mask = np.tril(np.ones((6, 6), dtype=bool))
    _, weights = sdpa(q, k, v, mask)
    assert np.all(np.triu(weights, k=1) == 0)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 5), st.integers(1, 6), st.integers(1, 6), st.integers(1, 5),
       st.integers(0, 2**31 - 1))
def test_permuting_keys_and_values_together_changes_nothing(Tq, Tk, D, Dv, seed):
    rng = np.random.default_rng(seed)
    q, k, v = random_qkv(rng, (), Tq, Tk, D, Dv, np.float64)
    perm = rng.permutation(Tk)
    context, weights = sdpa(q, k, v)
    context_p, weights_p = sdpa(q, k[perm], v[perm])
    np.testing.assert_allclose(context_p, context, atol=1e-12)
    np.testing.assert_allclose(weights_p, weights[:, perm], atol=1e-12)


@pytest.mark.parametrize("shapes,match", [
    (((4,), (4, 8), (4, 8)),
     r"q must have shape \(\.\.\., T, features\).*got shape \(4,\)"),
    (((4, 8), (4, 6), (4, 8)),
     r"q and k must share the head size D.*\(4, 8\).*\(4, 6\)"),
    (((4, 8), (5, 8), (4, 8)),
     r"k and v must have the same number of keys.*\(5, 8\).*\(4, 8\)"),
    (((2, 4, 8), (3, 4, 8), (3, 4, 8)), r"leading \(batch\) axes.*do not broadcast"),
])
def test_bad_shapes_raise_clear_errors(shapes, match):
    q, k, v = (np.zeros(s) for s in shapes)
    with pytest.raises(ValueError, match=match):
        sdpa(q, k, v)


def test_non_boolean_mask_is_rejected():
    x = np.zeros((4, 8))
    match = r"mask must be boolean.*float64.*astype\(bool\)"
    with pytest.raises(TypeError, match=match):
        sdpa(x, x, x, np.ones((4, 4)))


def test_mask_that_does_not_broadcast_is_rejected():
    x = np.zeros((2, 4, 8))
    match = r"mask of shape \(3, 4\) does not broadcast.*\(2, 4, 4\)"
    with pytest.raises(ValueError, match=match):
        sdpa(x, x, x, np.ones((3, 4), dtype=bool))


def test_mask_may_not_enlarge_the_batch():
    x = np.zeros((4, 8))
    match = r"mask of shape \(2, 4, 4\) does not broadcast"
    with pytest.raises(ValueError, match=match):
        sdpa(x, x, x, np.ones((2, 4, 4), dtype=bool))
