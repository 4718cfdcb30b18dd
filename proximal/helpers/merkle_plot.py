"""Draw the shape of an RFC 6962 Merkle tree, with some nodes highlighted.

Only the *shape* lives here (which leaf ranges are nodes); no hashing. You pass the text to show
in each node (for example the first hex digits of hashes you computed yourself)::

    from proximal.helpers.merkle_plot import draw_merkle_tree, path_to_leaf

    draw_merkle_tree(8, changed=path_to_leaf(8, 5), title="leaf 5 changed")
    draw_merkle_tree(5)                      # an unbalanced tree: 5 = 4 + 1

A node is named by the half-open range of leaves ``(lo, hi)`` under it: the root of ``n`` leaves is
``(0, n)`` and leaf ``i`` is ``(i, i + 1)``. For ``hi - lo > 1`` the children are split at the
largest power of two smaller than ``hi - lo`` (RFC 6962, section 2.1).

Importing this module has no side effects (matplotlib is imported only when you draw).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover - for type checkers only
    from matplotlib.axes import Axes

__all__ = ["children", "node_ranges", "path_to_leaf", "draw_merkle_tree"]

Range = tuple[int, int]

#: Colours used for the highlighted groups (and shown in the legend).
COLOURS = {
    "plain": "#eeeeee",
    "visited": "#b9d7f0",
    "changed": "#f28e7f",
    "proof": "#f7d35c",
}


def children(lo: int, hi: int) -> tuple[Range, Range] | None:
    """The two children of node ``(lo, hi)``, or ``None`` for a leaf (or an empty range)."""
    n = hi - lo
    if n <= 1:
        return None
    k = 1 << ((n - 1).bit_length() - 1)
    return (lo, lo + k), (lo + k, hi)


def node_ranges(n: int) -> list[Range]:
    """Every node of the tree over ``n`` leaves, root first (pre-order). Empty list for ``n == 0``."""
    out: list[Range] = []
    stack = [(0, n)] if n > 0 else []
    while stack:
        lo, hi = stack.pop()
        out.append((lo, hi))
        kids = children(lo, hi)
        if kids:
            stack.append(kids[1])
            stack.append(kids[0])
    return out


def path_to_leaf(n: int, index: int) -> list[Range]:
    """The nodes from the root down to leaf ``index`` (both included)."""
    if not 0 <= index < n:
        raise IndexError(f"leaf {index} is not in a tree of {n} leaves")
    lo, hi = 0, n
    path = [(lo, hi)]
    while (kids := children(lo, hi)) is not None:
        lo, hi = kids[0] if index < kids[0][1] else kids[1]
        path.append((lo, hi))
    return path


def _heights(n: int) -> dict[Range, int]:
    heights: dict[Range, int] = {}
    for lo, hi in reversed(node_ranges(n)):  # children before parents
        kids = children(lo, hi)
        heights[(lo, hi)] = 0 if kids is None else 1 + max(heights[kids[0]], heights[kids[1]])
    return heights


def draw_merkle_tree(
    n: int,
    *,
    labels: Mapping[Range, str] | None = None,
    leaf_labels: Sequence[str] | None = None,
    changed: Iterable[Range] = (),
    proof: Iterable[Range] = (),
    visited: Iterable[Range] = (),
    title: str | None = None,
    legend: Mapping[str, str] | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Draw the tree over ``n`` leaves and return the matplotlib ``Axes``.

    ``labels`` maps a node ``(lo, hi)`` to its text (default: ``"lo:hi"``); ``leaf_labels`` is text
    drawn under the leaves (e.g. the records). ``changed`` (red), ``proof`` (yellow) and ``visited``
    (blue) are groups of nodes to colour; a node in several groups takes the first of
    changed, proof, visited. ``legend`` renames the groups in the legend, e.g.
    ``{"visited": "compared, equal"}``.
    """
    import matplotlib.pyplot as plt

    if n < 1:
        raise ValueError("draw_merkle_tree needs at least one leaf")
    changed, proof, visited = set(changed), set(proof), set(visited)
    names = {"changed": "changed", "proof": "proof", "visited": "visited", **(legend or {})}
    heights = _heights(n)
    top = max(heights.values())
    x: dict[Range, float] = {}
    for lo, hi in reversed(node_ranges(n)):
        kids = children(lo, hi)
        x[(lo, hi)] = float(lo) if kids is None else (x[kids[0]] + x[kids[1]]) / 2
    if ax is None:
        _, ax = plt.subplots(figsize=(max(4.0, 1.1 * n + 1), 1.0 + 0.9 * (top + 1)))

    for node in node_ranges(n):
        kids = children(*node)
        if kids:
            for kid in kids:
                on_path = node in changed and kid in changed
                ax.plot(
                    [x[node], x[kid]],
                    [heights[node], heights[kid]],
                    color="#d0402b" if on_path else "#888888",
                    lw=2.2 if on_path else 1,
                    zorder=1,
                )
    for node in node_ranges(n):
        group = (
            "changed"
            if node in changed
            else "proof"
            if node in proof
            else "visited"
            if node in visited
            else "plain"
        )
        lo, hi = node
        text = (labels or {}).get(node, f"{lo}" if hi - lo == 1 else f"{lo}:{hi}")
        ax.text(
            x[node],
            heights[node],
            text,
            ha="center",
            va="center",
            fontsize=8,
            family="monospace",
            zorder=2,
            bbox={"boxstyle": "round,pad=0.3", "fc": COLOURS[group], "ec": "#555555"},
        )
    if leaf_labels is not None:
        for i, text in enumerate(leaf_labels[:n]):
            ax.text(i, -0.35, text, ha="center", va="top", fontsize=7, family="monospace")

    used = [g for g, s in (("changed", changed), ("proof", proof), ("visited", visited)) if s]
    if used:
        from matplotlib.patches import Patch

        ax.legend(
            handles=[Patch(fc=COLOURS[g], ec="#555555", label=names[g]) for g in used],
            loc="upper right",
            fontsize=8,
            frameon=False,
        )
    ax.set_xlim(-0.7, n - 0.3)
    ax.set_ylim(-1.0 if leaf_labels is not None else -0.6, top + 0.6)
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=10)
    return ax
