"""Stroke shapes as cubic Bézier chains: the free-standing primitives (line, smooth curve, arc,
sharp-cornered polyline, hook, closed loop), single members leaving a point, and fitting shapes
into a box. All numbers come from the counter-based generator (rng.py) in fixed slots.
"""

from __future__ import annotations

import math

import torch

from .rng import Draws

__all__ = ["PIECES", "primitive", "out_member", "fit_to_box"]

PIECES = 4  # Bézier pieces per stroke at most


def _dir(angle: torch.Tensor) -> torch.Tensor:
    return torch.stack([torch.cos(angle), torch.sin(angle)], dim=-1)


def _line_piece(a: torch.Tensor, b: torch.Tensor, bow: torch.Tensor | None = None) -> torch.Tensor:
    d = b - a
    n = torch.stack([-d[..., 1], d[..., 0]], dim=-1)
    off = 0.0 if bow is None else bow[..., None] * n
    return torch.stack([a, a + d / 3 + off, a + 2 * d / 3 + off, b], dim=-2)


def out_member(
    c: torch.Tensor, angle: torch.Tensor, length: torch.Tensor, bend: torch.Tensor
) -> torch.Tensor:
    """One Bézier piece leaving ``c`` in direction ``angle``: tangent at ``c`` exactly that
    direction, curving by ``bend`` radians towards its end (a circular-looking arc for small
    bends)."""
    d = _dir(angle)
    e = c + length[..., None] * _dir(angle + bend)
    return torch.stack(
        [c, c + d * length[..., None] / 3, e - _dir(angle + 2 * bend) * length[..., None] / 3, e],
        dim=-2,
    )


def primitive(
    draws: Draws, shape: tuple[int, ...], kinds: torch.Tensor, only: int | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Free-standing strokes of the given kinds, in an arbitrary frame (fit them with
    ``fit_to_box``).

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
    heading = ang[..., None] + torch.cat(
        [torch.zeros_like(turns[..., :1]), (turns * signs)[..., 1:]], -1
    ).cumsum(-1)
    verts = torch.cat(
        [zero[..., None, :], (steps[..., None] * _dir(heading)).cumsum(-2)], dim=-2
    )  # (.., P+1, 2)
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
    curve2 = torch.stack(
        [
            p1,
            p1 + t1 * arm[..., 2:3] * mid_len[..., None],
            p2 - t2 * arm[..., 3:4] * mid_len[..., None],
            p2,
        ],
        dim=-2,
    )

    # arc (and closed loop): four pieces of a quarter of the sweep; ellipse by axis scaling
    total = torch.stack([sweep, torch.full_like(sweep, 2 * math.pi)])  # (2, B, *shape): arc, loop
    step = total / PIECES
    k = (4.0 / 3.0 * torch.sin(step / 4) / torch.cos(step / 4))[..., None, None]
    at = (
        start[..., None] + torch.arange(P + 1, dtype=dt, device=dev) * step[..., None]
    )  # piece ends' angles
    pd, td = _dir(at), _dir(at + math.pi / 2)
    pa, pb, ta, tb = pd[..., :-1, :], pd[..., 1:, :], td[..., :-1, :], td[..., 1:, :]
    arcs = torch.stack([pa, pa + k * ta, pb - k * tb, pb], dim=-2)  # (2, B, *shape, P, 4, 2)
    arcs = arcs * torch.stack([torch.ones_like(aspect), aspect], -1)[..., None, None, :]

    # hook: a long stroke ending in a short sharp turn
    body = _line_piece(a0, p1, body_bow)
    tip = out_member(p1, ang + hook_turn, hook_len, torch.zeros_like(hook_len))

    z = torch.zeros_like(line)
    options = torch.stack(
        [
            torch.stack([line, z, z, z], -3),
            torch.stack([curve1, curve2, z, z], -3),
            arcs[0],
            poly,
            torch.stack([body, tip, z, z], -3),
            arcs[1],
            torch.stack([z, z, z, z], -3),  # an unknown kind: no pieces
        ],
        -4,
    )  # (B, *shape, 7, P, 4, 2)
    known = (kinds >= 0) & (kinds < 6)
    pick = torch.where(known, kinds, 6)
    ctrl = options.gather(
        -4, pick[..., None, None, None, None].expand(*pick.shape, 1, P, 4, 2)
    ).squeeze(-4)
    count = (
        torch.tensor([1, 2, P, 0, 2, P, 0], device=dev)
        .index_select(0, pick.reshape(-1))
        .reshape(pick.shape)
    )
    count = torch.where(kinds == 3, n_poly, count)
    piece_valid = torch.arange(P, device=dev) < count[..., None]
    return ctrl, piece_valid, kinds == 5


def _numel(shape: tuple[int, ...]) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


def fit_to_box(
    ctrl: torch.Tensor,
    piece_valid: torch.Tensor,
    box: torch.Tensor,
    fill: torch.Tensor,
    offset: torch.Tensor,
) -> torch.Tensor:
    """Scale (keeping the aspect ratio) and move strokes into ``box`` (..., 4) = x0, y0, x1, y1.

    ``fill`` in (0, 1] is the fraction of the box the stroke's larger side takes; ``offset``
    (..., 2) in [0, 1] places it in the free space. The control hull bounds the curve, so it stays
    inside.
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
    return (ctrl - lo[..., None, None, :]) * scale[..., None, None, None] + origin[
        ..., None, None, :
    ]
