"""Rasterisation kernels: every centreline segment of a batch scanned over the pixels of its
capsule into ink coverage, the digital centreline (skeleton) and each pixel's nearest segment.

Every segment visits only the pixels of its *capsule* (the segment grown by the larger of its ink
radius + 1 px edge and the target band), row by row, in fixed-width column windows whose per-row
quantities broadcast (no per-pixel gathers), so the cost follows the ink, not the image area.
Per-pixel results are combined with order-independent reductions (max, and min of an integer key
holding the quantised distance and the segment index), which keeps a sample's maps bit-identical
whatever batch it is rendered in. The targets these feed are defined in render.py.
"""

from __future__ import annotations

from typing import TypedDict

import numpy as np
import torch

from .geometry import Strokes

__all__ = ["BAND"]

BAND = 1.5  # px: targets are defined within max(width / 2, BAND) of the centreline
_DIST_SCALE = 1 << 16  # nearest-segment search compares distances quantised to 1/65536 px
_SEG_BITS = 24
_NO_KEY = torch.iinfo(torch.int64).max
_NUMPY_DTYPES = {torch.float32: np.float32, torch.int64: np.int64}


def _plane(n: int, dtype: torch.dtype, device: torch.device | str, fill: float = 0) -> torch.Tensor:
    """A flat buffer of ``n`` elements set to ``fill``. On the CPU it is allocated by NumPy, which
    asks the kernel for transparent huge pages on large buffers: the first touch of the output
    planes then costs a few page faults instead of one per 4 KiB (measured: a fresh 88 MB plane
    6-7 times cheaper than torch.zeros in this project's VM). Elsewhere, torch's allocator."""
    if torch.device(device).type != "cpu":
        return torch.full((n,), fill, dtype=dtype, device=device)
    if fill == 0:
        return torch.from_numpy(np.zeros(n, dtype=_NUMPY_DTYPES[dtype]))
    return torch.from_numpy(np.full(n, fill, dtype=_NUMPY_DTYPES[dtype]))


def _join_skeleton(
    strokes: Strokes, x_major: torch.Tensor, height: int, width: int, skeleton: torch.Tensor
) -> None:
    """Add the pixel holding a vertex of the centreline (a stroke's end, a turn from running mostly
    along x to mostly along y or back, the tip of a sharp reversal) when no incident segment
    already marks that pixel's column (x-major) or row (y-major). Per-segment columns and rows
    alone can stop short of an end or leave a one-pixel gap at such a vertex."""
    dev = skeleton.device
    pts, valid = strokes.points.to(dev), strokes.seg_valid.to(dev)
    B, S, N, _ = pts.shape
    major = torch.full(valid.shape, -1, dtype=torch.long, device=dev)  # 1 x, 0 y, -1 none
    major[valid.nonzero(as_tuple=True)] = x_major.long().to(dev)
    px, py = torch.floor(pts[..., 0]), torch.floor(pts[..., 1])  # the pixel holding each vertex

    def covers(
        seg_major: torch.Tensor,
        a: torch.Tensor,
        b: torch.Tensor,
        px: torch.Tensor,
        py: torch.Tensor,
    ) -> torch.Tensor:
        """Does a segment a-b mark a pixel in the vertex pixel's column (x-major) or row
        (y-major)?"""
        lo, hi = torch.minimum(a, b), torch.maximum(a, b)
        cx, cy = px + 0.5, py + 0.5
        on_x = (seg_major == 1) & (cx >= lo[..., 0]) & (cx <= hi[..., 0])
        on_y = (seg_major == 0) & (cy >= lo[..., 1]) & (cy <= hi[..., 1])
        return on_x | on_y

    # the segment before (index v-1) and after (index v) each vertex v; -1 where there is none
    m_in = torch.cat([torch.full_like(major[..., :1], -1), major], -1)  # (B, S, N)
    m_out = torch.cat([major, torch.full_like(major[..., :1], -1)], -1)
    a_in = torch.cat([pts[..., :1, :], pts[..., :-1, :]], 2)  # previous vertex
    a_out = torch.cat([pts[..., 1:, :], pts[..., -1:, :]], 2)  # next vertex
    seen = covers(m_in, a_in, pts, px, py) | covers(m_out, pts, a_out, px, py)
    # every vertex of a segment: ends, turns between x- and y-major, and reversals (the tip of a
    # sharp V whose arms both run mostly along x stops short of the tip's column on both sides)
    on_stroke = (m_in >= 0) | (m_out >= 0)
    bi, si, vi = (on_stroke & ~seen).nonzero(as_tuple=True)
    col, row = px[bi, si, vi].long(), py[bi, si, vi].long()
    inside = (col >= 0) & (col < width) & (row >= 0) & (row < height)
    skeleton[(bi * height * width + row * width + col)[inside]] = 1.0


def _pairs(
    item: dict[str, torch.Tensor],
    slots: int,
    seg_data: list[torch.Tensor],
    HW: int,
    width: int,
    ink: torch.Tensor,
    skeleton: torch.Tensor,
    nearest: torch.Tensor,
) -> None:
    """Evaluate a chunk of (segment, row) items, each over ``slots`` columns from its first one,
    into the ink, skeleton and nearest-key buffers (whose last element takes the unused slots).

    Per-item quantities broadcast over the columns, so no per-pixel gathers are needed.
    """
    j = torch.arange(slots, device=item["c0"].device)
    col = item["c0"][:, None] + j  # (I, slots)
    valid = j < item["n"][:, None]
    px = col.to(torch.float32) + 0.5
    t = (px * item["alpha"][:, None] + item["beta"][:, None]).clamp(0.0, 1.0)
    ox = t * item["dx"][:, None] - px + item["ax"][:, None]
    oy = t * item["dy"][:, None] - item["ry"][:, None]
    dist = torch.sqrt(ox * ox + oy * oy)
    w = item["wa"][:, None] + t * item["dw"][:, None]
    pix = torch.where(valid, item["base"][:, None] + col, ink.numel() - 1)
    cover = torch.minimum(torch.clamp(w * 0.5 + 0.5 - dist, min=0.0), w.clamp(max=1.0))
    ink.scatter_reduce_(0, pix.flatten(), cover.flatten(), reduce="amax")
    key = (torch.round(dist * _DIST_SCALE).long() << _SEG_BITS) | item["seg"][:, None]
    # only segments whose band holds the pixel, and never a zero-length one (no direction)
    key = torch.where(
        (dist <= torch.clamp(w * 0.5, min=BAND)) & item["live"][:, None], key, _NO_KEY
    )
    nearest.scatter_reduce_(0, pix.flatten(), key.flatten(), reduce="amin")
    # digital centreline: centreline pixels lie within 1/sqrt(2) px of it
    flat = (valid & (dist < 0.75)).flatten().nonzero().squeeze(1)
    ii = flat // slots
    seg = item["seg"].index_select(0, ii)
    major, along0, cross0, slope, lo_al, hi_al = (torch.index_select(c, 0, seg) for c in seg_data)
    c_pix = col.flatten().index_select(0, flat)
    r_pix = item["row"].index_select(0, ii)
    x_major = major == 1
    along = torch.where(x_major, c_pix, r_pix).to(torch.float32) + 0.5
    across = torch.where(x_major, r_pix, c_pix).to(torch.float32)
    c = cross0 + (along - along0) * slope
    on = (major < 2) & (along >= lo_al) & (along <= hi_al) & (torch.floor(c) == across)
    skeleton.scatter_(
        0, torch.where(on, pix.flatten().index_select(0, flat), skeleton.numel() - 1), 1.0
    )


_CHUNK_PAIRS = 1 << 17  # pixel-segment pairs processed at once: their arrays stay in cache
_SLOT_BUCKETS = (4, 6, 8, 12, 16, 32)  # items are grouped by span so that few slots go unused


def _capsule_rows(
    a: torch.Tensor, d: torch.Tensor, reach: torch.Tensor, height: int, width: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """For segments ``a``-``a+d`` grown by ``reach`` (capsules): the pixel rows each one touches
    and, per (segment, row), the first and last column whose pixel centre lies inside the
    capsule."""
    r0 = torch.ceil(torch.minimum(a[:, 1], a[:, 1] + d[:, 1]) - reach - 0.5).clamp(min=0).long()
    r1 = (
        torch.floor(torch.maximum(a[:, 1], a[:, 1] + d[:, 1]) + reach - 0.5)
        .clamp(max=height - 1)
        .long()
    )
    n = (r1 - r0 + 1).clamp(min=0)
    seg = torch.repeat_interleave(torch.arange(n.numel(), device=n.device), n)
    row = (
        r0[seg]
        + torch.arange(seg.numel(), device=n.device)
        - torch.repeat_interleave(torch.cumsum(n, 0) - n, n)
    )
    y = row.to(a.dtype) + 0.5
    a_seg, d_seg = a.index_select(0, seg), d.index_select(0, seg)
    ax, ay, dx, dy, R = (
        a_seg[:, 0],
        a_seg[:, 1],
        d_seg[:, 0],
        d_seg[:, 1],
        reach.index_select(0, seg),
    )
    R2 = R * R
    lo = torch.full_like(y, float("inf"))
    hi = torch.full_like(y, float("-inf"))
    for cx, cy in ((ax, ay), (ax + dx, ay + dy)):  # the end discs
        h2 = R2 - (y - cy) ** 2
        h = torch.sqrt(h2.clamp(min=0.0))
        inside = h2 >= 0
        lo = torch.where(inside, torch.minimum(lo, cx - h), lo)
        hi = torch.where(inside, torch.maximum(hi, cx + h), hi)
    # the band: |cross(p - a, u)| <= R and 0 <= (p - a).u <= L, linear in x on a row
    L = torch.sqrt(dx * dx + dy * dy).clamp(min=1e-12)
    ux, uy = dx / L, dy / L
    ry = y - ay
    big = torch.full_like(y, 1e9)
    safe_uy = torch.where(uy.abs() > 1e-9, uy, 1.0)
    p1 = ax + (ry * ux - R) / safe_uy
    p2 = ax + (ry * ux + R) / safe_uy
    strip_ok = (ry * ux).abs() <= R
    s_lo = torch.where(uy.abs() > 1e-9, torch.minimum(p1, p2), torch.where(strip_ok, -big, big))
    s_hi = torch.where(uy.abs() > 1e-9, torch.maximum(p1, p2), torch.where(strip_ok, big, -big))
    safe_ux = torch.where(ux.abs() > 1e-9, ux, 1.0)
    q1 = ax - ry * uy / safe_ux
    q2 = ax + (L - ry * uy) / safe_ux
    slab_ok = (ry * uy >= 0) & (ry * uy <= L)
    t_lo = torch.where(ux.abs() > 1e-9, torch.minimum(q1, q2), torch.where(slab_ok, -big, big))
    t_hi = torch.where(ux.abs() > 1e-9, torch.maximum(q1, q2), torch.where(slab_ok, big, -big))
    b_lo, b_hi = torch.maximum(s_lo, t_lo), torch.minimum(s_hi, t_hi)
    band = b_lo <= b_hi
    lo = torch.where(band, torch.minimum(lo, b_lo), lo)
    hi = torch.where(band, torch.maximum(hi, b_hi), hi)
    c0 = torch.ceil(lo.clamp(-1.0, width + 1.0) - 0.5).clamp(min=0).long()
    c1 = torch.floor(hi.clamp(-1.0, width + 1.0) - 0.5).clamp(max=width - 1).long()
    return seg, row, c0, (c1 - c0 + 1).clamp(min=0)


class Segments(TypedDict):
    """What ``_segments`` returns: per segment, flattened over the batch."""

    a: torch.Tensor
    d: torch.Tensor
    wa: torch.Tensor
    dw: torch.Tensor
    len2: torch.Tensor
    b: torch.Tensor
    s: torch.Tensor
    x_major: torch.Tensor
    seg_data: list[torch.Tensor]


def _segments(strokes: Strokes, device: torch.device | str) -> Segments:
    """Every valid centreline segment of the batch, flattened: start ``a``, direction ``d``, widths,
    sample index ``b``, and what the digital centreline needs (``seg_data``)."""
    bb, ss, ee = strokes.seg_valid.nonzero(as_tuple=True)
    if bb.numel() >= 1 << _SEG_BITS:
        raise ValueError(
            f"too many stroke segments in one batch ({bb.numel()}); render smaller batches"
        )
    pts = strokes.points.to(dtype=torch.float32, device=device)
    wid = strokes.widths.to(dtype=torch.float32, device=device)
    bb, ss, ee = bb.to(device), ss.to(device), ee.to(device)
    a = pts[bb, ss, ee]  # (G, 2)
    d = pts[bb, ss, ee + 1] - a
    wa = wid[bb, ss, ee]
    len2 = (d * d).sum(-1)
    # for the digital centreline: walk along the major axis, read the crossing on the other one
    x_major = d[:, 0].abs() >= d[:, 1].abs()
    along0 = torch.where(x_major, a[:, 0], a[:, 1])
    d_along = torch.where(x_major, d[:, 0], d[:, 1])
    slope = torch.where(x_major, d[:, 1], d[:, 0]) / torch.where(d_along == 0, 1.0, d_along)
    major = torch.where(
        len2 > 0, x_major.float(), 2.0
    )  # 1 along x, 0 along y, 2 degenerate (no pixel)
    seg_data = [
        major,
        along0,
        torch.where(x_major, a[:, 1], a[:, 0]),
        slope,
        torch.minimum(along0, along0 + d_along),
        torch.maximum(along0, along0 + d_along),
    ]
    return {
        "a": a,
        "d": d,
        "wa": wa,
        "dw": wid[bb, ss, ee + 1] - wa,
        "len2": len2,
        "b": bb,
        "s": ss,
        "x_major": x_major & (len2 > 0),
        "seg_data": seg_data,
    }


def _rasterise(
    segs: Segments, B: int, height: int, width: int, device: torch.device | str
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Ink coverage, skeleton and nearest-segment keys (each B*H*W) from every segment's capsule."""
    HW = height * width
    a, d, wa, dw, len2 = segs["a"], segs["d"], segs["wa"], segs["dw"], segs["len2"]
    # a segment visits the pixels of its ink (up to half the width + the 1 px edge) and of its band
    reach = torch.clamp(torch.maximum(wa, wa + dw) * 0.5 + 0.5, min=BAND)
    seg, row, c0, n = _capsule_rows(a, d, reach, height, width)
    # group the (segment, row) items by span into fixed-width buckets, in one stable sort: each
    # bucket (and each chunk of one) is then a slice, in the same order as before
    slots_of = torch.tensor(_SLOT_BUCKETS, device=n.device)
    bucket = torch.bucketize(
        n, slots_of
    )  # i: _SLOT_BUCKETS[i-1] < n <= _SLOT_BUCKETS[i]; len(...) beyond
    live_items = (n > 0).nonzero(as_tuple=True)[0]
    order = live_items[torch.argsort(bucket[live_items], stable=True)]
    counts = torch.bincount(bucket[order], minlength=len(_SLOT_BUCKETS) + 1).tolist()
    seg, row, c0, n = seg[order], row[order], c0[order], n[order]
    a_seg, d_seg = a.index_select(0, seg), d.index_select(0, seg)
    inv = 1.0 / len2.clamp(min=1e-12)
    ry = row.to(torch.float32) + 0.5 - a_seg[:, 1]
    dx, dy, ax = d_seg[:, 0], d_seg[:, 1], a_seg[:, 0]
    inv_seg = inv.index_select(0, seg)
    items = {
        "seg": seg,
        "row": row,
        "c0": c0,
        "n": n,
        "dx": dx,
        "dy": dy,
        "ax": ax,
        "ry": ry,
        "alpha": dx * inv_seg,
        "beta": (ry * dy - ax * dx) * inv_seg,
        "wa": wa.index_select(0, seg),
        "dw": dw.index_select(0, seg),
        "base": segs["b"].index_select(0, seg) * HW + row * width,
        "live": (len2 > 0).index_select(0, seg),
    }
    # one extra element at the end takes the unused slots of the fixed-width windows
    ink = _plane(B * HW + 1, torch.float32, device)
    skeleton = _plane(B * HW + 1, torch.float32, device)
    nearest = _plane(B * HW + 1, torch.int64, device, _NO_KEY)
    widest = max(int(n.max()) if n.numel() else 1, 1)
    begin = 0
    for i, count in enumerate(counts):
        slots = _SLOT_BUCKETS[i] if i < len(_SLOT_BUCKETS) else widest
        step = max(1, _CHUNK_PAIRS // slots)
        for start in range(begin, begin + count, step):
            stop = min(start + step, begin + count)
            _pairs(
                {k: v[start:stop] for k, v in items.items()},
                slots,
                segs["seg_data"],
                HW,
                width,
                ink,
                skeleton,
                nearest,
            )
        begin += count
    return ink[:-1], skeleton[:-1], nearest[:-1]
