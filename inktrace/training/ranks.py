"""What a trainer does differently on each rank of a distributed run (see distributed.py): the
checks of the config against the world size, the DDP wrapper, the ranks' states in a checkpoint
and back, and the epoch's training means summed over the ranks.
"""

from __future__ import annotations

from typing import Any

import torch

from ..config import Config
from ..errors import ConfigError
from ..losses import metric_key
from .distributed import Dist, rank_seed
from .interface import TrainerView
from .resume import ResumePoint
from .state import TrainState, capture_rng, restore_rng

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


def gather_rank_state(
    dist: Dist, state: TrainState, device: torch.device, epoch_done: bool
) -> list[dict[str, Any]] | None:
    """Called by every rank when a checkpoint is made: the ranks' RNG states (on rank 0) and, mid
    epoch, this epoch's training sums added up over the ranks in ``state`` (so rank 0 saves the
    whole)."""
    if not epoch_done:
        state.set_epoch_partial(*dist.sum_values(state.epoch_sums, state.epoch_count, device))
    return dist.gather(capture_rng(device, every_gpu=False))


def restore_rank(t: TrainerView, point: ResumePoint) -> None:
    """After :func:`~.resume.restore` (which gave every rank rank 0's state): this rank's own RNG
    state when the world size is the one saved; the saved partial sums on rank 0 only."""
    ckpt = point.checkpoint
    saved = int(ckpt.get("world_size") or 1)
    world, rank = t.dist.world, t.dist.rank
    if rank != 0:  # rank 0 carries the epoch's sums of all ranks so far (the keys stay: the
        # ranks sum the same keys, even when no step of this epoch is left to run)
        t.state.drop_epoch_partial()
    states = ckpt.get("rng_ranks")
    if saved == world and states and len(states) == world:
        restore_rng(states[rank], t.device)
        return
    if saved != world:
        if rank != 0:
            torch.manual_seed(rank_seed(t.cfg.training.seed, rank, t.state.global_step))
        t.log.info(
            f"note: checkpoint of {saved} process(es), resumed with {world}: the global batches "
            "and their samples are the same, the random draws of the ranks (dropout) are not, "
            "so the run is not bit-exact with one never stopped"
        )


def rank_means(t: TrainerView) -> dict[str, float]:
    """This epoch's sample-weighted training means over every rank's samples."""
    s = t.state
    if not t.dist.enabled:
        return s.train_means()
    sums, count = t.dist.sum_values(s.epoch_sums, s.epoch_count, t.device)
    return {metric_key("train", k): v / max(count, 1.0) for k, v in sums.items()}
