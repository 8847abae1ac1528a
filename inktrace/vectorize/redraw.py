"""Traced strokes back to a raster: the 1-px centreline the data engine's targets describe, so
that traced strokes are scored with ``InkMetrics`` like a skeleton map (validation during
training, ``inktrace evaluate``).

Per segment, for every pixel-centre column it spans (every pixel-centre row for a steep segment,
|dy| > |dx|), the pixel where the segment crosses that column's centre line, plus the pixel of
every vertex. Each pixel's offset is the vector from its centre to that crossing point (to the
vertex for vertex pixels), so ``InkMetrics.centre_error`` measures the traced polyline, not the
pixel grid. Later strokes overwrite earlier ones where they share a pixel.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["rasterise", "centreline_maps"]


def _put(
    skel: np.ndarray,
    off: np.ndarray,
    rows: np.ndarray,
    cols: np.ndarray,
    px: np.ndarray,
    py: np.ndarray,
) -> None:
    h, w = skel.shape
    ok = (rows >= 0) & (rows < h) & (cols >= 0) & (cols < w)
    rows, cols, px, py = rows[ok], cols[ok], px[ok], py[ok]
    skel[rows, cols] = 1.0
    off[0, rows, cols] = px - (cols + 0.5)
    off[1, rows, cols] = py - (rows + 0.5)


def rasterise(polylines: Sequence, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """(skeleton (H, W) float32 of 0/1, offset (2, H, W) float32) of polylines (n, 2) x, y."""
    skel = np.zeros((height, width), np.float32)
    off = np.zeros((2, height, width), np.float32)
    for poly in polylines:
        p = np.asarray(poly, dtype=np.float64).reshape(-1, 2)
        for (x0, y0), (x1, y1) in zip(p[:-1], p[1:]):
            dx, dy = x1 - x0, y1 - y0
            steep = abs(dy) > abs(dx)
            a0, a1, b0, da, db = (y0, y1, x0, dy, dx) if steep else (x0, x1, y0, dx, dy)
            lo, hi = min(a0, a1), max(a0, a1)
            centres = np.arange(np.ceil(lo - 0.5), np.floor(hi - 0.5) + 1) + 0.5
            if not centres.size or da == 0:
                continue
            b = b0 + (centres - a0) * db / da
            if steep:
                _put(skel, off, np.floor(centres).astype(int), np.floor(b).astype(int), b, centres)
            else:
                _put(skel, off, np.floor(b).astype(int), np.floor(centres).astype(int), centres, b)
        _put(
            skel,
            off,
            np.floor(p[:, 1]).astype(int),
            np.floor(p[:, 0]).astype(int),
            p[:, 0],
            p[:, 1],
        )
    return skel, off


def centreline_maps(strokes: Sequence[Sequence], height: int, width: int) -> dict[str, np.ndarray]:
    """``skeleton`` (B, H, W) and ``offset`` (B, 2, H, W) of each image's traced strokes (objects
    with ``points``): what ``InkMetrics.update`` scores as a prediction."""
    skeleton = np.zeros((len(strokes), height, width), np.float32)
    offset = np.zeros((len(strokes), 2, height, width), np.float32)
    for b, image in enumerate(strokes):
        skeleton[b], offset[b] = rasterise([s.points for s in image], height, width)
    return {"skeleton": skeleton, "offset": offset}
