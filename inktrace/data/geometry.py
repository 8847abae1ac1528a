"""Stroke geometry: batched centrelines with a width profile, built from cubic Bézier pieces.

A batch of strokes is a set of padded polylines, ``points`` (B, S, N, 2) in the pixel frame of
CONTRACTS.md (x right, y down, pixel (i, j) centred at (j + .5, i + .5)), with ``widths`` (B, S, N)
and ``seg_valid`` (B, S, N-1) marking the segments that exist. Everything downstream (keypoints,
rendering, targets) is computed from this one description, so image and targets cannot disagree.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import torch

from .rng import Draws

__all__ = [
    "Strokes",
    "PIECES",
    "flatten_pieces",
    "width_profile",
    "stroke_widths",
    "primitive",
    "fit_to_box",
    "out_member",
]

PIECES = 4  # Bézier pieces per stroke at most
SAMPLES_PER_PIECE = 16  # most polyline segments per Bézier piece (fewer where the piece is flatter)


@dataclass
class Strokes:
    """A padded batch of stroke centrelines (see the module docstring)."""

    points: torch.Tensor  # (B, S, N, 2) float64
    widths: torch.Tensor  # (B, S, N) float64, stroke width in pixels at each point
    seg_valid: torch.Tensor  # (B, S, N-1) bool
    closed: torch.Tensor  # (B, S) bool: the stroke ends where it starts

    @property
    def stroke_valid(self) -> torch.Tensor:
        return self.seg_valid.any(-1)

    @staticmethod
    def from_polylines(batch: Sequence[Sequence[tuple]], closed_tol: float = 1e-6) -> "Strokes":
        """Build from Python data: per sample, a list of ``(points (n, 2), widths (n,) or float)``."""
        S = max(1, max((len(sample) for sample in batch), default=1))
        N = max(2, max((len(p) for sample in batch for p, _ in sample), default=2))
        B = len(batch)
        points = torch.zeros(B, S, N, 2, dtype=torch.float64)
        widths = torch.ones(B, S, N, dtype=torch.float64)
        seg_valid = torch.zeros(B, S, N - 1, dtype=torch.bool)
        for b, sample in enumerate(batch):
            for s, (pts, w) in enumerate(sample):
                pts = torch.as_tensor(pts, dtype=torch.float64).reshape(-1, 2)
                n = pts.shape[0]
                if n < 2:
                    raise ValueError(f"stroke {s} of sample {b} has {n} point(s); a stroke needs two")
                w = torch.as_tensor(w, dtype=torch.float64)
                w = w.expand(n) if w.ndim == 0 else w
                if w.shape != (n,):
                    raise ValueError(f"stroke {s} of sample {b}: {tuple(w.shape)} widths for {n} points")
                points[b, s, :n], points[b, s, n:] = pts, pts[-1]
                widths[b, s, :n], widths[b, s, n:] = w, w[-1]
                seg_valid[b, s, : n - 1] = True
        last = _last_points(points, seg_valid)
        length = ((points[:, :, 1:] - points[:, :, :-1]).norm(dim=-1) * seg_valid).sum(-1)
        closed = ((last - points[:, :, 0]).norm(dim=-1) <= closed_tol) & (length > closed_tol)  # not a dot
        return Strokes(points, widths, seg_valid, closed)


def _last_points(points: torch.Tensor, seg_valid: torch.Tensor) -> torch.Tensor:
    n_seg = seg_valid.sum(-1)  # (B, S)
    idx = n_seg[..., None, None].expand(*n_seg.shape, 1, 2)
    return points.gather(2, idx)[:, :, 0]


# ----------------------------------------------------------------------------- Bézier pieces
def _bezier(ctrl: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Evaluate cubic Béziers ``ctrl`` (..., 4, 2) at parameters ``t`` (T,) -> (..., T, 2)."""
    s = (1.0 - t)[:, None]
    t = t[:, None]
    c = ctrl[..., None, :, :]  # (..., 1, 4, 2)
    # an explicit sum, not a matrix product: BLAS may order it differently for other batch sizes
    return (s * s * s * c[..., 0, :] + 3 * s * s * t * c[..., 1, :]
            + 3 * s * t * t * c[..., 2, :] + t * t * t * c[..., 3, :])


def flatten_pieces(ctrl: torch.Tensor, piece_valid: torch.Tensor, samples: int = SAMPLES_PER_PIECE,
                   tolerance: float = 0.05):
    """Polylines from Bézier chains: ``ctrl`` (B, S, P, 4, 2), ``piece_valid`` (B, S, P) a prefix.

    Each piece gets 1, 2, 4, 8 or 16 uniform segments, the fewest that keep the polyline within
    about ``tolerance`` px of the curve (a straight piece is one segment), so rendering cost
    follows the geometry; pieces that would need more than 16 are cut at 16. Returns points
    (B, S, N, 2) and seg_valid (B, S, N-1); points past a stroke's end repeat its last point, so
    every array stays finite.
    """
    B, S, P = piece_valid.shape
    T = samples
    dev = ctrl.device
    p0, c1, c2, p3 = ctrl.unbind(-2)
    chord = p3 - p0
    cx, cy = chord[..., 0], chord[..., 1]
    clen2 = (cx * cx + cy * cy).clamp(min=1e-18)

    def off(c: torch.Tensor) -> torch.Tensor:  # distance of a control point from the chord segment
        v = c - p0
        t = ((v[..., 0] * cx + v[..., 1] * cy) / clen2).clamp(0.0, 1.0)
        return (v - t[..., None] * chord).norm(dim=-1)

    # the curve stays within 3/4 of this of its chord (a loop, whose ends meet, is never "flat")
    flat = torch.maximum(off(c1), off(c2))  # (B, S, P)
    need = 0.75 * flat / tolerance  # n segments leave about flat / n^2: n^2 >= need
    # level 0 -> T segments, then 8, 4, 2, 1 (each capped at T); a piece keeps its samples k = 0, step, ...
    level = torch.zeros_like(flat, dtype=torch.long)
    for j, m in enumerate((8, 4, 2, 1)):
        level = torch.where(need <= m * m, j + 1, level)
    steps = [T // min(m, T) for m in (T, 8, 4, 2, 1)]
    level = level.reshape(-1)
    step = torch.tensor(steps, device=dev).index_select(0, level)  # (B*S*P,)
    npc = torch.where(piece_valid.reshape(-1), torch.tensor([-(-T // s) for s in steps], device=dev).index_select(0, level), 0)
    # the kept samples, in order: piece index and parameter index k of each
    piece = torch.repeat_interleave(torch.arange(B * S * P, device=dev), npc)
    rank = torch.arange(piece.shape[0], device=dev)
    ki = (rank - (npc.cumsum(0) - npc).index_select(0, piece)) * step.index_select(0, piece)
    kept = npc.reshape(B * S, P).sum(-1)  # points per stroke before its end point
    count = (kept + 1).reshape(B, S)  # points per stroke
    N = max(int(count.max()) if count.numel() else 2, 2)
    # the curves at the kept parameters (the same products and sums, element by element, as a full
    # evaluation of every piece from t=0, without its end)
    t = torch.arange(T, dtype=ctrl.dtype, device=dev) / T
    s = (1.0 - t)[:, None]
    t = t[:, None]
    coef = torch.cat([s * s * s, 3 * s * s * t, 3 * s * t * t, t * t * t], -1)  # (T, 4)
    # rows gathered as complex numbers x + iy (fast copies); products taken on the real numbers
    rows = torch.view_as_complex(ctrl.reshape(B * S * P, 4, 2)).index_select(0, piece)
    coef = torch.view_as_complex(coef.repeat_interleave(2, 1).reshape(T, 4, 2)).index_select(0, ki)
    prod = torch.view_as_real(coef) * torch.view_as_real(rows)  # (K, 4, 2)
    prod = torch.view_as_complex(prod)  # so that a sum adds x and y alike
    pts = prod[:, 0] + prod[:, 1] + prod[:, 2] + prod[:, 3]
    n_valid = piece_valid.sum(-1)
    end = ctrl.gather(2, (n_valid - 1).clamp(min=0)[..., None, None, None].expand(B, S, 1, 4, 2))[:, :, 0, 3]
    # each stroke's points, then its end point repeated to the length N
    j = torch.arange(N, device=dev)
    src = torch.where(j < kept[:, None], (kept.cumsum(0) - kept)[:, None] + j,
                      pts.shape[0] + torch.arange(B * S, device=dev)[:, None])
    out = torch.cat([pts, torch.view_as_complex(end.reshape(B * S, 2))]).index_select(0, src.reshape(-1))
    out = torch.view_as_real(out)
    out = out.reshape(B, S, N, 2)
    seg_valid = torch.arange(N - 1, device=dev) < (count - 1)[..., None]
    return out, seg_valid


def arc_length_param(points: torch.Tensor, seg_valid: torch.Tensor) -> torch.Tensor:
    """Normalised arc length u in [0, 1] at every point (B, S, N)."""
    seg = (points[:, :, 1:] - points[:, :, :-1]).norm(dim=-1) * seg_valid
    cum = torch.cat([torch.zeros_like(seg[..., :1]), seg.cumsum(-1)], dim=-1)
    return cum / cum[..., -1:].clamp(min=1e-9)


def _arc_length_at_points(points: torch.Tensor, count: torch.Tensor):
    """``arc_length_param`` at each stroke's first ``count`` points only (past them it is constant).

    Returns u (K,) for the K = count.sum() points, stroke by stroke, and for each of them the stroke
    index (into B*S) and position. The same numbers as ``arc_length_param``, element by element.
    """
    B, S, N, _ = points.shape
    dev = points.device
    cnt = count.reshape(-1)
    first = cnt.cumsum(0) - cnt
    sid = torch.repeat_interleave(torch.arange(B * S, device=dev), cnt)
    pos = torch.arange(sid.shape[0], device=dev) - first.index_select(0, sid)
    seg_at = (sid * N + pos)[pos > 0]  # the end point of every segment
    pc = torch.view_as_complex(points.reshape(B * S * N, 2))  # points as x + iy: fast gathers
    d = torch.view_as_real(pc.index_select(0, seg_at) - pc.index_select(0, seg_at - 1))
    seg = torch.zeros(B * S * N, dtype=points.dtype, device=dev)
    seg[seg_at] = d.norm(dim=-1)  # segment j of a stroke at its point j + 1; a stroke's point 0 keeps 0
    cum = seg.view(B * S, N).cumsum(-1)  # cum[:, 0] = 0, as arc_length_param's leading zero
    total = cum[:, -1].clamp(min=1e-9)
    u = cum.reshape(-1).index_select(0, sid * N + pos) / total.index_select(0, sid)
    return u, sid, pos


def _smoothstep(x: torch.Tensor) -> torch.Tensor:
    x = x.clamp(0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def width_profile(draws: Draws, u: torch.Tensor, base: torch.Tensor, taper: float = 1.0, swell: float = 0.25,
                  slots: int | None = None):
    """Pen pressure along each stroke: tapering ends and brush-like swelling.

    ``u`` (B, S, N) arc-length parameter, ``base`` (B, S) width; ``taper`` scales how strongly ends
    thin (0 = none), ``swell`` the amplitude of the slow width oscillation. ``slots`` (>= S) fixes
    how many strokes' worth of numbers are drawn, so that padding S to a batch's largest sample
    does not move any sample's draws.
    """
    return _profile(u, base, *_pressure(draws, u.shape[1], slots, taper, swell), None)


def _pressure(draws: Draws, S: int, slots: int | None, taper: float, swell: float):
    n = S if slots is None else slots
    tips = 1.0 - taper * draws.uniform(n, 2, low=0.0, high=0.7)[:, :S]  # width fraction left at each tip
    length = draws.uniform(n, 2, low=0.08, high=0.3)[:, :S]  # fraction of the stroke the taper takes
    amp = swell * draws.uniform(n)[:, :S]
    freq = draws.uniform(n, low=0.5, high=1.6)[:, :S]
    phase = draws.uniform(n)[:, :S]
    return tips, length, amp, freq, phase


def stroke_widths(draws: Draws, points: torch.Tensor, seg_valid: torch.Tensor, base: torch.Tensor,
                  max_width: float, taper: float = 1.0, swell: float = 0.25) -> torch.Tensor:
    """``width_profile(draws, arc_length_param(points, seg_valid), base, taper, swell).clamp(max=max_width)``,
    the same numbers, computed once per distinct point: past a stroke's end u, so the width, is constant."""
    B, S, N, _ = points.shape
    count = seg_valid.sum(-1) + 1  # points per stroke (seg_valid is a prefix)
    u, sid, pos = _arc_length_at_points(points, count)
    tips, length, amp, freq, phase = _pressure(draws, S, None, taper, swell)
    par = torch.cat([base[..., None], tips, length, amp[..., None], freq[..., None], phase[..., None]], -1)
    par = par.reshape(B * S, 8).index_select(0, sid)  # each point's stroke's numbers
    w = _profile(u[:, None], par[:, 0], par[:, 1:3], par[:, 3:5], par[:, 5], par[:, 6], par[:, 7], max_width)
    cnt = count.reshape(-1)
    last = cnt.cumsum(0) - 1  # each stroke's last point
    src = (last - cnt + 1)[:, None] + torch.minimum(torch.arange(N, device=points.device), (cnt - 1)[:, None])
    return w.reshape(-1).index_select(0, src.reshape(-1)).reshape(B, S, N)


def _profile(u, base, tips, length, amp, freq, phase, max_width):
    start = tips[..., 0:1] + (1 - tips[..., 0:1]) * _smoothstep(u / length[..., 0:1])
    end = tips[..., 1:2] + (1 - tips[..., 1:2]) * _smoothstep((1 - u) / length[..., 1:2])
    wave = 1.0 + amp[..., None] * torch.sin(2 * math.pi * (freq[..., None] * u + phase[..., None]))
    w = (base[..., None] * start * end * wave).clamp(min=0.7)
    return w if max_width is None else w.clamp(max=max_width)


# ----------------------------------------------------------------------------- primitives
def _dir(angle: torch.Tensor) -> torch.Tensor:
    return torch.stack([torch.cos(angle), torch.sin(angle)], dim=-1)


def _line_piece(a: torch.Tensor, b: torch.Tensor, bow: torch.Tensor | None = None) -> torch.Tensor:
    d = b - a
    n = torch.stack([-d[..., 1], d[..., 0]], dim=-1)
    off = 0.0 if bow is None else bow[..., None] * n
    return torch.stack([a, a + d / 3 + off, a + 2 * d / 3 + off, b], dim=-2)


def out_member(c: torch.Tensor, angle: torch.Tensor, length: torch.Tensor, bend: torch.Tensor) -> torch.Tensor:
    """One Bézier piece leaving ``c`` in direction ``angle``: tangent at ``c`` exactly that direction,
    curving by ``bend`` radians towards its end (a circular-looking arc for small bends)."""
    d = _dir(angle)
    e = c + length[..., None] * _dir(angle + bend)
    return torch.stack([c, c + d * length[..., None] / 3, e - _dir(angle + 2 * bend) * length[..., None] / 3, e],
                       dim=-2)


def primitive(draws: Draws, shape: tuple[int, ...], kinds: torch.Tensor, only: int | None = None):
    """Free-standing strokes of the given kinds, in an arbitrary frame (fit them with ``fit_to_box``).

    kinds: 0 line, 1 smooth curve, 2 arc, 3 polyline with sharp corners, 4 hook, 5 closed loop.
    Returns ctrl (B, *shape, PIECES, 4, 2), piece_valid (B, *shape, PIECES), closed (B, *shape).
    Every kind draws its numbers whatever is chosen, so the slots of later draws never move.
    ``only``: every entry of ``kinds`` is this kind (a shortcut: the other kinds are not built).
    """
    dt, dev = draws.dtype, draws.keys.device
    B = draws.batch
    P = PIECES
    zero = torch.zeros(B, *shape, 2, dtype=dt, device=dev)
    a0 = zero
    # every number, in the fixed order of the slots
    ang = draws.uniform(*shape, high=2 * math.pi)
    if only == 3:
        draws.skip(_numel(shape) * 12)  # line, curve and arc numbers
    else:
        line_bow = draws.uniform(*shape, low=-0.08, high=0.08)
        turn1 = draws.uniform(*shape, low=-0.9, high=0.9)
        turn2 = draws.uniform(*shape, low=-0.9, high=0.9)
        mid_len = draws.uniform(*shape, low=0.4, high=1.0)
        t0_turn = draws.uniform(*shape, low=-0.6, high=0.6)
        arm = draws.uniform(*shape, 4, low=0.2, high=0.4)
        sweep = draws.uniform(*shape, low=math.radians(60), high=math.radians(300))
        start = draws.uniform(*shape, high=2 * math.pi)
        aspect = draws.uniform(*shape, low=0.6, high=1.0)
    n_poly = draws.integers(2, PIECES, *shape)
    steps = draws.uniform(*shape, PIECES, low=0.5, high=1.0)
    turns = draws.uniform(*shape, PIECES, low=math.radians(50), high=math.radians(150))
    signs = torch.where(draws.uniform(*shape, PIECES) < 0.5, -1.0, 1.0).to(dt)

    # polyline: up to four straight pieces turning by 50-150 degrees at each corner
    heading = ang[..., None] + torch.cat([torch.zeros_like(turns[..., :1]), (turns * signs)[..., 1:]], -1).cumsum(-1)
    verts = torch.cat([zero[..., None, :], (steps[..., None] * _dir(heading)).cumsum(-2)], dim=-2)  # (.., P+1, 2)
    poly = _line_piece(verts[..., :-1, :], verts[..., 1:, :])  # (..., P, 4, 2)
    if only == 3:
        draws.skip(_numel(shape) * 3)  # hook numbers
        return poly, torch.arange(P, device=dev) < n_poly[..., None], kinds == 5

    hook_turn = draws.uniform(*shape, low=math.radians(100), high=math.radians(160)) * signs[..., 0]
    hook_len = draws.uniform(*shape, low=0.12, high=0.25)
    body_bow = draws.uniform(*shape, low=-0.12, high=0.12)

    # line: one piece, a slight bow
    p1 = _dir(ang)
    line = _line_piece(a0, p1, line_bow)

    # smooth curve: two Hermite pieces through a middle point, tangents off the chords
    p2 = p1 + mid_len[..., None] * _dir(ang + turn1)
    t0 = _dir(ang + t0_turn)
    t1 = _dir(ang + turn1 / 2)
    t2 = _dir(ang + turn1 + turn2)
    curve1 = torch.stack([a0, a0 + t0 * arm[..., 0:1], p1 - t1 * arm[..., 1:2], p1], dim=-2)
    curve2 = torch.stack([p1, p1 + t1 * arm[..., 2:3] * mid_len[..., None],
                          p2 - t2 * arm[..., 3:4] * mid_len[..., None], p2], dim=-2)

    # arc (and closed loop): four pieces of a quarter of the sweep; ellipse by axis scaling
    total = torch.stack([sweep, torch.full_like(sweep, 2 * math.pi)])  # (2, B, *shape): arc, loop
    step = total / PIECES
    k = (4.0 / 3.0 * torch.sin(step / 4) / torch.cos(step / 4))[..., None, None]
    at = start[..., None] + torch.arange(P + 1, dtype=dt, device=dev) * step[..., None]  # piece ends' angles
    pd, td = _dir(at), _dir(at + math.pi / 2)
    pa, pb, ta, tb = pd[..., :-1, :], pd[..., 1:, :], td[..., :-1, :], td[..., 1:, :]
    arcs = torch.stack([pa, pa + k * ta, pb - k * tb, pb], dim=-2)  # (2, B, *shape, P, 4, 2)
    arcs = arcs * torch.stack([torch.ones_like(aspect), aspect], -1)[..., None, None, :]

    # hook: a long stroke ending in a short sharp turn
    body = _line_piece(a0, p1, body_bow)
    tip = out_member(p1, ang + hook_turn, hook_len, torch.zeros_like(hook_len))

    z = torch.zeros_like(line)
    options = torch.stack([
        torch.stack([line, z, z, z], -3),
        torch.stack([curve1, curve2, z, z], -3),
        arcs[0],
        poly,
        torch.stack([body, tip, z, z], -3),
        arcs[1],
        torch.stack([z, z, z, z], -3),  # an unknown kind: no pieces
    ], -4)  # (B, *shape, 7, P, 4, 2)
    known = (kinds >= 0) & (kinds < 6)
    pick = torch.where(known, kinds, 6)
    ctrl = options.gather(-4, pick[..., None, None, None, None].expand(*pick.shape, 1, P, 4, 2)).squeeze(-4)
    count = torch.tensor([1, 2, P, 0, 2, P, 0], device=dev).index_select(0, pick.reshape(-1)).reshape(pick.shape)
    count = torch.where(kinds == 3, n_poly, count)
    piece_valid = torch.arange(P, device=dev) < count[..., None]
    return ctrl, piece_valid, kinds == 5


def _numel(shape: tuple[int, ...]) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


def fit_to_box(ctrl: torch.Tensor, piece_valid: torch.Tensor, box: torch.Tensor, fill: torch.Tensor,
               offset: torch.Tensor) -> torch.Tensor:
    """Scale (keeping the aspect ratio) and move strokes into ``box`` (..., 4) = x0, y0, x1, y1.

    ``fill`` in (0, 1] is the fraction of the box the stroke's larger side takes; ``offset`` (..., 2)
    in [0, 1] places it in the free space. The control hull bounds the curve, so it stays inside.
    """
    valid = piece_valid[..., None, None].expand_as(ctrl)
    big = torch.finfo(ctrl.dtype).max
    lo = torch.where(valid, ctrl, big).amin(dim=(-3, -2))
    hi = torch.where(valid, ctrl, -big).amax(dim=(-3, -2))
    size = (hi - lo).clamp(min=1e-9)
    box_size = box[..., 2:] - box[..., :2]
    scale = fill * (box_size / size).amin(-1)  # (...)
    free = box_size - size * scale[..., None]
    origin = box[..., :2] + free * offset
    return (ctrl - lo[..., None, None, :]) * scale[..., None, None, None] + origin[..., None, None, :]
