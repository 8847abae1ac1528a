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


def _resampled(points: np.ndarray) -> np.ndarray:
    """The polyline's vertices and points every STEP px along its segments."""
    if len(points) < 2:
        return points
    seg = points[1:] - points[:-1]
    n = np.maximum(np.ceil(np.hypot(seg[:, 0], seg[:, 1]) / STEP).astype(np.int64), 1)
    which = np.repeat(np.arange(len(seg)), n)  # the segment of each new point
    first = np.cumsum(n) - n  # the index of each segment's first new point
    t = (np.arange(which.size) - first[which] + 1.0) / n[which]
    return np.concatenate([points[:1], points[which] + t[:, None] * seg[which]])


def stroke_components(strokes: Sequence[Stroke]) -> list[int]:
    """A component label per stroke (0, 1, ... in the order of each component's first stroke)."""
    n = len(strokes)
    if n == 0:
        return []
    clouds, owners, reach = [], [], np.zeros(n)
    for k, s in enumerate(strokes):
        pts = _resampled(np.asarray(s.points, dtype=np.float64).reshape(-1, 2))
        clouds.append(pts)
        owners.append(np.full(len(pts), k))
        widths = np.asarray(s.widths, dtype=np.float64)
        reach[k] = 0.5 * (float(widths.mean()) if widths.size else 1.0) + GAP
    points, owner = np.concatenate(clouds), np.concatenate(owners)
    a = b = np.zeros(0, np.int64)
    if len(points):
        pairs = cKDTree(points).query_pairs(float(reach.max()), output_type="ndarray")
        a, b = owner[pairs[:, 0]], owner[pairs[:, 1]]
        d = np.hypot(*(points[pairs[:, 0]] - points[pairs[:, 1]]).T)
        keep = (a != b) & (d <= np.maximum(reach[a], reach[b]))
        a, b = a[keep], b[keep]
    key = np.unique(a * n + b)  # each touching pair of strokes once (query_pairs has a < b)
    touching = coo_matrix((np.ones(key.size, bool), (key // n, key % n)), shape=(n, n))
    _, label = connected_components(touching, directed=False)
    _, first = np.unique(label, return_index=True)  # each component's first stroke
    rank = np.empty(first.size, np.int64)
    rank[np.argsort(first)] = np.arange(first.size)
    return rank[label].tolist()
