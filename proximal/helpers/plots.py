"""Pictures for the machine-learning modules: an image grid, training curves, a confusion matrix.

Every function draws a new matplotlib figure and returns it. In a notebook the figure is shown
once when the cell ends; assign the result (``fig = plot_history(h)``) so that Jupyter does not
show it a second time as the cell's value. Outside a notebook, close it with ``plt.close(fig)``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

__all__ = ["plot_confusion", "plot_history", "show_images"]


def _to_numpy(x: Any) -> np.ndarray:
    """A NumPy copy of a tensor, an array or a list (torch is imported only if it is passed in)."""
    if hasattr(x, "detach"):  # a torch.Tensor, without importing torch here
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def show_images(
    images: Any,
    labels: Sequence[int] | Any | None = None,
    class_names: Sequence[str] | None = None,
    *,
    predictions: Sequence[int] | Any | None = None,
    ncols: int = 8,
    title: str | None = None,
    cmap: str = "gray",
    size: float = 1.3,
    symmetric: bool = False,
) -> Figure:
    """Show images in a grid, optionally titled with their labels (and predictions).

    Args:
        images: ``[n, H, W]``, ``[n, 1, H, W]`` (grey) or ``[n, 3, H, W]`` (colour); a tensor or array.
        labels: one integer label per image, shown above it (through ``class_names`` if given).
        class_names: names of the labels, ``class_names[label]``.
        predictions: one predicted label per image; shown as ``label→prediction``, in red when wrong.
        ncols: images per row.
        title: title of the whole figure.
        cmap: colour map for grey images.
        size: width and height of one image, in inches.
        symmetric: scale each grey image's colours symmetrically about 0 (``-m..m`` with ``m`` its
            largest absolute value), so that 0 is the middle colour: for filters and weights with a
            diverging colour map such as ``"RdBu_r"``.

    Returns:
        The new figure.
    """
    arr = _to_numpy(images).astype(np.float32, copy=False)
    if arr.ndim == 4:
        arr = arr[:, 0] if arr.shape[1] == 1 else np.transpose(arr, (0, 2, 3, 1))
    if arr.ndim not in (3, 4):
        raise ValueError(f"images must have shape [n, H, W] or [n, C, H, W], got {arr.shape}")
    n = arr.shape[0]
    if n == 0:
        raise ValueError("no images to show")
    ncols = max(1, min(ncols, n))
    nrows = math.ceil(n / ncols)
    labels_np = None if labels is None else _to_numpy(labels).reshape(-1)
    preds_np = None if predictions is None else _to_numpy(predictions).reshape(-1)

    def name(k: int) -> str:
        return class_names[k] if class_names is not None else str(k)

    row_height = size + (0.3 if labels_np is not None else 0.0)  # room for the titles above images
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(size * ncols, row_height * nrows + (0.4 if title else 0)), squeeze=False
    )
    for i, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if i >= n:
            continue
        img = arr[i]
        if img.ndim == 3:  # colour: matplotlib wants values in 0..1
            img = np.clip(img, 0.0, 1.0)
            ax.imshow(img)
        elif symmetric:
            bound = float(np.abs(img).max()) or 1.0
            ax.imshow(img, cmap=cmap, vmin=-bound, vmax=bound)
        else:
            ax.imshow(img, cmap=cmap)
        if labels_np is not None:
            text, colour = name(int(labels_np[i])), "black"
            if preds_np is not None:
                text = f"{text}→{name(int(preds_np[i]))}"
                colour = "black" if int(preds_np[i]) == int(labels_np[i]) else "red"
            ax.set_title(text, fontsize=8, color=colour)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_history(
    history: Mapping[str, Sequence[float]],
    *,
    title: str | None = None,
    xlabel: str = "epoch",
) -> Figure:
    """Plot training curves, one panel per metric.

    Keys are grouped by their last ``_``-separated word: ``train_loss`` and ``val_loss`` share a
    "loss" panel, ``train_acc`` and ``val_acc`` an "acc" panel. Values are plotted against
    1, 2, ... (epochs).

    Args:
        history: metric name -> one value per epoch, e.g. ``{"train_loss": [...], "val_acc": [...]}``.
        title: title of the whole figure.
        xlabel: label of the horizontal axis.

    Returns:
        The new figure.
    """
    if not history:
        raise ValueError("history is empty")
    panels: dict[str, list[str]] = {}
    for key in history:
        panels.setdefault(key.rsplit("_", 1)[-1], []).append(key)
    fig, axes = plt.subplots(1, len(panels), figsize=(4.5 * len(panels), 3.2), squeeze=False)
    for ax, (metric, keys) in zip(axes.flat, panels.items(), strict=True):
        for key in keys:
            values = [float(v) for v in history[key]]
            ax.plot(range(1, len(values) + 1), values, marker="." if len(values) <= 30 else None, label=key)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_confusion(
    y_true: Sequence[int] | Any,
    y_pred: Sequence[int] | Any,
    class_names: Sequence[str] | None = None,
    *,
    normalize: str | None = None,
    title: str | None = None,
) -> Figure:
    """Draw a confusion matrix (rows: true class, columns: predicted class) with scikit-learn.

    Args:
        y_true: true labels (tensor, array or list of ints).
        y_pred: predicted labels, same length.
        class_names: display names of the classes 0, 1, ...
        normalize: ``None`` for counts, or ``"true"``, ``"pred"``, ``"all"`` as in
            :func:`sklearn.metrics.confusion_matrix`.
        title: title of the plot.

    Returns:
        The new figure.
    """
    from sklearn.metrics import ConfusionMatrixDisplay  # imported here: scikit-learn is slow to import

    true_np = _to_numpy(y_true).reshape(-1)
    pred_np = _to_numpy(y_pred).reshape(-1)
    if true_np.shape != pred_np.shape:
        raise ValueError(f"y_true and y_pred differ in length: {true_np.shape} vs {pred_np.shape}")
    labels = None if class_names is None else list(range(len(class_names)))
    fig, ax = plt.subplots(figsize=(3.6 + 0.4 * len(labels or [0, 1]), 3.2 + 0.4 * len(labels or [0, 1])))
    ConfusionMatrixDisplay.from_predictions(
        true_np,
        pred_np,
        labels=labels,
        display_labels=class_names,
        normalize=normalize,
        cmap="Blues",
        colorbar=False,
        ax=ax,
        values_format=None if normalize is None else ".2f",
    )
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig
