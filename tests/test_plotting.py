"""course_utils.plotting: heatmaps for one head or many, loss curves."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from course_utils.plotting import attention_heatmap, plot_losses  # noqa: E402

TOKENS = ["the", "cat", "sat"]


def test_one_head_has_labels_on_both_axes():
    fig = attention_heatmap(np.eye(3), TOKENS)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == TOKENS
    assert [t.get_text() for t in ax.get_yticklabels()] == TOKENS
    assert len(ax.texts) == 9  # annotated, since Tk <= 10


def test_grid_of_heads_from_a_tensor():
    weights = torch.softmax(torch.randn(5, 3, 4), dim=-1)
    fig = attention_heatmap(weights, TOKENS, ["a", "b", "c", "d"], ncols=2)
    images = [ax for ax in fig.axes if ax.images]
    assert len(images) == 5
    assert [ax.get_title() for ax in images] == [f"head {h}" for h in range(5)]


@pytest.mark.parametrize("weights,labels,match", [
    (np.ones(3), TOKENS, r"shape \(Tq, Tk\) or \(H, Tq, Tk\)"),
    (np.ones((3, 3)), TOKENS[:2], "2 query labels"),
])
def test_bad_input(weights, labels, match):
    with pytest.raises(ValueError, match=match):
        attention_heatmap(weights, labels)


def test_loss_curves():
    fig = plot_losses([0, 10], {"train": [3.0, 2.0], "val": [3.1, 2.2]}, reference=1.0)
    assert len(fig.axes[0].lines) == 3
    with pytest.raises(ValueError, match="'val' has 1 values for 2 steps"):
        plot_losses([0, 10], {"val": [1.0]})
