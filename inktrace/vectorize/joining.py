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

Without either map (an older model) the geometric rule decides alone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

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


def _links(
    graph: Graph, max_turn: float, ends_map: np.ndarray | None, join: float
) -> tuple[dict[End, End], dict[End, float], dict[End, End]]:
    """Which edge end continues into which, the turn at each join, and the bridges: for a join
    between ends at two nodes, the end of the edge between them that it runs along from the
    first (see ``_bridges``)."""
    ends_at: dict[int, list[End]] = {}
    for i in graph.alive():
        e = graph.edge(i)
        if e.a >= 0:
            ends_at.setdefault(e.a, []).append((i, 0))
            ends_at.setdefault(e.b, []).append((i, 1))
    links: dict[End, End] = {}
    turns: dict[End, float] = {}
    ident_of: dict[End, np.ndarray | None] = {}
    dir_of: dict[End, tuple[float, float]] = {}
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
            links[ends[p]], links[ends[q]] = ends[q], ends[p]
            turns[ends[p]] = turns[ends[q]] = turn
    via = _bridges(graph, ends_at, links, ident_of, join) if graph.identity is not None else {}
    for a, (b, _) in via.items():
        links[a] = b
    if graph.identity is not None:
        _tips(graph, ends_at, links, turns, dir_of, ident_of, max_turn, join)
    return links, turns, {a: v for a, (_, v) in via.items()}


def _tips(
    graph: Graph,
    ends_at: dict[int, list[End]],
    links: dict[End, End],
    turns: dict[End, float],
    dir_of: dict[End, tuple[float, float]],
    ident_of: dict[End, np.ndarray | None],
    max_turn: float,
    join: float,
) -> None:
    """Overshoot tips (see the module docstring): at a node, a dead-end edge left free that is
    shorter than ``BRIDGE`` x the node's width (at least ``BRIDGE_MIN`` px) joins another free end
    there that it goes on from by at most ``max_turn``, unless their embeddings are surely apart
    (farther than ``2 * join - IDENTITY_SURE``); the straightest pairs first."""
    apart = 2 * join - IDENTITY_SURE
    deg = graph.degrees()
    for node, ends in ends_at.items():
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
            it, io = ident_of.get(t), ident_of.get(o)
            if it is not None and io is not None and float(np.linalg.norm(it - io)) > apart:
                continue
            links[t], links[o] = o, t
            turns[t] = turns[o] = turn


def _bridges(
    graph: Graph,
    ends_at: dict[int, list[End]],
    links: dict[End, End],
    ident_of: dict[End, np.ndarray | None],
    join: float,
) -> dict[End, tuple[End, End]]:
    """Joins of a stroke across a short edge that another stroke holds: where two strokes share
    a stretch of centreline (a stroke that starts or ends on another, running along it for a few
    px before it leaves), the other stroke's ends at the two nodes of that edge are left without
    a partner of the same embedding. Two such free ends, at the two nodes of an edge shorter than
    ``BRIDGE`` x the wider node's width (at least ``BRIDGE_MIN`` px) whose embedding is not
    theirs, with embeddings closer than ``IDENTITY_SURE``, are joined through it (the closest
    pair first). Per end: (the end it joins, the bridge edge's end at its own node)."""
    free = {
        node: [end for end in ends if end not in links and ident_of.get(end) is not None]
        for node, ends in ends_at.items()
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
                    o is not None and float(np.linalg.norm(o - ip)) < join for o in own
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
    links, turns, via = _links(graph, max_turn, ends, join)
    used: set[int] = set()
    chains = []
    for i in graph.alive():
        for side in (0, 1):
            if i not in used and graph.edge(i).a >= 0 and (i, side) not in links:
                chains.append(_follow(graph, links, turns, via, (i, side), used))
    for i in graph.alive():
        if i not in used:
            chains.append(_follow(graph, links, turns, via, (i, 0), used))
    return chains


def _follow(
    graph: Graph,
    links: dict[End, End],
    turns: dict[End, float],
    via: dict[End, End],
    start: End,
    used: set[int],
) -> Chain:
    """The chain of edges from ``start`` (an edge entered at that end) until a free end, or back
    to ``start`` (a loop); a join with a bridge (``via``) runs along the bridge edge, which stays
    its own stroke's too."""
    pts: list[np.ndarray] = []
    wid: list[np.ndarray] = []
    sharp: list[int] = []
    count = 0
    end, closed = start, graph.edge(start[0]).a < 0
    while True:
        e = graph.edge(end[0])
        used.add(end[0])
        p, w = graph.points(e), graph.widths(e)
        if end[1] == 1:
            p, w = p[::-1], w[::-1]
        if pts:
            if turns.get(end, 0.0) > SHARP_TURN:
                sharp.append(count - 1)
            p, w = p[1:], w[1:]
        pts.append(p)
        wid.append(w)
        count += len(p)
        far = (end[0], 1 - end[1])
        if far not in links:
            break
        if far in via:
            bridge = graph.edge(via[far][0])
            p, w = graph.points(bridge), graph.widths(bridge)
            if via[far][1] == 1:
                p, w = p[::-1], w[::-1]
            pts.append(p[1:])
            wid.append(w[1:])
            count += len(p) - 1
        end = links[far]
        if end[0] in used:
            closed = True
            if turns.get(end, 0.0) > SHARP_TURN:
                sharp.append(0)
            break
    return Chain(np.concatenate(pts), np.concatenate(wid), closed, sharp)
