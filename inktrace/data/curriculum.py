"""The curriculum: what each level 0-9 draws. Every number below is a documented design choice.

| level | content |
|---|---|
| 0 | one stroke: line 25 %, smooth curve 30 %, arc 15 %, polyline with corners 15 %, hook 10 %, |
|   | closed loop 5 % |
| 1 | two independent strokes, each in its own band of the image (gap 12 % of the side) |
| 2 | two or three independent strokes, gap 6 % |
| 3 | three to five independent strokes, gap 2 % |
| 4 | one connected structure (X, T, Y, L junction 85 %, multi-corner polyline 15 %) |
|   | + 50 % a free stroke |
| 5 | two structures (X crossings 10 % shallow, 12-30 degrees) + 50 % a free stroke; |
|   | more curved members, tails |
| 6 | two or three structures, 25 % shallow crossings, strongly curved members, corner tails |
| 7-9 | mixed: 15 % level-0, 30 % level-3, 55 % level-6 content, with scan degradations |
|     | (see degrade.py) |

Structures are built around an exact junction point: crossing members pass through it with the
chosen tangent (so a crossing angle is exact), T stems and Y/L members start exactly on it.
Widths are log-uniform, about 1 to 8 px at 64 px (scaled with the image size); from level 0,
15 % of strokes are drawn in a box larger than the image, so they touch or leave the border.

Optional (``make_strokes(pens=..., cursive=...)``, config ``data.pens``/``data.cursive_fraction``):
each sample drawn with a pen model of pens.py, and from level 4 a share of samples replaced by a
cursive word (cursive.py). Their numbers come from forks of their own, so the defaults (classic
pen, no cursive) leave every stream above as it was.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from .bezier import flatten_pieces
from .cursive import WIDTH as CURSIVE_WIDTH
from .cursive import make_cursive
from .geometry import Strokes
from .pen import stroke_widths
from .pens import choose_pens, is_classic, remap_base, with_pens
from .primitives import PIECES, fit_to_box, out_member, primitive
from .rng import Draws

Pieces = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]  # ctrl, valid, closed, group

__all__ = [
    "NUM_LEVELS",
    "LevelSpec",
    "LEVELS",
    "make_strokes",
    "DEGRADED_FROM",
    "CURSIVE_FROM",
    "cursive_samples",
    "replace_rows",
    "pad_strokes",
]

NUM_LEVELS = 10
DEGRADED_FROM = 7  # levels from here on get scan degradations
CURSIVE_FROM = 4  # levels from here on may draw cursive words (data.cursive_fraction)
PEN_WIDTH_ROOM = 1.3  # the pens' widest point (a pressed start) may exceed the level's maximum
_CURSIVE_FORK = 0xC0A  # which samples are cursive, their words and their widths


@dataclass(frozen=True)
class LevelSpec:
    kind: str  # "single" | "independent" | "connected" | "mixed"
    strokes: tuple[int, int] = (1, 1)  # independent strokes, min and max
    gap: float = 0.0  # independent: empty space between bands, fraction of the side
    motifs: tuple[int, int] = (0, 0)  # connected: structures, min and max
    extra: float = 0.0  # connected: probability of one more free stroke
    shallow: float = 0.0  # connected: probability that a crossing is shallow (12-30 degrees)
    tails: float = 0.0  # connected: probability that a member ends in a corner tail
    bend: float = 0.25  # connected: max bend of a member, radians
    width: tuple[float, float] = (1.5, 6.0)  # stroke width range in px at 64 px


LEVELS: dict[int, LevelSpec] = {
    0: LevelSpec("single", width=(1.5, 6.0)),
    1: LevelSpec("independent", strokes=(2, 2), gap=0.12, width=(1.2, 6.0)),
    2: LevelSpec("independent", strokes=(2, 3), gap=0.06, width=(1.2, 6.0)),
    3: LevelSpec("independent", strokes=(3, 5), gap=0.02, width=(1.0, 6.5)),
    4: LevelSpec("connected", motifs=(1, 1), extra=0.5, tails=0.1, bend=0.25, width=(1.0, 7.0)),
    5: LevelSpec(
        "connected", motifs=(2, 2), extra=0.5, shallow=0.1, tails=0.2, bend=0.35, width=(1.0, 7.0)
    ),
    6: LevelSpec("connected", motifs=(2, 3), shallow=0.25, tails=0.3, bend=0.5, width=(1.0, 7.0)),
    7: LevelSpec("mixed", width=(0.8, 8.0)),
    8: LevelSpec("mixed", width=(0.8, 8.0)),
    9: LevelSpec("mixed", width=(0.8, 8.0)),
}

_SINGLE_KINDS = [0.25, 0.30, 0.15, 0.15, 0.10, 0.05]
_FREE_KINDS = [0.20, 0.30, 0.15, 0.15, 0.10, 0.10]
_BORDER = 0.15  # strokes drawn in a box larger than the image
_MOTIF_TYPES = [0.25, 0.25, 0.20, 0.15, 0.15]  # X, T, Y, L, polyline


def _placed_primitives(
    d: Draws,
    n: int,
    probs: list[float],
    box: torch.Tensor,
    img: float,
    outward: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``n`` free strokes per sample, each fitted into its own box (B, n, 4).

    A border stroke's box grows by 12 % of the image on the sides where ``outward`` (B, n, 4) is
    set (all by default), so it leaves the image there without reaching a neighbour's box.
    """
    d.reserve(34 * n)  # all the slots drawn below, hashed at once
    kinds = d.choice(probs, n)
    ctrl, valid, closed = primitive(d, (n,), kinds)
    border = d.uniform(n) < _BORDER
    grow = 0.12 * img
    sides = torch.tensor([-grow, -grow, grow, grow], dtype=box.dtype)
    big = box + sides * (1.0 if outward is None else outward.to(box.dtype))
    box = torch.where(border[..., None], big, box)
    fill = torch.where(border, 1.0, d.uniform(n, low=0.55, high=1.0))
    ctrl = fit_to_box(ctrl, valid, box, fill, d.uniform(n, 2))
    return ctrl, valid, closed


def _single(d: Draws, img: float) -> Pieces:
    m = 0.08 * img
    box = torch.tensor([m, m, img - m, img - m], dtype=d.dtype).expand(d.batch, 1, 4)
    ctrl, valid, closed = _placed_primitives(d, 1, _SINGLE_KINDS, box, img)
    return ctrl, valid, closed, torch.zeros(d.batch, 1, dtype=torch.long)


def _independent(d: Draws, spec: LevelSpec, img: float) -> Pieces:
    lo, hi = spec.strokes
    d.reserve(2 + 34 * hi)
    count = d.integers(
        lo,
        hi,
    )
    vertical = d.uniform() < 0.5  # bands side by side (True) or stacked
    j = torch.arange(hi, dtype=d.dtype)
    k = count.to(d.dtype)[:, None]
    m = 0.06 * img
    span = img - 2 * m
    a = m + span * (j / k)
    b = m + span * ((j + 1) / k) - span * spec.gap
    across0 = torch.full_like(a, m)
    across1 = torch.full_like(a, img - m)
    box_v = torch.stack([a, across0, b, across1], -1)
    box_h = torch.stack([across0, a, across1, b], -1)
    box = torch.where(vertical[:, None, None], box_v, box_h)
    # border strokes leave the image across their band, and along it only from the outer bands
    first, last = (j == 0).expand_as(a), j == (k - 1)
    ones = torch.ones_like(first)
    out_v = torch.stack([first, ones, last, ones], -1)
    out_h = torch.stack([ones, first, ones, last], -1)
    outward = torch.where(vertical[:, None, None], out_v, out_h)
    ctrl, valid, closed = _placed_primitives(d, hi, _FREE_KINDS, box, img, outward)
    valid = valid & (torch.arange(hi) < count[:, None])[..., None]
    return ctrl, valid, closed & valid[..., 0], torch.arange(hi).expand(d.batch, hi)


def _motifs(d: Draws, spec: LevelSpec, img: float) -> Pieces:
    """Connected structures: (B, M*3 + 1) strokes and a group id per stroke (members share a
    pen)."""
    n_lo, n_hi = spec.motifs
    M = n_hi
    d.reserve(67 * M + 36)
    n = d.integers(n_lo, n_hi)
    dt = d.dtype
    spread = (0.25, 0.75) if M == 1 else (0.18, 0.82)
    c = d.uniform(M, 2, low=spread[0] * img, high=spread[1] * img)  # (B, M, 2) junction points
    theta = d.uniform(M, high=2 * math.pi)
    types = d.choice(_MOTIF_TYPES, M)
    shallow = d.uniform(M) < spec.shallow
    x_angle = torch.where(
        shallow,
        d.uniform(M, low=math.radians(12), high=math.radians(30)),
        d.uniform(M, low=math.radians(40), high=math.radians(90)),
    )
    t_angle = d.uniform(M, low=math.radians(50), high=math.radians(130))
    y_gap = d.uniform(M, 2, low=math.radians(70), high=math.radians(140))
    l_angle = d.uniform(M, low=math.radians(45), high=math.radians(150))
    lengths = d.uniform(M, 3, 2, low=0.18 * img, high=0.42 * img)
    bends = d.uniform(M, 3, 2, low=-spec.bend, high=spec.bend)
    has_tail = d.uniform(M, 3) < spec.tails
    tail_turn = d.uniform(M, 3, low=math.radians(60), high=math.radians(140))
    tail_turn = torch.where(d.uniform(M, 3) < 0.5, -tail_turn, tail_turn)
    tail_len = d.uniform(M, 3, low=0.08 * img, high=0.18 * img)
    poly_ctrl, poly_valid, _ = primitive(d, (M,), torch.full((d.batch, M), 3), only=3)
    poly_box = torch.cat([c - 0.35 * img, c + 0.35 * img], -1)
    poly_ctrl = fit_to_box(
        poly_ctrl, poly_valid, poly_box, d.uniform(M, low=0.7, high=1.0), d.uniform(M, 2)
    )

    # per structure three members (B, M, 3): their direction at c, whether they pass through c
    # (else they start there), and whether they exist for this structure type
    X, T, Y, L, P = (types == i for i in range(5))
    zero = torch.zeros_like(theta)
    dirs = torch.stack(
        [
            theta,
            theta
            + torch.where(
                X, x_angle, torch.where(T, t_angle, torch.where(Y, y_gap[..., 0], l_angle))
            ),
            theta + y_gap[..., 0] + y_gap[..., 1],
        ],
        -1,
    )
    through = torch.stack([X | T, X, zero.bool()], -1)
    exists = torch.stack([torch.ones_like(P), ~P, Y], -1)

    cm = c[:, :, None, :].expand(-1, -1, 3, -1)
    piece_b = out_member(cm, dirs, lengths[..., 1], bends[..., 1])
    piece_a = torch.flip(out_member(cm, dirs + math.pi, lengths[..., 0], bends[..., 0]), dims=[-2])
    end = piece_b[..., 3, :]
    end_dir = dirs + 2 * bends[..., 1]
    tail = out_member(end, end_dir + tail_turn, tail_len, torch.zeros_like(tail_len))

    B = d.batch
    ctrl = torch.zeros(B, M, 3, PIECES, 4, 2, dtype=dt)
    # through members: [A reversed, B, tail]; out members: [B, tail]
    ctrl[..., 0, :, :] = torch.where(through[..., None, None], piece_a, piece_b)
    ctrl[..., 1, :, :] = torch.where(through[..., None, None], piece_b, tail)
    ctrl[..., 2, :, :] = tail
    count = torch.where(through, 2, 1) + has_tail.long()
    ctrl[:, :, 0] = torch.where(P[..., None, None, None], poly_ctrl, ctrl[:, :, 0])
    count[..., 0] = torch.where(P, poly_valid.sum(-1), count[..., 0])
    count = torch.where(exists, count, 0)
    count = torch.where((torch.arange(M) < n[:, None])[..., None], count, 0)
    valid = torch.arange(PIECES) < count[..., None]
    group = torch.arange(M)[:, None].expand(M, 3).reshape(-1)
    ctrl, valid = ctrl.reshape(B, M * 3, PIECES, 4, 2), valid.reshape(B, M * 3, PIECES)

    m = 0.08 * img
    box = torch.tensor([m, m, img - m, img - m], dtype=dt).expand(B, 1, 4)
    e_ctrl, e_valid, e_closed = _placed_primitives(d, 1, _FREE_KINDS, box, img)
    e_valid = e_valid & (d.uniform(1) < spec.extra)[..., None]
    ctrl = torch.cat([ctrl, e_ctrl], 1)
    valid = torch.cat([valid, e_valid], 1)
    closed = torch.cat([torch.zeros(B, M * 3, dtype=torch.bool), e_closed & e_valid[..., 0]], 1)
    return ctrl, valid, closed, torch.cat([group, torch.tensor([M])]).expand(B, -1)


def _pieces(level: int, d: Draws, img: float) -> Pieces:
    spec = LEVELS[level]
    if spec.kind == "single":
        return _single(d, img)
    if spec.kind == "independent":
        return _independent(d, spec, img)
    if spec.kind == "connected":
        return _motifs(d, spec, img)
    # mixed: every recipe is drawn from its own sub-stream, then one is chosen per sample
    parts = [_pieces(0, d.fork(0), img), _pieces(3, d.fork(3), img), _pieces(6, d.fork(6), img)]
    which = d.choice([0.15, 0.30, 0.55])
    S = max(p[0].shape[1] for p in parts)
    out: list[torch.Tensor] = []
    for i, (ctrl, valid, closed, group) in enumerate(parts):
        pad = S - ctrl.shape[1]
        ctrl = torch.cat([ctrl, ctrl.new_zeros(ctrl.shape[0], pad, *ctrl.shape[2:])], 1)
        valid = torch.cat([valid, valid.new_zeros(valid.shape[0], pad, valid.shape[2])], 1)
        closed = torch.cat([closed, closed.new_zeros(closed.shape[0], pad)], 1)
        group = torch.cat([group, group.new_full((group.shape[0], pad), S)], 1)
        if not out:
            out = [ctrl, valid, closed, group]
        else:
            sel = which == i
            out = [
                torch.where(sel.view(-1, *([1] * (x.dim() - 1))), x, o)
                for x, o in zip((ctrl, valid, closed, group), out)
            ]
    ctrl, valid, closed, group = out
    return ctrl, valid, closed, group


def make_strokes(
    level: int,
    draws: Draws,
    img_size: int,
    pens: Sequence[str] | None = None,
    cursive: float = 0.0,
) -> Strokes:
    """The strokes of a batch of samples at curriculum ``level`` (0-9), in pixels of
    ``img_size``.

    ``pens`` (names of pens.py) draws each sample with one of them, chosen from its key; the
    default, ``("classic",)``, is the engine before pens, bit for bit. ``cursive`` is the share
    of samples at levels >= ``CURSIVE_FROM`` replaced by a cursive word (cursive.py).
    """
    if level not in LEVELS:
        raise ValueError(f"curriculum level must be 0-{NUM_LEVELS - 1}, got {level}")
    if not 0.0 <= cursive <= 1.0:
        raise ValueError(f"cursive share must be within 0-1, got {cursive}")
    img = float(img_size)
    ctrl, valid, closed, group = _pieces(level, draws.fork(100), img)
    points, seg_valid = flatten_pieces(ctrl, valid)
    spec = LEVELS[level]
    wd = draws.fork(200)
    scale = img / 64.0
    S = points.shape[1]
    lo, hi = spec.width
    wd.reserve(9 * S + 1)
    pen = wd.log_uniform(lo * scale, hi * scale, S + 1)  # one pen per group (members share it)
    base = pen.gather(1, group.clamp(max=S)) * wd.uniform(S, low=0.85, high=1.2)
    max_width = hi * scale * 1.15
    if pens is None or is_classic(pens):
        widths = stroke_widths(wd, points, seg_valid, base, max_width)
        strokes = Strokes(points, widths, seg_valid, closed)
    else:
        ids = choose_pens(draws.keys, pens)
        strokes = with_pens(
            ids,
            draws,
            points,
            seg_valid,
            closed,
            remap_base(base, ids, spec.width, scale),
            max_width * PEN_WIDTH_ROOM,
            lambda p, v: stroke_widths(wd, p, v, base, max_width),
        )
    if cursive > 0.0 and level >= CURSIVE_FROM:
        strokes = _with_cursive(strokes, draws, img_size, pens, cursive)
    return strokes


def cursive_samples(draws: Draws, cursive: float, level: int) -> torch.Tensor:
    """Which samples (B,) bool are cursive words at ``level`` with a share ``cursive``."""
    if cursive <= 0.0 or level < CURSIVE_FROM:
        return torch.zeros(draws.batch, dtype=torch.bool)
    return draws.fork(_CURSIVE_FORK).uniform() < cursive


def _with_cursive(
    strokes: Strokes, draws: Draws, img_size: int, pens: Sequence[str] | None, cursive: float
) -> Strokes:
    """``strokes`` with the cursive samples' rows replaced by their words."""
    pick = cursive_samples(draws, cursive, CURSIVE_FROM)
    sel = pick.nonzero(as_tuple=True)[0]
    if not sel.numel():
        return strokes
    sub = Draws(draws.keys[sel], draws.dtype)
    word = make_cursive(sub.fork(_CURSIVE_FORK + 1), img_size)
    points, seg_valid, closed, base = word.points, word.seg_valid, word.closed, word.base
    wd = sub.fork(_CURSIVE_FORK + 2)
    max_width = CURSIVE_WIDTH[1] * img_size / 64.0 * 1.15
    if pens is None or is_classic(pens):
        words = Strokes(
            points, stroke_widths(wd, points, seg_valid, base, max_width), seg_valid, closed
        )
    else:
        ids = choose_pens(sub.keys, pens)
        words = with_pens(
            ids,
            sub,
            points,
            seg_valid,
            closed,
            remap_base(base, ids, CURSIVE_WIDTH, img_size / 64.0),
            max_width * PEN_WIDTH_ROOM,
            lambda p, v: stroke_widths(wd, p, v, base, max_width),
        )
    return replace_rows(strokes, sel, words)


def replace_rows(strokes: Strokes, rows: torch.Tensor, other: Strokes) -> Strokes:
    """``strokes`` with its samples ``rows`` replaced by ``other``'s, both padded to the larger
    stroke and point counts (padding repeats a stroke's last point, as everywhere)."""
    S = max(strokes.points.shape[1], other.points.shape[1])
    N = max(strokes.points.shape[2], other.points.shape[2])
    out = pad_strokes(strokes, S, N)
    add = pad_strokes(other, S, N)
    out.points[rows], out.widths[rows] = add.points, add.widths
    out.seg_valid[rows], out.closed[rows] = add.seg_valid, add.closed
    return out


def pad_strokes(strokes: Strokes, S: int, N: int) -> Strokes:
    """``strokes`` padded to ``S`` strokes of ``N`` points (a new object, new tensors)."""
    B, s, n, _ = strokes.points.shape
    p = torch.cat([strokes.points, strokes.points[:, :, -1:].expand(B, s, N - n, 2)], 2)
    w = torch.cat([strokes.widths, strokes.widths[:, :, -1:].expand(B, s, N - n)], 2)
    v = torch.cat([strokes.seg_valid, strokes.seg_valid.new_zeros(B, s, N - n)], 2)
    p = torch.cat([p, p.new_zeros(B, S - s, N, 2)], 1)
    w = torch.cat([w, w.new_ones(B, S - s, N)], 1)
    v = torch.cat([v, v.new_zeros(B, S - s, N - 1)], 1)
    c = torch.cat([strokes.closed, strokes.closed.new_zeros(B, S - s)], 1)
    return Strokes(p, w, v, c)
