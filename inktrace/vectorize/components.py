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
from scipy.spatial import cKDTree

from .stroke import Stroke

__all__ = ["stroke_components", "GAP", "STEP"]

GAP = 1.0  # px beyond half the width
STEP = 1.0  # px between resampled points


def _resampled(points: np.ndarray) -> np.ndarray:
    """The polyline's vertices and points every STEP px along its segments."""
    if len(points) < 2:
        return points
    out = [points[:1]]
    for a, b in zip(points[:-1], points[1:]):
        n = max(int(np.ceil(np.hypot(*(b - a)) / STEP)), 1)
        t = np.arange(1, n + 1, dtype=np.float64)[:, None] / n
        out.append(a + t * (b - a))
    return np.concatenate(out)


def stroke_components(strokes: Sequence[Stroke]) -> list[int]:
    """A component label per stroke (0, 1, ... in the order of each component's first stroke)."""
    n = len(strokes)
    if n == 0:
        return []
    parent = list(range(n))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    clouds, owners, reach = [], [], np.zeros(n)
    for k, s in enumerate(strokes):
        pts = _resampled(np.asarray(s.points, dtype=np.float64).reshape(-1, 2))
        clouds.append(pts)
        owners.append(np.full(len(pts), k))
        widths = np.asarray(s.widths, dtype=np.float64)
        reach[k] = 0.5 * (float(widths.mean()) if widths.size else 1.0) + GAP
    points, owner = np.concatenate(clouds), np.concatenate(owners)
    if len(points):
        pairs = cKDTree(points).query_pairs(float(reach.max()), output_type="ndarray")
        a, b = owner[pairs[:, 0]], owner[pairs[:, 1]]
        d = np.hypot(*(points[pairs[:, 0]] - points[pairs[:, 1]]).T)
        keep = (a != b) & (d <= np.maximum(reach[a], reach[b]))
        for i, j in zip(a[keep].tolist(), b[keep].tolist()):
            ri, rj = root(i), root(j)
            if ri != rj:
                parent[max(ri, rj)] = min(ri, rj)
    labels: dict[int, int] = {}
    return [labels.setdefault(root(k), len(labels)) for k in range(n)]
