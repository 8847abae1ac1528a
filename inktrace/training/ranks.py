"""What a trainer does differently on each rank of a distributed run (see distributed.py): the
checks of the config against the world size, the DDP wrapper, the ranks' states in a checkpoint
and back, and the epoch's training means summed over the ranks.
"""

from __future__ import annotations

from typing import Any

import torch

from ..config import Config
from ..data.rng import seed_hash
from ..errors import ConfigError
from ..losses import metric_key
from .distributed import Dist
from .resume import ResumePoint

__all__ = ["check_world", "wrap_ddp", "gather_rank_state", "restore_rank", "rank_means"]


def check_world(cfg: Config, world: int) -> None:
    """A global batch and a validation set each rank has a share of."""
    if world <= 1:
        return
    for key, value in (
        ("training.batch_size", cfg.training.batch_size),
        ("data.val_size", cfg.data.val_size),
    ):
        if value < world:
            raise ConfigError(
                f"{key}: {value} is smaller than the {world} ranks of this run "
                "(training.batch_size is the global batch, shared by the ranks)"
            )


def wrap_ddp(model: torch.nn.Module, dist: Dist, device: torch.device) -> torch.nn.Module:
    """The module the training forward runs: ``model`` itself alone, else its DDP wrapper
    (which starts every rank from rank 0's weights)."""
    if not dist.enabled:
        return model
    from torch.nn.parallel import DistributedDataParallel

    ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids)


def _rng_state(device: torch.device) -> dict[str, Any]:
    rng = {"torch": torch.get_rng_state()}
    if device.type == "cuda":
        rng["cuda"] = torch.cuda.get_rng_state(device)
    return rng


def gather_rank_state(trainer: Any, epoch_done: bool) -> list[dict[str, Any]] | None:
    """Called by every rank when a checkpoint is made: the ranks' RNG states (on rank 0) and, mid
    epoch, this epoch's training sums added up over the ranks (so rank 0 saves the whole)."""
    t, s = trainer, trainer.state
    if not epoch_done:
        s.epoch_sums, count = t.dist.sum_values(s.epoch_sums, s.epoch_count, t.device)
        s.epoch_count = int(round(count))
    return t.dist.gather(_rng_state(t.device))


def restore_rank(trainer: Any, point: ResumePoint) -> None:
    """After :func:`~.resume.restore` (which gave every rank rank 0's state): this rank's own RNG
    state when the world size is the one saved; the saved partial sums on rank 0 only."""
    t, ckpt = trainer, point.checkpoint
    saved = int(ckpt.get("world_size") or 1)
    world, rank = t.dist.world, t.dist.rank
    if rank != 0:  # rank 0 carries the epoch's sums of all ranks so far (the keys stay: the
        # ranks sum the same keys, even when no step of this epoch is left to run)
        t.state.epoch_sums = dict.fromkeys(t.state.epoch_sums, 0.0)
        t.state.epoch_count = 0
    states = ckpt.get("rng_ranks")
    if saved == world and states and len(states) == world:
        torch.set_rng_state(states[rank]["torch"])
        if states[rank].get("cuda") is not None and t.device.type == "cuda":
            torch.cuda.set_rng_state(states[rank]["cuda"], t.device)
        return
    if saved != world:
        if rank != 0:
            torch.manual_seed(seed_hash(t.cfg.training.seed, rank, t.state.global_step, 0xD15))
        t.log.info(
            f"note: checkpoint of {saved} process(es), resumed with {world}: the global batches "
            "and their samples are the same, the random draws of the ranks (dropout) are not, "
            "so the run is not bit-exact with one never stopped"
        )


def rank_means(trainer: Any) -> dict[str, float]:
    """This epoch's sample-weighted training means over every rank's samples."""
    t, s = trainer, trainer.state
    if not t.dist.enabled:
        return s.train_means()
    sums, count = t.dist.sum_values(s.epoch_sums, s.epoch_count, t.device)
    return {metric_key("train", k): v / max(count, 1.0) for k, v in sums.items()}
