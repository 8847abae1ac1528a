"""The evaluation samples: a fixed, seeded subset of KanjiVG (or any centreline SVGs), rendered by
the data engine at one size, clean and scan-degraded, with exact targets and the true strokes.

The geometry is built exactly as ``SvgInk.render`` builds it (same generator streams, same pen),
so ``EvalSamples.clean`` equals ``SvgInk(files, size, seed, width=...).render(...)["image"]``
(tests/test_evaluate.py checks it); it is repeated here because the evaluation also needs the
stroke centrelines, which ``SvgInk`` does not return. The degraded images are the same ink put
through ``degrade`` at level 7, 8 or 9 (sample k: level 7 + k mod 3), as curriculum levels 7-9 do:
blur, noise, paper tone and texture, uneven ink, bleed-through, ruled or grid guide lines.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..data.bezier import flatten_pieces
from ..data.dataset import _SPLITS, concat_batches, render_batch
from ..data.degrade import degrade
from ..data.geometry import Strokes
from ..data.pen import arc_length_param, width_profile
from ..data.rng import Draws, sample_keys
from ..data.svg import _SVG_STREAM, MAX_STROKES, _cached, find_svg_files
from ..data.svgparse import SvgError

__all__ = ["EvalSamples", "CONDITIONS", "WIDTH", "DEGRADED_LEVELS", "choose_files", "render_samples"]

CONDITIONS = ("clean", "degraded")
WIDTH = (1.0, 8.0)  # pen width range in px at 64 px (scaled with the size)
DEGRADED_LEVELS = (7, 8, 9)


@dataclass
class EvalSamples:
    """Samples of one size: images (B, H, W) in [0, 1], the engine's targets (batch dict, CPU
    tensors, without ``image``) and the true centrelines (per image, (n, 2) float64 polylines)."""

    size: int
    names: list[str]
    clean: np.ndarray
    degraded: np.ndarray
    targets: dict[str, torch.Tensor]
    strokes: list[list[np.ndarray]]

    def __len__(self) -> int:
        return len(self.names)

    def images(self, condition: str) -> np.ndarray:
        if condition not in CONDITIONS:
            raise ValueError(f"condition must be one of {CONDITIONS}, got {condition!r}")
        return self.clean if condition == "clean" else self.degraded


def choose_files(
    source: str | os.PathLike | Sequence[str | os.PathLike], count: int, seed: int = 0
) -> list[Path]:
    """A fixed subset of ``count`` SVG files (all when fewer): a seeded permutation's first ones."""
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    files = find_svg_files(source)
    order = torch.randperm(len(files), generator=torch.Generator().manual_seed(int(seed)))
    return [files[int(i)] for i in order[:count]]


def _geometry(files: Sequence[Path], size: int, seed: int, width: tuple[float, float], first: int):
    """(Strokes, Draws, keys) of samples ``first``... of ``SvgInk(all files, size, seed,
    width=width)``, which are ``files``."""
    parsed = [_cached(str(f)) for f in files]
    for f, (strokes, _) in zip(files, parsed):
        if len(strokes) > MAX_STROKES:
            raise SvgError(f"{f}: {len(strokes)} strokes, more than {MAX_STROKES}")
    S = max(len(strokes) for strokes, _ in parsed)
    P = max(len(pieces) for strokes, _ in parsed for pieces, _ in strokes)
    B = len(parsed)
    ctrl = torch.zeros(B, S, P, 4, 2, dtype=torch.float64)
    valid = torch.zeros(B, S, P, dtype=torch.bool)
    closed = torch.zeros(B, S, dtype=torch.bool)
    box = torch.zeros(B, 4, dtype=torch.float64)
    for b, (strokes, vb) in enumerate(parsed):
        box[b] = torch.tensor(vb)
        for s, (pieces, is_closed) in enumerate(strokes):
            ctrl[b, s, : len(pieces)] = torch.tensor(pieces, dtype=torch.float64)
            valid[b, s, : len(pieces)] = True
            closed[b, s] = is_closed
    index = torch.arange(first, first + B)
    keys = sample_keys(seed, _SPLITS["train"] * 16 + _SVG_STREAM, 0, index)
    draws = Draws(keys)
    img = float(size)
    scale = (img * draws.uniform(low=0.8, high=0.95)) / torch.maximum(box[:, 2], box[:, 3])
    shift = draws.uniform(2, low=-0.04, high=0.04) * img
    centre = box[:, :2] + box[:, 2:] / 2
    ctrl = (
        (ctrl - centre[:, None, None, None]) * scale[:, None, None, None, None]
        + img / 2
        + shift[:, None, None, None]
    )
    points, seg_valid = flatten_pieces(ctrl, valid)
    s_img = img / 64.0
    pen = draws.log_uniform(width[0] * s_img, width[1] * s_img)
    base = pen[:, None] * draws.uniform(MAX_STROKES, low=0.9, high=1.1)[:, :S]
    widths = width_profile(
        draws, arc_length_param(points, seg_valid), base, taper=0.6, swell=0.15, slots=MAX_STROKES
    )
    return Strokes(points, widths, seg_valid, closed), draws, keys


def _polylines(strokes: Strokes, b: int) -> list[np.ndarray]:
    out = []
    for s in range(strokes.points.shape[1]):
        n = int(strokes.seg_valid[b, s].sum())
        if n:
            out.append(strokes.points[b, s, : n + 1].numpy().astype(np.float64))
    return out


def render_samples(
    files: Sequence[str | os.PathLike],
    size: int,
    seed: int = 0,
    width: tuple[float, float] = WIDTH,
    chunk: int = 64,
) -> EvalSamples:
    """Render ``files`` at ``size`` px (sample k is file k; see the module docstring)."""
    files = [Path(f) for f in files]
    images, degraded, parts, strokes = [], [], [], []
    for start in range(0, len(files), chunk):
        part = files[start : start + chunk]
        geo, draws, keys = _geometry(part, size, seed, width, start)
        out = render_batch(geo, size, size)
        clean = out.pop("image")[:, 0]
        dirty = clean.clone()
        level_of = (torch.arange(len(part)) + start) % len(DEGRADED_LEVELS)
        for i, level in enumerate(DEGRADED_LEVELS):
            sel = (level_of == i).nonzero(as_tuple=True)[0]
            if sel.numel():
                ink = 1.0 - clean[sel]
                sub = Draws(keys[sel])
                dirty[sel] = degrade(ink, level, sub.fork(300), keys[sel])[:, 0]
        images.append(clean.numpy())
        degraded.append(dirty.numpy())
        parts.append(out)
        strokes += [_polylines(geo, b) for b in range(len(part))]
    targets = concat_batches(parts)
    return EvalSamples(
        int(size),
        [f.stem for f in files],
        np.concatenate(images),
        np.concatenate(degraded),
        targets,
        strokes,
    )
