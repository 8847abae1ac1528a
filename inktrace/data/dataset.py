"""Datasets: synthetic ink by curriculum level, a fixed validation set, and batched loading.

Sample ``k`` of epoch ``e`` with seed ``s`` at a level is a pure function of those numbers (see
rng.py), so it is bit-identical whatever the batch size, the DataLoader workers, the process or
the DDP rank that renders it. ``__getitems__`` renders a whole batch in one vectorised pass;
PyTorch's DataLoader calls it with each batch's indices.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset

from .curriculum import DEGRADED_FROM, NUM_LEVELS, make_strokes
from .degrade import compose_clean, degrade
from .geometry import Strokes
from .keypoints import Keypoints, find_keypoints, pack
from .pens import apply_texture, check_pens, choose_pens, is_classic
from .render import render
from .rng import Draws, sample_keys

__all__ = [
    "BatchRendered",
    "SyntheticInk",
    "render_batch",
    "collate",
    "make_loader",
    "validation_set",
    "TARGET_KEYS",
    "sample_of",
]

TARGET_KEYS = (
    "skeleton",
    "keypoints",
    "tangent",
    "width",
    "offset",
    "mask",
    "tangent_mask",
    "ends",
    "stroke",
)
_SPLITS = {"train": 0, "val": 1}


def render_batch(
    strokes: Strokes,
    height: int,
    width: int,
    level: int | None = None,
    draws: Draws | None = None,
    keys: torch.Tensor | None = None,
    device: torch.device | str = "cpu",
    pen: torch.Tensor | None = None,
) -> dict[str, torch.Tensor]:
    """Image, targets and keypoint lists of a batch of strokes (the engine's one rendering path).

    With ``level`` >= 7 (and the samples' ``draws``/``keys``) the image gets scan degradations.
    ``pen`` (B,) (pen ids, pens.py; with ``keys``) gives the ink its pen's texture first: the
    image changes, the targets do not.
    """
    kp = find_keypoints(strokes)
    maps = render(strokes, kp, height, width, device)
    ink = maps.pop("ink")
    if pen is not None:
        if keys is None:
            raise ValueError("render_batch: a pen texture needs the samples' keys")
        ink = apply_texture(ink, maps, pen, keys)
    if level is not None and level >= DEGRADED_FROM:
        if draws is None or keys is None:
            raise ValueError("render_batch: scan degradations need the samples' draws and keys")
        image = degrade(ink, level, draws.fork(300), keys.to(ink.device))
    else:
        image = compose_clean(ink)
    points, num = _point_lists(kp, height, width)
    return {"image": image, **maps, "points": points.to(device), "num_points": num.to(device)}


def _point_lists(kp: Keypoints, height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, K, 3) rows of (x, y, kind) inside the image, padded with kind -1, and the counts."""
    B = kp.kind.shape[0]
    bi, ki = kp.listed(height, width).nonzero(as_tuple=True)
    rows = torch.cat([kp.xy[bi, ki], kp.kind[bi, ki, None].to(kp.xy.dtype)], 1).to(torch.float32)
    (out,) = pack(bi, B, rows, fill=-1.0)
    return out, torch.bincount(bi, minlength=B)


def sample_of(batch: dict[str, torch.Tensor], b: int) -> dict[str, torch.Tensor]:
    """One sample of a batch dict, with its keypoint list cut to its own length."""
    out = {k: v[b] for k, v in batch.items() if k not in ("points", "num_points")}
    out["points"] = batch["points"][b, : int(batch["num_points"][b])]
    return out


def collate(items: Any) -> dict[str, torch.Tensor]:
    """DataLoader collate: passes a ready batch through, stacks a list of single samples."""
    if isinstance(items, dict):
        return items
    return concat_batches(
        {**{k: v[None] for k, v in it.items()}, "num_points": torch.tensor([it["points"].shape[0]])}
        for it in items
    )


class BatchRendered(Dataset):
    """A dataset whose samples are rendered a whole batch at a time by ``render(indices)``."""

    size: int
    epoch: int = 0

    def __len__(self) -> int:
        return self.size

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def indices(self, indices: Sequence[int] | torch.Tensor) -> torch.Tensor:
        """Sample indices as a long tensor, checked against the dataset's size."""
        idx = torch.as_tensor(
            list(indices) if not torch.is_tensor(indices) else indices, dtype=torch.long
        )
        if idx.numel() and (idx.min() < 0 or idx.max() >= self.size):
            raise IndexError(f"sample index out of range 0-{self.size - 1}")
        return idx

    def render(self, indices: Sequence[int] | torch.Tensor) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def __getitems__(self, indices: list[int]) -> dict[str, torch.Tensor]:
        return self.render(indices)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return sample_of(self.render([index]), 0)


class SyntheticInk(BatchRendered):
    """Synthetic ink at one curriculum level: ``size`` samples per epoch, ``img_size`` square.

    ``split="val"`` draws from a stream disjoint from training, fixed across epochs.
    ``device`` is where rendering runs (geometry is always built on the CPU). ``pens`` are the pen
    models a sample may be drawn with (pens.py; the default is the engine before pens), and
    ``cursive`` the share of samples at levels >= 4 that are cursive words (cursive.py).
    """

    def __init__(
        self,
        level: int,
        size: int,
        img_size: int = 64,
        seed: int = 0,
        split: str = "train",
        epoch: int = 0,
        device: torch.device | str = "cpu",
        pens: Sequence[str] = ("classic",),
        cursive: float = 0.0,
    ) -> None:
        if not 0 <= int(level) < NUM_LEVELS:
            raise ValueError(f"curriculum level must be 0-{NUM_LEVELS - 1}, got {level}")
        if split not in _SPLITS:
            raise ValueError(f"split must be one of {sorted(_SPLITS)}, got {split!r}")
        if img_size < 16:
            raise ValueError(f"img_size must be at least 16, got {img_size}")
        self.level, self.size, self.img_size, self.seed = (
            int(level),
            int(size),
            int(img_size),
            int(seed),
        )
        self.split, self.epoch, self.device = split, int(epoch), device
        self.pens = check_pens(pens)
        if not 0.0 <= float(cursive) <= 1.0:
            raise ValueError(f"cursive share must be within 0-1, got {cursive}")
        self.cursive = float(cursive)

    def set_level(self, level: int) -> None:
        if not 0 <= int(level) < NUM_LEVELS:
            raise ValueError(f"curriculum level must be 0-{NUM_LEVELS - 1}, got {level}")
        self.level = int(level)

    def keys(self, indices: Sequence[int] | torch.Tensor) -> torch.Tensor:
        """The random-number keys of these samples (see rng.py)."""
        idx = self.indices(indices)
        epoch = 0 if self.split == "val" else self.epoch
        return sample_keys(self.seed, _SPLITS[self.split] * 16 + self.level, epoch, idx)

    def render(self, indices: Sequence[int] | torch.Tensor) -> dict[str, torch.Tensor]:
        """A batch dict for the given sample indices (docs/training.md: image, targets, points)."""
        idx = self.indices(indices)
        keys = self.keys(idx)
        draws = Draws(keys)
        strokes = make_strokes(self.level, draws, self.img_size, self.pens, self.cursive)
        pen = None if is_classic(self.pens) else choose_pens(keys, self.pens)
        out = render_batch(
            strokes, self.img_size, self.img_size, self.level, draws, keys, self.device, pen
        )
        out["index"] = idx.to(out["image"].device)
        return out


def make_loader(
    dataset: Dataset,
    batch_size: int,
    num_workers: int = 0,
    shuffle: bool = False,
    drop_last: bool = False,
    generator: torch.Generator | None = None,
    **kwargs: Any,
) -> DataLoader:
    """A DataLoader that renders whole batches in its workers (``__getitems__``)."""
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        num_workers=num_workers,
        collate_fn=collate,
        drop_last=drop_last,
        generator=generator,
        persistent_workers=False,
        **kwargs,
    )


def validation_set(
    level: int,
    size: int,
    img_size: int = 64,
    seed: int = 0,
    chunk: int = 256,
    pens: Sequence[str] = ("classic",),
    cursive: float = 0.0,
) -> dict[str, torch.Tensor]:
    """The fixed validation samples of a level, rendered once and kept in memory (CPU tensors)."""
    ds = SyntheticInk(level, size, img_size, seed, split="val", pens=pens, cursive=cursive)
    parts = [ds.render(range(i, min(i + chunk, size))) for i in range(0, size, chunk)]
    return concat_batches(parts)


def concat_batches(parts: Iterable[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """One batch from several, keypoint lists padded to the longest."""
    parts = list(parts)
    K = max(p["points"].shape[1] for p in parts)
    out = {k: torch.cat([p[k] for p in parts]) for k in parts[0] if k != "points"}
    out["points"] = torch.cat(
        [
            torch.nn.functional.pad(p["points"], (0, 0, 0, K - p["points"].shape[1]), value=-1.0)
            for p in parts
        ]
    )
    return out
