"""Checks for the exercises of notebook 04 (causal and padding masks)."""

from __future__ import annotations

import numpy as np
import torch

from ..attention import causal_mask, masked_softmax, padding_mask
from .core import Case, run_check, to_numpy

__all__ = ["check_causal_mask", "check_padding_mask", "check_masked_softmax"]


def _boolean_result(fn):
    """fn, but a result that is not a boolean tensor becomes a clear error."""

    def wrapped(*args):
        mask = fn(*args)
        if mask is not None and getattr(mask, "dtype", None) != torch.bool:
            raise TypeError(
                "return a boolean tensor (True = may attend), got "
                f"{getattr(mask, 'dtype', type(mask).__name__)}; "
                "for example `mask.bool()` or build it with a comparison"
            )
        return mask

    return wrapped


# --- causal mask -----------------------------------------------------------------


def _hint_causal(got, expected, case):
    got = to_numpy(got)
    if not isinstance(got, np.ndarray) or got.shape != expected.shape:
        return None
    T = expected.shape[-1]
    if np.array_equal(got, np.tril(np.ones((T, T), bool), -1)):
        return (
            "the diagonal is False: a token may attend to itself (key t for "
            "query t), so keep the diagonal, e.g. torch.tril(..., diagonal=0)."
        )
    if np.array_equal(got, expected.T):
        return (
            "this is the transpose: rows are queries, columns keys, and query t "
            "may see keys 0..t, so True must lie on and BELOW the diagonal."
        )
    if np.array_equal(got, ~expected):
        return "True and False are swapped: in the course True means 'may attend'."
    return None


def check_causal_mask(fn) -> None:
    """Check fn(T) -> boolean (T, T) tensor, True where key <= query."""
    cases = [Case((T,), causal_mask(T).numpy(), f"T={T}") for T in (3, 6, 1)]
    run_check(
        "causal mask", _boolean_result(fn), cases, hints=[_hint_causal]
    )


# --- the padding mask (the bug hunt) ------------------------------------------------


def _real_rows(fn):
    """fn, its mask broadcast to (B, 1, T, T), kept on real query rows only.

    Rows of padded queries are set to False: what they attend to is never
    used, so masking them too, or not, is equally right.
    """

    def wrapped(lengths, T):
        mask = fn(lengths, T)
        if mask is None or getattr(mask, "dtype", None) != torch.bool:
            return mask
        B = len(lengths)
        if mask.ndim != 4:
            raise ValueError(
                f"the mask needs 4 axes to broadcast against scores (B, H, T, T), "
                f"got shape {tuple(mask.shape)}; for example (B, 1, 1, T)"
            )
        try:
            mask = mask.expand(B, 1, T, T)
        except RuntimeError as err:
            raise ValueError(
                f"a mask of shape {tuple(mask.shape)} does not broadcast to "
                f"(B, 1, T, T) = {(B, 1, T, T)}"
            ) from err
        return mask & _query_is_real(lengths, T)

    return wrapped


def _query_is_real(lengths, T):
    keep = torch.arange(T) < torch.as_tensor(lengths)[:, None]  # (B, T)
    return keep[:, None, :, None]  # (B, T) -> (B, 1, T, 1)


def _hint_padding(got, expected, case):
    got = to_numpy(got)
    if not isinstance(got, np.ndarray) or got.shape != expected.shape:
        return None
    lengths, T = case.args
    rows = _query_is_real(lengths, T).numpy()
    if got[expected].all() and (got & ~expected).any():
        if (got == rows).all():
            return (
                "a real query still attends to padded keys: this masks the padded "
                "QUERIES (rows). Mask the keys, the last axis: shape (B, 1, 1, T)."
            )
        off_by_one = np.arange(T) <= np.asarray(lengths)[:, None]  # (B, T)
        if (got == (off_by_one[:, None, None, :] & rows)).all():
            return (
                "one padded key too many is allowed: sequence b keeps keys "
                "0..lengths[b] - 1, so compare positions with `<`, not `<=`."
            )
    if (got == (~expected & rows)).all():
        return "True and False are swapped: in the course True means 'may attend'."
    return None


def check_padding_mask(fn) -> None:
    """Check fn(lengths, T) -> boolean mask that blocks padded keys.

    The mask must broadcast against scores (B, H, T, T); only the rows of real
    queries are compared.
    """
    cases = []
    for lengths, T, label in [([3, 1], 4, "lengths [3, 1], T=4"),
                              ([2, 5, 0], 5, "an empty sequence"),
                              ([4], 4, "no padding")]:
        expected = padding_mask(lengths, T).expand(len(lengths), 1, T, T)
        expected = expected & _query_is_real(lengths, T)
        cases.append(Case((lengths, T), expected.numpy(), label))
    run_check(
        "padding mask", _real_rows(_boolean_result(fn)), cases,
        hints=[_hint_padding],
    )


# --- masked softmax ------------------------------------------------------------------


def _masked_softmax_cases() -> list[Case]:
    gen = torch.Generator().manual_seed(4)
    scores = torch.randn(2, 3, 4, generator=gen, dtype=torch.float64) * 3
    causal = causal_mask(4)[:3]
    padded = torch.tensor([[True, True, False, False]] * 3)
    empty = padded.clone()
    empty[1] = False
    big = torch.tensor([[40.0, -30.0, 35.0], [1.0, 2.0, 3.0]], dtype=torch.float64)
    big_mask = torch.tensor([[True, False, True], [False, True, True]])
    inputs = [
        ("a causal mask", scores[0], causal),
        ("padding on a batch of 2", scores, padded),
        ("a query with no allowed key", scores[1], empty),
        ("scores of size 40 that a weak constant cannot hide", big, big_mask),
    ]
    return [Case((s, m), masked_softmax(s, m).numpy(), label)
            for label, s, m in inputs]


def _hint_masked_softmax(got, expected, case):
    got = to_numpy(got)
    if not isinstance(got, np.ndarray) or got.shape != expected.shape:
        return None
    _, mask = case.args
    mask = np.broadcast_to(mask.numpy(), got.shape)
    if np.isnan(got).any():
        return (
            "NaN: a row with no allowed key is softmax over all -inf, 0/0. Find "
            "those rows with mask.any(dim=-1, keepdim=True) and give them zeros."
        )
    if np.abs(got[~mask]).max(initial=0.0) > 0:
        return (
            "a blocked key got weight: fill blocked scores with -inf (a finite "
            "constant is not small enough next to large scores), and set the "
            "weights of rows with no key to zero."
        )
    if not np.allclose(got.sum(axis=-1)[mask.any(axis=-1)], 1.0):
        return "each row with an allowed key must sum to one: softmax over dim=-1."
    return None


def check_masked_softmax(fn) -> None:
    """Check fn(scores, mask) -> weights: softmax over allowed keys, zero rows."""
    run_check(
        "masked softmax", fn, _masked_softmax_cases(),
        hints=[_hint_masked_softmax], rtol=1e-6, atol=1e-9,
    )
