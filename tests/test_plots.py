"""Tests for proximal.helpers.plots: each function returns a new figure with the expected panels."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from proximal.helpers.plots import plot_confusion, plot_history, show_images  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_show_images_grid_shape_and_titles():
    images = torch.rand(10, 1, 8, 8)
    fig = show_images(images, labels=torch.tensor([0, 1] * 5), class_names=["frown", "smile"], ncols=4)
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 12  # 3 rows of 4, the last two empty
    titles = [ax.get_title() for ax in fig.axes[:10]]
    assert titles[:2] == ["frown", "smile"]
    assert all(ax.get_title() == "" for ax in fig.axes[10:])


def test_show_images_marks_wrong_predictions_in_red():
    fig = show_images(np.zeros((2, 6, 6)), labels=[0, 1], predictions=[0, 0])
    first, second = fig.axes[:2]
    assert first.get_title() == "0→0"
    assert second.get_title() == "1→0"
    assert matplotlib.colors.to_hex(second.title.get_color()) == "#ff0000"


def test_show_images_accepts_colour_and_rejects_bad_shapes():
    assert isinstance(show_images(np.random.rand(3, 3, 5, 5)), Figure)
    with pytest.raises(ValueError):
        show_images(np.zeros((4, 4)))
    with pytest.raises(ValueError):
        show_images(np.zeros((0, 4, 4)))


def test_show_images_symmetric_puts_zero_in_the_middle_of_the_colours():
    """With symmetric=True, is each image's colour range -m..m, so that 0 is the middle colour?"""
    filters = torch.tensor([[[[0.5, -2.0], [1.0, 0.0]]], [[[0.1, 0.3], [0.2, 0.0]]]])
    fig = show_images(filters, cmap="RdBu_r", symmetric=True)
    np.testing.assert_allclose([ax.images[0].get_clim() for ax in fig.axes], [(-2.0, 2.0), (-0.3, 0.3)])
    plain = show_images(filters)
    np.testing.assert_allclose(plain.axes[1].images[0].get_clim(), (0.0, 0.3))


def test_plot_history_groups_metrics_by_suffix():
    history = {"train_loss": [1.0, 0.5, 0.2], "val_loss": [1.1, 0.7, 0.5], "val_acc": [0.5, 0.8, 0.9]}
    fig = plot_history(history, title="curves")
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 2
    loss_ax, acc_ax = fig.axes
    assert loss_ax.get_ylabel() == "loss" and acc_ax.get_ylabel() == "acc"
    assert len(loss_ax.get_lines()) == 2 and len(acc_ax.get_lines()) == 1
    np.testing.assert_allclose(loss_ax.get_lines()[0].get_xdata(), [1, 2, 3])
    np.testing.assert_allclose(acc_ax.get_lines()[0].get_ydata(), [0.5, 0.8, 0.9])
    with pytest.raises(ValueError):
        plot_history({})


def test_plot_confusion_counts():
    y_true = torch.tensor([0, 0, 1, 1, 1])
    y_pred = torch.tensor([0, 1, 1, 1, 0])
    fig = plot_confusion(y_true, y_pred, ["frown", "smile"], title="cm")
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    texts = sorted(t.get_text() for t in ax.texts)
    assert texts == ["1", "1", "1", "2"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["frown", "smile"]
    with pytest.raises(ValueError):
        plot_confusion([0, 1], [0])


def test_plot_confusion_normalized():
    fig = plot_confusion([0, 0, 1, 1], [0, 1, 1, 1], normalize="true")
    texts = sorted(t.get_text() for t in fig.axes[0].texts)
    assert texts == ["0.00", "0.50", "0.50", "1.00"]
