"""The centreline pixels and their sub-pixel points, from a (possibly thick) skeleton map.

Candidates are the pixels whose skeleton probability reaches ``threshold``, plus weaker ones
(down to ``low_threshold``) connected to them (hysteresis, as in Canny's edge detector: a stroke
whose probability dips for a pixel or two is not cut).

A predicted skeleton is several pixels wide in places, and thinning it grows spurs. Instead,
suppression runs across the stroke (Canny-style non-maximum suppression along the normal of the
tangent field, quantised to the four pixel directions): a candidate pixel is kept where its
offset to the centreline is shortest among itself and its two neighbours across the stroke, or
where the offset points into its own pixel (the centreline passes through it, which keeps the
kept set connected). Without an offset map the skeleton probability itself is maximised across
the stroke. Where the tangent is weak (|(cos 2θ, sin 2θ)| < 0.3) and around topological
keypoints (``keep``) the direction is ambiguous and nothing is suppressed. What is left is at
most about two pixels wide and is thinned to one (thinning.py), which only settles those
patches.

Each kept pixel's point is its centre plus the offset (the nearest centreline point); without an
offset map, its centre moved across the stroke to the vertex of a parabola through the
probabilities of the pixel and its two neighbours.
"""

from __future__ import annotations

import numpy as np

from .maps import Maps
from .thinning import thin

__all__ = ["centreline", "hysteresis"]

# (drow, dcol) one pixel along a normal at 0, 45, 90, 135 degrees (x right, y down)
_STEPS = np.array([(0, 1), (1, 1), (1, 0), (1, -1)])
_MIN_COHERENCE = 0.3  # |(cos 2θ, sin 2θ)| below this: no usable direction (junction regions)


def _normal_steps(
    tangent: np.ndarray, rows: np.ndarray, cols: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per pixel: the step across the stroke (drow, dcol) and whether the direction is usable."""
    c2, s2 = tangent[0, rows, cols], tangent[1, rows, cols]
    theta = 0.5 * np.arctan2(s2, c2)
    k = np.round((theta + 0.5 * np.pi) / (0.25 * np.pi)).astype(np.int64) % 4
    return _STEPS[k], np.hypot(c2, s2) >= _MIN_COHERENCE


def _across(
    values: np.ndarray, fill: float, rows: np.ndarray, cols: np.ndarray, steps: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``values`` one step back and one step forward across the stroke (``fill`` off the image)."""
    padded = np.pad(values, 1, constant_values=fill)
    r, c = rows + 1, cols + 1
    return padded[r - steps[:, 0], c - steps[:, 1]], padded[r + steps[:, 0], c + steps[:, 1]]


def hysteresis(prob: np.ndarray, high: float, low: float, max_steps: int = 32) -> np.ndarray:
    """Pixels >= ``high``, and pixels >= ``low`` 8-connected to them through such pixels (grown
    at most ``max_steps`` pixels): weak stretches of a stroke bridge its gaps, weak specks go."""
    out = prob >= high
    weak = prob >= low
    h, w = prob.shape
    for _ in range(max_steps):
        padded = np.pad(out, 1)
        grown = out.copy()
        for dr in (0, 1, 2):
            for dc in (0, 1, 2):
                grown |= padded[dr : dr + h, dc : dc + w]
        grown &= weak
        if (grown == out).all():
            break
        out = grown
    return out


def centreline(
    maps: Maps, threshold: float, low_threshold: float, keep: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(one-pixel-wide centreline mask (H, W), points (H, W, 2) x, y; meaningful on the mask)."""
    h, w = maps.shape
    cand = hysteresis(maps.skeleton, threshold, min(low_threshold, threshold))
    rows, cols = np.nonzero(cand)
    points = np.empty((h, w, 2))
    points[..., 0] = np.arange(w)[None, :] + 0.5
    points[..., 1] = np.arange(h)[:, None] + 0.5
    if maps.tangent is None:
        return thin(cand), _with_offset(points, maps.offset)
    steps, directed = _normal_steps(maps.tangent, rows, cols)
    if maps.offset is not None:
        dist = np.where(cand, np.hypot(maps.offset[0], maps.offset[1]), np.inf)
        back, ahead = _across(dist, np.inf, rows, cols, steps)
        d = dist[rows, cols]
        own = np.maximum(np.abs(maps.offset[0]), np.abs(maps.offset[1]))[rows, cols] <= 0.5
        kept = ((d <= back) & (d < ahead)) | own
    else:
        prob = maps.skeleton
        back, ahead = _across(prob, 0.0, rows, cols, steps)
        p = prob[rows, cols]
        kept = (p >= back) & (p > ahead)
        points[rows, cols] += _parabola(back, p, ahead)[:, None] * steps[:, ::-1]
    kept |= ~directed | keep[rows, cols]
    mask = np.zeros((h, w), dtype=bool)
    mask[rows[kept], cols[kept]] = True
    return thin(mask), _with_offset(points, maps.offset)


def _with_offset(points: np.ndarray, offset: np.ndarray | None) -> np.ndarray:
    if offset is not None:
        points[..., 0] += offset[0]
        points[..., 1] += offset[1]
    return points


def _parabola(back: np.ndarray, mid: np.ndarray, ahead: np.ndarray) -> np.ndarray:
    """Vertex of the parabola through (-1, back), (0, mid), (1, ahead), clipped to +-0.5."""
    curve = back - 2.0 * mid + ahead
    peaked = curve < -1e-9
    shift = np.where(peaked, 0.5 * (back - ahead) / np.where(peaked, curve, -1.0), 0.0)
    return np.clip(shift, -0.5, 0.5)
