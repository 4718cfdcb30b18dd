"""Small graphs for module 07 (graph neural networks).

- :func:`merkle_edge_index`, :func:`merkle_levels`, :func:`merkle_nodes`: module 04's (RFC 6962)
  Merkle tree as a graph, built on :mod:`proximal.helpers.merkle_plot`'s tree shape.
- :func:`make_molecules`: a seeded graph-classification data set of molecule-like graphs whose
  label follows a structural rule (how many N–O bonds the molecule has).
- :func:`computation_tree`, :func:`hop_distances`: which nodes feed a node through ``k`` rounds of
  message passing (its unrolled computation graph, and how many hops away each node is).
- :func:`draw_graph`, :func:`draw_molecule`, :func:`plot_embeddings`, :func:`draw_computation_tree`:
  pictures with networkx and matplotlib.

Nothing here trains a model: the notebooks (and the learner) do that.
"""

from __future__ import annotations

import random
from collections import deque
from typing import TYPE_CHECKING, Any, Literal

import torch
from torch import Tensor

from proximal.helpers.merkle_plot import children, node_ranges

if TYPE_CHECKING:  # imported lazily at call time: keeps `import proximal.helpers.graphs` light
    from matplotlib.axes import Axes
    from torch_geometric.data import Data

__all__ = [
    "ATOM_TYPES",
    "computation_tree",
    "count_bonds",
    "draw_computation_tree",
    "draw_graph",
    "draw_molecule",
    "hop_distances",
    "make_molecules",
    "merkle_edge_index",
    "merkle_levels",
    "merkle_nodes",
    "merkle_positions",
    "plot_embeddings",
]

#: Atom types of :func:`make_molecules`, in the order of the one-hot features ``data.x``.
ATOM_TYPES: tuple[str, ...] = ("C", "N", "O")
ATOM_COLORS: tuple[str, ...] = ("#4d4d4d", "#3b6fd8", "#d83b3b")
_C, _N, _O = 0, 1, 2


# --------------------------------------------------------------------------- Merkle trees
def _merkle_heights(n_leaves: int) -> dict[tuple[int, int], int]:
    """Height of every node (longest path down to a leaf), keyed by its leaf range."""
    if n_leaves < 1:
        raise ValueError(f"a Merkle tree needs at least one leaf, got n_leaves={n_leaves}")
    heights: dict[tuple[int, int], int] = {}
    for node in reversed(node_ranges(n_leaves)):  # pre-order reversed: children before parents
        kids = children(*node)
        heights[node] = 0 if kids is None else 1 + max(heights[kids[0]], heights[kids[1]])
    return heights


def merkle_nodes(n_leaves: int) -> list[tuple[int, int]]:
    """The nodes of module 04's (RFC 6962) Merkle tree over ``n_leaves`` leaves, in graph order.

    Each node is named as in :mod:`proximal.helpers.merkle_plot` by the half-open range of leaves
    ``(lo, hi)`` under it. Position ``i`` of the list is node ``i`` of :func:`merkle_edge_index`:
    the leaves ``(0, 1) .. (n-1, n)`` first, then the nodes one level up (by height: the longest
    path down to a leaf), and so on; the root ``(0, n)`` is last.

    >>> merkle_nodes(3)
    [(0, 1), (1, 2), (2, 3), (0, 2), (0, 3)]
    """
    heights = _merkle_heights(n_leaves)
    return sorted(heights, key=lambda node: (heights[node], node[0]))


def merkle_edge_index(n_leaves: int, *, undirected: bool = True) -> Tensor:
    """Module 04's Merkle tree over ``n_leaves`` leaves as an ``edge_index`` (``[2, E]``, long).

    Nodes are numbered as in :func:`merkle_nodes` (leaves first, root last) and each child is
    joined to its parent: the two hashes that go into the parent's hash. RFC 6962 splits ``n``
    leaves at the largest power of two below ``n``, so a lone node moves up unchanged and every
    inner node has exactly two children (``2n - 1`` nodes, ``2n - 2`` links).

    With ``undirected=True`` (the default, what GNN layers expect) every link appears in both
    directions; otherwise edges point from child to parent (the direction hashes flow).

    >>> merkle_edge_index(2).tolist()
    [[0, 2, 1, 2], [2, 0, 2, 1]]
    """
    nodes = merkle_nodes(n_leaves)
    index = {node: i for i, node in enumerate(nodes)}
    pairs = [(index[kid], index[node]) for node in nodes for kid in (children(*node) or ())]
    if undirected:
        pairs = [e for kid, parent in pairs for e in ((kid, parent), (parent, kid))]
    if not pairs:
        return torch.empty(2, 0, dtype=torch.long)
    return torch.tensor(pairs, dtype=torch.long).t().contiguous()


def merkle_levels(n_leaves: int) -> Tensor:
    """Height of every node of :func:`merkle_edge_index`'s tree: 0 for leaves, the largest for the root."""
    heights = _merkle_heights(n_leaves)
    return torch.tensor([heights[node] for node in merkle_nodes(n_leaves)], dtype=torch.long)


def merkle_positions(n_leaves: int) -> dict[int, tuple[float, float]]:
    """Drawing positions for :func:`merkle_edge_index`'s nodes (pass as ``draw_graph(..., pos=...)``).

    Leaf ``i`` sits at ``(i, 0)``; every inner node at its height, centred over its leaves.
    """
    heights = _merkle_heights(n_leaves)
    nodes = merkle_nodes(n_leaves)
    return {i: ((lo + hi - 1) / 2, float(heights[(lo, hi)])) for i, (lo, hi) in enumerate(nodes)}


# --------------------------------------------------------------------------- molecules
def count_bonds(data: Data, a: str = "N", b: str = "O") -> int:
    """How many bonds of ``data`` join an atom of type ``a`` to one of type ``b`` (undirected)."""
    ia, ib = ATOM_TYPES.index(a), ATOM_TYPES.index(b)
    atom = data.x.argmax(dim=1)
    src, dst = data.edge_index
    ts, td = atom[src], atom[dst]
    hits = ((ts == ia) & (td == ib)) | ((ts == ib) & (td == ia))
    return int(hits.sum()) // 2  # each bond is stored in both directions


def _random_skeleton(rng: random.Random, n: int, ring_prob: float) -> list[set[int]]:
    """A random tree on ``n`` atoms with at most three bonds per atom, sometimes closed into one ring."""
    nbrs: list[set[int]] = [set() for _ in range(n)]
    for v in range(1, n):
        u = rng.choice([w for w in range(v) if len(nbrs[w]) < 3])
        nbrs[u].add(v)
        nbrs[v].add(u)
    if n >= 6 and rng.random() < ring_prob:
        start = rng.choice([w for w in range(n) if len(nbrs[w]) < 3])
        dist = {start: 0}
        queue = deque([start])
        while queue:
            u = queue.popleft()
            for w in nbrs[u]:
                if w not in dist:
                    dist[w] = dist[u] + 1
                    queue.append(w)
        far = [w for w, d in dist.items() if d in (4, 5) and len(nbrs[w]) < 3]  # 5- or 6-rings
        if far:
            end = rng.choice(far)
            nbrs[start].add(end)
            nbrs[end].add(start)
    return nbrs


def _attach(rng: random.Random, nbrs: list[set[int]], atom: list[int], types: list[int]) -> None:
    """Attach a chain of new atoms of ``types`` to a random carbon with a free bond (at most four)."""
    free = [v for v, t in enumerate(atom) if t == _C and len(nbrs[v]) < 4]
    u = rng.choice(free)
    for t in types:
        v = len(nbrs)
        nbrs.append(set())
        atom.append(t)
        nbrs[u].add(v)
        nbrs[v].add(u)
        u = v


def make_molecules(
    num_graphs: int = 600,
    *,
    seed: int = 0,
    min_atoms: int = 14,
    max_atoms: int = 40,
    max_count: int = 3,
    max_lone: int = 2,
    threshold: int = 2,
    ring_prob: float = 1.0,
) -> list[Data]:
    """A seeded graph-classification data set of molecule-like graphs.

    Each graph has ``min_atoms`` to ``max_atoms`` atoms (the size is drawn independently of the
    label): a random carbon skeleton (a tree closed into one 5- or 6-ring with probability
    ``ring_prob`` when it is big enough; at most four bonds per atom) carrying side groups:
    ``k`` N–O groups (a nitrogen bonded to the skeleton and to a terminal oxygen), with ``k``
    cycling through ``0 .. max_count`` so that every count is equally common, plus up to
    ``max_lone`` lone N and lone O atoms bonded to carbon only, so that counting atoms of one type
    does not give ``k`` away.

    **The rule**: ``y = 1`` if the molecule has at least ``threshold`` N–O bonds, else ``0``. Seeing
    a bond needs one round of message passing; telling 1 bond from 2 in molecules of very different
    sizes needs a readout that can count (sum pooling; mean and max pooling cannot).

    Every item is a :class:`torch_geometric.data.Data` with

    - ``x``: ``[num_atoms, 3]`` float one-hot atom types (columns in :data:`ATOM_TYPES` order),
    - ``edge_index``: ``[2, 2 * num_bonds]``, each bond in both directions,
    - ``y``: ``[1]`` long label (so a batch's ``y`` has shape ``[batch_size]``),
    - ``motif_count``: ``[1]`` long, the number ``k`` of N–O bonds.

    The same arguments give the same graphs, in the same order.
    """
    from torch_geometric.data import Data

    if not 0 <= threshold <= max_count + 1:
        raise ValueError(f"threshold={threshold} must lie in 0..max_count+1={max_count + 1}")
    if min_atoms < 2 * max_count + 2 * max_lone + 4 or max_atoms < min_atoms:
        raise ValueError(
            f"need max_atoms >= min_atoms >= 2*max_count + 2*max_lone + 4, got {min_atoms}..{max_atoms}"
        )
    rng = random.Random(seed)
    graphs: list[Data] = []
    for i in range(num_graphs):
        k = i % (max_count + 1)
        n = rng.randint(min_atoms, max_atoms)  # drawn first: the size must not depend on k
        lone_n, lone_o = rng.randint(0, max_lone), rng.randint(0, max_lone)
        nbrs = _random_skeleton(rng, n - 2 * k - lone_n - lone_o, ring_prob)
        atom = [_C] * len(nbrs)
        groups = [[_N, _O]] * k + [[_N]] * lone_n + [[_O]] * lone_o
        rng.shuffle(groups)
        for group in groups:
            _attach(rng, nbrs, atom, group)
        edges = [(u, v) for u in range(n) for v in sorted(nbrs[u])]
        data = Data(
            x=torch.nn.functional.one_hot(torch.tensor(atom), len(ATOM_TYPES)).float(),
            edge_index=torch.tensor(edges, dtype=torch.long).t().contiguous(),
            y=torch.tensor([int(k >= threshold)]),
            motif_count=torch.tensor([k]),
        )
        graphs.append(data)
    rng.shuffle(graphs)
    return graphs


# --------------------------------------------------------------------------- message passing
def _sources_into(edge_index: Tensor) -> dict[int, list[int]]:
    into: dict[int, list[int]] = {}
    for src, dst in edge_index.t().tolist():
        into.setdefault(dst, []).append(src)
    return {node: sorted(set(srcs)) for node, srcs in into.items()}


def computation_tree(
    edge_index: Tensor, node: int, num_layers: int, *, self_loops: bool = True
) -> list[list[tuple[int, int]]]:
    """The unrolled computation graph of ``node`` after ``num_layers`` rounds of message passing.

    Returns one list per layer, from the output (``[(node, -1)]``, layer ``num_layers``) down to the
    inputs (layer 0). Each entry is ``(graph_node, parent)``: a copy of ``graph_node`` whose message
    feeds entry number ``parent`` of the layer above. Messages flow along ``edge_index`` from
    ``edge_index[0]`` (source) to ``edge_index[1]`` (target); with ``self_loops`` every node also
    receives its own previous state (as in GCN). A node appears once per path that reaches it, so
    the layers grow with the degrees: that is what ``num_layers`` layers compute, not the graph.

    >>> ei = torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]])  # the path 0 - 1 - 2
    >>> computation_tree(ei, 0, 2, self_loops=False)
    [[(0, -1)], [(1, 0)], [(0, 0), (2, 0)]]
    """
    if num_layers < 0:
        raise ValueError(f"num_layers must be >= 0, got {num_layers}")
    into = _sources_into(edge_index)
    levels: list[list[tuple[int, int]]] = [[(node, -1)]]
    for _ in range(num_layers):
        below: list[tuple[int, int]] = []
        for parent, (v, _) in enumerate(levels[-1]):
            feeders = into.get(v, [])
            if self_loops and v not in feeders:
                feeders = sorted([*feeders, v])
            below += [(u, parent) for u in feeders]
        levels.append(below)
    return levels


def hop_distances(edge_index: Tensor, node: int, num_nodes: int) -> Tensor:
    """How many rounds of message passing a message from each node needs to reach ``node`` (-1: never).

    Follows edges from source to target, so on a directed graph this is the distance *to* ``node``.
    """
    into = _sources_into(edge_index)
    dist = torch.full((num_nodes,), -1, dtype=torch.long)
    dist[node] = 0
    queue = deque([node])
    while queue:
        v = queue.popleft()
        for u in into.get(v, []):
            if dist[u] < 0:
                dist[u] = dist[v] + 1
                queue.append(u)
    return dist


# --------------------------------------------------------------------------- pictures
def _to_networkx(edge_index: Tensor, num_nodes: int | None):
    import networkx as nx

    n = int(edge_index.max()) + 1 if num_nodes is None and edge_index.numel() else (num_nodes or 0)
    g = nx.Graph()
    g.add_nodes_from(range(n))
    g.add_edges_from((int(u), int(v)) for u, v in edge_index.t().tolist() if u != v)
    return g


def draw_graph(
    edge_index: Tensor,
    num_nodes: int | None = None,
    *,
    node_color: Tensor | list | str | None = None,
    labels: dict[int, str] | bool = True,
    pos: dict[int, tuple[float, float]] | None = None,
    layout: Literal["spring", "kamada_kawai"] = "spring",
    cmap: str = "tab10",
    node_size: int = 300,
    ax: Axes | None = None,
    title: str | None = None,
    seed: int = 0,
) -> Axes:
    """Draw an (undirected) graph given as an ``edge_index`` and return the matplotlib Axes.

    ``node_color`` is one colour for all nodes, a colour per node, or a number per node (then
    coloured with ``cmap``, class ids in ``tab10`` by default). ``labels`` is True (node ids), False,
    or a ``{node: text}`` dict. Pass ``pos`` to fix the positions (e.g. :func:`merkle_positions`, or
    the same dict again to redraw a graph with new colours); otherwise ``layout`` places the nodes,
    seeded with ``seed``.
    """
    import matplotlib.pyplot as plt
    import networkx as nx

    g = _to_networkx(edge_index, num_nodes)
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 4))
    if pos is None and layout == "spring":
        pos = nx.spring_layout(g, seed=seed)
    elif pos is None and layout == "kamada_kawai":
        pos = nx.kamada_kawai_layout(g)
    elif pos is None:
        raise ValueError(f"unknown layout {layout!r}")
    if isinstance(node_color, Tensor):
        node_color = node_color.detach().cpu().tolist()
    if node_color is None:
        node_color = "#8fb3e8"
    numeric = isinstance(node_color, list) and node_color and isinstance(node_color[0], int | float)
    nx.draw_networkx(
        g,
        pos=pos,
        ax=ax,
        node_color=node_color,
        cmap=plt.get_cmap(cmap) if numeric else None,
        vmin=0 if numeric and cmap == "tab10" else None,
        vmax=9 if numeric and cmap == "tab10" else None,
        with_labels=bool(labels),
        labels=labels if isinstance(labels, dict) else None,
        node_size=node_size,
        font_size=8,
        edge_color="#999999",
    )
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=10)
    return ax


def draw_molecule(data: Data, *, ax: Axes | None = None, title: str | None = None, seed: int = 0) -> Axes:
    """Draw one graph of :func:`make_molecules`: atoms coloured and labelled by type, N–O bonds in red."""
    import matplotlib.pyplot as plt
    import networkx as nx

    atom = data.x.argmax(dim=1).tolist()
    g = _to_networkx(data.edge_index, data.num_nodes)
    if ax is None:
        _, ax = plt.subplots(figsize=(4, 4))
    # spring layout started from the spectral one: untangled like kamada_kawai, several times faster
    start = nx.spectral_layout(g) if g.number_of_nodes() > 2 else None
    pos = nx.spring_layout(g, pos=start, seed=seed, iterations=200)
    no_bonds = [(u, v) for u, v in g.edges if {atom[u], atom[v]} == {_N, _O}]
    nx.draw_networkx_edges(g, pos, ax=ax, edge_color="#999999")
    nx.draw_networkx_edges(g, pos, ax=ax, edgelist=no_bonds, edge_color="#d83b3b", width=3)
    nx.draw_networkx_nodes(g, pos, ax=ax, node_color=[ATOM_COLORS[a] for a in atom], node_size=220)
    nx.draw_networkx_labels(
        g, pos, ax=ax, labels={v: ATOM_TYPES[a] for v, a in enumerate(atom)}, font_color="white", font_size=8
    )
    ax.set_axis_off()
    if title is None and getattr(data, "y", None) is not None:
        title = f"{len(no_bonds)} N–O bond(s), y = {int(data.y)}"
    if title:
        ax.set_title(title, fontsize=10)
    return ax


def plot_embeddings(
    emb: Tensor,
    labels: Tensor | None = None,
    *,
    highlight: Tensor | None = None,
    ax: Axes | None = None,
    title: str | None = None,
    cmap: str = "tab10",
) -> Axes:
    """Scatter node embeddings ``[num_nodes, 2]`` (wider ones are reduced by PCA), coloured by ``labels``.

    ``highlight`` is a boolean mask of nodes to ring in black (e.g. the few labelled training nodes).
    """
    import matplotlib.pyplot as plt

    z = emb.detach().cpu().float()
    if z.dim() != 2:
        raise ValueError(f"emb must be [num_nodes, dims], got shape {tuple(z.shape)}")
    if z.size(1) > 2:  # PCA to two dimensions, by SVD
        zc = z - z.mean(dim=0)
        _, _, v = torch.linalg.svd(zc, full_matrices=False)
        z = zc @ v[:2].t()
    elif z.size(1) == 1:
        z = torch.cat([z, torch.zeros_like(z)], dim=1)
    if ax is None:
        _, ax = plt.subplots(figsize=(4, 4))
    if labels is None:
        ax.scatter(z[:, 0], z[:, 1], color="#3b6fd8", s=60)
    else:
        limits: dict[str, Any] = {"vmin": 0, "vmax": 9} if cmap == "tab10" else {}
        ax.scatter(z[:, 0], z[:, 1], c=labels.detach().cpu().tolist(), cmap=cmap, s=60, **limits)
    if highlight is not None:
        h = highlight.detach().cpu().bool()
        ax.scatter(z[h, 0], z[h, 1], s=180, facecolors="none", edgecolors="black", linewidths=2)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=10)
    return ax


def draw_computation_tree(
    edge_index: Tensor,
    node: int,
    num_layers: int = 2,
    *,
    self_loops: bool = True,
    ax: Axes | None = None,
    cmap: str = "viridis",
    title: str | None = None,
) -> Axes:
    """Draw :func:`computation_tree`: the output of ``node`` on top, the input features at the bottom.

    Every box is a copy of a graph node (its number), coloured by its hop distance to ``node``; an
    arrow is one message. Read it bottom-up: layer 1 combines the inputs into new states, layer 2
    combines those into the output of ``node``.
    """
    import matplotlib.pyplot as plt

    levels = computation_tree(edge_index, node, num_layers, self_loops=self_loops)
    num_nodes = int(edge_index.max()) + 1 if edge_index.numel() else node + 1
    dist = hop_distances(edge_index, node, max(num_nodes, node + 1))
    colours = plt.get_cmap(cmap)
    if ax is None:
        _, ax = plt.subplots(figsize=(max(4.0, 0.45 * len(levels[-1])), 1.2 + 1.1 * num_layers))
    width = max(len(level) for level in levels)
    # every level spread evenly first; then each parent is centred over its children, bottom-up
    xs = [[(i + 0.5) * width / len(level) for i in range(len(level))] for level in levels]
    for depth in range(len(levels) - 1, 0, -1):
        for parent in range(len(levels[depth - 1])):
            kids = [xs[depth][i] for i, (_, p) in enumerate(levels[depth]) if p == parent]
            if kids:
                xs[depth - 1][parent] = sum(kids) / len(kids)
    for depth, level in enumerate(levels):
        y = float(num_layers - depth)
        for i, (v, parent) in enumerate(level):
            if parent >= 0:
                ax.annotate(
                    "",
                    xy=(xs[depth - 1][parent], y + 1 - 0.18),
                    xytext=(xs[depth][i], y + 0.18),
                    arrowprops={"arrowstyle": "->", "color": "#999999", "lw": 0.8},
                )
            hops = int(dist[v]) if v < dist.numel() else -1
            shade = colours(0.15 + 0.7 * hops / max(1, num_layers)) if hops >= 0 else "#dddddd"
            ax.text(
                xs[depth][i],
                y,
                str(v),
                ha="center",
                va="center",
                fontsize=8,
                color="white",
                bbox={"boxstyle": "circle", "facecolor": shade, "edgecolor": "none"},
            )
    for depth in range(len(levels)):
        layer = num_layers - depth
        name = "input x" if layer == 0 else f"after layer {layer}"
        ax.text(-0.4, float(layer), name, ha="right", va="center", fontsize=8)
    ax.set_xlim(-0.5 - 0.08 * width, width + 0.3)
    ax.set_ylim(-0.5, num_layers + 0.5)
    ax.set_axis_off()
    ax.set_title(title or f"what node {node} sees after {num_layers} layer(s)", fontsize=10)
    return ax
