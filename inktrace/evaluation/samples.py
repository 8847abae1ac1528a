"""The evaluation samples: a fixed, seeded subset of KanjiVG (or any centreline SVGs), rendered by
the data engine at one size, clean, scan-degraded, and drawn with the held-out pen, with exact
targets and the true strokes.

The geometry is built exactly as ``SvgInk.render`` builds it (same generator streams, same pen),
so ``EvalSamples.clean`` equals ``SvgInk(files, size, seed, width=...).render(...)["image"]``
(tests/test_evaluate.py checks it); it is repeated here because the evaluation also needs the
stroke centrelines, which ``SvgInk`` does not return. The degraded images are the same ink put
through ``degrade`` at level 7, 8 or 9 (sample k: level 7 + k mod 3), as curriculum levels 7-9 do:
blur, noise, paper tone and texture, uneven ink, bleed-through, ruled or grid guide lines.

The held-out condition (``drybrush``, ``data.pens.HELD_OUT``: the pen model the configuration
refuses for training) draws the same characters with that pen: width that varies along each
stroke, pressed starts, tapered ends, dry-brush texture and breaks. Its geometry is the pen's
(densified, its own widths), so it has targets and true strokes of its own.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..data.curriculum import CURSIVE_FROM, make_strokes
from ..data.dataset import concat_batches, render_batch
from ..data.degrade import degrade_samples
from ..data.geometry import Strokes
from ..data.pens import HELD_OUT
from ..data.rng import Draws, sample_keys
from ..data.svg import SvgInk, choose_files, find_svg_files

__all__ = [
    "EvalSamples",
    "CONDITIONS",
    "WIDTH",
    "DEGRADED_LEVELS",
    "HELD_OUT_PEN",
    "choose_files",
    "render_samples",
    "render_cursive",
    "seen_in_training",
]

HELD_OUT_PEN = HELD_OUT[0]
CONDITIONS = ("clean", "degraded", HELD_OUT_PEN)
WIDTH = (1.0, 8.0)  # pen width range in px at 64 px (scaled with the size)
DEGRADED_LEVELS = (7, 8, 9)
CURSIVE_STREAM = 0xC0451  # the key stream of the evaluation's cursive words (training uses 0-31)


@dataclass
class PenView:
    """The characters drawn with another pen: images, targets and true strokes of their own."""

    pen: str
    images: np.ndarray
    targets: dict[str, torch.Tensor]
    strokes: list[list[np.ndarray]]


@dataclass
class EvalSamples:
    """Samples of one size: images (B, H, W) in [0, 1], the engine's targets (batch dict, CPU
    tensors, without ``image``) and the true centrelines (per image, (n, 2) float64 polylines);
    clean and degraded share them, the held-out pen (``held_out``, if rendered) has its own."""

    size: int
    names: list[str]
    clean: np.ndarray
    degraded: np.ndarray
    targets: dict[str, torch.Tensor]
    strokes: list[list[np.ndarray]]
    held_out: PenView | None = None

    def __len__(self) -> int:
        return len(self.names)

    def conditions(self) -> tuple[str, ...]:
        return CONDITIONS if self.held_out is not None else CONDITIONS[:2]

    def view(self, condition: str) -> tuple[np.ndarray, dict[str, torch.Tensor], list]:
        """(images, targets, true strokes) of one condition."""
        if condition not in self.conditions():
            raise ValueError(f"condition must be one of {self.conditions()}, got {condition!r}")
        if condition == HELD_OUT_PEN:
            v = self.held_out
            assert v is not None  # conditions() has the held-out pen only then
            return v.images, v.targets, v.strokes
        return (self.clean if condition == "clean" else self.degraded), self.targets, self.strokes

    def images(self, condition: str) -> np.ndarray:
        return self.view(condition)[0]


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
    held_out: bool = False,
) -> EvalSamples:
    """Render ``files`` at ``size`` px (sample k is file k; see the module docstring);
    ``held_out``: also with the held-out pen (a second rendering: only callers that score that
    condition ask for it)."""
    paths = [Path(f) for f in files]
    engine = SvgInk(paths, size, seed=seed, width=width)
    parts = [
        _render(*engine.geometry(range(start, min(start + chunk, len(paths)))), start, size)
        for start in range(0, len(paths), chunk)
    ]
    return _samples(
        size,
        [f.stem for f in paths],
        parts,
        _pen_view(paths, size, seed, width, chunk, HELD_OUT_PEN) if held_out else None,
    )


def render_cursive(count: int, size: int, seed: int = 0, chunk: int = 64) -> EvalSamples:
    """``count`` cursive Latin words of the engine (data/cursive.py: joined letters, loops,
    retraced up-strokes, i-dots and t-bars after the word) at ``size`` px, clean and degraded as
    ``render_samples`` draws characters, with their true strokes. Their keys come from a stream
    of their own (``CURSIVE_STREAM``), so no training or validation word is among them."""
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    parts = []
    for start in range(0, count, chunk):
        idx = torch.arange(start, min(start + chunk, count))
        keys = sample_keys(seed, CURSIVE_STREAM, 0, idx)
        geo = make_strokes(CURSIVE_FROM, Draws(keys), size, ("classic",), 1.0)
        parts.append(_render(geo, keys, start, size))
    return _samples(size, [f"cursive-{k}" for k in range(count)], parts, None)


def _render(
    geo: Strokes, keys: torch.Tensor, start: int, size: int
) -> tuple[np.ndarray, np.ndarray, dict[str, torch.Tensor], list[list[np.ndarray]]]:
    """One chunk of samples (``start``: the first one's index): clean images, degraded images
    (sample k at degraded level DEGRADED_LEVELS[k % 3]), targets and true strokes."""
    out = render_batch(geo, size, size)
    clean = out.pop("image")[:, 0]
    dirty = clean.clone()
    level_of = (torch.arange(len(keys)) + start) % len(DEGRADED_LEVELS)
    for i, level in enumerate(DEGRADED_LEVELS):
        sel = (level_of == i).nonzero(as_tuple=True)[0]
        if sel.numel():
            dirty[sel] = degrade_samples(1.0 - clean[sel], level, keys[sel])[:, 0]
    strokes = [_polylines(geo, b) for b in range(len(keys))]
    return clean.numpy(), dirty.numpy(), out, strokes


def _samples(size: int, names: list[str], parts: list, held_out: PenView | None) -> EvalSamples:
    return EvalSamples(
        int(size),
        names,
        np.concatenate([p[0] for p in parts]),
        np.concatenate([p[1] for p in parts]),
        concat_batches([p[2] for p in parts]),
        [s for p in parts for s in p[3]],
        held_out,
    )


def _pen_view(
    files: list[Path], size: int, seed: int, width: tuple[float, float], chunk: int, pen: str
) -> PenView:
    """The characters drawn with ``pen`` (same files, seed and pen widths; the pen's texture on
    clean paper)."""
    engine = SvgInk(files, size, seed=seed, width=width, pens=(pen,))
    images, parts, strokes = [], [], []
    for start in range(0, len(files), chunk):
        geo, keys = engine.geometry(range(start, min(start + chunk, len(files))))
        out = render_batch(geo, size, size, keys=keys, pen=engine.pen_ids(keys))
        images.append(out.pop("image")[:, 0].numpy())
        parts.append(out)
        strokes += [_polylines(geo, b) for b in range(len(keys))]
    return PenView(pen, np.concatenate(images), concat_batches(parts), strokes)


def seen_in_training(files: Sequence[str | os.PathLike], data: dict | None) -> int:
    """How many of ``files`` a model trained with the ``data`` settings (a config's ``data``
    section, or a model card's) may have seen: its ``svg_dir`` files less the ``svg_holdout``."""
    if not data or not data.get("svg_dir") or not data.get("svg_fraction", 1.0):
        return 0
    try:
        trained = set(find_svg_files(data["svg_dir"]))
    except Exception:  # noqa: BLE001 - the training folder is not here: nothing to compare
        return 0
    if data.get("svg_holdout"):
        trained -= set(
            choose_files(data["svg_dir"], data["svg_holdout"], data.get("svg_holdout_seed", 0))
        )
    return len({Path(f).resolve() for f in files} & {f.resolve() for f in trained})
