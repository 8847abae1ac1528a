"""Which traced strokes touch: the connected components of a drawing, as stroke labels.

Two strokes are connected when a point of one lies within ``reach`` px of a point of the other,
``reach`` being half the larger of their mean widths plus ``GAP`` (strokes meeting at a junction
end at it, within the ink's width of each other). The polylines are first resampled every
``STEP`` px, so a stroke that ends on the middle of a long straight segment of another (whose
vertices are far apart) is found too. A k-d tree over all resampled points keeps the work
proportional to the ink, whatever the page's size. The components of a page are its characters
and separate marks: the SVG writer draws one ``<g>`` per component (writers.py).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from .stroke import Stroke

__all__ = ["stroke_components", "GAP", "STEP"]

GAP = 1.0  # px beyond half the width
STEP = 1.0  # px between resampled points


def _resampled(points: np.ndarray, owner: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every stroke's polyline (``points`` of all strokes one after another, ``owner`` the stroke
    of each) as its first vertex and points every STEP px along its segments, with their owners:
    each stroke's vertices are among them."""
    if len(points) < 2:
        return points, owner
    seg = points[1:] - points[:-1]
    same = owner[1:] == owner[:-1]  # segments within a stroke, not from one stroke to the next
    n = np.where(same, np.maximum(np.ceil(np.hypot(seg[:, 0], seg[:, 1]) / STEP), 1), 0)
    n = n.astype(np.int64)
    which = np.repeat(np.arange(len(seg)), n)  # the segment of each new point
    first = np.cumsum(n) - n  # the index of each segment's first new point
    t = (np.arange(which.size) - first[which] + 1.0) / n[which]
    starts = np.flatnonzero(np.r_[True, ~same])  # each stroke's first vertex
    return (
        np.concatenate([points[starts], points[which] + t[:, None] * seg[which]]),
        np.concatenate([owner[starts], owner[which]]),
    )


def stroke_components(strokes: Sequence[Stroke]) -> list[int]:
    """A component label per stroke (0, 1, ... in the order of each component's first stroke)."""
    n = len(strokes)
    if n == 0:
        return []
    vertices = [np.asarray(s.points, dtype=np.float64).reshape(-1, 2) for s in strokes]
    counts = np.array([len(v) for v in vertices])
    points, owner = _resampled(np.concatenate(vertices), np.repeat(np.arange(n), counts))
    widths = [np.asarray(s.widths, dtype=np.float64) for s in strokes]
    reach = np.array([0.5 * (float(w.mean()) if w.size else 1.0) + GAP for w in widths])
    a = b = np.zeros(0, np.int64)
    if len(points):
        pairs = cKDTree(points).query_pairs(float(reach.max()), output_type="ndarray")
        pairs = pairs[owner[pairs[:, 0]] != owner[pairs[:, 1]]]  # most are within one stroke
        a, b = owner[pairs[:, 0]], owner[pairs[:, 1]]
        d = np.hypot(*(points[pairs[:, 0]] - points[pairs[:, 1]]).T)
        keep = d <= np.maximum(reach[a], reach[b])
        a, b = np.minimum(a[keep], b[keep]), np.maximum(a[keep], b[keep])
    key = np.unique(a * n + b)  # each touching pair of strokes once
    touching = coo_matrix((np.ones(key.size, bool), (key // n, key % n)), shape=(n, n))
    _, label = connected_components(touching, directed=False)
    _, first = np.unique(label, return_index=True)  # each component's first stroke
    rank = np.empty(first.size, np.int64)
    rank[np.argsort(first)] = np.arange(first.size)
    return rank[label].tolist()
