"""Pen models: how a writing tool shapes a stroke's width (geometry) and its ink (image texture).

A pen changes two things, kept strictly apart so that every target stays exact:

- **geometry**: the width along each centreline (``Strokes.widths``): pressure, a pressed start,
  tapered ends, a shoulder at turns, ink pooling where a slow pen turns. The targets are computed
  from this geometry (render.py), so they follow it exactly.
- **texture**: what the ink coverage looks like (pencil grain and grey tone, ballpoint skips,
  dry-brush bristle streaks and breaks, charcoal's laid-paper streaks). It changes only the
  image, before the scan degradations (degrade.py), never a target: the network learns to bridge
  it.

| pen | width (px at 64 px) | along the stroke | texture |
|---|---|---|---|
| classic | the level's range | today's engine: soft tapers, slow swelling (pen.py) | none |
| ballpoint | 0.8-2.2 | near constant, ink pooling blobs at sharp turns and ends | skips, tone |
| felt | 1.6-4.5 | near constant, rounded, small pooling at turns and ends | slightly uneven tone |
| brush | the level's range | pressed start, long tapered end, shoulder at turns, pressure | none |
| pencil | 0.9-2.6 | light pressure variation | grain, grey tone |
| drybrush | the level's range | as brush, pressed harder | bristle streaks, dry breaks |
| charcoal | the level's range | pressure, soft tapers | the paper's laid grain, grit, breaks |

``drybrush`` is the **held-out style** (``HELD_OUT``): the configuration refuses it for training
(``data.pens``), so the evaluation can measure how the model generalises to a pen it never saw;
render with it through ``SvgInk(..., pens=("drybrush",))`` or ``svg.render_glyphs``.

``charcoal`` (stop 42) splits broad strokes too, but not along the stroke: its streaks follow the
paper's laid lines, one direction for the whole sample, so a stroke running with them is streaked
lengthwise and one across them dashed. It teaches that ink broken into slivers is still one
stroke without drawing the held-out brush's streaks, which follow each stroke.

Every number is drawn from the sample's key (rng.py) through forks of its own, so a sample's pen is
the same in any batch, and the streams of the classic engine never move.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from .degrade import smooth_field
from .geometry import Strokes
from .pen import smoothstep
from .rng import Draws, uniform_field

__all__ = [
    "PEN_NAMES",
    "HELD_OUT",
    "TRAINING_PENS",
    "PenModel",
    "PENS",
    "check_pens",
    "choose_pens",
    "densify",
    "pen_widths",
    "apply_texture",
]


@dataclass(frozen=True)
class PenModel:
    """One pen's ranges; each (low, high) pair is drawn uniformly per stroke (or per sample)."""

    name: str
    width: tuple[float, float] | None  # px at 64 px; None: the level's own range
    start_tip: tuple[float, float]  # width fraction left at the start tip
    end_tip: tuple[float, float]  # ... and at the end tip
    taper: tuple[float, float]  # fraction of the stroke the end taper takes
    start_taper: tuple[float, float] | None  # ... and the start taper (None: as ``taper``)
    press: tuple[float, float]  # extra width of a pressed start (1 = twice as wide)
    press_len: float  # its length, in stroke widths
    turn: tuple[float, float]  # extra width at a sharp turn (brush shoulder, ink pooling)
    turn_len: float  # its half-length along the stroke, in stroke widths
    end_pool: tuple[float, float]  # extra width at both ends (a pen resting on the paper)
    swell: tuple[float, float]  # amplitude of the slow pressure wave
    texture: str  # "none" | "ballpoint" | "felt" | "pencil" | "dry" | "laid"
    tone: tuple[float, float]  # darkness of the ink (1 = full)


_NONE = (0.0, 0.0)


def _pen(name: str, **kw: Any) -> PenModel:
    defaults = dict(
        width=None,
        start_tip=(1.0, 1.0),
        end_tip=(1.0, 1.0),
        taper=(0.1, 0.1),
        start_taper=None,
        press=_NONE,
        press_len=1.0,
        turn=_NONE,
        turn_len=1.0,
        end_pool=_NONE,
        swell=_NONE,
        texture="none",
        tone=(1.0, 1.0),
    )
    return PenModel(name, **{**defaults, **kw})


PENS: dict[str, PenModel] = {
    p.name: p
    for p in (
        _pen("classic"),  # widths from pen.py (the engine before pens), no texture
        _pen(
            "ballpoint",
            width=(0.8, 2.2),
            start_tip=(0.75, 1.0),
            end_tip=(0.6, 0.95),
            taper=(0.03, 0.1),
            turn=(0.3, 0.8),
            turn_len=0.9,
            end_pool=(0.0, 0.35),
            swell=(0.0, 0.08),
            texture="ballpoint",
            tone=(0.7, 0.95),
        ),
        _pen(
            "felt",
            width=(1.6, 4.5),
            start_tip=(0.85, 1.0),
            end_tip=(0.8, 1.0),
            taper=(0.03, 0.08),
            turn=(0.1, 0.3),
            turn_len=0.8,
            end_pool=(0.05, 0.2),
            swell=(0.0, 0.05),
            texture="felt",
            tone=(0.8, 1.0),
        ),
        _pen(
            "brush",
            start_tip=(0.85, 1.0),
            end_tip=(0.08, 0.3),
            taper=(0.2, 0.45),
            start_taper=(0.02, 0.06),
            press=(0.5, 0.9),
            press_len=1.2,
            turn=(0.2, 0.45),
            swell=(0.05, 0.12),
        ),
        _pen(
            "pencil",
            width=(0.9, 2.6),
            start_tip=(0.6, 0.9),
            end_tip=(0.5, 0.85),
            taper=(0.05, 0.15),
            turn=(0.0, 0.1),
            swell=(0.05, 0.15),
            texture="pencil",
            tone=(0.45, 0.8),
        ),
        _pen(
            "drybrush",
            start_tip=(0.85, 1.0),
            end_tip=(0.05, 0.25),
            taper=(0.25, 0.5),
            start_taper=(0.02, 0.06),
            press=(0.6, 1.0),
            press_len=1.4,
            turn=(0.25, 0.5),
            swell=(0.08, 0.15),
            texture="dry",
            tone=(0.85, 1.0),
        ),
        _pen(  # after drybrush: the pens before it keep their ids
            "charcoal",
            start_tip=(0.6, 0.9),
            end_tip=(0.3, 0.7),
            taper=(0.1, 0.3),
            press=(0.1, 0.5),
            swell=(0.08, 0.2),
            texture="laid",
            tone=(0.75, 1.0),
        ),
    )
}
PEN_NAMES = tuple(PENS)  # a pen's id is its index here
HELD_OUT = ("drybrush",)  # never drawn in training: the evaluation's unseen style
TRAINING_PENS = tuple(p for p in PEN_NAMES if p not in HELD_OUT)
CLASSIC = PEN_NAMES.index("classic")

_CHOICE_FORK = 0x9E7  # which pen each sample gets
_WIDTH_FORK = 0x9E8  # the new pens' per-stroke numbers
_TEXTURE_FORK = 0x9E9  # their image texture
_SPACING = 1.0  # densified segments are at most this many stroke widths long ...
_MIN_SPACING = 1.5  # ... and never shorter than this in px
_COARSE = 0.15  # the coarse split: segments at most this share of their stroke's length
_REACH = 2.0  # the fine split reaches this many stroke widths from the ends and sharp turns
_SHARP = 0.6  # radians: a vertex turning more than this is a turn to densify around
_TURNS = 6  # the sharpest vertices of a stroke that shape its shoulders / pooling
_PER_STROKE = 10  # numbers drawn per stroke slot


def check_pens(pens: Sequence[str], training: bool = False) -> tuple[str, ...]:
    """``pens`` as a tuple of known names (ValueError naming the bad one); ``training`` refuses the
    held-out style."""
    if isinstance(pens, str):
        pens = (pens,)
    pens = tuple(pens)
    if not pens:
        raise ValueError("pens: give at least one pen")
    for p in pens:
        if p not in PENS:
            raise ValueError(f"pen {p!r}: unknown; the pens are {', '.join(PEN_NAMES)}")
        if training and p in HELD_OUT:
            raise ValueError(
                f"pen {p!r} is the held-out style, kept out of training so the evaluation "
                f"measures an unseen pen; train with {', '.join(TRAINING_PENS)}"
            )
    if len(set(pens)) != len(pens):
        raise ValueError(f"pens: {list(pens)} lists a pen twice")
    return pens


def is_classic(pens: Sequence[str] | None) -> bool:
    """True for the engine before pens (no pen draws at all: its streams stay bit-exact)."""
    return pens is None or tuple(pens) == ("classic",)


def choose_pens(keys: torch.Tensor, pens: Sequence[str]) -> torch.Tensor:
    """Each sample's pen (B,) as an index into ``PEN_NAMES``, equally likely among ``pens``,
    drawn from the sample's key."""
    pens = check_pens(pens)
    ids = torch.tensor([PEN_NAMES.index(p) for p in pens], dtype=torch.long)
    if len(pens) == 1:
        return ids.expand(keys.shape[0]).clone()
    pick = Draws(keys.cpu()).fork(_CHOICE_FORK).choice([1.0] * len(pens))
    return ids[pick]


def _table(field: str, pen_ids: torch.Tensor) -> torch.Tensor:
    """(B, 2) low/high of ``field`` for each sample's pen."""
    rows = [getattr(PENS[name], field) or PENS[name].taper for name in PEN_NAMES]
    return torch.tensor(rows, dtype=torch.float64)[pen_ids]


def remap_base(
    base: torch.Tensor, pen_ids: torch.Tensor, level_range: tuple[float, float], scale: float
) -> torch.Tensor:
    """Widths ``base`` (B, S) drawn log-uniformly in ``level_range`` (px at 64 px, times
    ``scale``) moved to the same relative place in each sample's pen range (if it has one)."""
    lo, hi = level_range
    t = (torch.log(base / (lo * scale)) / math.log(hi / lo)).clamp(0.0, 1.0)
    own = torch.tensor([PENS[n].width is not None for n in PEN_NAMES])[pen_ids]
    rng = torch.tensor([PENS[n].width or (lo, hi) for n in PEN_NAMES], dtype=base.dtype)[pen_ids]
    mapped = torch.exp(
        torch.log(rng[:, :1] * scale) + t * torch.log(rng[:, 1:] / rng[:, :1])
    )  # (B, S)
    return torch.where(own[:, None], mapped, base)


def densify(
    points: torch.Tensor, seg_valid: torch.Tensor, spacing: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Split every segment longer than ``spacing`` px (per stroke (B, S) or per segment
    (B, S, N-1)) into equal parts, so that a width profile can vary along it (widths are linear
    between vertices). The centreline is unchanged: the old vertices stay, the new ones lie on the
    segments. ``inf`` leaves a segment as it is. Returns points (B, S, N', 2) and seg_valid
    (B, S, N'-1), padded like the input."""
    B, S, N, _ = points.shape
    dev = points.device
    d = points[:, :, 1:] - points[:, :, :-1]
    length = d.norm(dim=-1)
    per_segment = spacing if spacing.dim() == 3 else spacing[..., None]
    k = torch.ceil(length / per_segment).clamp(1, 64).long()
    k = torch.where(seg_valid, k, 0)  # (B, S, N-1) parts per segment
    count = k.sum(-1) + 1  # points per stroke
    Np = max(2, int(count.max()))
    kf = k.reshape(-1)
    g = torch.repeat_interleave(torch.arange(kf.numel(), device=dev), kf)  # segment of each part
    first = kf.cumsum(0) - kf
    t = (torch.arange(g.numel(), device=dev) - first[g]).to(points.dtype) / kf[g].to(points.dtype)
    stroke = g // (N - 1)
    per_stroke = k.reshape(B * S, N - 1).cumsum(-1) - k.reshape(B * S, N - 1)
    pos = per_stroke.reshape(-1)[g] + (torch.arange(g.numel(), device=dev) - first[g])
    a = points[:, :, :-1].reshape(-1, 2)[g]
    new = a + t[:, None] * d.reshape(-1, 2)[g]
    nseg = seg_valid.reshape(B * S, N - 1).sum(-1)
    last = points.reshape(B * S, N, 2)[torch.arange(B * S, device=dev), nseg]  # end points
    out = last[:, None, :].expand(B * S, Np, 2).clone()  # the end point and the padding
    out.view(-1, 2)[stroke * Np + pos] = new
    valid = torch.arange(Np - 1, device=dev) < (count.reshape(-1) - 1)[:, None]
    return out.reshape(B, S, Np, 2), valid.reshape(B, S, Np - 1)


def pen_widths(
    pen_ids: torch.Tensor,
    draws: Draws,
    points: torch.Tensor,
    seg_valid: torch.Tensor,
    base: torch.Tensor,
    max_width: float,
    slots: int | None = None,
) -> torch.Tensor:
    """Widths (B, S, N) of each sample's pen along densified centrelines (see ``densify``).

    ``base`` (B, S) is each stroke's body width; the profile multiplies it by the end tapers, a
    pressed start, bumps at the sharpest turns (shoulders, ink pooling) and at the ends (pooling),
    and a slow pressure wave. ``slots`` (>= S) fixes how many strokes' numbers are drawn, so that
    padding S does not move a sample's draws. Clamped to [0.7 px, ``max_width``].
    """
    B, S, N, _ = points.shape
    n = S if slots is None else slots
    d = draws.fork(_WIDTH_FORK)
    d.reserve(_PER_STROKE * n)
    r = d.uniform(n, _PER_STROKE)[:, :S].to(points.dtype)  # (B, S, 10)

    def pick(field: str, col: int) -> torch.Tensor:
        lo_hi = _table(field, pen_ids).to(points.dtype)
        return lo_hi[:, None, 0] + (lo_hi[:, None, 1] - lo_hi[:, None, 0]) * r[..., col]

    tip0, tip1 = pick("start_tip", 0), pick("end_tip", 1)
    len0, len1 = pick("start_taper", 2), pick("taper", 3)
    press, turn, pool = pick("press", 4), pick("turn", 5), pick("end_pool", 6)
    swell = pick("swell", 7)
    freq = 0.5 + 1.1 * r[..., 8]
    phase = r[..., 9]
    press_len = torch.tensor([PENS[p].press_len for p in PEN_NAMES], dtype=points.dtype)[pen_ids]
    turn_len = torch.tensor([PENS[p].turn_len for p in PEN_NAMES], dtype=points.dtype)[pen_ids]

    seg = (points[:, :, 1:] - points[:, :, :-1]).norm(dim=-1) * seg_valid
    s = torch.cat([torch.zeros_like(seg[..., :1]), seg.cumsum(-1)], -1)  # arc length (B, S, N)
    total = s[..., -1].clamp(min=1e-9)  # (B, S)
    # turning at each vertex between its two segments (0 at the ends and on the padding)
    dirs = points[:, :, 1:] - points[:, :, :-1]
    a, b = dirs[:, :, :-1], dirs[:, :, 1:]
    cross = a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]
    dot = (a * b).sum(-1)
    both = seg_valid[..., :-1] & seg_valid[..., 1:]
    angle = torch.where(both, torch.atan2(cross.abs(), dot), 0.0)
    angle = torch.nn.functional.pad(angle, (1, 1))
    k = min(_TURNS, N)
    top, at = angle.topk(k, dim=-1)  # (B, S, k) the sharpest turns and where they are
    s_turn = s.gather(-1, at)

    # everything below once per stroke point (past a stroke's end the width is constant)
    count = seg_valid.sum(-1) + 1  # (B, S) points per stroke
    cnt = count.reshape(-1)
    sid = torch.repeat_interleave(torch.arange(B * S), cnt)
    first = cnt.cumsum(0) - cnt
    pos = torch.arange(sid.numel()) - first[sid]
    sp = s.reshape(-1)[sid * N + pos]

    def per_point(x: torch.Tensor) -> torch.Tensor:  # (B, S) or (B,) -> (K,)
        if x.dim() == 1:
            x = x[:, None].expand(B, S)
        return x.reshape(-1)[sid]

    body = per_point(base)
    u = sp / per_point(total)
    tot = per_point(total)
    reach = (per_point(turn_len) * body).clamp(min=0.75)
    near = torch.exp(-(((sp[:, None] - s_turn.reshape(B * S, k)[sid]) / reach[:, None]) ** 2))
    bend = (near * top.reshape(B * S, k)[sid]).sum(-1).mul(2 / math.pi).clamp(max=1.2)
    t0, t1, l0, l1 = per_point(tip0), per_point(tip1), per_point(len0), per_point(len1)
    start = t0 + (1 - t0) * smoothstep(u / l0)
    end = t1 + (1 - t1) * smoothstep((1 - u) / l1)
    plen = (per_point(press_len) * body).clamp(min=0.75)
    short = (tot / (6.0 * body)).clamp(max=1.0)  # a short stroke (a dot) is pressed less
    pressed = 1.0 + per_point(press) * short * torch.exp(-((sp / plen) ** 2))
    pool_len = body.clamp(min=0.75)
    pooled = 1.0 + per_point(pool) * (
        torch.exp(-((sp / pool_len) ** 2)) + torch.exp(-(((tot - sp) / pool_len) ** 2))
    )
    wave = 1.0 + per_point(swell) * torch.sin(
        2 * math.pi * (per_point(freq) * u + per_point(phase))
    )
    w = body * start * end * pressed * pooled * (1.0 + per_point(turn) * bend) * wave
    w = w.clamp(min=0.7, max=max_width)
    src = first[:, None] + torch.minimum(torch.arange(N), (cnt - 1)[:, None])  # padding: last
    return w[src.reshape(-1)].reshape(B, S, N)


def _near_features(
    points: torch.Tensor, seg_valid: torch.Tensor, reach: torch.Tensor
) -> torch.Tensor:
    """(B, S, N-1): segments with an end within ``reach`` (B, S) px of arc length of a stroke end
    or of a vertex turning by more than ``_SHARP`` radians."""
    d = points[:, :, 1:] - points[:, :, :-1]
    seg = d.norm(dim=-1) * seg_valid
    s = torch.nn.functional.pad(seg.cumsum(-1), (1, 0))  # (B, S, N)
    total = s[..., -1:]
    a, b = d[:, :, :-1], d[:, :, 1:]
    cross = a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]
    angle = torch.atan2(cross.abs(), (a * b).sum(-1))
    sharp = (angle > _SHARP) & seg_valid[..., :-1] & seg_valid[..., 1:]  # at vertex v + 1
    sharp = torch.nn.functional.pad(sharp, (1, 1))  # (B, S, N): per vertex
    # the arc length of the nearest sharp vertex at or before / at or after each vertex
    before = torch.where(sharp, s, -torch.inf).cummax(-1).values
    after = torch.where(sharp, s, torch.inf).flip(-1).cummin(-1).values.flip(-1)
    r = reach[..., None]
    s0, s1 = s[..., :-1], s[..., 1:]
    at_end = (s0 < r) | (total - s1 < r)
    at_turn = (s0 - before[..., :-1] < r) | (after[..., 1:] - s1 < r)
    return (at_end | at_turn) & seg_valid


def spacing_of(pen_ids: torch.Tensor, base: torch.Tensor) -> torch.Tensor:
    """Densification spacing (B, S) px: inf for classic samples (their geometry stays as is)."""
    sp = (_SPACING * base).clamp(min=_MIN_SPACING)
    return torch.where((pen_ids == CLASSIC)[:, None], torch.inf, sp)


def with_pens(
    pen_ids: torch.Tensor,
    draws: Draws,
    points: torch.Tensor,
    seg_valid: torch.Tensor,
    closed: torch.Tensor,
    base: torch.Tensor,
    max_width: float,
    classic: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    slots: int | None = None,
) -> Strokes:
    """The strokes drawn with each sample's pen: classic samples keep their centreline and get
    ``classic(points, seg_valid)`` widths (the engine before pens, the same numbers); the others
    are densified and get ``pen_widths``."""
    fine = spacing_of(pen_ids, base)
    # first a coarse split (the slow tapers and the pressure wave), then a fine one where the
    # short features are: near the ends (pressed start, pooling) and the sharp turns
    seg = (points[:, :, 1:] - points[:, :, :-1]).norm(dim=-1) * seg_valid
    points, seg_valid = densify(points, seg_valid, torch.maximum(fine, _COARSE * seg.sum(-1)))
    near = _near_features(points, seg_valid, _REACH * base)
    points, seg_valid = densify(points, seg_valid, torch.where(near, fine[..., None], torch.inf))
    new = pen_ids != CLASSIC
    if new.numel() and new.all():  # (all() alone holds for an empty batch too)
        widths = pen_widths(pen_ids, draws, points, seg_valid, base, max_width, slots)
    else:
        widths = classic(points, seg_valid)
        if new.any():
            pw = pen_widths(pen_ids, draws, points, seg_valid, base, max_width, slots)
            widths = torch.where(new[:, None, None], pw, widths)
    return Strokes(points, widths, seg_valid, closed)


def apply_texture(
    ink: torch.Tensor, maps: dict[str, torch.Tensor], pen_ids: torch.Tensor, keys: torch.Tensor
) -> torch.Tensor:
    """Ink coverage (B, H, W) as each sample's pen leaves it: tone, grain, skips, bristle streaks.

    Reads the targets' ``offset``, ``tangent``, ``width`` and ``mask`` maps (to lay streaks along
    the strokes) and never changes them. Samples whose pen has no texture are returned as they
    are.
    """
    B, H, W = ink.shape
    dev = ink.device
    pen_ids = pen_ids.to(dev)
    kinds = [PENS[n].texture for n in PEN_NAMES]
    textured = torch.tensor([k != "none" for k in kinds], device=dev)[pen_ids]
    if not textured.any():
        return ink
    out = ink.clone()
    keys = keys.to(dev)
    d = Draws(keys.cpu()).fork(_TEXTURE_FORK)
    d.reserve(24)
    r = d.uniform(8).to(dev, torch.float32)  # per-sample numbers
    bins = d.uniform(8).to(dev, torch.float32)  # per-sample bristle thresholds
    from_field = smooth_field(Draws(keys.cpu()).fork(_TEXTURE_FORK + 1), 6, H, W, dev, eased=True)
    tone_lo_hi = _table("tone", pen_ids.cpu()).to(dev, torch.float32)
    tone = tone_lo_hi[:, 0] + (tone_lo_hi[:, 1] - tone_lo_hi[:, 0]) * r[:, 0]
    for kind in ("ballpoint", "felt", "pencil", "dry", "laid"):
        ids = [i for i, k in enumerate(kinds) if k == kind]
        sel = (pen_ids[:, None] == torch.tensor(ids, device=dev)).any(-1).nonzero()[:, 0]
        if not sel.numel():
            continue
        cov, t = ink[sel], tone[sel][:, None, None]
        field = from_field[sel]
        if kind == "ballpoint":  # the ball skips where the paper or the ink runs dry
            thr = (0.72 + 0.18 * r[sel, 1])[:, None, None]
            skip = smoothstep((field - thr) / 0.06)
            cov = cov * t * (1.0 - 0.85 * skip)
        elif kind == "felt":  # slightly uneven ink
            cov = cov * t * (0.9 + 0.1 * field)
        elif kind == "pencil":  # graphite on the paper's tooth: grey and grainy
            grain = uniform_field(keys[sel], 0x9E1, H, W)
            amount = (0.3 + 0.35 * r[sel, 2])[:, None, None]
            cov = cov * t * (1.0 - amount * grain * grain) * (0.85 + 0.15 * field)
        elif kind == "dry":  # dry brush: bristle streaks along the stroke, breaks where it runs dry
            off = maps["offset"][sel]
            tan = maps["tangent"][sel]
            theta = 0.5 * torch.atan2(tan[:, 1], tan[:, 0])
            across = -off[:, 0] * torch.sin(theta) + off[:, 1] * torch.cos(theta)
            half = (0.5 * maps["width"][sel]).clamp(min=0.5)
            rel = torch.where(maps["mask"][sel] > 0, (across / half).clamp(-1.0, 1.0), 1.0)
            b = ((rel + 1.0) * 4.0).floor().long().clamp(0, 7)  # 8 bristle bands
            dryness = (0.15 + 0.3 * r[sel, 3])[:, None, None] * (0.5 + field)
            dry = bins[sel].gather(1, b.reshape(b.shape[0], -1)).reshape(b.shape) < dryness
            dry &= maps["width"][sel] >= 2.5 * W / 64  # streaks show on broad strokes only
            broken = smoothstep((field - (0.78 + 0.15 * r[sel, 4])[:, None, None]) / 0.05)
            cov = cov * t * torch.where(dry, 0.2, 1.0) * (1.0 - 0.9 * broken)
        elif kind == "laid":  # charcoal on laid paper: streaks one way across the whole sample
            theta = math.pi * r[sel, 5][:, None, None]
            period = (1.6 + 2.4 * r[sel, 6])[:, None, None] * (W / 64.0)
            ys = torch.arange(H, device=dev, dtype=torch.float32)[None, :, None] + 0.5
            xs = torch.arange(W, device=dev, dtype=torch.float32)[None, None, :] + 0.5
            u = (xs * torch.cos(theta) + ys * torch.sin(theta)) / period
            wave = torch.cos(2 * math.pi * (u + 1.5 * field))  # lines that wander a little
            dryness = (0.2 + 0.5 * r[sel, 7])[:, None, None]  # bare: arccos(1 - 2d) / pi
            bare = wave > 1.0 - 2.0 * dryness  # of each period, 0.30-0.63
            bare &= maps["width"][sel] >= 2.0 * W / 64  # thin strokes keep their ink
            grit = uniform_field(keys[sel], 0x9E2, H, W) < 0.12
            broken = smoothstep((field - (0.8 + 0.15 * r[sel, 4])[:, None, None]) / 0.05)
            keep = torch.where(bare, 0.15, 1.0) * torch.where(grit, 0.4, 1.0)
            cov = cov * t * keep * (1.0 - 0.9 * broken)
        out[sel] = cov.to(out.dtype)
    return out
