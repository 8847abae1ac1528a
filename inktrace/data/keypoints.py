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

__all__ = [
    "Keypoints",
    "find_keypoints",
    "ENDPOINT",
    "JUNCTION",
    "CROSSING",
    "CORNER",
    "SHALLOW",
    "KIND_NAMES",
    "CROSSING_MIN_ANGLE",
    "CORNER_MIN_TURN",
]

ENDPOINT, JUNCTION, CROSSING, CORNER, SHALLOW = 0, 1, 2, 3, 4
KIND_NAMES = {
    ENDPOINT: "endpoint",
    JUNCTION: "junction",
    CROSSING: "crossing",
    CORNER: "corner",
    SHALLOW: "shallow crossing",
}
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

    def listed(self, height: int, width: int) -> torch.Tensor:
        """(B, K) mask of the keypoints a sample lists: real ones (not padding, not shallow
        crossings) inside an image of the given size. Heatmaps and point lists use the same."""
        x, y = self.xy[..., 0], self.xy[..., 1]
        return (
            (self.kind >= 0)
            & (self.kind != SHALLOW)
            & (x >= 0)
            & (x < width)
            & (y >= 0)
            & (y < height)
        )


def pack(
    batch_index: torch.Tensor, B: int, *values: torch.Tensor, fill: float = -1
) -> list[torch.Tensor]:
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


def _point_segment(
    p: torch.Tensor, a: torch.Tensor, b: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Distance from points ``p`` to segments ``a``-``b`` (broadcast), and the projection parameter.
    (Coordinates are handled as separate planes: reductions over a size-2 axis are slow.)"""
    abx, aby = b[..., 0] - a[..., 0], b[..., 1] - a[..., 1]
    apx, apy = p[..., 0] - a[..., 0], p[..., 1] - a[..., 1]
    t = ((apx * abx + apy * aby) / (abx * abx + aby * aby).clamp(min=1e-18)).clamp(0.0, 1.0)
    dx, dy = apx - t * abx, apy - t * aby
    return torch.sqrt(dx * dx + dy * dy), t


@dataclass
class _Chunks:
    """The centreline cut into chunks of CHUNK segments (B, S*Pc, CHUNK), with bounding boxes."""

    a: torch.Tensor  # (B, S*Pc, C, 2) segment starts
    b: torch.Tensor  # segment ends
    valid: torch.Tensor  # (B, S*Pc, C)
    w_a: torch.Tensor  # width at the segment start
    w_b: torch.Tensor  # width at the segment end
    lo: torch.Tensor  # (B, S*Pc, 2) box corners
    hi: torch.Tensor
    per_stroke: int  # Pc


def _chunks(a: torch.Tensor, b: torch.Tensor, seg_valid: torch.Tensor, w: torch.Tensor) -> _Chunks:
    B, S, E, _ = a.shape
    Pc = -(-E // CHUNK)
    pad = Pc * CHUNK - E
    padded = [
        torch.nn.functional.pad(x, (0, 0, 0, pad))
        if x.dim() == 4
        else torch.nn.functional.pad(x, (0, pad))
        for x in (a, b, seg_valid, w[:, :, :-1], w[:, :, 1:])
    ]
    ca, cb = (x.reshape(B, S * Pc, CHUNK, 2) for x in padded[:2])
    cv, wa, wb = (x.reshape(B, S * Pc, CHUNK) for x in padded[2:])
    big = 1e30
    lo = torch.where(cv[..., None], torch.minimum(ca, cb), big).amin(2)
    hi = torch.where(cv[..., None], torch.maximum(ca, cb), -big).amax(2)
    return _Chunks(ca, cb, cv, wa, wb, lo, hi, Pc)


def _stroke_ends(
    strokes: Strokes, pts: torch.Tensor, w: torch.Tensor, ch: _Chunks
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Each stroke's two ends (B, S, 2, 2), their kind (endpoint, junction or -1) and mask radius.
    Only chunks whose box lies near an end are searched for a touch."""
    B, S = pts.shape[:2]
    seg_valid = strokes.seg_valid
    n_seg = seg_valid.sum(-1)
    ends = torch.stack([pts[:, :, 0], _last_points(pts, seg_valid)], dim=2)
    end_w = torch.stack([w[:, :, 0], w.gather(2, n_seg[..., None]).squeeze(-1)], dim=2)
    is_open = seg_valid.any(-1) & ~strokes.closed
    reach = torch.clamp(0.5 * w.amax(dim=(1, 2)), min=TOUCH_TOLERANCE).view(B, 1, 1)
    e_flat = ends.reshape(B, S * 2, 1, 2)
    ex, ey = e_flat[..., 0], e_flat[..., 1]  # (B, 2S, 1)
    lox, loy, hix, hiy = (
        v[:, None, :] for v in (ch.lo[..., 0], ch.lo[..., 1], ch.hi[..., 0], ch.hi[..., 1])
    )
    near = (
        (ex >= lox - reach) & (ex <= hix + reach) & (ey >= loy - reach) & (ey <= hiy + reach)
    )  # (B, 2S, S*Pc)
    end_stroke = torch.arange(S * 2) // 2
    chunk_stroke = torch.arange(near.shape[-1]) // ch.per_stroke
    near &= (end_stroke[:, None] != chunk_stroke[None, :]) & is_open.repeat_interleave(2, 1)[
        ..., None
    ]
    nb, ne, nc = near.nonzero(as_tuple=True)
    fc = nb * ch.a.shape[1] + nc  # flat chunk rows: index_select is much faster than 2-D indexing
    C = ch.a.shape[2]
    wa_c, wb_c = (
        ch.w_a.reshape(-1, C).index_select(0, fc),
        ch.w_b.reshape(-1, C).index_select(0, fc),
    )
    dist, t = _point_segment(
        e_flat.reshape(-1, 1, 2).index_select(0, nb * S * 2 + ne),
        ch.a.reshape(-1, C, 2).index_select(0, fc),
        ch.b.reshape(-1, C, 2).index_select(0, fc),
    )
    w_at = wa_c + t * (wb_c - wa_c)
    touch = (dist <= torch.clamp(0.5 * w_at, min=TOUCH_TOLERANCE)) & ch.valid.reshape(
        -1, C
    ).index_select(0, fc)
    flat = nb * S * 2 + ne
    touching = torch.zeros(B * S * 2, dtype=torch.bool)
    touching[flat[touch.any(-1)]] = True
    other_w = torch.zeros(B * S * 2, dtype=w.dtype)
    other_w.scatter_reduce_(0, flat, torch.where(touch, w_at, 0.0).amax(-1), reduce="amax")
    kind = torch.where(touching.reshape(B, S, 2), JUNCTION, ENDPOINT)
    kind = torch.where(is_open[..., None], kind, -1)
    return ends, kind, 0.5 * torch.maximum(end_w, other_w.reshape(B, S, 2)) + 1.0, is_open


def _crossings(
    strokes: Strokes, ch: _Chunks, ends: torch.Tensor, is_open: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Crossings of centreline segments from chunks whose boxes overlap (a stroke with itself
    too): (sample index, xy, kind CROSSING or SHALLOW, mask radius) per crossing."""
    C, Pc = CHUNK, ch.per_stroke
    n_seg = strokes.seg_valid.sum(-1)
    lox, loy, hix, hiy = ch.lo[..., 0], ch.lo[..., 1], ch.hi[..., 0] + 0.01, ch.hi[..., 1] + 0.01
    overlap = (
        (lox[:, :, None] <= hix[:, None, :])
        & (lox[:, None, :] <= hix[:, :, None])
        & (loy[:, :, None] <= hiy[:, None, :])
        & (loy[:, None, :] <= hiy[:, :, None])
    )
    overlap &= torch.triu(
        torch.ones(overlap.shape[1:], dtype=torch.bool)
    )  # each pair once, self included
    bi, i, j = overlap.nonzero(as_tuple=True)
    # flat row gathers and separate x/y components (contiguous), not strided (..., 2) slices
    nck = ch.a.shape[1]
    fi, fj = bi * nck + i, bi * nck + j
    a_flat, d_flat = ch.a.reshape(-1, C, 2), (ch.b - ch.a).reshape(-1, C, 2)
    ai, aj, di, dj = (
        x.index_select(0, f) for x, f in ((a_flat, fi), (a_flat, fj), (d_flat, fi), (d_flat, fj))
    )
    px, py = ai[..., 0].contiguous()[:, :, None], ai[..., 1].contiguous()[:, :, None]  # (K, C, 1)
    rx, ry = di[..., 0].contiguous()[:, :, None], di[..., 1].contiguous()[:, :, None]
    qx, qy = aj[..., 0].contiguous()[:, None, :], aj[..., 1].contiguous()[:, None, :]  # (K, 1, C)
    sx, sy = dj[..., 0].contiguous()[:, None, :], dj[..., 1].contiguous()[:, None, :]
    denom = rx * sy - ry * sx
    qpx, qpy = qx - px, qy - py
    safe = torch.where(denom.abs() > 1e-12, denom, 1.0)
    tt = (qpx * sy - qpy * sx) / safe
    uu = (qpx * ry - qpy * rx) / safe
    eps = 1e-5  # a crossing exactly at shared vertices must not fall between segments
    hit = (denom.abs() > 1e-12) & (tt >= -eps) & (tt <= 1 + eps) & (uu >= -eps) & (uu <= 1 + eps)
    v_flat = ch.valid.reshape(-1, C)
    hit &= v_flat.index_select(0, fi)[:, :, None] & v_flat.index_select(0, fj)[:, None, :]
    k_idx, ei, ej = hit.nonzero(as_tuple=True)
    # within a stroke: each segment pair once (gj > gi), and never neighbours (nor the first and
    # last segments of a closed stroke), which meet by construction
    si, sj = i[k_idx] // Pc, j[k_idx] // Pc
    gi, gj = (i[k_idx] % Pc) * C + ei, (j[k_idx] % Pc) * C + ej
    gap = gj - gi
    adjacent = (gap <= 1) | (strokes.closed[bi[k_idx], si] & (gap == n_seg[bi[k_idx], si] - 1))
    real = ~((si == sj) & adjacent)
    k_idx, ei, ej, si, sj = k_idx[real], ei[real], ej[real], si[real], sj[real]
    cross_b = bi[k_idx]
    rr, ss = di[k_idx, ei], dj[k_idx, ej]
    xy = ai[k_idx, ei] + tt[k_idx, ei, ej][:, None] * rr
    w_i = torch.maximum(ch.w_a, ch.w_b)[bi, i][k_idx, ei]
    w_j = torch.maximum(ch.w_a, ch.w_b)[bi, j][k_idx, ej]

    def near_end_of(stroke: torch.Tensor, other_w: torch.Tensor) -> torch.Tensor:
        """Within the other stroke's touch reach of an open end: the touch rule decides there
        (a junction at the end, e.g. a T whose stem overshoots the bar a little)."""
        dd = ((xy[:, None] - ends[cross_b, stroke]) ** 2).sum(-1)
        reach2 = torch.clamp(0.5 * other_w, min=TOUCH_TOLERANCE)[:, None] ** 2
        return ((dd < reach2) & is_open[cross_b, stroke][:, None]).any(-1)

    keep = ~(near_end_of(si, w_j) | near_end_of(sj, w_i))
    sin = denom[k_idx, ei, ej].abs() / torch.sqrt((rr * rr).sum(-1) * (ss * ss).sum(-1)).clamp(
        min=1e-18
    )
    kind = torch.where(sin > math.sin(math.radians(CROSSING_MIN_ANGLE)), CROSSING, SHALLOW)
    radius = 0.5 * torch.maximum(w_i, w_j) + 1.0
    return cross_b[keep], xy[keep], kind[keep], radius[keep]


def _suppress(
    xy: torch.Tensor,
    score: torch.Tensor,
    valid: torch.Tensor,
    radius: float,
    exempt: torch.Tensor | None = None,
) -> torch.Tensor:
    """Which of the padded candidates (B, K) survive: a candidate goes when a valid one with a
    higher score (or the same score, listed earlier) lies within ``radius``, unless ``exempt``
    (B, K, K) excuses the pair."""
    x, y = xy[..., 0], xy[..., 1]
    close = (x[:, :, None] - x[:, None, :]) ** 2 + (y[:, :, None] - y[:, None, :]) ** 2 < radius**2
    idx = torch.arange(xy.shape[1])
    better = (score[:, None, :] > score[:, :, None]) | (
        (score[:, None, :] == score[:, :, None]) & (idx[None, :] < idx[:, None])
    )
    beaten = close & better & valid[:, None, :]
    if exempt is not None:
        beaten &= ~exempt
    return valid & ~beaten.any(-1)


def _corners(
    strokes: Strokes, pts: torch.Tensor, w: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Candidate corners: vertices where the chords to the points CORNER_SPAN px of arc length
    before and after them turn by more than CORNER_MIN_TURN; (sample, xy, sharpness, width)."""
    seg_valid = strokes.seg_valid
    B, S, N, _ = pts.shape
    E = N - 1
    a, b = pts[:, :, :-1], pts[:, :, 1:]
    ab = b - a
    n_seg = seg_valid.sum(-1)
    seg_len = torch.sqrt((ab**2).sum(-1)) * seg_valid  # (B, S, E)
    cum = torch.cat(
        [torch.zeros_like(seg_len[..., :1]), seg_len.cumsum(-1)], -1
    ).contiguous()  # (B, S, N)
    total = cum[..., -1:]
    closed = strokes.closed[..., None]

    def point_at(s: torch.Tensor) -> torch.Tensor:
        s = torch.where(
            closed, torch.remainder(s, total.clamp(min=1e-9)), s.clamp(min=0.0).minimum(total)
        )
        e = (torch.searchsorted(cum, s.contiguous(), right=True) - 1).clamp(0, E - 1)
        t = ((s - cum.gather(-1, e)) / seg_len.gather(-1, e).clamp(min=1e-12)).clamp(0.0, 1.0)
        e2 = e[..., None].expand(*e.shape, 2)
        return a.gather(2, e2) + t[..., None] * ab.gather(2, e2)

    before = pts - point_at(cum - CORNER_SPAN)
    after = point_at(cum + CORNER_SPAN) - pts
    vertex = torch.arange(N)
    inner = (vertex >= 1) & (
        vertex[None, None] < n_seg[..., None]
    )  # not a stroke's first or last point
    ok = (inner | ((vertex == 0) & closed)) & (n_seg[..., None] >= 1)
    lb, la = (before**2).sum(-1), (after**2).sum(-1)
    ok &= (lb > 1e-12) & (la > 1e-12)
    cos = (before * after).sum(-1) / torch.sqrt(lb * la).clamp(min=1e-18)
    cb, cs, cv = (ok & (cos < math.cos(math.radians(CORNER_MIN_TURN)))).nonzero(as_tuple=True)
    return cb, pts[cb, cs, cv], -cos[cb, cs, cv], w[cb, cs, cv]


_RANK = torch.tensor(
    [1, 3, 2, 0, 2]
)  # merge priority by kind: junction > crossing = shallow > endpoint


def find_keypoints(strokes: Strokes) -> Keypoints:
    """All keypoints of a batch of strokes, by the rules in the module docstring."""
    # float32 is ample for coordinates of a few hundred pixels and twice as fast as float64
    pts, w = strokes.points.float(), strokes.widths.float()
    B, S = pts.shape[:2]
    ch = _chunks(pts[:, :, :-1], pts[:, :, 1:], strokes.seg_valid, w)
    ends, end_kind, end_radius, is_open = _stroke_ends(strokes, pts, w, ch)
    cross_b, cross_xy, cross_kind, cross_radius = _crossings(strokes, ch, ends, is_open)

    keep_end = end_kind >= 0
    end_b = torch.arange(B)[:, None, None].expand(B, S, 2)[keep_end]
    xy_t, kind_t, rad_t = pack(
        torch.cat([end_b, cross_b]),
        B,
        torch.cat([ends[keep_end], cross_xy]),
        torch.cat([end_kind[keep_end], cross_kind]),
        torch.cat([end_radius[keep_end], cross_radius]),
    )
    is_shallow = kind_t == SHALLOW  # shallow crossings only mask the tangent: they never merge
    exempt = is_shallow[:, :, None] != is_shallow[:, None, :]
    keep_t = _suppress(xy_t, _RANK[kind_t.clamp(min=0)], kind_t >= 0, MERGE_RADIUS, exempt)
    kind_t = torch.where(keep_t, kind_t, -1)

    cb, c_xy, c_sharp, c_w = _corners(strokes, pts, w)
    xy_c, sharp_c, w_c, kind_c = pack(cb, B, c_xy, c_sharp, c_w, torch.full_like(cb, CORNER))
    kind_c = torch.where(_suppress(xy_c, sharp_c, kind_c >= 0, CORNER_SPAN), kind_c, -1)
    return Keypoints(
        torch.cat([xy_t, xy_c], 1),
        torch.cat([kind_t, kind_c], 1),
        torch.cat([rad_t, 0.5 * w_c + 1.0], 1),
    )
