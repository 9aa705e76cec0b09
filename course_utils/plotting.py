"""Figures the notebooks share: attention heatmaps and training curves.

Every function returns the matplotlib Figure and never calls plt.show(), so a
notebook shows it and a test can inspect it.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from .checks.core import to_numpy


def _as_weights(weights) -> np.ndarray:
    array = to_numpy(weights)
    if not isinstance(array, np.ndarray):
        raise TypeError(f"weights must be an array or tensor, got {type(weights)}")
    return np.asarray(array, dtype=float)


def _draw(ax, weights, query_labels, key_labels, title, annotate, vmax):
    image = ax.imshow(weights, cmap="viridis", vmin=0.0, vmax=vmax, aspect="auto")
    ax.set_xticks(range(len(key_labels)), labels=key_labels, rotation=90)
    ax.set_yticks(range(len(query_labels)), labels=query_labels)
    ax.set_xlabel("key (attended to)")
    ax.set_ylabel("query (attending)")
    if title:
        ax.set_title(title)
    if annotate:
        for i, j in np.ndindex(weights.shape):
            dark = weights[i, j] < 0.6 * vmax
            ax.text(j, i, f"{weights[i, j]:.2f}", ha="center", va="center",
                    fontsize=7, color="white" if dark else "black")
    return image


def attention_heatmap(
    weights,
    query_labels: Sequence[str],
    key_labels: Sequence[str] | None = None,
    *,
    titles: Sequence[str] | str | None = None,
    annotate: bool | None = None,
    ncols: int = 4,
    cell_size: float = 0.45,
) -> Figure:
    """Heatmap of attention weights with token labels on both axes.

    weights: (Tq, Tk) for one head, or (H, Tq, Tk) for a grid of H heads.
    Rows are queries (the token attending), columns keys (attended to).
    `annotate` writes each weight in its cell (default: when Tk <= 10).
    """
    w = _as_weights(weights)
    if w.ndim not in (2, 3):
        raise ValueError(
            f"weights must have shape (Tq, Tk) or (H, Tq, Tk), got {w.shape}"
        )
    heads = w[None] if w.ndim == 2 else w
    key_labels = list(query_labels) if key_labels is None else list(key_labels)
    H, Tq, Tk = heads.shape
    if len(query_labels) != Tq or len(key_labels) != Tk:
        raise ValueError(
            f"labels must match weights of shape (Tq={Tq}, Tk={Tk}): got "
            f"{len(query_labels)} query labels and {len(key_labels)} key labels"
        )
    if isinstance(titles, str) or titles is None:
        titles = [titles] * H if H == 1 else [f"head {h}" for h in range(H)]
    if len(titles) != H:
        raise ValueError(
            f"titles must have one entry per head ({H}), got {len(titles)}"
        )
    annotate = Tk <= 10 if annotate is None else annotate

    ncols = min(ncols, H)
    nrows = -(-H // ncols)
    width = ncols * (cell_size * Tk + 1.6)
    height = nrows * (cell_size * Tq + 1.4)
    fig, axes = plt.subplots(nrows, ncols, figsize=(width, height), squeeze=False)
    vmax = max(float(heads.max()), 1e-12)
    for h, ax in enumerate(axes.flat):
        if h >= H:
            ax.axis("off")
            continue
        image = _draw(ax, heads[h], query_labels, key_labels, titles[h], annotate, vmax)
        if h % ncols:  # the query axis is labelled once per row of panels
            ax.set_ylabel("")
    fig.colorbar(image, ax=axes.ravel().tolist(), shrink=0.8, label="weight")
    return fig


def plot_losses(
    steps: Sequence[int],
    curves: dict[str, Sequence[float]],
    *,
    title: str = "loss",
    reference: float | None = None,
    reference_label: str = "reference",
) -> Figure:
    """Line plot of one or more loss curves that share the x axis `steps`."""
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for name, values in curves.items():
        if len(values) != len(steps):
            raise ValueError(
                f"curve {name!r} has {len(values)} values for {len(steps)} steps"
            )
        ax.plot(steps, values, label=name)
    if reference is not None:
        ax.axhline(reference, color="grey", linestyle="--", label=reference_label)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    return fig
