"""The training data of one epoch: which samples, in which batches, through which loader.

The order is a permutation seeded by (seed, epoch) and the loader's own generator by (seed,
epoch, position), never by the global RNG: so the samples of any step are a pure function of
(seed, epoch, position), which is what makes a resume exact.

Without worker processes the loader renders up to ``GROUP_PIXELS`` pixels of samples (several
batches: 256 samples of 64 px) in one vectorised pass and hands them out batch by batch: a sample is
a pure function of its index, so the batches are the same to the bit on the CPU (tested), and
rendering 64 samples at once costs about half as much per sample as 16
(``benchmarks/bench_data.py``), 256 about 0.85x as much as 64 (benchmarks/RESULTS.md). A resumed
epoch's groups start at the resume position; with ``render_on: device`` on a GPU, whose kernels may
round differently for other shapes, the bit-identity of that first group is not tested (no GPU
here).

``Prefetched`` takes the loader's next batch in a background thread while the step runs
(``data.prefetch`` batches ahead, without worker processes): the same batches in the same order,
so the run is the same to the bit; only the wait for data is hidden.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset

from ..config import Config
from ..data import SyntheticInk, collate
from ..data.mixed import MixedInk
from ..data.rng import seed_hash
from ..data.svg import GLYPH_WIDTH, SvgInk, choose_files, find_svg_files
from ..errors import ConfigError

# the last word of seed_hash for an epoch's order of the samples
ORDER_SEED_TAG = 0x5EED

__all__ = [
    "train_set",
    "epoch_batches",
    "epoch_loader",
    "GroupedBatches",
    "Prefetched",
    "GROUP_PIXELS",
    "group_samples",
    "ORDER_SEED_TAG",
]


def train_set(cfg: Config, level: int, device: torch.device | None = None) -> Dataset:
    """The training samples: synthetic ink at ``level``; with ``data.svg_dir``, centreline SVG
    glyphs instead (``svg_fraction`` 1) or mixed in (below 1, see data/mixed.py), the files
    ``svg_holdout`` names left out; drawn with the pens of ``data.pens`` and a share
    ``data.cursive_fraction`` of cursive words from level 4."""
    d, seed = cfg.data, cfg.training.seed
    on = device if d.render_on == "device" and device is not None else torch.device("cpu")
    if on.type == "cuda" and d.num_workers:
        raise ConfigError(
            "data.num_workers: worker processes cannot render on the GPU; set it to 0 with "
            "data.render_on: device (the GPU renders fast enough without them)"
        )
    if d.prefetch and d.num_workers:
        raise ConfigError(
            f"data.prefetch: {d.prefetch} renders ahead in a thread of the main process; with "
            f"data.num_workers: {d.num_workers} the workers render ahead already (set one to 0)"
        )
    synthetic = SyntheticInk(
        level,
        d.train_size,
        d.img_size,
        seed=seed,
        device=on,
        pens=d.pens,
        cursive=d.cursive_fraction,
    )
    if not d.svg_dir or d.svg_fraction == 0:
        return synthetic
    files = find_svg_files(d.svg_dir)
    if d.svg_holdout:
        held = set(choose_files(files, d.svg_holdout, d.svg_holdout_seed))
        files = [f for f in files if f not in held]
        if not files:
            raise ConfigError(
                f"data.svg_holdout: {d.svg_holdout} leaves no file of {d.svg_dir} to train on"
            )
    if d.svg_fraction == 1:
        return SvgInk(files, d.img_size, seed=seed, device=on, pens=d.pens)
    glyphs = SvgInk(files, d.img_size, seed=seed, width=GLYPH_WIDTH, device=on, pens=d.pens)
    return MixedInk(synthetic, glyphs, d.svg_fraction)


def epoch_batches(size: int, batch_size: int, seed: int, epoch: int) -> list[list[int]]:
    """An epoch's batches of sample indices: a permutation seeded by (seed, epoch)."""
    g = torch.Generator().manual_seed(seed_hash(seed, epoch, ORDER_SEED_TAG))
    order = torch.randperm(size, generator=g)
    return [chunk.tolist() for chunk in order.split(batch_size)]


GROUP_PIXELS = 256 * 64 * 64  # rendered in one pass without workers: 256 samples of 64 px


def group_samples(dataset: Any) -> int:
    """How many samples of ``dataset`` are rendered in one pass: ``GROUP_PIXELS`` of its images
    (their side is its ``img_size``), at least one."""
    side = int(getattr(dataset, "img_size", 64))
    return max(1, GROUP_PIXELS // (side * side))


def _part(batch: dict[str, torch.Tensor], start: int, stop: int) -> dict[str, torch.Tensor]:
    """Samples ``start:stop`` of a rendered batch, as if rendered alone: the keypoint lists
    padded to that part's longest."""
    part = {k: v[start:stop] for k, v in batch.items()}
    longest = int(part["num_points"].max()) if stop > start else 0
    part["points"] = part["points"][:, :longest]
    return part


class GroupedBatches:
    """The batches of ``batches`` from a ``BatchRendered`` dataset, rendered up to
    :func:`group_samples` samples at a time (module docstring); ``pin``: into pinned memory."""

    def __init__(self, dataset: Any, batches: list[list[int]], pin: bool = False) -> None:
        self.dataset, self.batches, self.pin = dataset, batches, pin

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        k, limit = 0, group_samples(self.dataset)
        while k < len(self.batches):
            group = [self.batches[k]]
            size = len(group[0])
            while k + len(group) < len(self.batches):
                nxt = self.batches[k + len(group)]
                if size + len(nxt) > limit:
                    break
                group.append(nxt)
                size += len(nxt)
            rendered = self.dataset.__getitems__([i for b in group for i in b])
            start = 0
            for b in group:
                part = _part(rendered, start, start + len(b))
                start += len(b)
                yield {k: v.pin_memory() for k, v in part.items()} if self.pin else part
            k += len(group)


def epoch_loader(
    dataset: Dataset,
    batches: list[list[int]],
    cfg: Config,
    epoch: int,
    position: int,
    device: torch.device,
) -> Iterable[dict[str, torch.Tensor]]:
    """A loader over ``batches`` (the rest of the epoch from ``position``)."""
    workers = cfg.data.num_workers
    pin = device.type == "cuda" and cfg.data.render_on == "cpu"
    if not workers and hasattr(dataset, "__getitems__"):
        return GroupedBatches(dataset, batches, pin)
    # its own generator: a DataLoader iterator otherwise draws its base seed from the global
    # RNG, which the resumed run would consume once more than the uninterrupted one
    g = torch.Generator().manual_seed(seed_hash(cfg.training.seed, epoch, position, 7))
    return DataLoader(
        dataset,
        batch_sampler=batches,
        collate_fn=collate,
        num_workers=workers,
        pin_memory=pin,
        prefetch_factor=2 if workers else None,
        generator=g,
    )


class _Raised:
    def __init__(self, error: BaseException) -> None:
        self.error = error


_END = object()


class Prefetched(Iterator[Any]):
    """The items of ``source``, each taken in a background thread up to ``depth`` items before it
    is asked for. An error in the source is raised by the ``next`` call of the item it stopped
    at. ``close()`` (also on leaving a ``with``) stops the thread and waits for it."""

    def __init__(self, source: Iterable[Any], depth: int = 1) -> None:
        if depth < 1:
            raise ValueError(f"depth must be at least 1, got {depth}")
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._done = False
        self._thread = threading.Thread(
            target=self._run, args=(source,), name="inktrace-prefetch", daemon=True
        )
        self._thread.start()

    def _put(self, item: Any) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self, source: Iterable[Any]) -> None:
        try:
            for item in source:
                if not self._put(item):
                    return
        except BaseException as error:  # handed to the consumer, raised there
            self._put(_Raised(error))
            return
        self._put(_END)

    def __next__(self) -> Any:
        if self._done:
            raise StopIteration
        item = self._queue.get()
        if item is _END or isinstance(item, _Raised):
            self._done = True
            self.close()
            if isinstance(item, _Raised):
                raise item.error
            raise StopIteration
        return item

    def close(self) -> None:
        self._done = True  # a next() after close() ends the iteration, never waits on the queue
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join()

    def __enter__(self) -> Prefetched:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
