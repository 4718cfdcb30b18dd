"""Tests for proximal.helpers.merkle_plot: the RFC 6962 tree shape and the drawing."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from proximal.helpers.merkle_plot import children, draw_merkle_tree, node_ranges, path_to_leaf  # noqa: E402


def test_children_split_at_largest_power_of_two_below_size():
    assert children(0, 1) is None
    assert children(3, 3) is None
    assert children(0, 2) == ((0, 1), (1, 2))
    assert children(0, 3) == ((0, 2), (2, 3))
    assert children(0, 5) == ((0, 4), (4, 5))
    assert children(0, 8) == ((0, 4), (4, 8))
    assert children(10, 19) == ((10, 18), (18, 19))


@pytest.mark.parametrize("n", [1, 2, 3, 5, 7, 8, 9, 33])
def test_node_ranges_is_a_full_binary_tree(n):
    nodes = node_ranges(n)
    assert nodes[0] == (0, n)
    assert len(nodes) == 2 * n - 1 == len(set(nodes))
    assert sorted(lo for lo, hi in nodes if hi - lo == 1) == list(range(n))


def test_node_ranges_empty():
    assert node_ranges(0) == []


def test_path_to_leaf():
    assert path_to_leaf(8, 5) == [(0, 8), (4, 8), (4, 6), (5, 6)]
    assert path_to_leaf(5, 4) == [(0, 5), (4, 5)]
    assert path_to_leaf(1, 0) == [(0, 1)]
    with pytest.raises(IndexError):
        path_to_leaf(5, 5)


def test_draw_returns_axes_with_one_label_per_node():
    ax = draw_merkle_tree(
        7,
        changed=path_to_leaf(7, 6),
        proof=[(0, 4), (4, 6)],
        visited=[(0, 7)],
        labels={(0, 7): "root"},
        leaf_labels=[f"r{i}" for i in range(7)],
        title="t",
        legend={"visited": "compared"},
    )
    texts = [t.get_text() for t in ax.texts]
    assert "root" in texts and "4:6" in texts and "r6" in texts
    assert len(texts) == 13 + 7
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["changed", "proof", "compared"]
    plt.close(ax.figure)
    with pytest.raises(ValueError):
        draw_merkle_tree(0)
