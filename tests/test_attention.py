"""The course's explicit torch attention, `scaled_dot_product_attention` (nb 03).

Tolerances: float64 1e-10 and float32 1e-5 against PyTorch's fused
`F.scaled_dot_product_attention` and the course's NumPy version.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from course_utils import numpy_attention
from course_utils.attention import masked_softmax, scaled_dot_product_attention

TOLERANCE = {torch.float64: 1e-10, torch.float32: 1e-5}
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


def qkv(shape_q, Tk=None, Dv=None, dtype=torch.float64, seed=0, device="cpu"):
    generator = torch.Generator().manual_seed(seed)
    *batch, Tq, D = shape_q
    Tk = Tq if Tk is None else Tk
    Dv = D if Dv is None else Dv
    q = torch.randn(*batch, Tq, D, generator=generator, dtype=dtype)
    k = torch.randn(*batch, Tk, D, generator=generator, dtype=dtype)
    v = torch.randn(*batch, Tk, Dv, generator=generator, dtype=dtype)
    return q.to(device), k.to(device), v.to(device)


def random_mask(shape, seed=0, keep_every_row=True):
    generator = torch.Generator().manual_seed(seed)
    mask = torch.rand(shape, generator=generator) < 0.6
    if keep_every_row:
        mask[..., 0] = True  # each query keeps at least one key
    return mask


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("shape", [(5, 4), (3, 7, 8), (2, 3, 6, 4)])
def test_matches_torch_sdpa(dtype, shape):
    q, k, v = qkv(shape, dtype=dtype)
    context, weights = scaled_dot_product_attention(q, k, v)
    assert context.shape == v.shape[:-2] + (shape[-2], v.shape[-1])
    assert weights.shape == q.shape[:-1] + (k.shape[-2],)
    expected = F.scaled_dot_product_attention(q, k, v)
    tol = TOLERANCE[dtype]
    torch.testing.assert_close(context, expected, rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_masked_matches_torch_sdpa_with_different_tq_tk_dv(dtype):
    q, k, v = qkv((2, 3, 5, 4), Tk=7, Dv=6, dtype=dtype)
    mask = random_mask((2, 1, 5, 7))  # broadcasts over the head axis
    context, weights = scaled_dot_product_attention(q, k, v, mask)
    expected = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    tol = TOLERANCE[dtype]
    torch.testing.assert_close(context, expected, rtol=tol, atol=tol)
    assert torch.all(weights[~mask.expand_as(weights)] == 0)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("masked", [False, True])
def test_matches_numpy_version(dtype, masked):
    q, k, v = qkv((2, 6, 4), Tk=5, dtype=dtype, seed=1)
    mask = random_mask((6, 5), keep_every_row=False) if masked else None
    context, weights = scaled_dot_product_attention(q, k, v, mask)
    np_mask = None if mask is None else mask.numpy()
    np_context, np_weights = numpy_attention.scaled_dot_product_attention(
        q.numpy(), k.numpy(), v.numpy(), np_mask
    )
    tol = TOLERANCE[dtype]
    np.testing.assert_allclose(context.numpy(), np_context, rtol=tol, atol=tol)
    np.testing.assert_allclose(weights.numpy(), np_weights, rtol=tol, atol=tol)


def test_autograd_equals_the_numpy_backward_pass():
    q, k, v = qkv((2, 5, 3), Tk=4, Dv=2, seed=2)
    mask = random_mask((2, 5, 4), keep_every_row=False)
    mask[0, 1] = False
    grad_context = torch.randn(2, 5, 2, dtype=torch.float64)
    leaves = [x.clone().requires_grad_() for x in (q, k, v)]
    context, _ = scaled_dot_product_attention(*leaves, mask)
    context.backward(grad_context)
    by_hand = numpy_attention.scaled_dot_product_attention_backward(
        q.numpy(), k.numpy(), v.numpy(), grad_context.numpy(), mask.numpy()
    )
    for leaf, expected in zip(leaves, by_hand, strict=True):
        np.testing.assert_allclose(leaf.grad.numpy(), expected, rtol=1e-10, atol=1e-12)


@settings(max_examples=30, deadline=None)
@given(
    Tq=st.integers(1, 8),
    Tk=st.integers(1, 8),
    D=st.integers(1, 6),
    scale=st.sampled_from([0.1, 1.0, 100.0]),
    seed=st.integers(0, 2**16),
)
def test_rows_sum_to_one_over_allowed_keys(Tq, Tk, D, scale, seed):
    q, k, v = qkv((2, Tq, D), Tk=Tk, seed=seed)
    mask = random_mask((2, Tq, Tk), seed=seed, keep_every_row=False)
    _, weights = scaled_dot_product_attention(q * scale, k, v, mask)
    assert torch.all(weights >= 0)
    assert torch.all(weights[~mask] == 0)
    has_key = mask.any(dim=-1)
    sums = weights.sum(dim=-1)
    torch.testing.assert_close(sums[has_key], torch.ones_like(sums[has_key]))
    assert torch.all(sums[~has_key] == 0)


def test_fully_masked_rows_give_zeros_and_finite_gradients():
    q, k, v = qkv((2, 4, 3), seed=3)
    mask = torch.ones(2, 4, 4, dtype=torch.bool)
    mask[1, 2] = False
    leaves = [x.clone().requires_grad_() for x in (q, k, v)]
    context, weights = scaled_dot_product_attention(*leaves, mask)
    assert torch.all(weights[1, 2] == 0) and torch.all(context[1, 2] == 0)
    assert torch.isfinite(context).all()
    context.sum().backward()
    for leaf in leaves:
        assert torch.isfinite(leaf.grad).all()
    assert torch.all(leaves[0].grad[1, 2] == 0)


def test_huge_logits_do_not_give_nan():
    q = torch.tensor([[1e4, 0.0], [-1e4, 1e4]], dtype=torch.float32)
    k = torch.tensor([[1e4, 0.0], [0.0, 1e4], [1.0, 1.0]], dtype=torch.float32)
    v = torch.randn(3, 2)
    context, weights = scaled_dot_product_attention(q, k, v)
    assert torch.isfinite(context).all() and torch.isfinite(weights).all()
    torch.testing.assert_close(weights.sum(-1), torch.ones(2))
    # Both queries put (all but) all their weight on the key they align with.
    assert weights[0, 0] > 0.999 and weights[1, 1] > 0.999


def test_dropout_zeroes_and_rescales_weights():
    q, k, v = qkv((1, 64, 8), seed=4)
    _, plain = scaled_dot_product_attention(q, k, v)
    torch.manual_seed(0)
    context, dropped = scaled_dot_product_attention(q, k, v, dropout_p=0.25)
    kept = dropped != 0
    torch.testing.assert_close(dropped[kept], plain[kept] / 0.75)
    torch.testing.assert_close(context, dropped @ v)
    dropped_fraction = 1 - kept.double().mean().item()
    assert 0.2 < dropped_fraction < 0.3
    torch.manual_seed(0)
    again, _ = scaled_dot_product_attention(q, k, v, dropout_p=0.25)
    assert torch.equal(context, again)


def test_no_dropout_is_deterministic():
    q, k, v = qkv((3, 5), seed=5)
    first = scaled_dot_product_attention(q, k, v, dropout_p=0.0)
    second = scaled_dot_product_attention(q, k, v)
    assert all(torch.equal(a, b) for a, b in zip(first, second, strict=True))


@pytest.mark.parametrize(
    ("make", "error", "pattern"),
    [
        (lambda q, k, v: (q[0, 0], k, v), ValueError, r"q must have shape .* got"),
        (lambda q, k, v: (q, k[..., :3], v), ValueError, "share the head size D"),
        (lambda q, k, v: (q, k, v[:, :4]), ValueError, "same number of keys Tk"),
        (lambda q, k, v: (q, k, v.float()), TypeError, "one floating-point dtype"),
        (lambda q, k, v: (q.long(), k, v), TypeError, "one floating-point dtype"),
        (lambda q, k, v: (q.numpy(), k, v), TypeError, "q must be a torch.Tensor"),
    ],
)
def test_bad_inputs_raise_clear_errors(make, error, pattern):
    q, k, v = qkv((2, 5, 4))
    with pytest.raises(error, match=pattern):
        scaled_dot_product_attention(*make(q, k, v))


def test_bad_masks_raise_clear_errors():
    q, k, v = qkv((2, 5, 4))
    with pytest.raises(TypeError, match="mask must be boolean"):
        scaled_dot_product_attention(q, k, v, torch.ones(5, 5))
    with pytest.raises(ValueError, match=r"mask of shape \(4, 5\) does not broadcast"):
        scaled_dot_product_attention(q, k, v, torch.ones(4, 5, dtype=torch.bool))
    with pytest.raises(TypeError, match="mask must be a torch.Tensor"):
        scaled_dot_product_attention(q, k, v, np.ones((5, 5), dtype=bool))


@pytest.mark.parametrize("dropout_p", [-0.1, 1.0, 1.5])
def test_dropout_out_of_range_raises(dropout_p):
    q, k, v = qkv((3, 2))
    with pytest.raises(ValueError, match=r"dropout_p must be in \[0, 1\)"):
        scaled_dot_product_attention(q, k, v, dropout_p=dropout_p)


def test_mixed_devices_name_both_devices():
    # The meta device holds shapes without data, so any machine can mix devices.
    q, k, v = qkv((3, 2))
    with pytest.raises(RuntimeError, match=r"q is on meta but k is on cpu"):
        scaled_dot_product_attention(q.to("meta"), k, v)
    mask = torch.ones(3, 3, dtype=torch.bool, device="meta")
    with pytest.raises(RuntimeError, match=r"q is on cpu but mask is on meta"):
        scaled_dot_product_attention(q, k, v, mask)


@pytest.mark.gpu
@needs_cuda
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_cuda_matches_cpu_and_sdpa(dtype):
    q, k, v = qkv((2, 3, 16, 8), dtype=dtype, seed=6)
    mask = random_mask((16, 16), seed=6)
    on_cpu, _ = scaled_dot_product_attention(q, k, v, mask)
    cuda = [x.to("cuda") for x in (q, k, v, mask)]
    on_gpu, weights = scaled_dot_product_attention(*cuda)
    assert on_gpu.device.type == "cuda" and weights.device.type == "cuda"
    # GPU matmuls may use TF32 or another summation order: a looser float32 bound.
    tol = 1e-10 if dtype == torch.float64 else 1e-3
    torch.testing.assert_close(on_gpu.cpu(), on_cpu, rtol=tol, atol=tol)
    fused = F.scaled_dot_product_attention(*cuda[:3], attn_mask=cuda[3])
    torch.testing.assert_close(on_gpu, fused, rtol=tol, atol=tol)


@pytest.mark.gpu
@needs_cuda
def test_cuda_and_cpu_mixed_raise():
    q, k, v = qkv((3, 2))
    with pytest.raises(RuntimeError, match=r"q is on cuda:0 but v is on cpu"):
        scaled_dot_product_attention(q.cuda(), k.cuda(), v)


def test_masked_softmax_blocks_keys_and_zeroes_empty_rows():
    scores = torch.randn(2, 3, 4, dtype=torch.float64, requires_grad=True)
    mask = torch.tensor([[True, False, True, True], [False] * 4, [True] * 4])
    weights = masked_softmax(scores, mask)
    assert torch.all(weights[:, ~mask] == 0)
    torch.testing.assert_close(weights[:, [0, 2]].sum(-1),
                               torch.ones(2, 2, dtype=torch.float64))
    assert torch.all(weights[:, 1] == 0)  # the row with no allowed key
    weights.sum().backward()
    assert torch.isfinite(scores.grad).all()
    torch.testing.assert_close(masked_softmax(scores, None),
                               torch.softmax(scores, dim=-1))
