"""Synthetic ink mixed with real stroke geometry: the curriculum's samples, and glyphs from
centreline SVG files (e.g. KanjiVG) drawn by the same engine with the curriculum's degradations.

Real glyphs are denser than the synthetic levels (10-20 strokes in a 64 px square, parallel
strokes 2-3 px apart, many T- and L-junctions, tapered ends, hooks and dots), so a model meant
for handwriting sees both. Sample ``k`` of an epoch is a glyph with probability ``fraction``
(decided by the sample's own key, so a sample is a pure function of (seed, epoch, k) as in
``SyntheticInk``); a glyph sample draws its file, pen and placement from its key too.

Glyphs are clean at levels 0-6. From level 7 on, a glyph sample is degraded like the level's
synthetic ones, except a share ``CLEAN_SHARE`` kept clean, so clean real glyphs stay in training
while the synthetic part of the batch is all scans.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .curriculum import DEGRADED_FROM
from .dataset import BatchRendered, SyntheticInk, concat_batches, render_batch
from .degrade import degrade_samples
from .rng import Draws
from .svg import SvgInk

__all__ = ["MixedInk", "CLEAN_SHARE"]

CLEAN_SHARE = 0.4  # glyph samples kept clean at the degraded levels 7-9
_PICK = 0x61F  # the draws' fork that decides glyph or synthetic and which file


class MixedInk(BatchRendered):
    """``synthetic``'s samples, each replaced by a glyph of ``glyphs`` with probability
    ``fraction``. Same batch dicts as ``SyntheticInk`` (image, targets, keypoint lists, index)."""

    def __init__(self, synthetic: SyntheticInk, glyphs: SvgInk, fraction: float) -> None:
        if not 0.0 <= float(fraction) <= 1.0:
            raise ValueError(f"fraction must be within 0-1, got {fraction}")
        if glyphs.img_size != synthetic.img_size:
            raise ValueError(
                f"img_size differs: synthetic {synthetic.img_size}, glyphs {glyphs.img_size}"
            )
        self.synthetic, self.glyphs, self.fraction = synthetic, glyphs, float(fraction)
        self.size, self.img_size = synthetic.size, synthetic.img_size

    @property
    def level(self) -> int:
        return self.synthetic.level

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)
        self.synthetic.set_epoch(epoch)
        self.glyphs.set_epoch(epoch)

    def set_level(self, level: int) -> None:
        self.synthetic.set_level(level)

    def choose(self, indices: Sequence[int] | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """For each sample: is it a glyph (bool), and which file (long, meaningful for glyphs)."""
        idx = self.indices(indices)
        pick = Draws(self.synthetic.keys(idx)).fork(_PICK)
        u = pick.uniform(2)
        is_glyph = u[:, 0] < self.fraction
        file = (u[:, 1] * len(self.glyphs.files)).long().clamp(max=len(self.glyphs.files) - 1)
        return is_glyph, file

    def render(self, indices: Sequence[int] | torch.Tensor) -> dict[str, torch.Tensor]:
        idx = self.indices(indices)
        is_glyph, file = self.choose(idx)
        parts = []
        if (~is_glyph).any():
            parts.append(self.synthetic.render(idx[~is_glyph]))
        if is_glyph.any():
            parts.append(self._glyphs(idx[is_glyph], file[is_glyph]))
        out = concat_batches(parts) if len(parts) > 1 else parts[0]
        # back to the order asked for: row i of ``out`` is the sample asked for at position[i]
        position = torch.cat([(~is_glyph).nonzero()[:, 0], is_glyph.nonzero()[:, 0]])
        where = torch.argsort(position)
        return {k: v[where.to(v.device)] for k, v in out.items()}

    def _glyphs(self, idx: torch.Tensor, file: torch.Tensor) -> dict[str, torch.Tensor]:
        strokes, keys = self.glyphs.geometry(idx, files=file)
        size = self.img_size
        out = render_batch(
            strokes,
            size,
            size,
            keys=keys,
            device=self.synthetic.device,
            pen=self.glyphs.pen_ids(keys),
        )
        level = self.level
        if level >= DEGRADED_FROM:
            dirty = Draws(keys).fork(_PICK).uniform() >= CLEAN_SHARE
            sel = dirty.nonzero(as_tuple=True)[0]
            if sel.numel():
                ink = 1.0 - out["image"][sel.to(out["image"].device), 0]
                out["image"][sel.to(out["image"].device)] = degrade_samples(ink, level, keys[sel])
        out["index"] = idx.to(out["image"].device)
        return out
