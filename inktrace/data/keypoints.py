"""Keypoints from stroke geometry: endpoints, junctions, crossings (topo) and corners (geo).

Rules (as in keypoint-driven vectorisation, e.g. PolyVector flow):

- An open stroke's end is an **endpoint**, unless it touches another stroke (lies within
  ``max(0.75 px, half that stroke's width)`` of its centreline): then it is a **junction**, placed
  at the end. A closed stroke (it ends where it starts) has neither at its ends.
- Two centrelines that cross away from their ends make a **crossing** when they meet at more than
  35 degrees; shallower crossings are not keypoints (the strokes merge rather than cross), but the
  tangent is masked around them like around every junction and crossing. A stroke crossing itself
  counts the same way.
- A **corner** (geo) is a centreline vertex where the direction turns by more than 40 degrees
  (interior angle below 140 degrees) between the chords to the points 2 px of arc length before
  and after it: sharp corners, and turns tighter than a radius of about 5.7 px. Of candidates
  closer than 2 px, the sharpest is kept.
- Topo points closer than 1.5 px merge, keeping junction over crossing over endpoint.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .geometry import Strokes, _last_points

__all__ = ["Keypoints", "find_keypoints", "ENDPOINT", "JUNCTION", "CROSSING", "CORNER", "SHALLOW",
           "KIND_NAMES", "CROSSING_MIN_ANGLE", "CORNER_MIN_TURN"]

ENDPOINT, JUNCTION, CROSSING, CORNER, SHALLOW = 0, 1, 2, 3, 4
KIND_NAMES = {ENDPOINT: "endpoint", JUNCTION: "junction", CROSSING: "crossing", CORNER: "corner",
              SHALLOW: "shallow crossing"}
CROSSING_MIN_ANGLE = 35.0  # degrees
CORNER_MIN_TURN = 40.0  # degrees, i.e. interior angle below 140
CORNER_SPAN = 2.0  # px of arc length either side of a vertex over which its turn is measured
MERGE_RADIUS = 1.5  # px
CHUNK = 8  # segments per box when searching crossings
TOUCH_TOLERANCE = 0.75  # px


@dataclass
class Keypoints:
    """Padded per-sample keypoints: ``xy`` (B, K, 2), ``kind`` (B, K) with -1 for padding, and
    ``radius`` (B, K): how far around the point the tangent is ambiguous (masked)."""

    xy: torch.Tensor
    kind: torch.Tensor
    radius: torch.Tensor

    def sample(self, b: int, height: int | None = None, width: int | None = None) -> torch.Tensor:
        """Sample ``b``'s keypoints as rows (x, y, kind), shallow crossings left out, optionally only
        those inside an image of the given size."""
        keep = (self.kind[b] >= 0) & (self.kind[b] != SHALLOW)
        if height is not None and width is not None:
            x, y = self.xy[b, :, 0], self.xy[b, :, 1]
            keep &= (x >= 0) & (x < width) & (y >= 0) & (y < height)
        return torch.cat([self.xy[b][keep], self.kind[b][keep, None].to(self.xy.dtype)], dim=1)


def pack(batch_index: torch.Tensor, B: int, *values: torch.Tensor, fill: float = -1):
    """Scatter a flat list of per-sample items into padded (B, K, ...) arrays, order kept."""
    counts = torch.bincount(batch_index, minlength=B)
    K = int(counts.max()) if batch_index.numel() else 0
    start = torch.cumsum(counts, 0) - counts
    order = torch.argsort(batch_index, stable=True)
    slot = torch.empty_like(batch_index)
    slot[order] = torch.arange(batch_index.numel()) - start[batch_index[order]]
    out = []
    for v in values:
        arr = torch.full((B, K, *v.shape[1:]), fill, dtype=v.dtype)
        arr[batch_index, slot] = v
        out.append(arr)
    return out


def _point_segment(p: torch.Tensor, a: torch.Tensor, b: torch.Tensor):
    """Distance from points ``p`` to segments ``a``-``b`` (broadcast), and the projection parameter.
    (Coordinates are handled as separate planes: reductions over a size-2 axis are slow.)"""
    abx, aby = b[..., 0] - a[..., 0], b[..., 1] - a[..., 1]
    apx, apy = p[..., 0] - a[..., 0], p[..., 1] - a[..., 1]
    t = ((apx * abx + apy * aby) / (abx * abx + aby * aby).clamp(min=1e-18)).clamp(0.0, 1.0)
    dx, dy = apx - t * abx, apy - t * aby
    return torch.sqrt(dx * dx + dy * dy), t


def find_keypoints(strokes: Strokes) -> Keypoints:
    # float32 is ample for coordinates of a few hundred pixels and twice as fast as float64
    pts, w, seg_valid = strokes.points.float(), strokes.widths.float(), strokes.seg_valid
    B, S, N, _ = pts.shape
    E = N - 1
    stroke_valid = seg_valid.any(-1)
    a, b = pts[:, :, :-1], pts[:, :, 1:]  # (B, S, E, 2)

    # --- the centreline in chunks of CHUNK segments, with their bounding boxes ---------------
    C = CHUNK
    Pc = -(-E // C)
    pad = Pc * C - E
    seg_w = torch.maximum(w[:, :, :-1], w[:, :, 1:])
    pa, pb, pv, pw, pwa, pwb = (
        torch.nn.functional.pad(x, (0, 0, 0, pad)) if x.dim() == 4 else torch.nn.functional.pad(x, (0, pad))
        for x in (a, b, seg_valid, seg_w, w[:, :, :-1], w[:, :, 1:]))
    pa, pb = pa.reshape(B, S * Pc, C, 2), pb.reshape(B, S * Pc, C, 2)
    pv, pw, pwa, pwb = (x.reshape(B, S * Pc, C) for x in (pv, pw, pwa, pwb))
    big = 1e30
    lo = torch.where(pv[..., None], torch.minimum(pa, pb), big).amin(2)
    hi = torch.where(pv[..., None], torch.maximum(pa, pb), -big).amax(2)

    # --- stroke ends: endpoint or junction (only chunks whose box is near the end are searched) -
    last = _last_points(pts, seg_valid)
    n_seg = seg_valid.sum(-1)
    ends = torch.stack([pts[:, :, 0], last], dim=2)  # (B, S, 2, 2)
    end_w = torch.stack([w[:, :, 0], w.gather(2, n_seg[..., None]).squeeze(-1)], dim=2)
    is_open = stroke_valid & ~strokes.closed
    reach = torch.clamp(0.5 * w.amax(dim=(1, 2)), min=TOUCH_TOLERANCE).view(B, 1, 1, 1)
    e_flat = ends.reshape(B, S * 2, 1, 2)
    ex, ey = e_flat[..., 0], e_flat[..., 1]  # (B, 2S, 1)
    lox, loy, hix, hiy = (v[:, None, :] for v in (lo[..., 0], lo[..., 1], hi[..., 0], hi[..., 1]))
    r1 = reach[..., 0]
    near = (ex >= lox - r1) & (ex <= hix + r1) & (ey >= loy - r1) & (ey <= hiy + r1)  # (B, 2S, S*Pc)
    end_stroke = torch.arange(S * 2) // 2
    chunk_stroke = torch.arange(S * Pc) // Pc
    near &= (end_stroke[:, None] != chunk_stroke[None, :]) & is_open.repeat_interleave(2, 1)[..., None]
    nb, ne, nc = near.nonzero(as_tuple=True)
    dist, t = _point_segment(e_flat[nb, ne], pa[nb, nc], pb[nb, nc])  # (K, C)
    w_at = pwa[nb, nc] + t * (pwb[nb, nc] - pwa[nb, nc])
    touch = (dist <= torch.clamp(0.5 * w_at, min=TOUCH_TOLERANCE)) & pv[nb, nc]
    hit = touch.any(-1)
    touching = torch.zeros(B * S * 2, dtype=torch.bool)
    touching[(nb * S * 2 + ne)[hit]] = True
    other_w = torch.zeros(B * S * 2, dtype=w.dtype)
    other_w.scatter_reduce_(0, nb * S * 2 + ne, torch.where(touch, w_at, 0.0).amax(-1), reduce="amax")
    touching, other_w = touching.reshape(B, S, 2), other_w.reshape(B, S, 2)
    end_kind = torch.where(touching, JUNCTION, ENDPOINT)
    end_kind = torch.where(is_open[..., None], end_kind, -1)
    end_radius = 0.5 * torch.maximum(end_w, other_w) + 1.0

    # --- crossings: segment pairs from chunks whose boxes overlap ----------------------------
    lox, loy, hix, hiy = lo[..., 0], lo[..., 1], hi[..., 0] + 0.01, hi[..., 1] + 0.01
    overlap = ((lox[:, :, None] <= hix[:, None, :]) & (lox[:, None, :] <= hix[:, :, None])
               & (loy[:, :, None] <= hiy[:, None, :]) & (loy[:, None, :] <= hiy[:, :, None]))
    overlap &= torch.triu(torch.ones(S * Pc, S * Pc, dtype=torch.bool))  # each pair once, self included
    bi, i, j = overlap.nonzero(as_tuple=True)
    p, r = pa[bi, i][:, :, None], (pb[bi, i] - pa[bi, i])[:, :, None]  # (K, C, 1, 2)
    q, s = pa[bi, j][:, None, :], (pb[bi, j] - pa[bi, j])[:, None, :]  # (K, 1, C, 2)
    denom = r[..., 0] * s[..., 1] - r[..., 1] * s[..., 0]
    qp = q - p
    safe = torch.where(denom.abs() > 1e-12, denom, 1.0)
    tt = (qp[..., 0] * s[..., 1] - qp[..., 1] * s[..., 0]) / safe
    uu = (qp[..., 0] * r[..., 1] - qp[..., 1] * r[..., 0]) / safe
    eps = 1e-5  # a crossing exactly at shared vertices must not fall between segments
    hit = (denom.abs() > 1e-12) & (tt >= -eps) & (tt <= 1 + eps) & (uu >= -eps) & (uu <= 1 + eps)
    hit &= pv[bi, i][:, :, None] & pv[bi, j][:, None, :]
    k_idx, ei, ej = hit.nonzero(as_tuple=True)
    # same stroke: neighbouring segments (and first/last of a closed stroke) meet by construction
    si, sj = i[k_idx] // Pc, j[k_idx] // Pc
    gi, gj = (i[k_idx] % Pc) * C + ei, (j[k_idx] % Pc) * C + ej
    gap = gj - gi  # within a stroke: segment pairs once (gj > gi), and not neighbours
    adjacent = (gap <= 1) | (strokes.closed[bi[k_idx], si] & (gap == n_seg[bi[k_idx], si] - 1))
    real = ~((si == sj) & adjacent)
    k_idx, ei, ej = k_idx[real], ei[real], ej[real]
    cross_b = bi[k_idx]
    si, sj = si[real], sj[real]
    rr, ss = r[k_idx, ei, 0], s[k_idx, 0, ej]
    cross_xy = p[k_idx, ei, 0] + tt[k_idx, ei, ej][:, None] * rr
    wi_x, wj_x = pw[bi, i][k_idx, ei], pw[bi, j][k_idx, ej]
    # near an open end of one of the two strokes, within the other's touch reach, the touch rule
    # decides (a junction at the end: e.g. a T whose stem overshoots the bar a little)
    def near_end_of(stroke, other_w):
        e = ends[cross_b, stroke]  # (X, 2, 2)
        dd = ((cross_xy[:, None] - e) ** 2).sum(-1)
        reach2 = torch.clamp(0.5 * other_w, min=TOUCH_TOLERANCE)[:, None] ** 2
        return ((dd < reach2) & is_open[cross_b, stroke][:, None]).any(-1)

    keep = ~(near_end_of(si, wj_x) | near_end_of(sj, wi_x))
    sin = denom[k_idx, ei, ej].abs() / torch.sqrt((rr * rr).sum(-1) * (ss * ss).sum(-1)).clamp(min=1e-18)
    cross_kind = torch.where(sin > math.sin(math.radians(CROSSING_MIN_ANGLE)), CROSSING, SHALLOW)
    cross_radius = 0.5 * torch.maximum(wi_x, wj_x) + 1.0
    cross_b, cross_xy, cross_kind, cross_radius = (x[keep] for x in (cross_b, cross_xy, cross_kind, cross_radius))

    # --- merge topo candidates: junction > crossing > endpoint ------------------------------
    end_b = torch.arange(B)[:, None, None].expand(B, S, 2)
    keep_end = end_kind >= 0
    cand_b = torch.cat([end_b[keep_end], cross_b])
    cand_xy = torch.cat([ends[keep_end], cross_xy])
    cand_kind = torch.cat([end_kind[keep_end], cross_kind])
    cand_r = torch.cat([end_radius[keep_end], cross_radius])
    xy_t, kind_t, rad_t = pack(cand_b, B, cand_xy, cand_kind, cand_r)
    rank = torch.tensor([2, 0, 1, 3, 1])[kind_t.clamp(min=0)]  # endpoint 2, junction 0, crossing 1
    K = kind_t.shape[1]
    valid = kind_t >= 0
    gx, gy = xy_t[..., 0], xy_t[..., 1]
    ddx, ddy = gx[:, :, None] - gx[:, None, :], gy[:, :, None] - gy[:, None, :]
    close = ddx * ddx + ddy * ddy < MERGE_RADIUS ** 2
    idx = torch.arange(K)
    better = (rank[:, None, :] < rank[:, :, None]) | ((rank[:, None, :] == rank[:, :, None]) & (idx[None, :] < idx[:, None]))
    shallow_pair = (kind_t[:, :, None] == SHALLOW) != (kind_t[:, None, :] == SHALLOW)
    suppressed = (close & better & valid[:, None, :] & ~shallow_pair).any(-1)
    kind_t = torch.where(valid & ~suppressed, kind_t, -1)

    # --- corners: the direction change over CORNER_SPAN px of arc length either side of a vertex --
    seg_len = torch.sqrt(((b - a) ** 2).sum(-1)) * seg_valid  # (B, S, E)
    cum = torch.cat([torch.zeros_like(seg_len[..., :1]), seg_len.cumsum(-1)], -1)  # (B, S, N)
    total = cum[..., -1:]
    closed = strokes.closed[..., None]

    def point_at(s: torch.Tensor) -> torch.Tensor:
        s = torch.where(closed, torch.remainder(s, total.clamp(min=1e-9)), s.clamp(min=0.0).minimum(total))
        e = (torch.searchsorted(cum.contiguous(), s.contiguous(), right=True) - 1).clamp(0, E - 1)
        t = ((s - cum.gather(-1, e)) / seg_len.gather(-1, e).clamp(min=1e-12)).clamp(0.0, 1.0)
        e2 = e[..., None].expand(*e.shape, 2)
        return a.gather(2, e2) + t[..., None] * (b.gather(2, e2) - a.gather(2, e2))

    before = pts - point_at(cum - CORNER_SPAN)
    after = point_at(cum + CORNER_SPAN) - pts
    vertex = torch.arange(N)
    inner = (vertex >= 1) & (vertex[None, None] < n_seg[..., None])  # not a stroke's first or last point
    ok = (inner | ((vertex == 0) & closed)) & (n_seg[..., None] >= 1)
    lb, la = (before ** 2).sum(-1), (after ** 2).sum(-1)
    ok &= (lb > 1e-12) & (la > 1e-12)
    cos = (before * after).sum(-1) / torch.sqrt(lb * la).clamp(min=1e-18)
    cb, cs, cv = (ok & (cos < math.cos(math.radians(CORNER_MIN_TURN)))).nonzero(as_tuple=True)
    xy_c, sharp_c, w_c, kind_c = pack(cb, B, pts[cb, cs, cv], -cos[cb, cs, cv], w[cb, cs, cv],
                                      torch.full_like(cb, CORNER))
    Kc = xy_c.shape[1]
    valid_c = kind_c >= 0
    cx, cy = xy_c[..., 0], xy_c[..., 1]
    near = (cx[:, :, None] - cx[:, None, :]) ** 2 + (cy[:, :, None] - cy[:, None, :]) ** 2 < CORNER_SPAN ** 2
    idx = torch.arange(Kc)
    sharper = (sharp_c[:, None, :] > sharp_c[:, :, None]) | (
        (sharp_c[:, None, :] == sharp_c[:, :, None]) & (idx[None, :] < idx[:, None]))
    keep_c = valid_c & ~(near & sharper & valid_c[:, None, :]).any(-1)
    kind_c = torch.where(keep_c, kind_c, -1)
    rad_c = 0.5 * w_c + 1.0

    return Keypoints(torch.cat([xy_t, xy_c], 1), torch.cat([kind_t, kind_c], 1), torch.cat([rad_t, rad_c], 1))
