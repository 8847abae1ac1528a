"""The stroke graph: nodes (ends, junctions, keypoint zones) joined by chains of centreline pixels.

A *node* is a connected group of centreline pixels that are not plain chain pixels: pixels with
one neighbour (ends) or three and more (junctions); every centreline pixel within the zone of a
topological keypoint peak (radius half the local width + 1.5 px) belongs to that keypoint's node,
so a crossing or a junction is one node even where the centreline is a small tangle there. Two
zones that touch stay two nodes, joined by an edge without pixels. A node sits at its keypoint
peak, or else at the mean of its pixels' points. An *edge* is a maximal chain of two-neighbour
pixels between two nodes (or around a loop with no node).

``prune`` then removes what thinning and thick maps leave behind: spurs (a dead end without a
keypoint of its own, shorter than ``spur_factor`` x the local width or ``spur_min``), bridges
(short edges between two junctions, as between the two halves of a crossing; merged into one
node), tiny loops and isolated specks.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from .stroke import TraceOptions
from .thinning import adjacency

__all__ = ["Node", "Edge", "Graph", "build_graph", "prune"]


@dataclass
class Node:
    xy: np.ndarray  # (2,)
    width: float
    peak: bool  # holds a topological keypoint


@dataclass
class Edge:
    a: int  # node at the start of ``path``; -1 for a loop with no node
    b: int  # node at its end
    path: list[int]  # pixel ids from a to b, the nodes' own pixels excluded


@dataclass
class Graph:
    nodes: list[Node]
    edges: list[Edge | None]  # None: removed
    point: np.ndarray  # (P, 2) each centreline pixel's point
    width: np.ndarray  # (P,) the width map there
    tangent: np.ndarray | None  # (P, 2) the tangent map there (cos 2θ, sin 2θ)
    identity: np.ndarray | None = None  # (P, E) the stroke-identity embedding there
    identity_map: np.ndarray | None = None  # (E, H, W) the whole embedding (for pixel-less edges)

    def points(self, e: Edge) -> np.ndarray:
        """The edge's polyline: its start node, its pixels' points, its end node (for a loop
        with no node, its pixels' points and the first again)."""
        mid = self.point[e.path]
        if e.a < 0:
            return np.concatenate([mid, mid[:1]])
        return np.concatenate([self.nodes[e.a].xy[None], mid, self.nodes[e.b].xy[None]])

    def widths(self, e: Edge) -> np.ndarray:
        mid = self.width[e.path]
        if e.a < 0:
            return np.concatenate([mid, mid[:1]])
        return np.concatenate([[self.nodes[e.a].width], mid, [self.nodes[e.b].width]])

    def length(self, e: Edge) -> float:
        return float(np.hypot(*np.diff(self.points(e), axis=0).T).sum())

    def degrees(self) -> np.ndarray:
        deg = np.zeros(len(self.nodes), dtype=np.int64)
        for e in self.edges:
            if e is not None and e.a >= 0:
                deg[e.a] += 1
                deg[e.b] += 1
        return deg

    def alive(self) -> list[int]:
        return [i for i, e in enumerate(self.edges) if e is not None]

    def edge(self, i: int) -> Edge:
        """Edge ``i``, which must not have been removed."""
        e = self.edges[i]
        if e is None:
            raise ValueError(f"edge {i} was removed")
        return e


class _Groups:
    """Union-find over pixel ids."""

    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, i: int, j: int) -> None:
        self.parent[self.find(i)] = self.find(j)


def build_graph(
    mask: np.ndarray,
    points: np.ndarray,
    width: np.ndarray,
    tangent: np.ndarray | None,
    peaks: np.ndarray,
    radii: np.ndarray,
    identity: np.ndarray | None = None,
) -> Graph:
    """The graph of a one-pixel-wide centreline ``mask`` (see the module docstring)."""
    h, w = mask.shape
    flat, nb = adjacency(mask)
    rows, cols = flat // w, flat % w
    pix_xy = points[rows, cols]
    pix_w = width[rows, cols].astype(np.float64)
    zone = _zones(rows, cols, peaks, radii)
    is_node = ((nb >= 0).sum(1) != 2) | (zone >= 0)
    nbl = nb.tolist()
    node_of = _group_nodes(nbl, is_node, zone)
    nodes = []
    order = np.argsort(node_of, kind="stable")
    counts = np.bincount(node_of[node_of >= 0], minlength=0) if flat.size else np.zeros(0, int)
    starts = np.concatenate([[0], np.cumsum(counts)]) + int((node_of < 0).sum())
    medians = _group_medians(pix_w[order[starts[0] :]], node_of[order[starts[0] :]], counts)
    zone_list, order_list = zone.tolist(), order.tolist()
    for i in range(counts.size):
        pix = order_list[starts[i] : starts[i + 1]]
        zones = sorted({zone_list[p] for p in pix if zone_list[p] >= 0})
        xy = peaks[zones].mean(0) if zones else pix_xy[pix].mean(0)
        nodes.append(Node(xy=xy, width=float(medians[i]), peak=bool(zones)))
    edges = _walk(nbl, node_of)
    node_list = node_of.tolist()  # plain ints: a numpy lookup per pixel costs more than the rest
    touching = {
        (min(a, b), max(a, b))
        for p, a in enumerate(node_list)
        if a >= 0
        for b in (node_list[q] for q in nbl[p] if q >= 0)
        if b >= 0 and b != a
    }
    edges += [Edge(a, b, []) for a, b in sorted(touching)]
    tan = None if tangent is None else tangent[:, rows, cols].T
    ident = None if identity is None else identity[:, rows, cols].T.astype(np.float64)
    return Graph(nodes, edges, pix_xy, pix_w, tan, ident, identity)


def _zones(rows: np.ndarray, cols: np.ndarray, peaks: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """Per pixel, the index of its nearest peak (the lowest index among equally near ones) where
    the pixel's centre lies within that peak's radius, else -1. Only peaks within the largest
    radius can qualify, so only those pairs are measured (a k-d tree finds them): linear in the
    pixels, not pixels x peaks."""
    zone = np.full(rows.size, -1)
    if not (peaks.shape[0] and rows.size):
        return zone
    centres = np.stack([cols + 0.5, rows + 0.5], axis=1)
    reach = float(radii.max())
    pairs = cKDTree(centres).sparse_distance_matrix(
        cKDTree(peaks), reach + 1e-6, output_type="ndarray"
    )
    if not pairs.size:
        return zone
    pix, peak = pairs["i"].astype(np.int64), pairs["j"].astype(np.int64)
    d = np.hypot(cols[pix] + 0.5 - peaks[peak, 0], rows[pix] + 0.5 - peaks[peak, 1])
    order = np.lexsort((peak, d, pix))  # per pixel: nearest first, ties by peak index
    pix, peak, d = pix[order], peak[order], d[order]
    first = np.concatenate([[True], pix[1:] != pix[:-1]])
    pix, peak, d = pix[first], peak[first], d[first]
    within = d <= radii[peak]
    zone[pix[within]] = peak[within]
    return zone


def _group_medians(values: np.ndarray, groups: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """np.median of ``values`` per group 0..len(counts)-1 (``groups`` sorted, as ``counts``
    says), for all groups at once."""
    if not counts.size:
        return np.zeros(0)
    order = np.lexsort((values, groups))
    v = values[order]
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    lo = starts + (counts - 1) // 2
    hi = starts + counts // 2
    return (v[lo] + v[hi]) / 2.0


def _group_nodes(nbl: list[list[int]], is_node: np.ndarray, zone: np.ndarray) -> np.ndarray:
    """Node index per pixel (-1 for chain pixels). A keypoint zone is one node; other node
    pixels group with their node neighbours, and such a group touching zones joins the first
    (two zones that touch stay two nodes, joined by an edge with no pixels)."""
    groups = _Groups(len(nbl))
    first_of_zone: dict[int, int] = {}
    node_pix = np.flatnonzero(is_node).tolist()
    zones = zone.tolist()
    for p in node_pix:
        if zones[p] >= 0:
            groups.union(p, first_of_zone.setdefault(zones[p], p))
        else:
            for q in nbl[p]:
                if q >= 0 and is_node[q] and zones[q] < 0:
                    groups.union(p, q)
    joins: dict[int, int] = {}
    for p in node_pix:
        if zones[p] < 0:
            for q in nbl[p]:
                if q >= 0 and zones[q] >= 0:
                    joins.setdefault(groups.find(p), q)
    for root, q in joins.items():
        groups.union(root, q)
    roots: dict[int, int] = {}
    node_of = np.full(len(nbl), -1)
    for p in node_pix:
        node_of[p] = roots.setdefault(groups.find(p), len(roots))
    return node_of


def _walk(nbl: list[list[int]], node_of: np.ndarray) -> list[Edge | None]:
    """The chains of pixels between node pixels, then the loops that touch no node."""
    node_list = node_of.tolist()
    visited = [False] * len(nbl)
    edges: list[Edge | None] = []
    for s, owner in enumerate(node_list):
        if owner < 0:
            continue
        for q in nbl[s]:
            if q < 0 or node_list[q] >= 0 or visited[q]:
                continue
            path, prev, cur = [q], s, q
            visited[q] = True
            end = -1
            while True:
                nxt = [x for x in nbl[cur] if x >= 0 and x != prev]
                if not nxt:
                    break
                n = nxt[0]
                if node_list[n] >= 0:
                    end = node_list[n]
                    break
                if visited[n]:
                    break
                visited[n] = True
                path.append(n)
                prev, cur = cur, n
            edges.append(Edge(owner, end if end >= 0 else owner, path))
    for s, owner in enumerate(node_list):
        if owner >= 0 or visited[s]:
            continue
        path, prev, cur = [s], -1, s
        visited[s] = True
        while True:
            nxt = [x for x in nbl[cur] if x >= 0 and x != prev and not visited[x]]
            if not nxt:
                break
            prev, cur = cur, nxt[0]
            visited[cur] = True
            path.append(cur)
        edges.append(Edge(-1, -1, path))
    return edges


def prune(graph: Graph, opts: TraceOptions) -> None:
    """Remove spurs, bridges, tiny loops and specks in place (see the module docstring).

    The rule is a scan of the edges in index order, repeated until a scan changes nothing, with
    each scan ending at its first merge (a merge moves a node, so the next scan starts over).
    An edge whose two nodes have not changed since it was last looked at would be kept again, so
    only the edges at a changed node are looked at again: the same result as rescanning
    everything, in time proportional to the changes rather than to scans x edges."""

    def reach(n: int) -> float:
        return max(opts.spur_min, opts.spur_factor * graph.nodes[n].width)

    def verdict(i: int) -> str:
        e = graph.edge(i)
        if e.a < 0:
            return ""
        nodes = graph.nodes
        if e.a == e.b:
            return "drop" if length[i] < 2.0 * reach(e.a) else ""
        for end, other in ((e.a, e.b), (e.b, e.a)):
            if (
                deg[end] == 1
                and not nodes[end].peak
                and deg[other] >= 3
                and length[i] < reach(other)
            ):
                return "drop"
        if (
            deg[e.a] >= 3
            and deg[e.b] >= 3
            and not (nodes[e.a].peak and nodes[e.b].peak)
            and length[i] < max(reach(e.a), reach(e.b))
        ):
            return "merge"
        return ""

    alive = graph.alive()
    length = {i: graph.length(graph.edge(i)) for i in alive}
    deg = graph.degrees()
    incident: dict[int, set[int]] = {}  # node -> its live edges (so a merge touches only those)
    for i in alive:
        e = graph.edge(i)
        if e.a >= 0:
            incident.setdefault(e.a, set()).add(i)
            incident.setdefault(e.b, set()).add(i)
    scan = list(alive)  # the edges still to look at in this scan, a heap of indices
    heapq.heapify(scan)
    later: set[int] = set()  # changed behind the scan's position: looked at in the next scan
    queued = set(alive)

    def changed(node: int, position: int) -> None:
        for j in incident.get(node, ()):
            if j not in queued:
                queued.add(j)
                if j > position:
                    heapq.heappush(scan, j)
                else:
                    later.add(j)

    while scan or later:
        if not scan:  # the next scan
            scan = sorted(later)
            later.clear()
        i = heapq.heappop(scan)
        queued.discard(i)
        if graph.edges[i] is None:
            continue
        e = graph.edge(i)
        act = verdict(i)
        if act == "drop":
            graph.edges[i] = None
            incident[e.a].discard(i)
            incident[e.b].discard(i)
            deg[e.a] -= 1
            deg[e.b] -= 1
            changed(e.a, i)
            changed(e.b, i)
        elif act == "merge":
            deg[e.a] += deg[e.b] - 2
            deg[e.b] = 0
            _merge(graph, i, incident)
            # the kept node moved: only the edges now ending there change length
            for j in sorted(incident[e.a]):
                length[j] = graph.length(graph.edge(j))
            changed(e.a, -1)
            later.update(scan)  # the scan ends here; the next starts over
            scan = []
    deg = graph.degrees()
    for i in graph.alive():
        e = graph.edge(i)
        isolated = e.a < 0 or (deg[e.a] == 1 and deg[e.b] == 1)
        if isolated and graph.length(e) < opts.min_length:
            graph.edges[i] = None


def _merge(graph: Graph, i: int, incident: dict[int, set[int]]) -> None:
    """Contract edge ``i``: its end node joins its start node, placed between them (at the
    keypoint when only one of them has one). ``incident`` (node -> live edges) follows."""
    e = graph.edge(i)
    keep, gone = graph.nodes[e.a], graph.nodes[e.b]
    if gone.peak and not keep.peak:
        keep.xy = gone.xy
    elif gone.peak == keep.peak:
        keep.xy = 0.5 * (keep.xy + gone.xy)
    keep.peak = keep.peak or gone.peak
    keep.width = max(keep.width, gone.width)
    graph.edges[i] = None
    incident[e.a].discard(i)
    incident[e.b].discard(i)
    for j in incident.pop(e.b, set()):
        other = graph.edge(j)
        other.a = e.a if other.a == e.b else other.a
        other.b = e.a if other.b == e.b else other.b
        incident[e.a].add(j)
