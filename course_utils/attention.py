"""Attention in PyTorch: the function, the masks, and multi-head attention.

Notebook 03 ports the NumPy function to tensors; notebook 04 adds the masks;
notebook 05 builds `MultiHeadAttention`. Shapes use the course legend (B, H,
T, C, D). Masks are boolean, True meaning "may attend", as for the boolean
`attn_mask` of `torch.nn.functional.scaled_dot_product_attention`.
"""

from __future__ import annotations

import math

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


def scaled_dot_product_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    mask: torch.Tensor | None = None,
    dropout_p: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Explicit attention in torch: returns (context, weights).

    q (..., Tq, D), k (..., Tk, D), v (..., Tk, Dv) -> context (..., Tq, Dv)
    and weights (..., Tq, Tk). A query whose mask row is all False gets zero
    weights and a zero context, never NaN. With dropout_p > 0 the returned
    weights are the dropped-out ones, so context == weights @ v always.
    """
    for name, x in (("q", q), ("k", k), ("v", v)):
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if not 0.0 <= dropout_p < 1.0:
        raise ValueError(f"dropout_p must be in [0, 1), got {dropout_p}")
    _check_same_device(q=q, k=k, v=v, mask=mask)
    check_attention_inputs(q, k, v, mask)

    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])  # (..., Tq, Tk)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
        # A row with no allowed key would be softmax(all -inf) = NaN; give it
        # finite scores, then zero its weights after the softmax.
        row_has_key = mask.any(dim=-1, keepdim=True)
        scores = torch.where(row_has_key, scores, torch.zeros_like(scores))
    weights = torch.softmax(scores, dim=-1)
    if mask is not None:
        weights = weights.masked_fill(~mask, 0.0)
    if dropout_p > 0.0:
        weights = F.dropout(weights, p=dropout_p, training=True)
    context = weights @ v  # (..., Tq, Tk) @ (..., Tk, Dv) -> (..., Tq, Dv)
    return context, weights


def causal_mask(T: int, device: torch.device | str | None = None) -> torch.Tensor:
    """Boolean (T, T) mask, True on and below the diagonal: query t sees keys <= t."""
    if not isinstance(T, int) or isinstance(T, bool) or T < 1:
        raise ValueError(f"T must be a positive int, got {T!r}")
    return torch.ones(T, T, dtype=torch.bool, device=device).tril()


def padding_mask(lengths, T: int) -> torch.Tensor:
    """Boolean (B, 1, 1, T) mask, True for the first lengths[b] keys of sequence b.

    It broadcasts against scores of shape (B, H, Tq, T): padded keys get zero
    weight for every head and every query.
    """
    if not isinstance(T, int) or isinstance(T, bool) or T < 1:
        raise ValueError(f"T must be a positive int, got {T!r}")
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
    keep = positions < lengths[:, None]  # (B, 1) against (T,) -> (B, T)
    return keep[:, None, None, :]  # (B, T) -> (B, 1, 1, T)


class MultiHeadAttention(nn.Module):
    """H heads of scaled dot-product attention over one input (notebook 05).

    x (B, T, C) -> (B, T, C); with return_weights=True also the weights
    (B, H, T, T). Each head works in its own D = C / H dimensional subspace.
    """

    def __init__(
        self, d_model: int, n_heads: int, dropout: float = 0.0, bias: bool = True
    ) -> None:
        super().__init__()
        if n_heads < 1 or d_model % n_heads != 0:
            raise ValueError(
                f"d_model must be divisible by n_heads: got d_model={d_model}, "
                f"n_heads={n_heads} (d_model % n_heads = "
                f"{d_model % n_heads if n_heads > 0 else 'undefined'})"
            )
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

    def _check_input(self, x: torch.Tensor, mask: torch.Tensor | None) -> None:
        if x.ndim != 3 or x.shape[-1] != self.d_model:
            raise ValueError(
                f"x must have shape (B, T, C) with C=d_model={self.d_model}, "
                f"got shape {tuple(x.shape)}"
            )
        weight = self.q_proj.weight
        _check_same_device(x=x, module=weight, mask=mask)
        if mask is not None:
            B, T, _ = x.shape
            check_mask(mask, (B, self.n_heads, T, T))

    def _qkv(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Project x to queries, keys and values, split into heads."""
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
    ):
        self._check_input(x, mask)
        B, T, C = x.shape
        q, k, v = self._qkv(x)  # each (B, H, T, D)
        dropout_p = self.dropout if self.training else 0.0

        if return_weights:
            if is_causal:
                causal = causal_mask(T, device=x.device)
                mask = causal if mask is None else mask & causal
            context, weights = scaled_dot_product_attention(q, k, v, mask, dropout_p)
        elif mask is None:
            # PyTorch's fused kernel: same result, less memory, faster.
            context = F.scaled_dot_product_attention(
                q, k, v, dropout_p=dropout_p, is_causal=is_causal
            )
        else:
            if is_causal:
                mask = mask & causal_mask(T, device=x.device)
            context = F.scaled_dot_product_attention(
                q, k, v, attn_mask=mask, dropout_p=dropout_p
            )
            # Queries left with no key to attend to get a zero context.
            context = context.masked_fill(~mask.any(dim=-1, keepdim=True), 0.0)

        context = context.transpose(1, 2).reshape(B, T, C)  # (B, H, T, D) -> (B, T, C)
        out = self.out_proj(context)
        return (out, weights) if return_weights else out

    @classmethod
    def from_torch(cls, module: nn.MultiheadAttention) -> MultiHeadAttention:
        """A copy of a batch_first `nn.MultiheadAttention` with the same weights."""
        if not isinstance(module, nn.MultiheadAttention):
            raise TypeError(
                "module must be torch.nn.MultiheadAttention, got "
                f"{type(module).__name__}"
            )
        if not module.batch_first:
            raise ValueError("module must be built with batch_first=True")
        if not module._qkv_same_embed_dim or module.bias_k is not None:
            raise ValueError(
                "only modules with kdim == vdim == embed_dim and without "
                "add_bias_kv are supported"
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
        return ours
