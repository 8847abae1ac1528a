"""Stroke-level and keypoint matching of traced strokes against the true ones.

- ``mean_distance(a, b)``: the mean, over points spaced ``step`` px along polyline ``a`` (both ends
  included), of the distance to polyline ``b``.
- ``match_strokes(traced, true, threshold)``: a traced stroke and a true stroke may pair when the
  mean distance each way is below ``threshold`` (max(a->b, b->a) < threshold); pairs are taken
  one-to-one, greedily by increasing max(a->b, b->a) (ties: lower traced index, then lower true
  index). precision = matched / traced (1.0 when nothing is traced), recall = matched / true
  (1.0 when there is nothing to find), F1 = 2PR / (P + R) (0.0 when P + R = 0).
- ``match_points(pred, true, radius)``: one-to-one, within ``radius`` (distance <= radius), greedily
  by increasing distance; the number of pairs.
- ``prf(matched, n_pred, n_true)``: precision, recall, F1 with the conventions above.
- ``stroke_errors(traced, true, threshold, match, size)``: where the unmatched strokes come from.
  An extra (unmatched traced) stroke is a *fragment* when shorter than ``FRAGMENT`` x ``size``,
  else a *cut* piece when it lies on one true stroke (mean distance to it below ``threshold``),
  else *spurious*. A missing (unmatched true) stroke is *merged* when it lies on one traced
  stroke (swallowed by a longer one), else *cut* when some traced piece lies on it, else *lost*.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = [
    "StrokeMatch",
    "resample",
    "point_distances",
    "mean_distance",
    "match_strokes",
    "match_points",
    "prf",
    "stroke_errors",
    "ERROR_KINDS",
    "FRAGMENT",
]

FRAGMENT = 0.15  # an extra stroke shorter than this share of the image side is a fragment
ERROR_KINDS = (
    "extra_fragment",
    "extra_cut",
    "extra_spurious",
    "missing_merged",
    "missing_cut",
    "missing_lost",
)


@dataclass
class StrokeMatch:
    """Result of ``match_strokes``: counts and the pairs (traced index, true index, distance)."""

    matched: int
    traced: int
    true: int
    pairs: list[tuple[int, int, float]]

    @property
    def precision(self) -> float:
        return prf(self.matched, self.traced, self.true)[0]

    @property
    def recall(self) -> float:
        return prf(self.matched, self.traced, self.true)[1]

    @property
    def f1(self) -> float:
        return prf(self.matched, self.traced, self.true)[2]


def prf(matched: float, n_pred: float, n_true: float) -> tuple[float, float, float]:
    p = matched / n_pred if n_pred > 0 else 1.0
    r = matched / n_true if n_true > 0 else 1.0
    return p, r, (2 * p * r / (p + r) if p + r > 0 else 0.0)


def _as_poly(poly: npt.ArrayLike) -> np.ndarray:
    arr = np.asarray(poly, dtype=np.float64).reshape(-1, 2)
    if arr.shape[0] == 0:
        raise ValueError("a polyline needs at least one point")
    return arr


def resample(poly: npt.ArrayLike, step: float = 0.25) -> np.ndarray:
    """Points every ``step`` px of arc length along ``poly`` (n, 2), both ends included."""
    p = _as_poly(poly)
    seg = np.hypot(*np.diff(p, axis=0).T)
    total = float(seg.sum())
    if total == 0.0:
        return p[:1].copy()
    n = max(int(np.ceil(total / step)), 1)
    s = np.linspace(0.0, total, n + 1)
    cum = np.concatenate([[0.0], np.cumsum(seg)])
    return np.stack([np.interp(s, cum, p[:, 0]), np.interp(s, cum, p[:, 1])], axis=1)


def point_distances(points: npt.ArrayLike, poly: npt.ArrayLike) -> np.ndarray:
    """Distance of each point (k, 2) to the polyline ``poly`` (n, 2)."""
    p = _as_poly(poly)
    points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    if p.shape[0] == 1:
        return np.hypot(*(points - p[0]).T)
    a, b = p[:-1], p[1:]
    ab = b - a
    len2 = (ab**2).sum(1)
    rel = points[:, None, :] - a[None]
    t = np.clip((rel * ab[None]).sum(-1) / np.where(len2 > 0, len2, 1.0)[None], 0.0, 1.0)
    d = rel - t[..., None] * ab[None]
    return np.sqrt((d**2).sum(-1)).min(1)


def mean_distance(a: npt.ArrayLike, b: npt.ArrayLike, step: float = 0.25) -> float:
    """Mean distance from points along polyline ``a`` to polyline ``b`` (module docstring)."""
    return float(point_distances(resample(a, step), b).mean())


def match_strokes(
    traced: Sequence, true: Sequence, threshold: float, step: float = 0.25
) -> StrokeMatch:
    """One-to-one stroke matching (module docstring); strokes are (n, 2) polylines."""
    cand = []
    for i, a in enumerate(traced):
        ra = resample(a, step)
        for j, b in enumerate(true):
            rb = resample(b, step)
            d = max(point_distances(ra, b).mean(), point_distances(rb, a).mean())
            if d < threshold:
                cand.append((float(d), i, j))
    cand.sort()
    used_a, used_b, pairs = set(), set(), []
    for d, i, j in cand:
        if i not in used_a and j not in used_b:
            used_a.add(i)
            used_b.add(j)
            pairs.append((i, j, d))
    return StrokeMatch(len(pairs), len(traced), len(true), pairs)


def match_points(pred: npt.ArrayLike, true: npt.ArrayLike, radius: float) -> int:
    """Number of one-to-one pairs within ``radius`` (module docstring); points are (k, 2)."""
    p = np.asarray(pred, dtype=np.float64).reshape(-1, 2)
    t = np.asarray(true, dtype=np.float64).reshape(-1, 2)
    if not len(p) or not len(t):
        return 0
    d = np.hypot(p[:, None, 0] - t[None, :, 0], p[:, None, 1] - t[None, :, 1])
    i, j = np.nonzero(d <= radius)
    order = np.lexsort((j, i, d[i, j]))
    used_p, used_t, n = set(), set(), 0
    for k in order:
        if i[k] not in used_p and j[k] not in used_t:
            used_p.add(i[k])
            used_t.add(j[k])
            n += 1
    return n


def _length(poly: npt.ArrayLike) -> float:
    p = _as_poly(poly)
    return float(np.hypot(*np.diff(p, axis=0).T).sum()) if len(p) > 1 else 0.0


def stroke_errors(
    traced: Sequence, true: Sequence, threshold: float, match: StrokeMatch, size: float
) -> dict[str, int]:
    """Counts of ``ERROR_KINDS`` for one image (module docstring)."""
    counts = dict.fromkeys(ERROR_KINDS, 0)
    hit_a = {i for i, _, _ in match.pairs}
    hit_b = {j for _, j, _ in match.pairs}
    extra = [i for i in range(len(traced)) if i not in hit_a]
    missing = [j for j in range(len(true)) if j not in hit_b]
    if not extra and not missing:
        return counts
    rs_a = [resample(a) for a in traced]
    for i in extra:
        if _length(traced[i]) < FRAGMENT * size:
            counts["extra_fragment"] += 1
        elif any(point_distances(rs_a[i], b).mean() < threshold for b in true):
            counts["extra_cut"] += 1
        else:
            counts["extra_spurious"] += 1
    for j in missing:
        rs_b = resample(true[j])
        if any(point_distances(rs_b, a).mean() < threshold for a in traced):
            counts["missing_merged"] += 1
        elif any(point_distances(rs_a[i], true[j]).mean() < threshold for i in range(len(traced))):
            counts["missing_cut"] += 1
        else:
            counts["missing_lost"] += 1
    return counts
