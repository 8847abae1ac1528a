"""The topological keypoints of traced strokes; ``rasterise`` (``inktrace.vectorize.redraw``)
gives their centreline as the data engine's targets describe one.

``rasterise``: per segment, for every pixel-centre column it spans (every pixel-centre row for a
steep segment, |dy| > |dx|) the pixel where the segment crosses that column's centre line, plus the
pixel of every vertex: the 1-px digital centreline rule of the targets. Each pixel's offset is the
vector from its centre to that crossing point (to the vertex for vertex pixels), so
``InkMetrics.centre_error`` measures the traced polyline, not the pixel grid. Later strokes
overwrite earlier ones where they share a pixel.

``topo_points``: the topological keypoints (endpoints, junctions, crossings) of the traced strokes
by the engine's own rules (``inktrace.data.find_keypoints``, traced widths), inside the image.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ..data.geometry import Strokes
from ..data.keypoints import CORNER, find_keypoints
from ..vectorize.redraw import rasterise

__all__ = ["rasterise", "topo_points"]


def topo_points(strokes: Sequence, height: int, width: int) -> np.ndarray:
    """(K, 2) x, y topological keypoints of traced strokes (objects with ``points`` (n, 2) and
    ``widths`` (n,)); strokes of fewer than two points are left out."""
    items = [(s.points, s.widths) for s in strokes if len(s.points) >= 2]
    if not items:
        return np.zeros((0, 2))
    kp = find_keypoints(Strokes.from_polylines([items]))
    keep = kp.listed(height, width)[0] & (kp.kind[0] != CORNER)
    return kp.xy[0][keep].to(torch.float64).numpy()
