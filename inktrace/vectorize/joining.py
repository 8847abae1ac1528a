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
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .graph import Graph

__all__ = ["Chain", "assemble", "SHARP_TURN"]

SHARP_TURN = 40.0  # degrees, as for the corner keypoints of the data engine

End = tuple[int, int]  # (edge index, 0 at its start node / 1 at its end node)


@dataclass
class Chain:
    """A stroke before fitting: its points, widths, whether it is a loop (then the last point
    repeats the first), and the indices of its sharp vertices."""

    points: np.ndarray
    widths: np.ndarray
    closed: bool
    sharp: list[int] = field(default_factory=list)


def _unit(v: np.ndarray) -> np.ndarray | None:
    n = float(np.hypot(v[0], v[1]))
    return v / n if n > 1e-9 else None


def _direction(graph: Graph, end: End) -> np.ndarray:
    """The unit direction in which edge ``end[0]`` leaves its node at ``end``."""
    e = graph.edges[end[0]]
    pts = graph.points(e)
    node = graph.nodes[e.a if end[1] == 0 else e.b]
    tan = None if graph.tangent is None else graph.tangent[e.path]
    if end[1] == 1:
        pts = pts[::-1]
        tan = None if tan is None else tan[::-1]
    reach = float(np.clip(2.0 * node.width, 3.0, 8.0))
    arc = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(pts, axis=0).T))])
    k = int(np.searchsorted(arc, reach))
    chord = _unit(pts[min(k, len(pts) - 1)] - pts[0])
    if chord is None:
        chord = _unit(pts[-1] - pts[0])
    if chord is None:
        return np.array([1.0, 0.0])
    if tan is None or not len(tan):
        return chord
    path_arc = arc[1:-1]
    sel = (path_arc <= reach) & (path_arc >= 0.5 * node.width)
    if not sel.any():
        sel = path_arc <= reach
    mean = tan[sel].mean(0) if sel.any() else tan[:1].mean(0)
    if np.hypot(mean[0], mean[1]) < 0.5:
        return chord
    theta = 0.5 * np.arctan2(mean[1], mean[0])
    along = np.array([np.cos(theta), np.sin(theta)])
    along = along if along @ chord >= 0 else -along
    both = _unit(chord + along)
    return chord if both is None else both


def _turn(d1: np.ndarray, d2: np.ndarray) -> float:
    """Degrees by which a stroke arriving along -d1 and leaving along d2 turns."""
    return float(np.degrees(np.arccos(np.clip(-(d1 @ d2), -1.0, 1.0))))


def _links(graph: Graph, max_turn: float) -> tuple[dict[End, End], dict[End, float]]:
    """Which edge end continues into which, and the turn at each join."""
    ends_at: dict[int, list[End]] = {}
    for i in graph.alive():
        e = graph.edges[i]
        if e.a >= 0:
            ends_at.setdefault(e.a, []).append((i, 0))
            ends_at.setdefault(e.b, []).append((i, 1))
    links: dict[End, End] = {}
    turns: dict[End, float] = {}
    for node, ends in ends_at.items():
        if len(ends) < 2:
            continue
        choose = len(ends) > 2 or graph.nodes[node].peak  # may end here rather than go on
        dirs = [_direction(graph, end) for end in ends]
        pairs = sorted(
            (_turn(dirs[p], dirs[q]), p, q)
            for p in range(len(ends))
            for q in range(p + 1, len(ends))
        )
        for turn, p, q in pairs:
            if ends[p] in links or ends[q] in links:
                continue
            if choose and turn > max_turn:
                break
            links[ends[p]], links[ends[q]] = ends[q], ends[p]
            turns[ends[p]] = turns[ends[q]] = turn
    return links, turns


def assemble(graph: Graph, max_turn: float) -> list[Chain]:
    """The strokes of the graph (see the module docstring)."""
    links, turns = _links(graph, max_turn)
    used: set[int] = set()
    chains = []
    for i in graph.alive():
        for side in (0, 1):
            if i not in used and graph.edges[i].a >= 0 and (i, side) not in links:
                chains.append(_follow(graph, links, turns, (i, side), used))
    for i in graph.alive():
        if i not in used:
            chains.append(_follow(graph, links, turns, (i, 0), used))
    return chains


def _follow(
    graph: Graph, links: dict[End, End], turns: dict[End, float], start: End, used: set[int]
) -> Chain:
    """The chain of edges from ``start`` (an edge entered at that end) until a free end, or back
    to ``start`` (a loop)."""
    pts: list[np.ndarray] = []
    wid: list[np.ndarray] = []
    sharp: list[int] = []
    count = 0
    end, closed = start, graph.edges[start[0]].a < 0
    while True:
        e = graph.edges[end[0]]
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
        end = links[far]
        if end[0] in used:
            closed = True
            if turns.get(end, 0.0) > SHARP_TURN:
                sharp.append(0)
            break
    return Chain(np.concatenate(pts), np.concatenate(wid), closed, sharp)
