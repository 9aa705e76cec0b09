"""The hand-derived backward pass of NumPy attention (notebook 02).

Reference: torch autograd through an independent torch forward pass, in
float64, to 1e-8; and central finite differences on small inputs.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from course_utils.numpy_attention import (
    _softmax_general,
    scaled_dot_product_attention,
    scaled_dot_product_attention_backward,
    softmax,
    softmax_backward,
)


def torch_reference(q, k, v, grad_context, mask=None):
    """Gradients of sum(context * grad_context) by autograd, float64."""
    tq, tk, tv = (torch.tensor(x, dtype=torch.float64, requires_grad=True)
                  for x in (q, k, v))
    scores = tq @ tk.transpose(-1, -2) / math.sqrt(q.shape[-1])
    if mask is not None:
        allowed = torch.as_tensor(mask)
        # Rows with no allowed key: any finite scores, then zero weights.
        scores = scores.masked_fill(~allowed, float("-inf"))
        empty = ~allowed.any(dim=-1, keepdim=True)
        scores = scores.masked_fill(empty, 0.0)
        weights = torch.softmax(scores, dim=-1) * allowed
    else:
        weights = torch.softmax(scores, dim=-1)
    context = weights @ tv
    (context * torch.as_tensor(grad_context)).sum().backward()
    return tq.grad.numpy(), tk.grad.numpy(), tv.grad.numpy()


def random_case(rng, batch, Tq, Tk, D, Dv, masked, empty_row):
    q = rng.standard_normal((*batch, Tq, D))
    k = rng.standard_normal((*batch, Tk, D))
    v = rng.standard_normal((*batch, Tk, Dv))
    grad_context = rng.standard_normal((*batch, Tq, Dv))
    mask = None
    if masked:
        mask = rng.random((*batch, Tq, Tk)) < 0.6
        if empty_row:
            mask[..., 0, :] = False
    return q, k, v, grad_context, mask


@settings(max_examples=40, deadline=None)
@given(
    batch=st.lists(st.integers(1, 3), max_size=2),
    Tq=st.integers(1, 6),
    Tk=st.integers(1, 6),
    D=st.integers(1, 5),
    Dv=st.integers(1, 5),
    masked=st.booleans(),
    empty_row=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_backward_matches_autograd(batch, Tq, Tk, D, Dv, masked, empty_row, seed):
    rng = np.random.default_rng(seed)
    case = random_case(rng, tuple(batch), Tq, Tk, D, Dv, masked, empty_row)
    ours = scaled_dot_product_attention_backward(*case[:4], mask=case[4])
    theirs = torch_reference(*case)
    for name, got, want in zip("qkv", ours, theirs, strict=True):
        assert got.shape == want.shape, name
        assert np.all(np.isfinite(got)), name
        np.testing.assert_allclose(got, want, rtol=1e-8, atol=1e-8, err_msg=name)


def test_fully_masked_rows_give_zero_gradients_not_nan():
    rng = np.random.default_rng(0)
    q, k, v, grad_context, _ = random_case(rng, (2,), 4, 5, 3, 2, False, False)
    mask = np.ones((2, 4, 5), dtype=bool)
    mask[:, 1, :] = False
    grad_q, grad_k, grad_v = scaled_dot_product_attention_backward(
        q, k, v, grad_context, mask
    )
    assert np.all(grad_q[:, 1] == 0.0)
    # Changing the masked row's upstream gradient changes nothing.
    grad_context[:, 1] = 1e6
    again = scaled_dot_product_attention_backward(q, k, v, grad_context, mask)
    for before, after in zip((grad_q, grad_k, grad_v), again, strict=True):
        np.testing.assert_allclose(before, after, rtol=0, atol=1e-12)
    everything_masked = np.zeros((4, 5), dtype=bool)
    grads = scaled_dot_product_attention_backward(
        q, k, v, grad_context, everything_masked
    )
    assert all(np.all(g == 0.0) for g in grads)


def finite_difference(f, x, eps=1e-6):
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        old = x[index]
        x[index] = old + eps
        up = f()
        x[index] = old - eps
        down = f()
        x[index] = old
        grad[index] = (up - down) / (2 * eps)
    return grad


@pytest.mark.parametrize("masked", [False, True])
def test_backward_matches_finite_differences(masked):
    rng = np.random.default_rng(3)
    q, k, v, grad_context, mask = random_case(rng, (2,), 3, 4, 3, 2, masked, masked)

    def loss():
        context, _ = scaled_dot_product_attention(q, k, v, mask)
        return float(np.sum(context * grad_context))

    ours = scaled_dot_product_attention_backward(q, k, v, grad_context, mask)
    for name, x, got in zip("qkv", (q, k, v), ours, strict=True):
        numeric = finite_difference(loss, x)
        np.testing.assert_allclose(got, numeric, rtol=1e-6, atol=1e-8, err_msg=name)


def test_broadcast_inputs_get_gradients_of_their_own_shape():
    rng = np.random.default_rng(1)
    q = rng.standard_normal((2, 3, 4, 5))
    k = rng.standard_normal((1, 6, 5))  # shared by the batch axes of q
    v = rng.standard_normal((6, 2))
    grad_context = rng.standard_normal((2, 3, 4, 2))
    mask = rng.random((4, 6)) < 0.7
    ours = scaled_dot_product_attention_backward(q, k, v, grad_context, mask)
    theirs = torch_reference(q, k, v, grad_context, mask)
    for x, got, want in zip((q, k, v), ours, theirs, strict=True):
        assert got.shape == x.shape
        np.testing.assert_allclose(got, want, rtol=1e-8, atol=1e-8)


def test_float32_inputs_give_float32_gradients():
    rng = np.random.default_rng(2)
    case = [x.astype(np.float32) for x in random_case(rng, (), 3, 3, 4, 4, False,
                                                      False)[:4]]
    grads = scaled_dot_product_attention_backward(*case)
    assert all(g.dtype == np.float32 for g in grads)
    want = torch_reference(*case)
    for got, ref in zip(grads, want, strict=True):
        np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-5)


def test_softmax_backward_matches_the_jacobian():
    rng = np.random.default_rng(4)
    scores = rng.standard_normal(5)
    grad_weights = rng.standard_normal(5)
    weights = softmax(scores)
    jacobian = np.diag(weights) - np.outer(weights, weights)
    np.testing.assert_allclose(
        softmax_backward(weights, grad_weights), jacobian.T @ grad_weights,
        rtol=1e-12, atol=1e-14,
    )


def test_softmax_backward_along_another_axis():
    rng = np.random.default_rng(5)
    scores = rng.standard_normal((4, 3))
    grad_weights = rng.standard_normal((4, 3))
    along_rows = softmax_backward(softmax(scores.T), grad_weights.T).T
    np.testing.assert_allclose(
        softmax_backward(softmax(scores, axis=0), grad_weights, axis=0), along_rows
    )


def test_bad_grad_context_shape_is_named():
    q = np.zeros((2, 3, 4))
    v = np.zeros((2, 5, 6))
    expected = r"grad_context .*\(2, 3, 6\), got \(2, 3, 4\)"
    with pytest.raises(ValueError, match=expected):
        scaled_dot_product_attention_backward(q, np.zeros((2, 5, 4)), v, q)


def test_bad_inputs_raise_like_the_forward_pass():
    x = np.zeros((3, 4))
    with pytest.raises(ValueError, match="q and k must share the head size"):
        scaled_dot_product_attention_backward(x, np.zeros((3, 5)), x, x)
    with pytest.raises(TypeError, match="mask must be boolean"):
        scaled_dot_product_attention_backward(x, x, x, x, mask=np.ones((3, 3)))
    with pytest.raises(TypeError, match="grad_context must hold real numbers"):
        scaled_dot_product_attention_backward(x, x, x, x.astype(complex))
    with pytest.raises(ValueError, match="grad_weights must have the shape"):
        softmax_backward(np.zeros((2, 3)), np.zeros((3, 2)))


@settings(max_examples=40, deadline=None)
@given(
    shape=st.lists(st.integers(1, 7), min_size=1, max_size=3),
    scale=st.sampled_from([1.0, 30.0, 1e4]),
    seed=st.integers(0, 2**16),
    dtype=st.sampled_from([np.float32, np.float64]),
)
def test_fast_softmax_equals_the_general_path_bit_for_bit(shape, scale, seed, dtype):
    # The in-place fast path (finite rows) must not change a single bit.
    x = (np.random.default_rng(seed).standard_normal(shape) * scale).astype(dtype)
    general = _softmax_general(x, np.max(x, axis=-1, keepdims=True), -1)
    assert np.array_equal(softmax(x), general)
