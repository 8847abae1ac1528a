"""Handwriting-like Latin cursive: one joined word per sample, its i-dots and t-bars added after it.

A word is a random string of the letters in ``LETTERS``, written as ONE stroke: each letter is a
template centreline (x-height 1, baseline 0, y up) whose entry joins the previous letter's exit.
The templates carry what makes cursive hard to trace: loops that cross themselves (e, l, h, o),
cusps where the pen turns back, and retraced up-strokes (n, m, h, u, d, a: the pen goes down a
stem and back up the same line before the arch). The dots of the i's and the bars of the t's are
separate short strokes placed after the word (later stroke indices), as a writer adds them once
the word is done.

Per sample (all from its key): the letters (2-5), a slant (0-25 degrees), the letter spacing and
a little wobble of each letter, a small rotation of the baseline, the x-height (fitted so the
word lies inside the image) and the position. Everything is batched tensor work: the letters'
points are gathered from fixed templates and packed into one polyline per word.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from .rng import Draws

__all__ = ["LETTERS", "MAX_LETTERS", "Cursive", "make_cursive", "WIDTH"]

MAX_LETTERS = 5
WIDTH = (1.0, 3.5)  # pen width range in px at 64 px (scaled with the image size)
_SPAN_SAMPLES = 4  # points per Catmull-Rom span of a curved piece

# letter -> (advance, pieces, extra stroke or None). A piece is a list of control points through
# which a Catmull-Rom curve runs; two-point pieces are straight. Consecutive pieces meet at a cusp
# (the pen stops and turns), so a straight piece followed by its reverse is an exact retrace.
_TEMPLATES: dict[str, tuple[float, list, tuple | None]] = {
    "a": (0.85, [[(0, 0), (0.3, 0.55), (0.55, 0.9)],
                 [(0.55, 0.9), (0.35, 0.95), (0.15, 0.6), (0.2, 0.12), (0.4, 0.05), (0.55, 0.35),
                  (0.6, 0.92)],
                 [(0.6, 0.92), (0.6, 0.1)],
                 [(0.6, 0.1), (0.7, 0.0), (0.85, 0.05)]], None),
    "c": (0.7, [[(0, 0), (0.3, 0.5), (0.55, 0.85), (0.45, 0.95), (0.25, 0.85), (0.12, 0.45),
                 (0.2, 0.08), (0.45, 0.0), (0.7, 0.08)]], None),
    "d": (0.85, [[(0, 0), (0.3, 0.55), (0.55, 0.9)],
                 [(0.55, 0.9), (0.35, 0.95), (0.15, 0.6), (0.2, 0.12), (0.4, 0.05), (0.55, 0.35),
                  (0.6, 0.92)],
                 [(0.6, 0.92), (0.66, 1.9)],
                 [(0.66, 1.9), (0.6, 0.92)],
                 [(0.6, 0.92), (0.6, 0.1)],
                 [(0.6, 0.1), (0.7, 0.0), (0.85, 0.05)]], None),
    "e": (0.7, [[(0, 0), (0.3, 0.25), (0.55, 0.55), (0.5, 0.78), (0.32, 0.72), (0.22, 0.45),
                 (0.28, 0.15), (0.45, 0.02), (0.7, 0.05)]], None),
    "h": (0.95, [[(0, 0), (0.3, 0.45), (0.5, 1.2), (0.52, 1.8), (0.4, 2.05), (0.28, 1.8),
                  (0.28, 1.0)],
                 [(0.28, 1.0), (0.28, 0.0)],
                 [(0.28, 0.0), (0.28, 0.55)],
                 [(0.28, 0.55), (0.45, 0.9), (0.62, 0.85), (0.68, 0.5), (0.68, 0.15), (0.8, 0.02),
                  (0.95, 0.05)]], None),
    "i": (0.6, [[(0, 0), (0.2, 0.45), (0.32, 0.95)],
                [(0.32, 0.95), (0.3, 0.5), (0.33, 0.1), (0.45, 0.0), (0.6, 0.05)]],
          ((0.3, 1.42), (0.38, 1.5))),
    "l": (0.65, [[(0, 0), (0.3, 0.45), (0.5, 1.2), (0.52, 1.8), (0.4, 2.05), (0.28, 1.8),
                  (0.3, 1.2), (0.33, 0.5), (0.42, 0.08), (0.65, 0.02)]], None),
    "m": (1.12, [[(0, 0), (0.15, 0.6), (0.2, 0.95)],
                 [(0.2, 0.95), (0.2, 0.0)],
                 [(0.2, 0.0), (0.2, 0.6)],
                 [(0.2, 0.6), (0.33, 0.92), (0.48, 0.88), (0.52, 0.6)],
                 [(0.52, 0.6), (0.52, 0.0)],
                 [(0.52, 0.0), (0.52, 0.6)],
                 [(0.52, 0.6), (0.65, 0.92), (0.8, 0.88), (0.85, 0.55), (0.85, 0.15), (0.97, 0.0),
                  (1.12, 0.05)]], None),
    "n": (0.9, [[(0, 0), (0.15, 0.6), (0.2, 0.95)],
                [(0.2, 0.95), (0.2, 0.0)],
                [(0.2, 0.0), (0.2, 0.6)],
                [(0.2, 0.6), (0.35, 0.92), (0.55, 0.9), (0.62, 0.55), (0.62, 0.15), (0.75, 0.0),
                 (0.9, 0.05)]], None),
    "o": (0.85, [[(0, 0), (0.25, 0.55), (0.5, 0.92), (0.3, 0.95), (0.12, 0.6), (0.18, 0.12),
                  (0.42, 0.02), (0.58, 0.35), (0.55, 0.8), (0.48, 0.92), (0.62, 0.85),
                  (0.85, 0.8)]], None),
    "t": (0.65, [[(0, 0), (0.25, 0.6), (0.38, 1.55)],
                 [(0.38, 1.55), (0.33, 0.6), (0.35, 0.1), (0.5, 0.0), (0.65, 0.05)]],
          ((0.08, 1.0), (0.68, 1.06))),
    "u": (0.85, [[(0, 0), (0.15, 0.5), (0.2, 0.95)],
                 [(0.2, 0.95), (0.18, 0.3), (0.3, 0.02), (0.48, 0.1), (0.6, 0.45)],
                 [(0.6, 0.45), (0.6, 0.95)],
                 [(0.6, 0.95), (0.6, 0.1)],
                 [(0.6, 0.1), (0.7, 0.0), (0.85, 0.05)]], None),
}  # fmt: skip
LETTERS = "".join(_TEMPLATES)


def _catmull_rom(ctrl: np.ndarray) -> np.ndarray:
    """Points along a Catmull-Rom curve through ``ctrl`` (straight for two points)."""
    if len(ctrl) == 2:
        return ctrl.copy()
    ext = np.concatenate([ctrl[:1], ctrl, ctrl[-1:]])
    out = [ctrl[:1]]
    t = np.arange(1, _SPAN_SAMPLES + 1)[:, None] / _SPAN_SAMPLES
    for i in range(len(ctrl) - 1):
        p0, p1, p2, p3 = ext[i], ext[i + 1], ext[i + 2], ext[i + 3]
        out.append(
            0.5
            * (
                2 * p1
                + (-p0 + p2) * t
                + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t**2
                + (-p0 + 3 * p1 - 3 * p2 + p3) * t**3
            )
        )
    return np.concatenate(out)


def _build_templates() -> tuple[
    torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor
]:
    """(L, P, 2) letter polylines padded with their last point, their point counts (L,), advances
    (L,), extra strokes (L, 2, 2) and whether each letter has one (L,)."""
    polys, adv, extra, has = [], [], [], []
    for a, pieces, ex in _TEMPLATES.values():
        pts = [np.asarray(pieces[0][0], dtype=np.float64)[None]]
        for piece in pieces:
            pts.append(_catmull_rom(np.asarray(piece, dtype=np.float64))[1:])
        polys.append(np.concatenate(pts))
        adv.append(a)
        extra.append(np.asarray(ex if ex else ((0, 0), (0, 0)), dtype=np.float64))
        has.append(ex is not None)
    P = max(len(p) for p in polys)
    pad = np.stack([np.concatenate([p, np.repeat(p[-1:], P - len(p), 0)]) for p in polys])
    return (
        torch.from_numpy(pad),
        torch.tensor([len(p) for p in polys]),
        torch.tensor(adv, dtype=torch.float64),
        torch.from_numpy(np.stack(extra)),
        torch.tensor(has),
    )


_POLY, _COUNT, _ADVANCE, _EXTRA, _HAS_EXTRA = _build_templates()


@dataclass
class Cursive:
    """A batch of cursive words: stroke 0 of each sample is the word, strokes 1..MAX_LETTERS its
    letters' dots and bars in letter order (invalid where a letter has none)."""

    points: torch.Tensor  # (B, S, N, 2) px, S = 1 + MAX_LETTERS
    seg_valid: torch.Tensor  # (B, S, N-1)
    closed: torch.Tensor  # (B, S), all False
    base: torch.Tensor  # (B, S) each stroke's body width in px
    letters: torch.Tensor  # (B, MAX_LETTERS) indices into LETTERS, -1 past the word's end


def make_cursive(draws: Draws, img_size: int) -> Cursive:
    """A cursive word per sample, in pixels of ``img_size`` (see ``Cursive``)."""
    B, L = draws.batch, MAX_LETTERS
    img = float(img_size)
    d = draws
    d.reserve(9 + 5 * L)
    n = d.integers(2, L)  # letters per word
    letters = (d.uniform(L) * len(LETTERS)).long().clamp(max=len(LETTERS) - 1)  # (B, L)
    slant = d.uniform(low=0.0, high=math.radians(25))
    spacing = d.uniform(L, low=0.9, high=1.15)
    lift = d.uniform(L, low=-0.06, high=0.06)
    stretch = d.uniform(L, low=0.9, high=1.1)  # letter height jitter
    rot = d.uniform(low=-math.radians(8), high=math.radians(8))
    size = d.uniform(low=0.7, high=1.0)  # x-height as a share of the largest that fits
    shift = d.uniform(2, low=-1.0, high=1.0)
    pen = d.log_uniform(WIDTH[0] * img / 64, WIDTH[1] * img / 64)
    jitter = d.uniform(1 + L, low=0.85, high=1.15)

    live = torch.arange(L) < n[:, None]  # (B, L)
    adv = _ADVANCE[letters] * spacing * live
    offset = adv.cumsum(-1) - adv  # each letter's x origin
    P = _POLY.shape[1]
    local = _POLY[letters].clone()  # (B, L, P, 2)
    local[..., 1] *= stretch[..., None]
    xy = local + torch.stack([offset, lift], -1)[:, :, None, :]
    keep = torch.arange(P) < _COUNT[letters][..., None]  # (B, L, P)
    keep &= live[..., None]
    keep[:, 1:, 0] = False  # a letter's entry is the previous letter's exit: its first point goes
    ex = _EXTRA[letters].clone()
    ex[..., 1] *= stretch[..., None]
    ex = ex + torch.stack([offset, lift], -1)[:, :, None, :]
    has = _HAS_EXTRA[letters] & live

    # slant, then rotate: a linear map in x-height units (y up)
    def transform(p: torch.Tensor) -> torch.Tensor:
        view = (B,) + (1,) * (p.dim() - 2)
        x = p[..., 0] + torch.tan(slant).view(view) * p[..., 1]
        y = p[..., 1]
        c, s = torch.cos(rot).view(view), torch.sin(rot).view(view)
        return torch.stack([c * x - s * y, s * x + c * y], -1)

    word = transform(xy.reshape(B, L * P, 2))
    extra = transform(ex.reshape(B, L * 2, 2)).reshape(B, L, 2, 2)
    kept = keep.reshape(B, L * P)
    # fit: the bounding box of the word and its extras, scaled to fit the image with a margin
    big = torch.finfo(torch.float64).max
    both = torch.cat([word, extra.reshape(B, L * 2, 2)], 1)
    ok = torch.cat([kept, has[..., None].expand(B, L, 2).reshape(B, L * 2)], 1)
    lo = torch.where(ok[..., None], both, big).amin(1)
    hi = torch.where(ok[..., None], both, -big).amax(1)
    extent = (hi - lo).clamp(min=1e-6)
    fit = (0.88 * img / extent).amin(-1)  # px per x-height unit that fits
    scale = fit * size
    room = (0.88 * img - extent * scale[:, None]).clamp(min=0.0) / 2  # free space either side
    centre = (lo + hi) / 2

    def to_px(p: torch.Tensor) -> torch.Tensor:
        view = (B,) + (1,) * (p.dim() - 2)
        c = centre.view(*view, 2)
        q = (p - c) * scale.view(view)[..., None]
        q = q * torch.tensor([1.0, -1.0], dtype=q.dtype)  # y down in the image
        return q + img / 2 + (shift * room * torch.tensor([1.0, -1.0])).view(*view, 2)

    word, extra = to_px(word), to_px(extra)
    # pack the word's kept points into one polyline (padding repeats its last point)
    count = kept.sum(-1)
    N = max(2, int(count.max()))
    pos = kept.long().cumsum(-1) - 1
    last = word.gather(
        1, (kept.long() * torch.arange(L * P)).amax(-1)[:, None, None].expand(B, 1, 2)
    )
    line = last.expand(B, N, 2).clone()
    bi, pi = kept.nonzero(as_tuple=True)
    line[bi, pos[bi, pi]] = word[bi, pi]
    S = 1 + L
    points = torch.zeros(B, S, N, 2, dtype=torch.float64)
    points[:, 0] = line
    points[:, 1:, :2] = extra
    points[:, 1:, 2:] = extra[:, :, 1:2]
    seg_valid = torch.zeros(B, S, N - 1, dtype=torch.bool)
    seg_valid[:, 0] = torch.arange(N - 1) < (count - 1)[:, None]
    seg_valid[:, 1:, 0] = has
    closed = torch.zeros(B, S, dtype=torch.bool)
    base = pen[:, None] * jitter
    return Cursive(points, seg_valid, closed, base, torch.where(live, letters, -1))
