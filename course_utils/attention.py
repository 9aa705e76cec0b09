"""Attention in PyTorch: the function, the masks, and multi-head attention.

Notebook 03 ports the NumPy function to tensors; notebook 04 adds the masks;
notebook 05 builds `MultiHeadAttention`. Shapes use the course legend (B, H,
T, C, D). Masks are boolean, True meaning "may attend", as for the boolean
`attn_mask` of `torch.nn.functional.scaled_dot_product_attention`.
"""

from __future__ import annotations

import math
import operator

import torch
import torch.nn.functional as F
from torch import nn

from .numpy_attention import check_attention_inputs, check_mask


def _check_same_device(**tensors: torch.Tensor | None) -> None:
    named = [(name, t) for name, t in tensors.items() if t is not None]
    first_name, first = named[0]
    for name, t in named[1:]:
        if t.device != first.device:
            raise RuntimeError(
                f"{first_name} is on {first.device} but {name} is on {t.device}; "
                f"move both to one device, e.g. {name}.to({first_name}.device)"
            )


def masked_softmax(scores: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Softmax over the last axis where mask is True (notebook 04).

    scores (..., Tq, Tk) and a boolean mask broadcasting to it -> weights of
    the scores' shape: zero on blocked keys, and all zero in a row with no
    allowed key (never NaN, in the forward or the backward pass).
    """
    if mask is None:
        return torch.softmax(scores, dim=-1)
    scores = scores.masked_fill(~mask, float("-inf"))
    # A row with no allowed key would be softmax(all -inf) = NaN; give it
    # finite scores, then zero its weights after the softmax.
    row_has_key = mask.any(dim=-1, keepdim=True)
    scores = scores.masked_fill(~row_has_key, 0.0)
    return torch.softmax(scores, dim=-1).masked_fill(~mask, 0.0)


def scaled_dot_product_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    mask: torch.Tensor | None = None,
    dropout_p: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Explicit attention in torch (notebook 03): returns (context, weights).

    q (..., Tq, D), k (..., Tk, D), v (..., Tk, Dv) -> context (..., Tq, Dv)
    and weights (..., Tq, Tk). A query whose mask row is all False gets zero
    weights and a zero context, never NaN. With dropout_p > 0 the returned
    weights are the dropped-out ones, so context == weights @ v always.
    """
    for name, x in (("q", q), ("k", k), ("v", v), ("mask", mask)):
        if not isinstance(x, torch.Tensor) and not (name == "mask" and x is None):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    for name, x in (("q", q), ("k", k), ("v", v)):
        if not x.is_floating_point() or x.dtype != q.dtype:
            raise TypeError(
                f"q, k and v must share one floating-point dtype: q is {q.dtype}, "
                f"{name} is {x.dtype}"
            )
    if not 0.0 <= dropout_p < 1.0:
        raise ValueError(f"dropout_p must be in [0, 1), got {dropout_p}")
    _check_same_device(q=q, k=k, v=v, mask=mask)
    check_attention_inputs(q, k, v, mask)

    # (..., Tq, D) @ (..., D, Tk) -> (..., Tq, Tk)
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    weights = masked_softmax(scores, mask)
    if dropout_p > 0.0:
        weights = F.dropout(weights, p=dropout_p, training=True)
    context = weights @ v  # (..., Tq, Tk) @ (..., Tk, Dv) -> (..., Tq, Dv)
    return context, weights


def _check_length(T: int) -> int:
    """T as a Python int, or a ValueError naming it (numpy and torch ints pass)."""
    try:
        if isinstance(T, bool):
            raise TypeError
        T = operator.index(T)
    except TypeError:
        raise ValueError(f"T must be a positive int, got {T!r}") from None
    if T < 1:
        raise ValueError(f"T must be a positive int, got {T}")
    return T


def causal_mask(T: int, device: torch.device | str | None = None) -> torch.Tensor:
    """Boolean (T, T) mask, True on and below the diagonal (notebook 04).

    Query t may attend to keys 0..t and never to a later one, which is what
    next-token prediction needs. It broadcasts against scores (..., T, T).
    """
    T = _check_length(T)
    return torch.ones(T, T, dtype=torch.bool, device=device).tril()


def padding_mask(lengths, T: int) -> torch.Tensor:
    """Boolean (B, 1, 1, T) mask, True for the first lengths[b] keys of sequence b.

    lengths: B ints in 0..T (a list, array or integer tensor). The mask
    broadcasts against scores of shape (B, H, Tq, T): padded keys get zero
    weight for every head and every query (notebook 04). It lives on the
    device of `lengths`.
    """
    T = _check_length(T)
    lengths = torch.as_tensor(lengths)
    if lengths.ndim != 1 or lengths.is_floating_point() or lengths.dtype == torch.bool:
        raise ValueError(
            f"lengths must be a 1-d sequence of ints (one per sequence), got "
            f"shape {tuple(lengths.shape)} and dtype {lengths.dtype}"
        )
    bad = (lengths < 0) | (lengths > T)
    if bad.any():
        raise ValueError(
            f"lengths must lie in 0..T={T}, got {lengths.tolist()} "
            f"(out of range at index {bad.nonzero()[0].item()})"
        )

    positions = torch.arange(T, device=lengths.device)
    keep = positions < lengths[:, None]  # (T,) against (B, 1) -> (B, T)
    return keep[:, None, None, :]  # (B, T) -> (B, 1, 1, T)


def _check_module_input(
    x: torch.Tensor, mask: torch.Tensor | None, weight: torch.Tensor, n_heads: int
) -> None:
    """Raise unless x is (B, T, C) on the weights' device and dtype, and mask fits."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
    d_model = weight.shape[1]
    if x.ndim != 3 or x.shape[-1] != d_model:
        raise ValueError(
            f"x must have shape (B, T, C) with C=d_model={d_model}, "
            f"got shape {tuple(x.shape)}"
        )
    if mask is not None and not isinstance(mask, torch.Tensor):
        raise TypeError(
            f"mask must be a boolean torch.Tensor, got {type(mask).__name__}"
        )
    _check_same_device(x=x, module=weight, mask=mask)
    if x.dtype != weight.dtype:
        raise TypeError(
            f"x has dtype {x.dtype} but the module's weights have dtype "
            f"{weight.dtype}; convert one, e.g. x.to({weight.dtype})"
        )
    if mask is not None:
        B, T, _ = x.shape
        check_mask(mask, (B, n_heads, T, T))


def _check_heads(d_model: int, n_heads: int) -> None:
    """Raise unless d_model and n_heads are positive ints and H divides C."""
    for name, value in (("d_model", d_model), ("n_heads", n_heads)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    if d_model % n_heads != 0:
        raise ValueError(
            f"d_model must be divisible by n_heads: got d_model={d_model}, "
            f"n_heads={n_heads} (d_model % n_heads = {d_model % n_heads})"
        )


class MultiHeadAttention(nn.Module):
    """H heads of scaled dot-product attention over one input (notebook 05).

    x (B, T, C) -> (B, T, C); with return_weights=True also the weights
    (B, H, T, T). Each head works in its own D = C / H dimensional subspace.
    `mask` is boolean (True = may attend) and broadcasts to (B, H, T, T);
    `is_causal=True` adds the causal mask. A query with no allowed key gets a
    zero context. Without return_weights the heads run in PyTorch's fused
    `scaled_dot_product_attention`; with it, in the course's explicit one.
    """

    def __init__(
        self, d_model: int, n_heads: int, dropout: float = 0.0, bias: bool = True
    ) -> None:
        super().__init__()
        _check_heads(d_model, n_heads)
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.d_model = d_model
        self.n_heads = n_heads
        self.head_size = d_model // n_heads
        self.dropout = dropout
        self.q_proj = nn.Linear(d_model, d_model, bias=bias)
        self.k_proj = nn.Linear(d_model, d_model, bias=bias)
        self.v_proj = nn.Linear(d_model, d_model, bias=bias)
        self.out_proj = nn.Linear(d_model, d_model, bias=bias)

    def split_heads(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, C) -> (B, H, T, D): head h takes features h*D .. (h+1)*D - 1."""
        B, T, _ = x.shape
        x = x.view(B, T, self.n_heads, self.head_size)  # (B, T, C) -> (B, T, H, D)
        return x.transpose(1, 2)  # (B, T, H, D) -> (B, H, T, D)

    def merge_heads(self, x: torch.Tensor) -> torch.Tensor:
        """(B, H, T, D) -> (B, T, C): the inverse of split_heads."""
        B, H, T, D = x.shape
        x = x.transpose(1, 2)  # (B, H, T, D) -> (B, T, H, D)
        return x.reshape(B, T, H * D)  # (B, T, H, D) -> (B, T, C)

    def _qkv(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Project x to queries, keys and values, each (B, H, T, D)."""
        B, T, C = x.shape
        # One matmul for all three projections instead of three smaller ones.
        weight = torch.cat([self.q_proj.weight, self.k_proj.weight, self.v_proj.weight])
        bias = None
        if self.q_proj.bias is not None:
            bias = torch.cat([self.q_proj.bias, self.k_proj.bias, self.v_proj.bias])
        qkv = F.linear(x, weight, bias)  # (B, T, C) -> (B, T, 3C)
        qkv = qkv.view(B, T, 3, self.n_heads, self.head_size)  # -> (B, T, 3, H, D)
        qkv = qkv.permute(2, 0, 3, 1, 4)  # (B, T, 3, H, D) -> (3, B, H, T, D)
        return qkv[0], qkv[1], qkv[2]

    def forward(
        self,
        x: torch.Tensor,
        mask: torch.Tensor | None = None,
        is_causal: bool = False,
        return_weights: bool = False,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        _check_module_input(x, mask, self.q_proj.weight, self.n_heads)
        B, T, C = x.shape
        q, k, v = self._qkv(x)  # each (B, H, T, D)
        dropout_p = self.dropout if self.training else 0.0
        if is_causal and (mask is not None or return_weights):
            causal = causal_mask(T, device=x.device)
            mask = causal if mask is None else mask & causal
            is_causal = False

        if return_weights:
            context, weights = scaled_dot_product_attention(q, k, v, mask, dropout_p)
        else:
            context = _fused_attention(q, k, v, mask, is_causal, dropout_p)

        out = self.out_proj(self.merge_heads(context))  # (B, H, T, D) -> (B, T, C)
        return (out, weights) if return_weights else out

    @classmethod
    def from_torch(cls, module: nn.MultiheadAttention) -> MultiHeadAttention:
        """A copy of a batch_first `nn.MultiheadAttention` with the same weights.

        The copy has the same dropout, device, dtype and train/eval mode. Note
        that torch's boolean masks mean the opposite of ours (True = blocked):
        pass `~mask` to one of the two.
        """
        if not isinstance(module, nn.MultiheadAttention):
            raise TypeError(
                "module must be torch.nn.MultiheadAttention, got "
                f"{type(module).__name__}"
            )
        if not module.batch_first:
            raise ValueError(
                "module must be built with batch_first=True (inputs (B, T, C)), "
                "got batch_first=False"
            )
        unsupported = {
            "kdim != embed_dim or vdim != embed_dim": not module._qkv_same_embed_dim,
            "add_bias_kv=True": module.bias_k is not None,
            "add_zero_attn=True": module.add_zero_attn,
        }
        found = [name for name, present in unsupported.items() if present]
        if found:
            raise ValueError(
                "only self-attention modules with kdim == vdim == embed_dim, no "
                "add_bias_kv and no add_zero_attn are supported; got "
                + ", ".join(found)
            )

        has_bias = module.in_proj_bias is not None
        ours = cls(module.embed_dim, module.num_heads, module.dropout, bias=has_bias)
        ours = ours.to(module.in_proj_weight.device, module.in_proj_weight.dtype)
        C = module.embed_dim
        with torch.no_grad():
            for i, proj in enumerate((ours.q_proj, ours.k_proj, ours.v_proj)):
                proj.weight.copy_(module.in_proj_weight[i * C : (i + 1) * C])
                if has_bias:
                    proj.bias.copy_(module.in_proj_bias[i * C : (i + 1) * C])
            ours.out_proj.weight.copy_(module.out_proj.weight)
            if has_bias:
                ours.out_proj.bias.copy_(module.out_proj.bias)
        return ours.train(module.training)


def _fused_attention(q, k, v, mask, is_causal, dropout_p) -> torch.Tensor:
    """PyTorch's fused attention with the course's rule for fully masked rows.

    q, k, v (B, H, T, D) -> context (B, H, T, D). A query with no allowed key
    is shown every key (so no backend takes a softmax over nothing, which is
    NaN on some), and its context is then set to zero.
    """
    if mask is None:
        return F.scaled_dot_product_attention(
            q, k, v, dropout_p=dropout_p, is_causal=is_causal
        )
    if mask.ndim < 2:
        mask = mask.expand(q.shape[-2], k.shape[-2])  # (Tk,) -> (Tq, Tk)
    row_has_key = mask.any(dim=-1, keepdim=True)  # (..., Tq, Tk) -> (..., Tq, 1)
    context = F.scaled_dot_product_attention(
        q, k, v, attn_mask=mask | ~row_has_key, dropout_p=dropout_p
    )
    return context.masked_fill(~row_has_key, 0.0)


class AttentionHead(nn.Module):
    """One head of self-attention, the teaching version (notebooks 03 and 05).

    x (B, T, C) -> context (B, T, D) and weights (B, T, T), with its own
    query, key and value projections from C to D features.
    """

    def __init__(self, d_model: int, head_size: int, bias: bool = True) -> None:
        super().__init__()
        self.q_proj = nn.Linear(d_model, head_size, bias=bias)
        self.k_proj = nn.Linear(d_model, head_size, bias=bias)
        self.v_proj = nn.Linear(d_model, head_size, bias=bias)

    def forward(
        self, x: torch.Tensor, mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        q = self.q_proj(x)  # (B, T, C) -> (B, T, D)
        k = self.k_proj(x)  # (B, T, C) -> (B, T, D)
        v = self.v_proj(x)  # (B, T, C) -> (B, T, D)
        return scaled_dot_product_attention(q, k, v, mask)


class HeadLoopAttention(nn.Module):
    """Multi-head attention as a loop over H single heads: the teaching version.

    x (B, T, C) -> (B, T, C), like `MultiHeadAttention` and with the same
    arguments, but each head runs on its own and their contexts are
    concatenated (notebook 05). Slower; no dropout. Use `from_multihead` to
    copy the weights of a `MultiHeadAttention` and compare the two.
    """

    def __init__(self, d_model: int, n_heads: int, bias: bool = True) -> None:
        super().__init__()
        _check_heads(d_model, n_heads)
        self.d_model = d_model
        self.n_heads = n_heads
        self.head_size = d_model // n_heads
        self.heads = nn.ModuleList(
            AttentionHead(d_model, self.head_size, bias) for _ in range(n_heads)
        )
        self.out_proj = nn.Linear(d_model, d_model, bias=bias)

    def forward(
        self,
        x: torch.Tensor,
        mask: torch.Tensor | None = None,
        is_causal: bool = False,
        return_weights: bool = False,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        _check_module_input(x, mask, self.out_proj.weight, self.n_heads)
        B, T, C = x.shape
        if is_causal:
            causal = causal_mask(T, device=x.device)
            mask = causal if mask is None else mask & causal
        if mask is not None:
            mask = mask.expand(B, self.n_heads, T, T)  # broadcast -> (B, H, T, T)

        contexts, weights = [], []
        for h, head in enumerate(self.heads):
            context, w = head(x, None if mask is None else mask[:, h])
            contexts.append(context)  # (B, T, D)
            weights.append(w)  # (B, T, T)

        out = self.out_proj(torch.cat(contexts, dim=-1))  # H x (B, T, D) -> (B, T, C)
        if return_weights:
            return out, torch.stack(weights, dim=1)  # H x (B, T, T) -> (B, H, T, T)
        return out

    @classmethod
    def from_multihead(cls, module: MultiHeadAttention) -> HeadLoopAttention:
        """A loop version with the weights of `module` (head h: rows h*D..h*D+D-1)."""
        if not isinstance(module, MultiHeadAttention):
            raise TypeError(
                f"module must be a MultiHeadAttention, got {type(module).__name__}"
            )
        has_bias = module.q_proj.bias is not None
        ours = cls(module.d_model, module.n_heads, bias=has_bias)
        ours = ours.to(module.q_proj.weight.device, module.q_proj.weight.dtype)
        D = module.head_size
        with torch.no_grad():
            for h, head in enumerate(ours.heads):
                rows = slice(h * D, (h + 1) * D)
                for name in ("q_proj", "k_proj", "v_proj"):
                    source, target = getattr(module, name), getattr(head, name)
                    target.weight.copy_(source.weight[rows])
                    if has_bias:
                        target.bias.copy_(source.bias[rows])
            ours.out_proj.load_state_dict(module.out_proj.state_dict())
        return ours
