"""The training data of one epoch: which samples, in which batches, through which loader.

The order is a permutation seeded by (seed, epoch) and the loader's own generator by (seed,
epoch, position), never by the global RNG: so the samples of any step are a pure function of
(seed, epoch, position), which is what makes a resume exact.
"""

from __future__ import annotations

import torch
from torch.utils.data import DataLoader, Dataset

from ..config import Config
from ..data import SyntheticInk, collate
from ..data.rng import seed_hash
from ..data.svg import SvgInk

__all__ = ["train_set", "epoch_batches", "epoch_loader"]


def train_set(cfg: Config, level: int) -> Dataset:
    """The training samples: centreline SVGs when ``data.svg_dir`` is set, else synthetic ink."""
    if cfg.data.svg_dir:
        return SvgInk(cfg.data.svg_dir, cfg.data.img_size, seed=cfg.training.seed)
    return SyntheticInk(level, cfg.data.train_size, cfg.data.img_size, seed=cfg.training.seed)


def epoch_batches(size: int, batch_size: int, seed: int, epoch: int) -> list[list[int]]:
    """An epoch's batches of sample indices: a permutation seeded by (seed, epoch)."""
    g = torch.Generator().manual_seed(seed_hash(seed, epoch, 0x5EED))
    order = torch.randperm(size, generator=g)
    return [chunk.tolist() for chunk in order.split(batch_size)]


def epoch_loader(
    dataset: Dataset,
    batches: list[list[int]],
    cfg: Config,
    epoch: int,
    position: int,
    device: torch.device,
) -> DataLoader:
    """A loader over ``batches`` (the rest of the epoch from ``position``)."""
    workers = cfg.data.num_workers
    # its own generator: a DataLoader iterator otherwise draws its base seed from the global
    # RNG, which the resumed run would consume once more than the uninterrupted one
    g = torch.Generator().manual_seed(seed_hash(cfg.training.seed, epoch, position, 7))
    return DataLoader(
        dataset,
        batch_sampler=batches,
        collate_fn=collate,
        num_workers=workers,
        pin_memory=device.type == "cuda",
        prefetch_factor=2 if workers else None,
        generator=g,
    )
