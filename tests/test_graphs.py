"""Tests for proximal.helpers.graphs: the Merkle tree as a graph, the molecule data set, the pictures."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from torch_geometric.data import Data  # noqa: E402

from proximal.helpers.graphs import (  # noqa: E402
    ATOM_TYPES,
    computation_tree,
    count_bonds,
    draw_computation_tree,
    draw_graph,
    draw_molecule,
    hop_distances,
    make_molecules,
    merkle_edge_index,
    merkle_levels,
    merkle_nodes,
    merkle_positions,
    plot_embeddings,
)
from proximal.helpers.merkle_plot import children, path_to_leaf  # noqa: E402


# --------------------------------------------------------------------------- Merkle trees
def test_merkle_small_trees_exactly():
    assert merkle_edge_index(1).shape == (2, 0)
    assert merkle_edge_index(1).dtype == torch.long
    assert merkle_edge_index(2).tolist() == [[0, 2, 1, 2], [2, 0, 2, 1]]
    # 3 leaves split 2 + 1: leaves 0, 1, 2; node 3 = (0, 2); root 4 = (0, 3)
    assert merkle_nodes(3) == [(0, 1), (1, 2), (2, 3), (0, 2), (0, 3)]
    assert merkle_edge_index(3, undirected=False).tolist() == [[0, 1, 3, 2], [3, 3, 4, 4]]
    assert merkle_levels(3).tolist() == [0, 0, 0, 1, 2]


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 7, 8, 9, 16, 33])
def test_merkle_graph_is_module_04s_tree(n):
    nodes = merkle_nodes(n)
    up = merkle_edge_index(n, undirected=False)
    assert len(nodes) == 2 * n - 1 == len(set(nodes))
    assert nodes[:n] == [(i, i + 1) for i in range(n)], "leaves come first, in order"
    assert nodes[-1] == (0, n), "the root comes last"
    assert up.shape == (2, 2 * n - 2)
    # every edge goes from a child to its parent in RFC 6962's tree, and every link is there
    links = {(nodes[c], nodes[p]) for c, p in up.t().tolist()}
    expected = {(kid, node) for node in nodes for kid in (children(*node) or ())}
    assert links == expected
    # the path hashes take from a leaf to the root (module 04) is the directed path in the graph
    parent = dict(up.t().tolist())
    for leaf in range(n):
        walk = [leaf]
        while walk[-1] in parent:
            walk.append(parent[walk[-1]])
        assert [nodes[v] for v in reversed(walk)] == path_to_leaf(n, leaf)
    # undirected: both directions, nothing else
    both = merkle_edge_index(n)
    assert sorted(map(tuple, both.t().tolist())) == sorted(
        [(c, p) for c, p in up.t().tolist()] + [(p, c) for c, p in up.t().tolist()]
    )


def test_merkle_levels_and_positions():
    levels = merkle_levels(5)
    assert levels.tolist() == [0, 0, 0, 0, 0, 1, 1, 2, 3]
    for node, (lo, hi) in enumerate(merkle_nodes(5)):
        kids = children(lo, hi)
        if kids:
            assert levels[node] == 1 + max(levels[merkle_nodes(5).index(k)] for k in kids)
    pos = merkle_positions(5)
    assert pos[0] == (0.0, 0.0) and pos[4] == (4.0, 0.0)
    assert pos[8] == (2.0, 3.0)


def test_merkle_rejects_empty_tree():
    with pytest.raises(ValueError):
        merkle_edge_index(0)


# --------------------------------------------------------------------------- molecules
def test_molecules_follow_the_documented_rule_and_format():
    graphs = make_molecules(200, seed=3)
    assert len(graphs) == 200
    for g in graphs:
        assert isinstance(g, Data)
        n = g.num_nodes
        assert 14 <= n <= 40
        assert g.x.shape == (n, len(ATOM_TYPES)) and g.x.dtype == torch.float32
        assert torch.equal(g.x.sum(dim=1), torch.ones(n)), "one-hot atom types"
        assert g.edge_index.dtype == torch.long and g.is_undirected() and not g.has_self_loops()
        assert g.y.shape == (1,) and g.y.dtype == torch.long
        k = int(g.motif_count)
        assert count_bonds(g, "N", "O") == k, "motif_count is the number of N–O bonds"
        assert int(g.y) == int(k >= 2), "label rule: at least two N–O bonds"
        degree = torch.bincount(g.edge_index[0], minlength=n)
        assert int(degree.max()) <= 4 and int(degree.min()) >= 1, "connected, at most four bonds per atom"
        assert g.edge_index.size(1) // 2 >= n - 1


def test_molecules_are_balanced_and_size_does_not_give_the_label_away():
    graphs = make_molecules(400, seed=0)
    counts = torch.bincount(torch.cat([g.motif_count for g in graphs]), minlength=4)
    assert counts.tolist() == [100, 100, 100, 100]
    assert sum(int(g.y) for g in graphs) == 200
    sizes = {k: [g.num_nodes for g in graphs if int(g.motif_count) == k] for k in range(4)}
    means = [sum(s) / len(s) for s in sizes.values()]
    assert max(means) - min(means) < 3, f"mean sizes per count should be alike, got {means}"
    # lone N and O atoms are decoys: atom counts alone overlap between the classes
    n_count = {int(g.y): set() for g in graphs}
    for g in graphs:
        n_count[int(g.y)].add(int(g.x[:, 1].sum()))
    assert n_count[0] & n_count[1], "nitrogen counts alone must not separate the classes"


def test_molecules_are_deterministic_per_seed():
    a, b, c = make_molecules(30, seed=5), make_molecules(30, seed=5), make_molecules(30, seed=6)
    same = [
        torch.equal(x.x, y.x) and torch.equal(x.edge_index, y.edge_index) for x, y in zip(a, b, strict=True)
    ]
    assert all(same)
    assert any(x.num_nodes != y.num_nodes or not torch.equal(x.x, y.x) for x, y in zip(a, c, strict=True))


def test_molecules_batch_with_pyg_loader():
    from torch_geometric.loader import DataLoader

    batch = next(iter(DataLoader(make_molecules(10), batch_size=10)))
    assert batch.num_graphs == 10 and batch.y.shape == (10,) and batch.motif_count.shape == (10,)


def test_molecules_rejects_impossible_settings():
    with pytest.raises(ValueError):
        make_molecules(4, min_atoms=6)
    with pytest.raises(ValueError):
        make_molecules(4, threshold=9)


def test_count_bonds_other_pairs():
    g = Data(x=torch.eye(3)[[0, 0, 1, 2]], edge_index=torch.tensor([[0, 1, 1, 2, 2, 3], [1, 0, 2, 1, 3, 2]]))
    assert count_bonds(g, "C", "C") == 1
    assert count_bonds(g, "C", "N") == 1
    assert count_bonds(g, "N", "O") == 1
    assert count_bonds(g, "C", "O") == 0


# --------------------------------------------------------------------------- message passing
TWO_TRIANGLES = torch.tensor([(0, 1), (0, 2), (1, 2), (2, 3), (3, 4), (3, 5), (4, 5)]).t()
TWO_TRIANGLES = torch.cat([TWO_TRIANGLES, TWO_TRIANGLES.flip(0)], dim=1)


def test_computation_tree_unrolls_the_in_neighbourhoods():
    """Does each layer of the tree hold, per node above, exactly the nodes that send it a message?"""
    levels = computation_tree(TWO_TRIANGLES, 3, 2)
    assert levels[0] == [(3, -1)]
    assert sorted(v for v, _ in levels[1]) == [2, 3, 4, 5]  # its neighbours and itself
    # node 2 has neighbours 0, 1, 3 (+ itself), nodes 4 and 5 two (+ itself), node 3 three (+ itself)
    assert len(levels[2]) == 4 + 3 + 3 + 4
    for parent, (v, _) in enumerate(levels[1]):
        feeders = sorted(u for u, p in levels[2] if p == parent)
        expected = sorted({int(s) for s, d in TWO_TRIANGLES.t().tolist() if d == v} | {v})
        assert feeders == expected


def test_computation_tree_follows_edge_direction_and_self_loop_choice():
    """Does the tree follow edges from source to target only, with self-loops only when asked?"""
    one_way = torch.tensor([[0, 1], [1, 2]])  # 0 -> 1 -> 2
    assert computation_tree(one_way, 2, 2, self_loops=False) == [[(2, -1)], [(1, 0)], [(0, 0)]]
    assert computation_tree(one_way, 0, 2, self_loops=False) == [[(0, -1)], [], []]
    assert computation_tree(one_way, 0, 1) == [[(0, -1)], [(0, 0)]]
    assert computation_tree(one_way, 1, 0) == [[(1, -1)]]
    with pytest.raises(ValueError):
        computation_tree(one_way, 0, -1)


def test_hop_distances_match_breadth_first_search():
    """Are the hop distances those of networkx's shortest paths, with -1 for unreachable nodes?"""
    import networkx as nx

    dist = hop_distances(TWO_TRIANGLES, 0, 7)
    g = nx.Graph(TWO_TRIANGLES.t().tolist())
    expected = nx.single_source_shortest_path_length(g, 0)
    assert dist.tolist() == [expected.get(v, -1) for v in range(7)]
    assert hop_distances(torch.tensor([[0, 1], [1, 2]]), 2, 3).tolist() == [2, 1, 0]
    assert hop_distances(torch.tensor([[0, 1], [1, 2]]), 0, 3).tolist() == [0, -1, -1]


# --------------------------------------------------------------------------- pictures
def test_drawing_helpers_return_axes():
    fig, axes = plt.subplots(1, 4)
    try:
        ei = merkle_edge_index(5)
        assert draw_graph(ei, 9, pos=merkle_positions(5), node_color=merkle_levels(5), ax=axes[0]) is axes[0]
        assert draw_graph(ei, node_color=["red"] * 9, labels={0: "leaf"}, ax=axes[1], title="t") is axes[1]
        assert draw_molecule(make_molecules(1)[0], ax=axes[2]) is axes[2]
        emb = torch.randn(9, 5)
        ax = plot_embeddings(emb, torch.arange(9) % 3, highlight=torch.arange(9) < 2, ax=axes[3], title="e")
        assert ax is axes[3]
        assert len(ax.collections) == 2  # the points and the rings
        assert plot_embeddings(torch.randn(4, 1)) is not None
        ax = draw_computation_tree(TWO_TRIANGLES, 0, 2)
        arrows = [t for t in ax.texts if isinstance(t, matplotlib.text.Annotation)]
        assert len(arrows) == 3 + 10  # one arrow per message
        assert len(ax.texts) - len(arrows) == 1 + 3 + 10 + 3  # one box per tree entry, one label per level
    finally:
        plt.close("all")


def test_draw_graph_keeps_isolated_nodes_and_ignores_self_loops():
    ax = draw_graph(torch.tensor([[0, 1, 2], [1, 0, 2]]), 4, layout="kamada_kawai")
    try:
        assert len(ax.collections[0].get_offsets()) == 4
    finally:
        plt.close("all")
    with pytest.raises(ValueError):
        plot_embeddings(torch.randn(3))
    with pytest.raises(ValueError):
        draw_graph(torch.tensor([[0], [1]]), layout="circle")
    plt.close("all")


# --------------------------------------------------------------------------- module 07's test helpers
def test_reference_operators_match_pyg():
    """Do the test helpers' expected outputs equal PyG's gcn_norm, ChebConv and GATConv (so tests can trust them)?"""
    from torch_geometric.nn import ChebConv, GATConv
    from torch_geometric.nn.conv.gcn_conv import gcn_norm

    from proximal.helpers.testing import cheb_variants, gat_variants, gcn_matrix_variants, propagation_matrix

    ei = merkle_edge_index(5)  # 9 nodes, plus an isolated node 9
    expected, variants = gcn_matrix_variants(ei, 10)
    pyg_ei, pyg_w = gcn_norm(ei, None, 10)
    torch.testing.assert_close(expected, propagation_matrix(pyg_ei, pyg_w, 10))
    assert all(not torch.allclose(v, expected) for v in variants.values()), "every mistake must differ"

    torch.manual_seed(0)
    x = torch.randn(10, 3)
    for k in (1, 2, 4):
        conv = ChebConv(3, 2, K=k, normalization="sym")
        with torch.no_grad():
            conv.bias.uniform_(-1, 1)
        expected, variants = cheb_variants(list(conv.lins), conv.bias, x, ei)
        torch.testing.assert_close(expected, conv(x, ei, lambda_max=2.0), atol=1e-5, rtol=1e-5)
    assert all(not torch.allclose(v, expected, atol=1e-4) for v in variants.values())

    gat = GATConv(3, 4, heads=1)
    with torch.no_grad():
        gat.bias.uniform_(-1, 1)
        expected, variants = gat_variants(
            gat.lin(x), gat.att_src.view(-1), gat.att_dst.view(-1), gat.bias, ei
        )
        torch.testing.assert_close(expected, gat(x, ei), atol=1e-5, rtol=1e-5)
    assert all(not torch.allclose(v, expected, atol=1e-4) for v in variants.values())


def test_assert_close_named_names_the_matching_mistake():
    """Does a failed comparison name the mistake the answer matches, and fall back to the largest difference?"""
    from proximal.helpers.testing import assert_close_named, closest_variant

    want, wrong = torch.tensor([1.0, 2.0]), torch.tensor([2.0, 4.0])
    variants = {"doubled (see Hint 2).": wrong}
    assert_close_named(want.clone(), want, variants, what="f(x)", hint="see Hint 1")
    with pytest.raises(AssertionError, match="f\\(x\\) is wrong: doubled"):
        assert_close_named(wrong, want, variants, what="f(x)", hint="see Hint 1")
    with pytest.raises(AssertionError, match="differs .* up to 3 \\(see Hint 1\\)"):
        assert_close_named(torch.tensor([4.0, 2.0]), want, variants, what="f(x)", hint="see Hint 1")
    with pytest.raises(AssertionError, match="shape \\(3,\\)"):
        assert_close_named(torch.zeros(3), want, variants, what="f(x)", hint="see Hint 1")
    with pytest.raises(AssertionError, match="nan or inf"):
        assert_close_named(torch.tensor([float("nan"), 2.0]), want, variants, what="f(x)", hint="see Hint 1")
    with pytest.raises(AssertionError, match="must be a torch.Tensor"):
        assert_close_named([1.0, 2.0], want, variants, what="f(x)", hint="see Hint 1")
    assert (
        closest_variant(wrong, variants) == "doubled (see Hint 2)."
        and closest_variant(want, variants) is None
    )
