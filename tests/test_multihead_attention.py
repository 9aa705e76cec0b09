"""course_utils.attention: MultiHeadAttention and its loop-of-heads twin (nb 05).

Invariants are property tests over shapes and seeds, in float64 so that the
fused and the explicit paths, and torch's module, agree to 1e-10; one test
repeats the parity in float32 at 1e-5.
"""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from course_utils.attention import (
    HeadLoopAttention,
    MultiHeadAttention,
    causal_mask,
    padding_mask,
)

TIGHT = dict(rtol=1e-10, atol=1e-10)
SETTINGS = settings(max_examples=30, deadline=None)


@st.composite
def configs(draw, min_T=1):
    """(B, T, H, D, seed) for small random problems."""
    return (draw(st.integers(1, 3)), draw(st.integers(min_T, 7)),
            draw(st.integers(1, 4)), draw(st.integers(1, 4)),
            draw(st.integers(0, 2**16)))


def make(B, T, H, D, seed, bias=True):
    """A float64 module in eval mode and an input x (B, T, C)."""
    torch.manual_seed(seed)
    module = MultiHeadAttention(H * D, H, bias=bias).double().eval()
    x = torch.randn(B, T, H * D, dtype=torch.float64)
    return module, x


def torch_twin(module):
    """nn.MultiheadAttention holding the same weights (the inverse of from_torch)."""
    C, H = module.d_model, module.n_heads
    bias = module.q_proj.bias is not None
    theirs = nn.MultiheadAttention(C, H, bias=bias, batch_first=True)
    theirs = theirs.to(module.q_proj.weight.dtype).eval()
    with torch.no_grad():
        theirs.in_proj_weight.copy_(torch.cat(
            [module.q_proj.weight, module.k_proj.weight, module.v_proj.weight]))
        theirs.out_proj.weight.copy_(module.out_proj.weight)
        if bias:
            theirs.in_proj_bias.copy_(torch.cat(
                [module.q_proj.bias, module.k_proj.bias, module.v_proj.bias]))
            theirs.out_proj.bias.copy_(module.out_proj.bias)
    return theirs


def both_paths(module, x, **kwargs):
    """The fused output and the explicit one (with return_weights)."""
    fused = module(x, **kwargs)
    explicit, _ = module(x, return_weights=True, **kwargs)
    return fused, explicit


# --- shapes and the two paths ------------------------------------------------


def test_shapes_and_submodules():
    module = MultiHeadAttention(12, 3)
    for name in ("q_proj", "k_proj", "v_proj", "out_proj"):
        layer = getattr(module, name)
        assert isinstance(layer, nn.Linear)
        assert (layer.in_features, layer.out_features) == (12, 12)
    x = torch.randn(2, 5, 12)
    assert module(x).shape == (2, 5, 12)
    out, weights = module(x, return_weights=True)
    assert out.shape == (2, 5, 12) and weights.shape == (2, 3, 5, 5)


@SETTINGS
@given(configs())
def test_split_and_merge_heads_are_inverse(cfg):
    B, T, H, D, seed = cfg
    module, x = make(B, T, H, D, seed)
    heads = module.split_heads(x)
    assert heads.shape == (B, H, T, D)
    torch.testing.assert_close(heads[:, 1 % H], x[..., (1 % H) * D:(1 % H + 1) * D])
    torch.testing.assert_close(module.merge_heads(heads), x)


@SETTINGS
@given(configs(), st.booleans(), st.booleans())
def test_fused_and_explicit_paths_agree(cfg, is_causal, use_padding):
    B, T, H, D, seed = cfg
    module, x = make(B, T, H, D, seed)
    mask = padding_mask(torch.randint(0, T + 1, (B,)), T) if use_padding else None
    fused, explicit = both_paths(module, x, mask=mask, is_causal=is_causal)
    torch.testing.assert_close(fused, explicit, **TIGHT)


# --- invariants ----------------------------------------------------------------


@SETTINGS
@given(configs(min_T=2), st.data())
def test_causality_future_tokens_never_change_earlier_outputs(cfg, data):
    B, T, H, D, seed = cfg
    t = data.draw(st.integers(1, T - 1), label="first changed position")
    module, x = make(B, T, H, D, seed)
    changed = x.clone()
    changed[:, t:] = torch.randn_like(changed[:, t:]) * 3
    for kwargs in ({"is_causal": True}, {"mask": causal_mask(T)}):
        for ours in both_paths(module, x, **kwargs), both_paths(module, changed,
                                                                **kwargs):
            assert ours[0].shape == (B, T, H * D)
        before = both_paths(module, x, **kwargs)
        after = both_paths(module, changed, **kwargs)
        for b, a in zip(before, after, strict=True):
            torch.testing.assert_close(a[:, :t], b[:, :t], **TIGHT)
    # the check has teeth: without the mask, earlier outputs do move
    assert not torch.allclose(module(x)[:, :t], module(changed)[:, :t])


@SETTINGS
@given(configs(), st.booleans(), st.data())
def test_padding_invariance_real_tokens_match_unpadded_run(cfg, is_causal, data):
    B, T, H, D, seed = cfg
    lengths = data.draw(st.lists(st.integers(1, T), min_size=B, max_size=B))
    module, x = make(B, T, H, D, seed)
    mask = padding_mask(lengths, T)
    padded = both_paths(module, x, mask=mask, is_causal=is_causal)
    for b, length in enumerate(lengths):
        alone = both_paths(module, x[b : b + 1, :length], is_causal=is_causal)
        for p, a in zip(padded, alone, strict=True):
            torch.testing.assert_close(p[b, :length], a[0], **TIGHT)


@SETTINGS
@given(configs())
def test_permutation_equivariance_without_positions(cfg):
    B, T, H, D, seed = cfg
    module, x = make(B, T, H, D, seed)
    perm = torch.randperm(T)
    out, weights = module(x, return_weights=True)
    out_p, weights_p = module(x[:, perm], return_weights=True)
    torch.testing.assert_close(out_p, out[:, perm], **TIGHT)
    torch.testing.assert_close(module(x[:, perm]), out[:, perm], **TIGHT)
    torch.testing.assert_close(weights_p, weights[:, :, perm][..., perm], **TIGHT)


@SETTINGS
@given(configs(), st.booleans(), st.data())
def test_weights_rows_sum_to_one_over_allowed_keys(cfg, is_causal, data):
    B, T, H, D, seed = cfg
    lengths = data.draw(st.lists(st.integers(0, T), min_size=B, max_size=B))
    module, x = make(B, T, H, D, seed)
    mask = padding_mask(lengths, T)
    _, weights = module(x, mask=mask, is_causal=is_causal, return_weights=True)
    allowed = mask & causal_mask(T) if is_causal else mask
    allowed = allowed.expand(B, H, T, T)

    assert bool((weights[~allowed] == 0).all())
    assert bool((weights >= 0).all())
    has_key = allowed.any(dim=-1)
    sums = weights.sum(dim=-1)
    torch.testing.assert_close(sums[has_key], torch.ones_like(sums[has_key]))
    assert bool((sums[~has_key] == 0).all())


@pytest.mark.parametrize("path", ["fused", "explicit"])
@pytest.mark.parametrize("is_causal", [False, True])
def test_fully_masked_queries_give_zero_context_and_finite_grads(path, is_causal):
    module, x = make(3, 4, 2, 3, seed=0)
    x.requires_grad_(True)
    mask = padding_mask([4, 0, 2], 4)  # sequence 1 has no key at all
    if path == "fused":
        out = module(x, mask=mask, is_causal=is_causal)
    else:
        out, weights = module(x, mask=mask, is_causal=is_causal, return_weights=True)
        assert bool((weights[1] == 0).all())
    assert not torch.isnan(out).any()
    # a zero context leaves only the output projection's bias
    torch.testing.assert_close(out[1], module.out_proj.bias.expand(4, -1), **TIGHT)
    out.sum().backward()
    assert torch.isfinite(x.grad).all()
    assert all(torch.isfinite(p.grad).all() for p in module.parameters())


def test_a_query_row_with_no_key_is_zero_but_others_are_not():
    module, x = make(1, 3, 2, 2, seed=1)
    mask = torch.tensor([[True, True, False], [False, False, False],
                         [True, False, True]])
    for out in both_paths(module, x, mask=mask):
        torch.testing.assert_close(out[0, 1], module.out_proj.bias, **TIGHT)
        assert not torch.allclose(out[0, 0], module.out_proj.bias)


@pytest.mark.parametrize("shape", [(), (4,), (1, 4), (4, 4), (2, 1, 4, 4),
                                   (2, 3, 4, 4), (3, 1, 4)])
def test_masks_of_every_broadcastable_shape(shape):
    module, x = make(2, 4, 3, 2, seed=2)
    gen = torch.Generator().manual_seed(3)
    mask = torch.rand(shape, generator=gen) < 0.7
    fused, explicit = both_paths(module, x, mask=mask)
    torch.testing.assert_close(fused, explicit, **TIGHT)
    full = mask.expand(2, 3, 4, 4)
    torch.testing.assert_close(module(x, mask=full), fused, **TIGHT)


# --- parity with torch.nn.MultiheadAttention --------------------------------------


@SETTINGS
@given(configs(), st.booleans(), st.booleans(), st.booleans(), st.data())
def test_parity_with_torch_via_from_torch(cfg, bias, is_causal, use_padding, data):
    B, T, H, D, seed = cfg
    torch.manual_seed(seed)
    theirs = nn.MultiheadAttention(H * D, H, bias=bias, batch_first=True)
    theirs = theirs.double().eval()
    ours = MultiHeadAttention.from_torch(theirs)
    x = torch.randn(B, T, H * D, dtype=torch.float64)
    # every query keeps at least key 0, so torch returns no NaN rows either
    lengths = data.draw(st.lists(st.integers(1, T), min_size=B, max_size=B))

    mask = padding_mask(lengths, T) if use_padding else None
    torch_kwargs = {}
    if use_padding:
        torch_kwargs["key_padding_mask"] = ~mask[:, 0, 0, :]  # True = blocked
    if is_causal:
        torch_kwargs["attn_mask"] = ~causal_mask(T)  # True = blocked
    expected, expected_weights = theirs(
        x, x, x, need_weights=True, average_attn_weights=False, **torch_kwargs)

    out, weights = ours(x, mask=mask, is_causal=is_causal, return_weights=True)
    torch.testing.assert_close(out, expected, **TIGHT)
    torch.testing.assert_close(weights, expected_weights, **TIGHT)
    torch.testing.assert_close(ours(x, mask=mask, is_causal=is_causal), expected,
                               **TIGHT)


def test_parity_with_torch_float32_and_a_per_head_mask():
    torch.manual_seed(0)
    B, T, C, H = 2, 6, 16, 4
    theirs = nn.MultiheadAttention(C, H, batch_first=True).eval()
    ours = MultiHeadAttention.from_torch(theirs)
    x = torch.randn(B, T, C)
    mask = torch.rand(B, H, T, T) < 0.6
    mask[..., 0] = True  # no empty rows: torch would give NaN there
    expected, _ = theirs(x, x, x, attn_mask=~mask.reshape(B * H, T, T))
    torch.testing.assert_close(ours(x, mask=mask), expected, rtol=1e-5, atol=1e-5)


def test_from_torch_copies_settings():
    theirs = nn.MultiheadAttention(8, 2, dropout=0.25, bias=False, batch_first=True)
    theirs = theirs.double().eval()
    ours = MultiHeadAttention.from_torch(theirs)
    assert (ours.d_model, ours.n_heads, ours.head_size) == (8, 2, 4)
    assert ours.dropout == 0.25 and not ours.training
    assert ours.q_proj.bias is None and ours.out_proj.bias is None
    assert ours.q_proj.weight.dtype == torch.float64
    assert ours.q_proj.weight.data_ptr() != theirs.in_proj_weight.data_ptr()
    trained = MultiHeadAttention.from_torch(theirs.train())
    assert trained.training


@pytest.mark.parametrize(
    "module,error,match",
    [
        (nn.Linear(4, 4), TypeError, "module must be torch.nn.MultiheadAttention"),
        (MultiHeadAttention(4, 2), TypeError, "got MultiHeadAttention"),
        (nn.MultiheadAttention(4, 2), ValueError, "batch_first=True"),
        (nn.MultiheadAttention(4, 2, kdim=3, batch_first=True), ValueError,
         "kdim != embed_dim"),
        (nn.MultiheadAttention(4, 2, add_bias_kv=True, batch_first=True), ValueError,
         "add_bias_kv=True"),
        (nn.MultiheadAttention(4, 2, add_zero_attn=True, batch_first=True), ValueError,
         "add_zero_attn=True"),
    ],
)
def test_from_torch_rejects_unsupported_modules(module, error, match):
    with pytest.raises(error, match=match):
        MultiHeadAttention.from_torch(module)


# --- dropout ---------------------------------------------------------------------


def test_dropout_only_in_training_mode():
    torch.manual_seed(0)
    module = MultiHeadAttention(8, 2, dropout=0.5)
    plain = MultiHeadAttention(8, 2, dropout=0.0)
    plain.load_state_dict(module.state_dict())
    x = torch.randn(2, 5, 8)

    module.eval()
    torch.testing.assert_close(module(x), plain(x))
    torch.testing.assert_close(module(x, return_weights=True)[1],
                               plain(x, return_weights=True)[1])

    module.train()
    first, second = module(x), module(x)
    assert not torch.allclose(first, second)
    assert not torch.allclose(first, plain(x))
    with torch.no_grad():
        _, dropped = module(x, return_weights=True)
        _, clean = plain(x, return_weights=True)
    # each weight is either dropped (0) or kept and scaled by 1 / (1 - p) = 2
    kept = dropped != 0
    assert bool(kept.any()) and bool((~kept).any())
    torch.testing.assert_close(dropped[kept], 2 * clean[kept])


def test_dropout_zero_makes_train_and_eval_identical():
    module, x = make(2, 5, 2, 3, seed=4)
    torch.testing.assert_close(module.train()(x), module.eval()(x), **TIGHT)


# --- bad input ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(d_model=10, n_heads=3), r"divisible by n_heads: got d_model=10, "
         r"n_heads=3 \(d_model % n_heads = 1\)"),
        (dict(d_model=8, n_heads=0), "n_heads must be a positive int, got 0"),
        (dict(d_model=0, n_heads=1), "d_model must be a positive int, got 0"),
        (dict(d_model=8.0, n_heads=2), "d_model must be a positive int"),
        (dict(d_model=8, n_heads=2, dropout=1.0), r"dropout must be in \[0, 1\)"),
        (dict(d_model=8, n_heads=2, dropout=-0.1), r"dropout must be in \[0, 1\)"),
    ],
)
def test_constructor_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MultiHeadAttention(**kwargs)


@pytest.mark.parametrize("module_cls", [MultiHeadAttention, HeadLoopAttention])
@pytest.mark.parametrize(
    "shape",
    [(5, 8), (1, 2, 5, 8), (2, 5, 6), (2, 5, 16)],
)
def test_wrong_input_rank_or_width(module_cls, shape):
    module = module_cls(8, 2)
    with pytest.raises(ValueError, match=r"x must have shape \(B, T, C\) with "
                       r"C=d_model=8") as info:
        module(torch.randn(shape))
    assert str(tuple(shape)) in str(info.value)


def test_x_must_be_a_tensor_of_the_module_dtype():
    module = MultiHeadAttention(8, 2)
    with pytest.raises(TypeError, match="x must be a torch.Tensor, got list"):
        module([[0.0] * 8])
    with pytest.raises(TypeError, match="x has dtype torch.float64 but the module's "
                       "weights have dtype torch.float32"):
        module(torch.randn(1, 3, 8, dtype=torch.float64))


@pytest.mark.parametrize("shape", [(6, 6), (5, 4), (3, 1, 5, 5), (2, 3, 5, 5)])
def test_mask_that_does_not_broadcast(shape):
    module = MultiHeadAttention(8, 4)
    x = torch.randn(2, 5, 8)
    with pytest.raises(ValueError, match="does not broadcast") as info:
        module(x, mask=torch.ones(shape, dtype=torch.bool))
    assert str(tuple(shape)) in str(info.value)
    assert "(2, 4, 5, 5)" in str(info.value)


@pytest.mark.parametrize("dtype", [torch.float32, torch.int64, torch.uint8])
def test_non_boolean_mask(dtype):
    module = MultiHeadAttention(8, 2)
    with pytest.raises(TypeError, match=f"mask must be boolean.*got dtype {dtype}"):
        module(torch.randn(1, 5, 8), mask=torch.ones(5, 5, dtype=dtype))


def test_mask_must_be_a_tensor():
    module = MultiHeadAttention(8, 2)
    with pytest.raises(TypeError, match="mask must be a boolean torch.Tensor, got "
                       "ndarray"):
        module(torch.randn(1, 5, 8), mask=causal_mask(5).numpy())


@pytest.mark.parametrize("module_cls", [MultiHeadAttention, HeadLoopAttention])
def test_tensors_on_different_devices(module_cls):
    x = torch.randn(1, 5, 8)
    with pytest.raises(RuntimeError, match="x is on cpu but module is on meta"):
        module_cls(8, 2).to("meta")(x)
    module = module_cls(8, 2)
    with pytest.raises(RuntimeError, match="x is on cpu but mask is on meta"):
        module(x, mask=causal_mask(5, device="meta"))
    with pytest.raises(RuntimeError, match="x is on meta but module is on cpu"):
        module(x.to("meta"))


# --- the loop-of-heads teaching version -----------------------------------------


@SETTINGS
@given(configs(), st.booleans(), st.booleans(), st.data())
def test_loop_of_heads_matches_batched(cfg, bias, is_causal, data):
    B, T, H, D, seed = cfg
    batched, x = make(B, T, H, D, seed, bias=bias)
    loop = HeadLoopAttention.from_multihead(batched)
    lengths = data.draw(st.lists(st.integers(0, T), min_size=B, max_size=B))
    mask = padding_mask(lengths, T)

    out, weights = batched(x, mask=mask, is_causal=is_causal, return_weights=True)
    loop_out, loop_weights = loop(x, mask=mask, is_causal=is_causal,
                                  return_weights=True)
    torch.testing.assert_close(loop_out, out, **TIGHT)
    torch.testing.assert_close(loop_weights, weights, **TIGHT)
    torch.testing.assert_close(loop(x, is_causal=is_causal),
                               batched(x, is_causal=is_causal), **TIGHT)


def test_loop_of_heads_head_h_is_one_slice_of_the_batched_projections():
    batched, x = make(1, 4, 3, 2, seed=5)
    loop = HeadLoopAttention.from_multihead(batched)
    assert len(loop.heads) == 3
    torch.testing.assert_close(loop.heads[2].k_proj.weight,
                               batched.k_proj.weight[4:6])
    context, weights = loop.heads[1](x)
    assert context.shape == (1, 4, 2) and weights.shape == (1, 4, 4)


def test_loop_of_heads_errors():
    with pytest.raises(ValueError, match="divisible by n_heads"):
        HeadLoopAttention(10, 4)
    with pytest.raises(TypeError, match="module must be a MultiHeadAttention"):
        HeadLoopAttention.from_multihead(nn.MultiheadAttention(4, 2))


def test_fused_path_guards_against_backends_that_return_nan(monkeypatch):
    """Some kernels give NaN for a query with no allowed key; ours stays zero."""
    import course_utils.attention as attention

    fused = attention.F.scaled_dot_product_attention

    def nan_on_empty_rows(q, k, v, attn_mask=None, **kwargs):
        out = fused(q, k, v, attn_mask=attn_mask, **kwargs)
        if attn_mask is not None:
            empty = ~attn_mask.any(dim=-1, keepdim=True)
            out = out.masked_fill(empty, float("nan"))
        return out

    monkeypatch.setattr(attention.F, "scaled_dot_product_attention",
                        nan_on_empty_rows)
    module, x = make(2, 3, 2, 2, seed=6)
    out = module(x, mask=padding_mask([3, 0], 3))
    assert not torch.isnan(out).any()
    torch.testing.assert_close(out[1], module.out_proj.bias.expand(3, -1), **TIGHT)
