"""Real stroke geometry: centreline SVG files (e.g. KanjiVG) rendered by the same engine.

The files are found here (a folder, a list of files, or the installed ``kanjivg`` package) and read
by svgparse.py. Each sample gets its own pen (width, taper, swell) and a small random placement,
drawn from the same counter-based generator as the synthetic levels, so SVG samples are
deterministic in the same way.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from functools import lru_cache
from importlib import metadata
from pathlib import Path

import torch

from .bezier import flatten_pieces
from .dataset import _SPLITS, BatchRendered, render_batch
from .geometry import Strokes
from .pen import arc_length_param, width_profile
from .pens import check_pens, choose_pens, is_classic, remap_base, with_pens
from .rng import Draws, sample_keys
from .svgparse import Subpath, SvgError, parse_path, read_svg

__all__ = [
    "SvgError",
    "parse_path",
    "read_svg",
    "SvgInk",
    "GLYPH_WIDTH",
    "find_svg_files",
    "choose_files",
    "kanjivg_dir",
    "render_glyphs",
]

_SVG_STREAM = 15  # synthetic levels use streams split*16 + 0..9: SVG samples draw from their own
GLYPH_WIDTH = (0.8, 8.0)  # glyphs mixed into the curriculum: the pen widths of levels 7-9
MAX_STROKES = 256  # per file: the pen draws of every sample are laid out for this many


def kanjivg_dir() -> Path:
    """The SVG folder of the installed ``kanjivg`` package (the optional ``kanjivg`` extra)."""
    try:
        dist = metadata.distribution("kanjivg")
    except metadata.PackageNotFoundError:
        raise SvgError(
            "kanjivg: not installed; pip install 'inktrace[kanjivg]' "
            "(or set data.svg_dir to a folder)"
        ) from None
    folder = Path(str(dist.locate_file("kanji")))  # typed as a SimplePath, which has no fspath
    if not folder.is_dir():
        raise SvgError(f"kanjivg: installed, but its SVG folder {folder} is missing")
    return folder


def find_svg_files(source: str | os.PathLike | Sequence[str | os.PathLike]) -> list[Path]:
    """SVG files from a folder (recursively, sorted), a list of files, or ``"kanjivg"``."""
    if isinstance(source, (str, os.PathLike)):
        if os.fspath(source) == "kanjivg":
            source = kanjivg_dir()
        folder = Path(source)
        if not folder.exists():
            raise SvgError(f"{folder}: no such file or folder")
        files = sorted(folder.rglob("*.svg")) if folder.is_dir() else [folder]
    else:
        files = [Path(f) for f in source]
    if not files:
        raise SvgError(f"{source}: no .svg files")
    return files


def choose_files(
    source: str | os.PathLike | Sequence[str | os.PathLike], count: int, seed: int = 0
) -> list[Path]:
    """A fixed subset of ``count`` SVG files (all when fewer): a seeded permutation's first ones.

    The evaluation's characters (``inktrace evaluate --count N --seed S``); training leaves the
    first ``data.svg_holdout`` of the same permutation out (``data.svg_holdout_seed``), so any
    evaluation with a count up to that and the same seed sees no trained character.
    """
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    files = find_svg_files(source)
    order = torch.randperm(len(files), generator=torch.Generator().manual_seed(int(seed)))
    return [files[int(i)] for i in order[:count]]


@lru_cache(maxsize=16384)
def _cached(path: str) -> tuple[list[Subpath], tuple[float, float, float, float]]:
    return read_svg(path)


class SvgInk(BatchRendered):
    """Samples from centreline SVG files: sample ``k`` is file ``k`` with its own pen and placement.

    Same output as ``SyntheticInk`` (image, targets, keypoint lists), clean images. ``pens``: the
    pen models a sample may be drawn with (pens.py), one per sample from its key; the default is
    the engine before pens, and ``pens="drybrush"`` renders every glyph with the held-out style.
    """

    def __init__(
        self,
        source: str | os.PathLike | Sequence[str | os.PathLike],
        img_size: int = 64,
        seed: int = 0,
        split: str = "train",
        epoch: int = 0,
        width: tuple[float, float] = (1.2, 5.0),
        device: torch.device | str = "cpu",
        pens: Sequence[str] | str = ("classic",),
    ) -> None:
        self.pens = check_pens(pens)
        self.files = find_svg_files(source)
        self.size = len(self.files)
        self.img_size, self.seed, self.split, self.epoch = (
            int(img_size),
            int(seed),
            split,
            int(epoch),
        )
        self.width, self.device = width, device

    def render(self, indices: Sequence[int] | torch.Tensor) -> dict[str, torch.Tensor]:
        idx = self.indices(indices)
        strokes, keys = self.geometry(idx)
        out = render_batch(
            strokes,
            self.img_size,
            self.img_size,
            keys=keys,
            device=self.device,
            pen=self.pen_ids(keys),
        )
        out["index"] = idx.to(out["image"].device)
        return out

    def pen_ids(self, keys: torch.Tensor) -> torch.Tensor | None:
        """Each sample's pen (ids into ``pens.PEN_NAMES``) from its key, for ``render_batch``'s
        ``pen``; None for the classic engine (no texture)."""
        return None if is_classic(self.pens) else choose_pens(keys, self.pens)

    def geometry(
        self, indices: Sequence[int] | torch.Tensor, files: torch.Tensor | None = None
    ) -> tuple[Strokes, torch.Tensor]:
        """The strokes of samples ``indices`` as rendered (placed, jittered, with pen widths),
        and their sample keys (the seeds of anything else drawn for them, e.g. degradations).

        Sample ``k`` draws file ``k`` unless ``files`` (one file index per sample) says which; the
        pen and placement are drawn from the sample's own key either way.
        """
        if files is None:
            idx = which = self.indices(indices)
        else:  # the sample index is only a key then: any non-negative number
            idx = torch.as_tensor(indices, dtype=torch.long).reshape(-1)
            which = torch.as_tensor(files, dtype=torch.long)
            if idx.numel() and idx.min() < 0:
                raise IndexError("sample indices must not be negative")
        if which.shape != idx.shape or (
            which.numel() and (which.min() < 0 or which.max() >= len(self.files))
        ):
            raise IndexError(f"files: one index 0-{len(self.files) - 1} per sample")
        parsed = [_cached(str(self.files[int(i)])) for i in which]
        for i, (strokes, _) in zip(which, parsed):
            if len(strokes) > MAX_STROKES:
                raise SvgError(
                    f"{self.files[int(i)]}: {len(strokes)} strokes, more than {MAX_STROKES}"
                )
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
        epoch = 0 if self.split == "val" else self.epoch
        keys = sample_keys(self.seed, _SPLITS[self.split] * 16 + _SVG_STREAM, epoch, idx)
        draws = Draws(keys)
        img = float(self.img_size)
        # fit the viewBox into the image (aspect kept), then jitter scale and position a little
        scale = (img * draws.uniform(low=0.8, high=0.95)) / torch.maximum(box[:, 2], box[:, 3])
        shift = draws.uniform(2, low=-0.04, high=0.04) * img
        centre = box[:, :2] + box[:, 2:] / 2
        ctrl = (
            (ctrl - centre[:, None, None, None]) * scale[:, None, None, None, None]
            + img / 2
            + shift[:, None, None, None]
        )
        points, seg_valid = flatten_pieces(ctrl, valid)
        lo, hi = self.width
        s_img = img / 64.0
        pen = draws.log_uniform(lo * s_img, hi * s_img)
        base = pen[:, None] * draws.uniform(MAX_STROKES, low=0.9, high=1.1)[:, :S]
        if is_classic(self.pens):
            widths = width_profile(
                draws,
                arc_length_param(points, seg_valid),
                base,
                taper=0.6,
                swell=0.15,
                slots=MAX_STROKES,
            )
            return Strokes(points, widths, seg_valid, closed), keys
        ids = choose_pens(keys, self.pens)
        drawn = with_pens(
            ids,
            draws,
            points,
            seg_valid,
            closed,
            remap_base(base, ids, self.width, s_img),
            hi * s_img * 1.5,
            lambda p, v: width_profile(
                draws, arc_length_param(p, v), base, taper=0.6, swell=0.15, slots=MAX_STROKES
            ),
            slots=MAX_STROKES,
        )
        return drawn, keys


def render_glyphs(
    source: str | os.PathLike | Sequence[str | os.PathLike],
    img_size: int = 64,
    pen: str = "drybrush",
    seed: int = 0,
    width: tuple[float, float] = (1.0, 8.0),
    indices: Sequence[int] | None = None,
) -> dict[str, torch.Tensor]:
    """Glyphs of ``source`` (SVG folder, files or "kanjivg") drawn with one ``pen``, e.g. the
    held-out ``drybrush``: a batch dict as ``SvgInk.render`` (clean image with the pen's texture,
    exact targets). Sample k is file k (``indices``: which; default all)."""
    engine = SvgInk(source, img_size, seed=seed, width=width, pens=(pen,))
    return engine.render(range(len(engine)) if indices is None else indices)
