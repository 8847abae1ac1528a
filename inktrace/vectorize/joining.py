"""Strokes from the graph: which edges continue into which at each node, and the chains of edges
that make one stroke each.

At every node each incident edge leaves in a direction: the chord from the node to the edge's
point ``reach`` px of arc away (reach = twice the local width, 3-8 px), averaged with the tangent
field along that stretch (its pixels beyond half the width from the node, where the field is not
ambiguous). Where two edges meet (a node of degree two) they continue into each other; the join
is *sharp* (a corner vertex) when the stroke turns there by more than ``SHARP_TURN``. Except at a
topological keypoint turning by more than ``max_turn``: a corner inside one stroke is a corner
(geometric) keypoint, so a topological one there says that two strokes end where they meet (an
L drawn as two strokes, the corners where a character's box strokes meet) and they stay two.
At a junction or crossing (degree three or more) the pairs that go most nearly straight on are
joined first, greedily, while they bend by less than ``max_turn``: an X gives two strokes through
the crossing, a T's bar goes on through the junction and the stem ends there, a Y's three arms
(120 degrees apart) stay three strokes. Following the joins from every free end gives the open
strokes; what is left are loops, closed strokes.

Geometry alone cannot tell an L drawn as one stroke from one drawn as two, or a hook from a stroke
that ends on another. Where the model has the stroke heads, the tracer asks it instead:

- **identity** (the stroke-identity embedding, alike along one stroke, apart between strokes):
  each edge end gets the embedding of its pixels just beyond the node, or, for an edge without
  pixels (two keypoint zones that touch: a short stroke, or the stretch of a stroke between a
  junction and a nearby end), of the map's pixels under its chord; of these pixels, the mean of
  those near their medoid (where a stroke passes over another's pixels, the embedding most of
  them share, not a mixture of two strokes that is neither's); at a node where the
  geometric rule would choose (a keypoint, a junction), two ends may join only when their
  embeddings are closer than ``join`` (``TraceOptions.identity_join``: the same stroke),
  whatever the turn, and among such pairs the straightest join first (a stroke crossing
  itself).
- **bridges** (identity): where a stroke starts or ends on another and runs along it for a few px
  before it leaves, the two share an edge, which the joins give to one of them; the other's ends
  at that edge's two nodes are then left without a partner of their embedding. Two such free
  ends, with alike embeddings (closer than ``IDENTITY_SURE``), at the two nodes of a short edge
  of another embedding are joined across it: that stroke runs along the edge too.
- **overshoot tips** (identity): a stroke that reaches a little past another (a box corner, a
  stem through a bar) leaves a short dead-end edge beyond the node, whose few pixels lie within
  the other stroke's ink, so its embedding is unsure and it may join nothing. Such a tip, left
  free, shorter than ``BRIDGE`` x the node's width, goes on from another free end at the node
  that it continues within ``max_turn``, unless their embeddings are surely apart (a dot drawn
  there), rather than staying a fragment of its own.
- **ends** (the stroke-end heatmap): where the embedding is unsure (a distance between
  ``IDENTITY_SURE`` and ``2 * join - IDENTITY_SURE``) or absent, a node of two ends at a
  keypoint is a stroke's end when the heatmap there exceeds ``END_THRESHOLD``, else a corner or a
  hook inside one stroke.

With both maps, two more rules let one stroke run an edge twice, which joins cannot (each edge
end joins one other):

- **retraces**: a dead-end edge whose tip the end map does not mark (the pen turned back there:
  a cusp, an up-stroke retraced) is run there and back, and the stroke goes on into a free end
  of its embedding at the edge's node (an n's stem, then its arch).
- **one-stroke walks**: where a stroke the rules above made ends at a node the end map does not
  mark, it and each stroke at that node or at the other end of its last edge (where a pen that
  turned back at the end comes back to: at a dead end, or where a ruled line or another stroke
  crosses the tip) whose embedding (the medoid reading of all its pixels) is within ``join`` of
  its own are one stroke; so are their own such neighbours, in turn. Each such group of strokes
  is traced again as one walk over all their edges: a bridge that two of them run along is run
  twice; dead ends without a marked end are run there and back (but where fewer than two of the
  group's nodes with an odd number of edge ends are marked ends, the likeliest dead ends are
  left to end the walk); the shortest ways between the other odd nodes run twice too (the
  Chinese postman's pairing, the walk's two ends left where the end map marks ends where it
  can); the edge ends at each node are paired to turn least, and the loops that leaves spliced
  into the walk where they meet, at the least extra turn. A cursive word is one stroke through
  its loops, cusps and retraced up-strokes, its t-bars and i-dots their own. A group with more
  than ``_MAX_ODD`` odd nodes, a node with more than ``_MAX_PAIRING`` edge ends, or more than
  ``_MAX_WALK`` edge runs keeps the strokes the rules above made.

Without either map (an older model) the geometric rule decides alone; without the end map (or the
embedding) the two rules above are not tried.
"""

from __future__ import annotations

import functools
import heapq
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from .graph import Edge, Graph
from .stroke import IDENTITY_JOIN

__all__ = ["Chain", "assemble", "SHARP_TURN"]

SHARP_TURN = 40.0  # degrees, as for the corner keypoints of the data engine
# ... and below which (or above 2 * JOIN - SURE) the embedding is sure: 1.25 by stroke_signals.py
# --sures on characters the evaluation does not score (0.75 before; docs/using.md)
IDENTITY_SURE = 1.25
END_THRESHOLD = 0.5  # stroke-end probability at a node that makes a stroke end there
_CHORD = np.linspace(0.2, 0.8, 7)[:, None]  # where a chord's embedding is read
_MEDOID_SAMPLES = 64  # at most this many samples' pairwise distances (time and memory: n^2)
BRIDGE = 3.0  # a stroke may run along another's edge shorter than this x the node width ...
BRIDGE_MIN = 6.0  # ... or than this (px)

End = tuple[int, int]  # (edge index, 0 at its start node / 1 at its end node)


@dataclass
class Chain:
    """A stroke before fitting: its points, widths, whether it is a loop (then the last point
    repeats the first), and the indices of its sharp vertices."""

    points: np.ndarray
    widths: np.ndarray
    closed: bool
    sharp: list[int] = field(default_factory=list)


def _unit(x: float, y: float) -> tuple[float, float] | None:
    n = math.hypot(x, y)
    return (x / n, y / n) if n > 1e-9 else None


def _direction(graph: Graph, end: End, points: list, tangents: list | None) -> tuple[float, float]:
    """The unit direction in which edge ``end[0]`` leaves its node at ``end``. ``points`` and
    ``tangents`` are the graph's per-pixel arrays as lists (plain floats: these are a handful of
    points per call, where numpy's per-call cost would dominate)."""
    e = graph.edge(end[0])
    node = graph.nodes[e.a if end[1] == 0 else e.b]
    far = graph.nodes[e.b if end[1] == 0 else e.a].xy
    path = e.path if end[1] == 0 else e.path[::-1]
    reach = min(max(2.0 * node.width, 3.0), 8.0)
    half = 0.5 * node.width
    x0, y0 = float(node.xy[0]), float(node.xy[1])
    px, py, arc = x0, y0, 0.0
    target = None  # the first polyline point at least ``reach`` of arc away (else the far node)
    near = [0.0, 0.0, 0]  # tangent sums of the pixels within reach
    kept = [0.0, 0.0, 0]  # ... and beyond half the width from the node
    first = None
    for pid in path:
        qx, qy = points[pid]
        arc += math.hypot(qx - px, qy - py)
        if tangents is not None:
            t = tangents[pid]
            first = t if first is None else first
            if arc <= reach:
                near[0] += t[0]
                near[1] += t[1]
                near[2] += 1
                if arc >= half:
                    kept[0] += t[0]
                    kept[1] += t[1]
                    kept[2] += 1
        if arc >= reach:
            target = (qx, qy)
            break
        px, py = qx, qy
    if target is None:
        target = (float(far[0]), float(far[1]))
    chord = _unit(target[0] - x0, target[1] - y0)
    if chord is None:
        chord = _unit(float(far[0]) - x0, float(far[1]) - y0)
    if chord is None:
        return (1.0, 0.0)
    if tangents is None or first is None:
        return chord
    sums = kept if kept[2] else near
    mx, my = (sums[0] / sums[2], sums[1] / sums[2]) if sums[2] else (first[0], first[1])
    if math.hypot(mx, my) < 0.5:
        return chord
    theta = 0.5 * math.atan2(my, mx)
    ax, ay = math.cos(theta), math.sin(theta)
    if ax * chord[0] + ay * chord[1] < 0:
        ax, ay = -ax, -ay
    both = _unit(chord[0] + ax, chord[1] + ay)
    return chord if both is None else both


def _turn(d1: tuple[float, float], d2: tuple[float, float]) -> float:
    """Degrees by which a stroke arriving along -d1 and leaving along d2 turns."""
    return math.degrees(math.acos(min(1.0, max(-1.0, -(d1[0] * d2[0] + d1[1] * d2[1])))))


def _identity_of(
    graph: Graph,
    end: End,
    points: list,
    chords: dict[int, np.ndarray | None] | None,
    join: float,
) -> np.ndarray | None:
    """The stroke-identity embedding (``_medoid``) of edge ``end[0]``'s pixels from half the
    node's width + 1 px to 6 px beyond it (where one stroke holds the pixels), else of all its
    pixels, else (an edge without pixels) of the map under its chord."""
    e = graph.edge(end[0])
    if graph.identity is None:
        return None
    if not e.path:
        if chords is None:
            return _chord_identity(graph, e, join)
        if end[0] not in chords:  # the same at both ends: read once
            chords[end[0]] = _chord_identity(graph, e, join)
        return chords[end[0]]
    node = graph.nodes[e.a if end[1] == 0 else e.b]
    path = e.path if end[1] == 0 else e.path[::-1]
    start = 0.5 * node.width + 1.0
    x0, y0 = float(node.xy[0]), float(node.xy[1])
    picked = []
    for pid in path:
        qx, qy = points[pid]
        d = math.hypot(qx - x0, qy - y0)
        if d > start + 6.0:
            break
        if d >= start:
            picked.append(pid)
    return _medoid(graph.identity[picked or path], join)


def _chord_identity(graph: Graph, e: Edge, join: float) -> np.ndarray | None:
    """The embedding (``_medoid``) of the identity map's pixels under the middle 60 % of the
    chord of an edge without pixels (two keypoint zones that touch: a short stroke, or the
    stretch between a junction and a nearby end), or None without the map."""
    if graph.identity_map is None:
        return None
    _, h, w = graph.identity_map.shape
    a, b = graph.nodes[e.a].xy, graph.nodes[e.b].xy
    xy = a + _CHORD * (b - a)
    c = np.clip(np.floor(xy[:, 0]).astype(np.int64), 0, w - 1)
    r = np.clip(np.floor(xy[:, 1]).astype(np.int64), 0, h - 1)
    samples = graph.identity_map[:, r, c].T.astype(np.float64)
    return _medoid(samples, join)


def _medoid(samples: np.ndarray, join: float = IDENTITY_JOIN) -> np.ndarray:
    """The mean of the samples within ``join`` of the medoid (the sample with the least
    summed distance to the others): the embedding most of them share, where the mean of all of
    them, two strokes' pixels, would be neither's."""
    mean = samples.mean(0)
    spread = ((samples - mean) ** 2).sum(1)
    if spread.max() < (0.5 * join) ** 2:  # all within JOIN of each other: the mean
        return mean
    if len(samples) > _MEDOID_SAMPLES:  # a long edge: the pairwise distances of evenly spaced ones
        samples = samples[np.linspace(0, len(samples) - 1, _MEDOID_SAMPLES).round().astype(int)]
    d = np.sqrt(((samples[:, None] - samples[None]) ** 2).sum(-1))
    centre = int(np.argmin(d.sum(1)))
    return samples[d[centre] < join].mean(0)


def _end_probability(ends: np.ndarray | None, graph: Graph, node: int) -> float | None:
    """The highest stroke-end probability within half the node's width + 1.5 px of it."""
    if ends is None:
        return None
    n = graph.nodes[node]
    r = 0.5 * n.width + 1.5
    h, w = ends.shape
    x, y = float(n.xy[0]), float(n.xy[1])
    r0, r1 = max(int(y - r), 0), min(int(y + r) + 1, h)
    c0, c1 = max(int(x - r), 0), min(int(x + r) + 1, w)
    if r0 >= r1 or c0 >= c1:
        return 0.0
    return float(ends[r0:r1, c0:c1].max())


def _may_join(
    choose: bool,
    turn: float,
    max_turn: float,
    distance: float | None,
    end_p: float | None,
    join: float,
) -> bool:
    """Whether two ends meeting at a node may be one stroke (see the module docstring)."""
    if not choose:
        return True
    unsure = IDENTITY_SURE <= (distance or 0.0) <= 2 * join - IDENTITY_SURE
    if distance is not None and not (unsure and end_p is not None):
        return distance < join
    if end_p is not None:
        return end_p < END_THRESHOLD
    return turn <= max_turn


@dataclass
class _Joins:
    """The joins ``_links`` makes, and what its rules read: the edge ends at each node, which
    end continues into which (both ways), the turn at each join, and each end's direction and
    embedding (where they were read: at nodes of two ends or more, the embedding only where the
    joins may choose)."""

    graph: Graph
    join: float
    ends_at: dict[int, list[End]]
    links: dict[End, End] = field(default_factory=dict)
    turns: dict[End, float] = field(default_factory=dict)
    dir_of: dict[End, tuple[float, float]] = field(default_factory=dict)
    ident_of: dict[End, np.ndarray | None] = field(default_factory=dict)

    def link(self, p: End, q: End, turn: float) -> None:
        self.links[p], self.links[q] = q, p
        self.turns[p] = self.turns[q] = turn


def _links(
    graph: Graph, max_turn: float, ends_map: np.ndarray | None, join: float
) -> tuple[dict[End, End], dict[End, float], dict[End, End], dict[End, tuple[float, float]]]:
    """Which edge end continues into which, the turn at each join, and the bridges: for a join
    between ends at two nodes, the end of the edge between them that it runs along from the
    first (see ``_bridges``)."""
    ends_at: dict[int, list[End]] = {}
    for i in graph.alive():
        e = graph.edge(i)
        if e.a >= 0:
            ends_at.setdefault(e.a, []).append((i, 0))
            ends_at.setdefault(e.b, []).append((i, 1))
    j = _Joins(graph, join, ends_at)
    links, dir_of, ident_of = j.links, j.dir_of, j.ident_of
    chords: dict[int, np.ndarray | None] = {}
    points = graph.point.tolist()
    tangents = None if graph.tangent is None else graph.tangent.tolist()
    for node, ends in ends_at.items():
        if len(ends) < 2:
            continue
        choose = len(ends) > 2 or graph.nodes[node].peak  # may end here rather than go on
        dirs = [_direction(graph, end, points, tangents) for end in ends]
        dir_of.update(zip(ends, dirs))
        pairs = sorted(
            (_turn(dirs[p], dirs[q]), p, q)
            for p in range(len(ends))
            for q in range(p + 1, len(ends))
        )
        idents = [_identity_of(graph, end, points, chords, join) for end in ends] if choose else []
        ident_of.update(zip(ends, idents))
        # the end signal decides between two ends only: at a junction some stroke ends anyway
        end_p = _end_probability(ends_map, graph, node) if choose and len(ends) == 2 else None
        for turn, p, q in pairs:
            if ends[p] in links or ends[q] in links:
                continue
            distance = None
            ident_p, ident_q = (idents[p], idents[q]) if idents else (None, None)
            if ident_p is not None and ident_q is not None:
                distance = float(np.linalg.norm(ident_p - ident_q))
            if not _may_join(choose, turn, max_turn, distance, end_p, join):
                continue
            j.link(ends[p], ends[q], turn)
    via = _bridges(j) if graph.identity is not None else {}
    for a, (b, _) in via.items():
        links[a] = b
    if graph.identity is not None:
        _tips(j, max_turn)
    if graph.identity is not None and ends_map is not None:
        back = _retraces(j, ends_map)
        for a, (b, _) in back.items():
            links[a] = b
        via.update(back)
    return links, j.turns, {a: v for a, (_, v) in via.items()}, dir_of


def _retraces(j: _Joins, ends_map: np.ndarray) -> dict[End, tuple[End, End]]:
    """Retraced strokes (see the module docstring): a dead-end edge that a stroke runs along
    into and out of, where the stroke does not end at its tip (the end map there is under
    ``END_THRESHOLD``), goes back along the same edge to its node and on into a free end there
    of its embedding (closer than ``join``; the closest first). Per end, as ``_bridges``: (the
    end it joins, the edge end the way back starts from); the turn at the tip is a cusp."""
    graph, links, ident_of = j.graph, j.links, j.ident_of
    deg = graph.degrees()
    back: dict[End, tuple[End, End]] = {}
    for node, ends in j.ends_at.items():
        free = [u for u in ends if u not in links and ident_of.get(u) is not None]
        if not free:
            continue
        candidates = []
        for d in ends:
            e = graph.edge(d[0])
            tip = e.b if d[1] == 0 else e.a
            ident = ident_of.get(d)
            if d not in links or tip == node or deg[tip] != 1 or ident is None:
                continue
            if (_end_probability(ends_map, graph, tip) or 0.0) >= END_THRESHOLD:
                continue  # the stroke ends there
            for u in free:
                other = ident_of[u]
                assert other is not None
                distance = float(np.linalg.norm(ident - other))
                if u[0] != d[0] and distance < j.join:
                    candidates.append((distance, d, u))
        for _, d, u in sorted(candidates):
            far = (d[0], 1 - d[1])  # the tip's end of the edge
            if u in links or far in links:
                continue
            j.link(far, u, 180.0)  # the cusp at the tip ...
            j.turns[u] = _turn(j.dir_of[d], j.dir_of[u])  # ... and the turn off the edge
            back[far], back[u] = (u, far), (far, d)
    return back


def _tips(j: _Joins, max_turn: float) -> None:
    """Overshoot tips (see the module docstring): at a node, a dead-end edge left free that is
    shorter than ``BRIDGE`` x the node's width (at least ``BRIDGE_MIN`` px) joins another free end
    there that it goes on from by at most ``max_turn``, unless their embeddings are surely apart
    (farther than ``2 * join - IDENTITY_SURE``); the straightest pairs first."""
    graph, links, dir_of = j.graph, j.links, j.dir_of
    apart = 2 * j.join - IDENTITY_SURE
    deg = graph.degrees()
    for node, ends in j.ends_at.items():
        free = [end for end in ends if end not in links and end in dir_of]
        if len(free) < 2:
            continue
        tips = []
        for end in free:
            e = graph.edge(end[0])
            far = e.b if end[1] == 0 else e.a
            limit = max(BRIDGE * graph.nodes[node].width, BRIDGE_MIN)
            if deg[far] == 1 and graph.length(e) <= limit:
                tips.append(end)
        pairs = sorted(
            (_turn(dir_of[t], dir_of[o]), t, o) for t in tips for o in free if o[0] != t[0]
        )
        for turn, t, o in pairs:
            if t in links or o in links or turn > max_turn:
                continue
            it, io = j.ident_of.get(t), j.ident_of.get(o)
            if it is not None and io is not None and float(np.linalg.norm(it - io)) > apart:
                continue
            j.link(t, o, turn)


def _bridges(j: _Joins) -> dict[End, tuple[End, End]]:
    """Joins of a stroke across a short edge that another stroke holds: where two strokes share
    a stretch of centreline (a stroke that starts or ends on another, running along it for a few
    px before it leaves), the other stroke's ends at the two nodes of that edge are left without
    a partner of the same embedding. Two such free ends, at the two nodes of an edge shorter than
    ``BRIDGE`` x the wider node's width (at least ``BRIDGE_MIN`` px) whose embedding is not
    theirs, with embeddings closer than ``IDENTITY_SURE``, are joined through it (the closest
    pair first). Per end: (the end it joins, the bridge edge's end at its own node)."""
    graph, ident_of = j.graph, j.ident_of
    free = {
        node: [end for end in ends if end not in j.links and ident_of.get(end) is not None]
        for node, ends in j.ends_at.items()
    }
    candidates = []
    for i in graph.alive():
        e = graph.edge(i)
        if e.a < 0 or e.a == e.b or not free.get(e.a) or not free.get(e.b):
            continue
        limit = max(BRIDGE * max(graph.nodes[e.a].width, graph.nodes[e.b].width), BRIDGE_MIN)
        if graph.length(e) > limit:
            continue
        own = [ident_of.get((i, 0)), ident_of.get((i, 1))]
        for p in free[e.a]:
            for q in free[e.b]:
                if p[0] == i or q[0] == i or p[0] == q[0]:
                    continue
                ip, iq = ident_of[p], ident_of[q]
                assert ip is not None and iq is not None
                distance = float(np.linalg.norm(ip - iq))
                if distance >= IDENTITY_SURE or any(
                    o is not None and float(np.linalg.norm(o - ip)) < j.join for o in own
                ):
                    continue
                candidates.append((distance, p, q, i))
    via: dict[End, tuple[End, End]] = {}
    for _, p, q, i in sorted(candidates):
        if p in via or q in via:
            continue
        via[p], via[q] = (q, (i, 0)), (p, (i, 1))
    return via


def assemble(
    graph: Graph, max_turn: float, ends: np.ndarray | None = None, join: float = IDENTITY_JOIN
) -> list[Chain]:
    """The strokes of the graph (see the module docstring); ``ends``: the stroke-end heatmap
    (H, W) where the model has one (the identity embedding travels in the graph); ``join``: the
    embedding distance below which two ends are one stroke (``TraceOptions.identity_join``)."""
    links, turns, via, dir_of = _links(graph, max_turn, ends, join)
    used: set[int] = set()
    pieces = []
    for i in graph.alive():
        for side in (0, 1):
            if i not in used and graph.edge(i).a >= 0 and (i, side) not in links:
                pieces.append(_follow(graph, links, turns, via, (i, side), used))
    for i in graph.alive():
        if i not in used:
            pieces.append(_follow(graph, links, turns, via, (i, 0), used))
    if graph.identity is not None and ends is not None:
        return _rewalk(graph, pieces, dir_of, ends, join)
    return [piece.chain for piece in pieces]


def _follow(
    graph: Graph,
    links: dict[End, End],
    turns: dict[End, float],
    via: dict[End, End],
    start: End,
    used: set[int],
) -> Piece:
    """The chain of edges from ``start`` (an edge entered at that end) until a free end, or back
    to ``start`` (a loop); a join with a bridge (``via``) runs along the bridge edge, which stays
    its own stroke's too."""
    steps: list[Step] = []  # as a Walk's: the edges drawn, bridges included, and the turns
    run: list[int] = []  # the edges entered, and the bridges run along (another stroke's too)
    end, closed = start, graph.edge(start[0]).a < 0
    while True:
        used.add(end[0])
        run.append(end[0])
        steps.append((end[0], end[1], turns.get(end, 0.0) if steps else 0.0))
        far = (end[0], 1 - end[1])
        if far not in links:
            break
        if far in via:  # its turn: a retrace's cusp, or its turn off the edge
            if via[far][0] != end[0]:  # (a retrace runs back along its own edge)
                run.append(via[far][0])
            steps.append((*via[far], turns.get(far, 0.0)))
        end = links[far]
        if end[0] in used:
            closed = True
            steps[0] = (*steps[0][:2], turns.get(end, 0.0))  # the turn that closes the loop
            break
    chain = _walk_chain(graph, Walk(steps, closed))
    if closed:
        return Piece(chain, run, (), ())
    ends = (_node_of(graph, start), _node_of(graph, far))
    return Piece(
        chain, run, ends, (_node_of(graph, (start[0], 1 - start[1])), _node_of(graph, end))
    )


# ---------------------------------------------------------------- strokes drawn as one pen walk

Step = tuple[int, int, float]  # (edge, the side it is entered at, the turn into it)


@dataclass
class Walk:
    """A stroke as the pen ran it: its edges in order (an edge run twice is listed twice), and
    whether it ends where it started (then the first step's turn is the one that closes it)."""

    steps: list[Step]
    closed: bool


Half = tuple[int, int, int]  # an edge end (edge, side) and which run of the edge (0, 1 ...)
_MAX_PAIRING = 12  # ends at a node beyond which the walk is not tried (pairing them: 2 ** this)
_MAX_ODD = 12  # odd nodes beyond which it is not tried (their pairing is 2 ** this work)
_MAX_WALK = 400  # edge runs of one group beyond which it is not tried (splicing: quadratic)
_END_PAIRED = 1e6  # the cost of running on through an end of the end map (more than any length)


@dataclass
class Piece:
    """A stroke the joins made: its chain, the edges it runs (a bridge it runs along too, though
    another stroke holds it), its two end nodes (none for a loop) and, for each, the node at the
    other end of its edge there (where a pen that turned back at the end comes back to)."""

    chain: Chain
    edges: list[int]
    ends: tuple[int, ...]
    back: tuple[int, ...]


def _rewalk(
    graph: Graph,
    pieces: list[Piece],
    dir_of: dict[End, tuple[float, float]],
    ends_map: np.ndarray,
    join: float,
) -> list[Chain]:
    """The joins' strokes, where some end where the end map marks no end, walked again as the
    pen ran them (see the module docstring): a piece with such an end, and the pieces at that
    node and at the other end of its last edge of an embedding within ``join`` of its own, are
    one stroke; each group of two or more becomes one walk over their
    edges, or, where none exists, stays as it was."""
    chance: dict[int, float] = {}

    def end_chance(node: int) -> float:
        if node not in chance:
            chance[node] = _end_probability(ends_map, graph, node) or 0.0
        return chance[node]

    def ends_here(node: int) -> bool:
        return end_chance(node) >= END_THRESHOLD

    loose = [k for k, piece in enumerate(pieces) if any(not ends_here(n) for n in piece.ends)]
    if not loose:
        return [piece.chain for piece in pieces]
    at: dict[int, set[int]] = {}
    for k, piece in enumerate(pieces):
        for i in piece.edges:
            e = graph.edge(i)
            if e.a >= 0:
                at.setdefault(e.a, set()).add(k)
                at.setdefault(e.b, set()).add(k)
    idents: dict[int, np.ndarray | None] = {}

    def identity(k: int) -> np.ndarray | None:
        if k not in idents:
            idents[k] = _piece_identity(graph, pieces[k], join)
        return idents[k]

    pairs = []
    for k in loose:
        for node, back in zip(pieces[k].ends, pieces[k].back):
            if ends_here(node):
                continue
            for q in at.get(node, set()) | at.get(back, set()):
                a, b = identity(k), identity(q)
                if q != k and a is not None and b is not None and np.linalg.norm(a - b) < join:
                    pairs.append((k, q))
    if not pairs:
        return [piece.chain for piece in pieces]
    n = len(pieces)
    link = np.array(pairs, dtype=np.int64)
    adjacency = coo_matrix((np.ones(len(link)), (link[:, 0], link[:, 1])), shape=(n, n))
    _, label = connected_components(adjacency, directed=False)
    groups: dict[int, list[int]] = {}
    for k in range(n):
        groups.setdefault(int(label[k]), []).append(k)
    chains: list[Chain | None] = [piece.chain for piece in pieces]
    for members in groups.values():
        runs = {i: 0 for k in members for i in pieces[k].edges}
        for k in members:
            for i in set(pieces[k].edges):
                runs[i] += 1  # an edge two of them run (a bridge) is run twice
        if len(members) < 2 or sum(runs.values()) > _MAX_WALK:
            continue
        count = _edge_ends(graph, runs)
        tips = sorted(
            ((end_chance(tip), tip, i) for i in runs for tip in (graph.edge(i).a, graph.edge(i).b)
             if count[tip] == 1 and not ends_here(tip)),
            reverse=True,
        )  # fmt: skip
        # dead ends without a marked end are run there and back, but where fewer than two odd
        # nodes are marked ends, the likeliest of them are left to be the walk's ends
        marked = sum(1 for node, c in count.items() if c % 2 and ends_here(node))
        for _, _, i in tips[max(0, 2 - marked) :]:
            runs[i] += 1
        walk = _walk(graph, runs, ends_here, dir_of)
        if walk is None:
            continue
        chains[members[0]] = _walk_chain(graph, walk)
        for k in members[1:]:
            chains[k] = None
    return [c for c in chains if c is not None]


def _edge_ends(graph: Graph, runs: dict[int, int]) -> dict[int, int]:
    """Per node, the edge ends there of edges run ``runs[edge]`` times."""
    count: dict[int, int] = {}
    for i, times in runs.items():
        e = graph.edge(i)
        count[e.a] = count.get(e.a, 0) + times
        count[e.b] = count.get(e.b, 0) + times
    return count


def _piece_identity(graph: Graph, piece: Piece, join: float) -> np.ndarray | None:
    """A piece's embedding: the medoid reading of its edges' pixels (of the map under the first
    edge's chord where they have none)."""
    if graph.identity is None:
        return None
    pixels = [p for i in piece.edges for p in graph.edge(i).path]
    if pixels:
        return _medoid(graph.identity[pixels], join)
    return _chord_identity(graph, graph.edge(piece.edges[0]), join)


def _node_of(graph: Graph, end: End) -> int:
    e = graph.edge(end[0])
    return e.a if end[1] == 0 else e.b


def _walk(
    graph: Graph,
    runs: dict[int, int],
    ends_here: Callable[[int], bool],
    dir_of: dict[End, tuple[float, float]],
) -> Walk | None:
    """One walk over the edges of ``runs``, each run that many times or more (the shortest ways
    between the nodes it must leave by another edge than it came run once more), or None where
    none exists: the ends at each node paired to turn least, then the walks that pairing makes
    spliced into one where they meet, at the least extra turn."""
    runs = dict(runs)
    odd = [n for n, c in _edge_ends(graph, runs).items() if c % 2]
    extra = _retraced(graph, list(runs), odd, ends_here)
    if extra is None:
        return None
    for i in extra:
        runs[i] += 1
    at: dict[int, list[Half]] = {}
    for i, times in runs.items():
        e = graph.edge(i)
        for copy in range(times):
            at.setdefault(e.a, []).append((i, 0, copy))
            at.setdefault(e.b, []).append((i, 1, copy))
    if max(len(h) for h in at.values()) > _MAX_PAIRING:
        return None

    def turn(p: Half, q: Half) -> float:
        if p[:2] == q[:2]:
            return 180.0  # an edge and its copy: straight back
        dp, dq = dir_of.get(p[:2]), dir_of.get(q[:2])
        return 180.0 if dp is None or dq is None else _turn(dp, dq)

    pair: dict[Half, Half] = {}
    for halves in at.values():
        for p, q in _best_pairing(halves, turn):
            pair[p], pair[q] = q, p
    while True:
        trails = _trails(at, pair)
        if len(trails) == 1:
            break
        if not _splice(at, pair, trails, turn):
            return None
    trail = trails[0]
    if _exit(trail[-1]) not in pair and _exit(trail[-1])[:2] < trail[0][:2]:
        trail = [_exit(h) for h in reversed(trail)]  # from its first end, as the joins' strokes
    steps = [(trail[0][0], trail[0][1], 0.0)]
    steps += [(h[0], h[1], turn(_exit(g), h)) for g, h in zip(trail[:-1], trail[1:])]
    closed = _exit(trail[-1]) in pair
    if closed:
        steps[0] = (trail[0][0], trail[0][1], turn(_exit(trail[-1]), trail[0]))
    return Walk(steps, closed)


def _retraced(
    graph: Graph, edges: list[int], odd: list[int], ends_here: Callable[[int], bool]
) -> list[int] | None:
    """The edges a walk over ``edges`` runs once more so that it can run them all: the shortest
    ways pairing up the nodes of odd degree ``odd`` (the Chinese postman's) but two, the walk's
    ends, chosen where the end map says that a stroke ends where it can (each end-map node paired
    costs more than any length). None where there are too many odd nodes to pair."""
    if len(odd) <= 2:
        return []
    if len(odd) > _MAX_ODD:
        return None
    adjacent: dict[int, list[tuple[float, int, int]]] = {}
    for i in edges:
        e = graph.edge(i)
        length = graph.length(e)
        adjacent.setdefault(e.a, []).append((length, e.b, i))
        adjacent.setdefault(e.b, []).append((length, e.a, i))
    far: dict[int, dict[int, tuple[float, list[int]]]] = {}
    for n in odd:  # Dijkstra from each odd node: distance and the edges of the way
        best: dict[int, tuple[float, list[int]]] = {n: (0.0, [])}
        heap = [(0.0, n)]
        while heap:
            d, u = heapq.heappop(heap)
            if d > best[u][0]:
                continue
            for length, v, i in adjacent.get(u, []):
                if v not in best or d + length < best[v][0]:
                    best[v] = (d + length, best[u][1] + [i])
                    heapq.heappush(heap, (d + length, v))
        far[n] = best
    penalty = [_END_PAIRED if ends_here(n) else 0.0 for n in odd]

    def doubling(k: int, j: int) -> float | None:
        way = far[odd[k]].get(odd[j])
        return None if way is None else way[0] + penalty[k] + penalty[j]

    total, pairs = _least_pairing(len(odd), doubling, 2)  # two odd nodes: the walk's ends
    if math.isinf(total):
        return None
    return [i for k, j in pairs for i in far[odd[k]][odd[j]][1]]


def _exit(half: Half) -> Half:
    """The far end of an edge entered at ``half``."""
    return (half[0], 1 - half[1], half[2])


def _best_pairing(
    halves: list[Half], turn: Callable[[Half, Half], float]
) -> list[tuple[Half, Half]]:
    """The pairs of ``halves`` (one left over where their number is odd) of the least summed
    turn (n at most ``_MAX_PAIRING``)."""
    n = len(halves)
    _, chosen = _least_pairing(n, lambda i, j: turn(halves[i], halves[j]), n % 2)
    return [(halves[i], halves[j]) for i, j in chosen]


def _least_pairing(
    n: int, weight: Callable[[int, int], float | None], unpaired: int
) -> tuple[float, tuple[tuple[int, int], ...]]:
    """Pairs (i, j), i < j, of 0 .. n - 1 of the least summed ``weight(i, j)`` (None: i and j do
    not pair), at most ``unpaired`` of them left out, and that sum (inf, () where none pairs
    them): a dynamic programme over the subsets still to pair, 2 ** n work."""
    w = [[weight(i, j) if j > i else None for j in range(n)] for i in range(n)]

    @functools.cache
    def best(mask: int, spare: int) -> tuple[float, tuple[tuple[int, int], ...]]:
        if not mask:
            return 0.0, ()
        i = (mask & -mask).bit_length() - 1
        rest = mask & ~(1 << i)
        options = [best(rest, spare - 1)] if spare else []
        for j in range(i + 1, n):
            cost = w[i][j]
            if rest >> j & 1 and cost is not None:
                c, chosen = best(rest & ~(1 << j), spare)
                options.append((c + cost, ((i, j), *chosen)))
        return min(options, default=(math.inf, ()))

    return best((1 << n) - 1, unpaired)


def _trails(at: dict[int, list[Half]], pair: dict[Half, Half]) -> list[list[Half]]:
    """The walks that ``pair`` makes: each a list of the edge ends it enters its edges at, open
    walks (from an unpaired end) first."""
    seen: set[tuple[int, int]] = set()
    trails = []
    halves = [h for hs in at.values() for h in hs]
    starts = [h for h in halves if h not in pair] + halves
    for start in starts:
        if (start[0], start[2]) in seen:
            continue
        trail, h = [], start
        while (h[0], h[2]) not in seen:
            seen.add((h[0], h[2]))
            trail.append(h)
            out = _exit(h)
            if out not in pair:
                break
            h = pair[out]
        trails.append(trail)
    return trails


def _splice(
    at: dict[int, list[Half]],
    pair: dict[Half, Half],
    trails: list[list[Half]],
    turn: Callable[[Half, Half], float],
) -> bool:
    """Join two of ``trails`` where they meet (two pairs of ends at one node, or a walk's
    unpaired end and a pair of another's), re-pairing those ends at the least extra turn;
    False where no two meet."""
    owner = {}
    for k, trail in enumerate(trails):
        for h in trail:
            owner[(h[0], h[2])] = k
    best: tuple[float, list[tuple[Half, Half]], list[Half]] | None = None
    for halves in at.values():
        pairs = {tuple(sorted((h, pair[h]))) for h in halves if h in pair}
        spare = [h for h in halves if h not in pair]
        options = [(a, b) for a in pairs for b in pairs if a < b] + [
            (a, (u,)) for a in pairs for u in spare
        ]
        for a, b in options:
            if owner[(a[0][0], a[0][2])] == owner[(b[0][0], b[0][2])]:
                continue
            old = turn(*a) + (turn(*b) if len(b) == 2 else 0.0)
            if len(b) == 2:
                choices = [[(a[0], b[0]), (a[1], b[1])], [(a[0], b[1]), (a[1], b[0])]]
            else:
                choices = [[(a[0], b[0])], [(a[1], b[0])]]
            for new in choices:
                cost = sum(turn(p, q) for p, q in new) - old
                if best is None or cost < best[0]:
                    best = (cost, new, [*a, *b])
    if best is None:
        return False
    for h in best[2]:
        pair.pop(h, None)
    for p, q in best[1]:
        pair[p], pair[q] = q, p
    return True


def _walk_chain(graph: Graph, walk: Walk) -> Chain:
    """The chain of points a walk draws (sharp where it turns by more than ``SHARP_TURN``)."""
    pts: list[np.ndarray] = []
    wid: list[np.ndarray] = []
    sharp: list[int] = []
    count = 0
    for i, side, into in walk.steps:
        e = graph.edge(i)
        p, w = graph.points(e), graph.widths(e)
        if side == 1:
            p, w = p[::-1], w[::-1]
        if pts:
            if into > SHARP_TURN:
                sharp.append(count - 1)
            p, w = p[1:], w[1:]
        pts.append(p)
        wid.append(w)
        count += len(p)
    if walk.closed and walk.steps[0][2] > SHARP_TURN:
        sharp.append(0)
    return Chain(np.concatenate(pts), np.concatenate(wid), walk.closed, sharp)
