"""From chains of centreline points to the output polylines: corners, smoothing, simplification.

Corner keypoints (peaks of keypoint channel 1) snap onto the nearest interior point of a stroke
within ``corner_snap`` px, which moves there and becomes a sharp vertex, as do the sharp joins
found while assembling. Sharp vertices split a stroke into smooth runs. Each run is smoothed once
with a (1, 2, 1) / 4 kernel (its ends fixed), then simplified by Douglas-Peucker: the output
keeps a subset of the smoothed points such that no dropped point lies farther than
``tolerance`` px from the kept polyline. Widths are a 5-point moving average along the run,
read at the kept points. A loop with corners starts at its first corner.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from .joining import Chain
from .stroke import Stroke

__all__ = ["snap_corners", "fit", "douglas_peucker"]


def snap_corners(chains: list[Chain], corners: np.ndarray, radius: float) -> None:
    """Move the nearest interior point of any chain onto each corner keypoint (in place).

    Corners are taken in order; each goes to the nearest interior point within ``radius`` (ties:
    the last chain, then its first such point). Candidates come from a k-d tree over the points
    as they were, plus the points already moved that now lie near: linear in the points, not
    corners x chains."""
    if not len(corners) or not chains:
        return
    owner, index, start = [], [], []
    for c, chain in enumerate(chains):
        n = len(chain.points)
        lo, hi = (0, n - 1) if chain.closed else (1, n - 1)
        if hi > lo:
            owner.append(np.full(hi - lo, c))
            index.append(np.arange(lo, hi))
            start.append(chain.points[lo:hi])
    if not owner:
        return
    owner_all, index_all = np.concatenate(owner), np.concatenate(index)
    tree = cKDTree(np.concatenate(start))
    moved = _MovedPoints(radius)  # candidates whose point has moved since the tree was built
    for xy in corners:
        cand = sorted(set(tree.query_ball_point(xy, radius + 1e-6)) | moved.near(xy))
        if not cand:
            continue
        ids = np.array(cand)
        cs, ks = owner_all[ids], index_all[ids]
        pts = np.stack([chains[c].points[k] for c, k in zip(cs.tolist(), ks.tolist())])
        d = np.hypot(*(pts - xy).T)
        ok = d <= radius
        if not ok.any():
            continue
        best = d[ok].min()
        at = ok & (d == best)
        c = int(cs[at].max())
        k = int(ks[at & (cs == c)].min())
        for i in ids[(cs == c) & (ks == k)].tolist():
            moved.put(i, xy)
        chain = chains[c]
        chain.points[k] = xy
        if chain.closed and k == 0:
            chain.points[-1] = xy
        near = np.hypot(*(chain.points[chain.sharp] - xy).T) <= radius if chain.sharp else []
        chain.sharp = [s for s, n in zip(chain.sharp, near) if not n] + [k]


class _MovedPoints:
    """The points snap_corners has moved, by id, in a grid of cells ``radius`` wide: ``near``
    gives every id whose point now lies within ``radius`` of a place (and maybe a few more)."""

    def __init__(self, radius: float) -> None:
        self.cell = max(float(radius), 1e-6) + 1e-6
        self.cells: dict[tuple[int, int], set[int]] = {}
        self.where: dict[int, tuple[int, int]] = {}

    def _key(self, xy: np.ndarray) -> tuple[int, int]:
        return int(np.floor(xy[0] / self.cell)), int(np.floor(xy[1] / self.cell))

    def put(self, i: int, xy: np.ndarray) -> None:
        if i in self.where:
            self.cells[self.where[i]].discard(i)
        key = self._key(xy)
        self.where[i] = key
        self.cells.setdefault(key, set()).add(i)

    def near(self, xy: np.ndarray) -> set[int]:
        cx, cy = self._key(xy)
        out: set[int] = set()
        for dx in (-1, 0, 1):
            for dy in (-1, 0, 1):
                out |= self.cells.get((cx + dx, cy + dy), set())
        return out


def douglas_peucker(points: np.ndarray, tolerance: float) -> np.ndarray:
    """Indices of the points Douglas-Peucker keeps (distances to the chord *segment*)."""
    n = len(points)
    keep = np.zeros(n, dtype=bool)
    keep[[0, n - 1]] = True
    stack = [(0, n - 1)]
    while stack:
        a, b = stack.pop()
        if b - a < 2:
            continue
        pa, seg = points[a], points[b] - points[a]
        rel = points[a + 1 : b] - pa
        length2 = float(seg @ seg)
        t = np.clip(rel @ seg / length2, 0.0, 1.0) if length2 > 1e-18 else np.zeros(b - a - 1)
        d = np.hypot(*(rel - t[:, None] * seg).T)
        k = int(np.argmax(d))
        if d[k] > tolerance:
            m = a + 1 + k
            keep[m] = True
            stack += [(a, m), (m, b)]
    return np.flatnonzero(keep)


def _dedupe(chain: Chain) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Drop points that repeat the one before (sharp indices follow, the loop's last point is
    kept)."""
    pts, wid = chain.points, chain.widths
    step = np.hypot(*np.diff(pts, axis=0).T)
    keep = np.concatenate([[True], step > 1e-6])
    keep[-1] = True
    if len(pts) > 1 and not chain.closed and step[-1] <= 1e-6:
        keep[-2] = False  # keep the end itself, drop its duplicate before
    new = np.cumsum(keep) - 1
    sharp = sorted({int(new[k]) for k in chain.sharp})
    return pts[keep], wid[keep], sharp


def _moving_average(values: np.ndarray, size: int = 5) -> np.ndarray:
    if len(values) < 3:
        return values.copy()
    half = min(size // 2, (len(values) - 1) // 2)
    # edge padding by hand: np.pad costs more than the rest of this function on short runs
    padded = np.concatenate([np.repeat(values[:1], half), values, np.repeat(values[-1:], half)])
    return np.convolve(padded, np.ones(2 * half + 1) / (2 * half + 1), mode="valid")


def fit(chain: Chain, tolerance: float) -> Stroke:
    """The output stroke of a chain (see the module docstring)."""
    pts, wid, sharp = _dedupe(chain)
    if chain.closed and sharp and sharp[0] != 0:
        s = sharp[0]
        pts = np.concatenate([pts[s:-1], pts[: s + 1]])
        wid = np.concatenate([wid[s:-1], wid[: s + 1]])
        sharp = sorted({(k - s) % (len(pts) - 1) for k in sharp})
    n = len(pts)
    fixed = sorted({0, n - 1, *[k for k in sharp if 0 < k < n - 1]})
    out_pts, out_wid, corners = [pts[:1]], [wid[:1]], []
    if 0 in sharp and chain.closed:
        corners.append(0)
    for a, b in zip(fixed[:-1], fixed[1:]):
        run = pts[a : b + 1].copy()
        if len(run) > 2:
            run[1:-1] = 0.25 * run[:-2] + 0.5 * run[1:-1] + 0.25 * run[2:]
        kept = douglas_peucker(run, tolerance)[1:]
        widths = _moving_average(wid[a : b + 1])
        out_pts.append(run[kept])
        out_wid.append(widths[kept])
        if b in sharp and b != n - 1:
            corners.append(sum(len(p) for p in out_pts) - 1)
    points = np.concatenate(out_pts).astype(np.float64)
    widths = np.maximum(np.concatenate(out_wid), 0.0).astype(np.float64)
    return Stroke(points=points, widths=widths, closed=bool(chain.closed), corners=corners)
