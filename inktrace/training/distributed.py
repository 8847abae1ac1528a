"""Distributed data parallel (DDP): the process group, each rank's share of the data, the few
collectives the loop needs, and what a trainer does differently on each rank (the checks of the
config against the world size, the DDP wrapper, the ranks' states in a checkpoint and back, the
epoch's training means summed over the ranks).

Launch: ``torchrun --nproc_per_node=N train.py ...`` (any torchrun launch: multi-node with
``--nnodes`` and a rendezvous, SLURM through ``srun torchrun``). A process started by torchrun
(``WORLD_SIZE`` > 1 in its environment) joins the group itself: NCCL on CUDA, gloo on the CPU.
A trainer built inside a process group that is already initialised (a notebook, a host program)
uses that group and leaves it open.

**Batch rule.** ``training.batch_size`` is the *global* batch: every rank takes its share of each
global batch (sizes differing by at most one), so an N-process run sees exactly the samples, in
the same steps, of a 1-process run with the same config, and LR, schedule, epochs and checkpoints
positions mean the same at any world size. Each rank's loss is weighted by its share (``n_r / n *
N``), so DDP's gradient mean is the gradient of the whole batch's mean loss (exact up to the
order of float sums, and to the loss terms that normalise by their batch's mask size). A rank
whose share of the last, short batch is empty runs one sample with weight 0.

**Who writes.** Rank 0 alone writes checkpoints, TensorBoard, JSON logs, the console and
progress bar; the others wait at a barrier after each save, so a checkpoint exists before any
rank goes on. A checkpoint carries every rank's RNG state.

**Stopping.** A step is skipped on every rank alike (the gradients it is judged by are averaged
over the ranks). At each sync point (meter.py) the ranks agree, in one all-reduce, on the worst
non-finite run and on whether any rank was asked to stop (Ctrl-C, SIGTERM): all fail or stop
after the same step, and rank 0 writes one resumable ``last.ckpt``. A rank that dies makes the
others' next collective fail (at once when its sockets close, else after
``system.dist_timeout``); they exit with one line naming the failure.
"""

from __future__ import annotations

import datetime
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from ..config import Config
from ..data.rng import seed_hash
from ..errors import ConfigError, DistError
from ..losses import metric_key
from .messages import RunMessages
from .state import TrainState, capture_rng, restore_rng

__all__ = [
    "Dist",
    "DistError",
    "shutdown",
    "main_process",
    "RANK_SEED_TAG",
    "rank_seed",
    "check_world",
    "wrap_ddp",
    "gather_rank_state",
    "restore_rank",
    "rank_means",
]

# the last word of seed_hash for a rank's own global RNG (dropout draws)
RANK_SEED_TAG = 0xD15

_OWNED = False  # the process group was initialised here (shutdown() destroys it)


def rank_seed(seed: int, rank: int, *position: int) -> int:
    """The global RNG seed of rank ``rank`` (not 0: rank 0 keeps the one-process draws) of a run
    seeded ``seed``, at ``position`` (a resume with another world size: the global step)."""
    return seed_hash(seed, rank, *position, RANK_SEED_TAG)


@dataclass
class Dist:
    """This process's place in the group (rank 0 of 1 when not distributed)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def main(self) -> bool:
        return self.rank == 0

    # ------------------------------------------------------------------ the group
    @classmethod
    def setup(cls, device_name: str, timeout_s: float) -> Dist:
        """Join the group torchrun describes in the environment, or use an initialised one."""
        if dist.is_available() and dist.is_initialized():
            return cls(dist.get_rank(), dist.get_world_size(), _local_rank())
        world = int(os.environ.get("WORLD_SIZE", "1") or 1)
        if world <= 1:
            return cls()
        if not dist.is_available():
            raise DistError("WORLD_SIZE > 1 but this torch build has no torch.distributed")
        local = _local_rank()
        cuda = device_name != "cpu" and torch.cuda.is_available()
        if cuda:
            torch.cuda.set_device(local)
        dist.init_process_group(
            backend="nccl" if cuda else "gloo",
            timeout=datetime.timedelta(seconds=timeout_s),
        )
        global _OWNED
        _OWNED = True
        return cls(dist.get_rank(), dist.get_world_size(), local)

    def device(self, device: torch.device) -> torch.device:
        """This rank's device: its own GPU (``LOCAL_RANK``) when training on CUDA."""
        if self.enabled and device.type == "cuda":
            return torch.device("cuda", self.local_rank)
        return device

    # ------------------------------------------------------------------ data
    def shard(self, batch: Sequence[int]) -> tuple[list[int], float]:
        """This rank's share of a global batch and the weight of its mean loss (1 alone)."""
        batch = list(batch)
        if not self.enabled:
            return batch, 1.0
        n, k = len(batch), self.world
        lo, hi = self.rank * n // k, (self.rank + 1) * n // k
        if hi == lo:  # nothing for this rank in a short last batch: one sample, weight 0
            return batch[:1], 0.0
        return batch[lo:hi], (hi - lo) * k / n

    def share(self, n: int) -> slice:
        """This rank's contiguous part of ``n`` items (validation)."""
        return slice(self.rank * n // self.world, (self.rank + 1) * n // self.world)

    # ------------------------------------------------------------------ collectives
    def _tensor(self, values: Sequence[float], device: torch.device) -> torch.Tensor:
        on = device if dist.get_backend() == "nccl" else torch.device("cpu")
        return torch.tensor(list(values), dtype=torch.float64, device=on)

    def _failed(self, what: str, exc: BaseException) -> DistError:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return DistError(
            f"rank {self.rank}/{self.world}: {what} failed, another rank has died or stopped "
            f"answering ({first[:160]})"
        )

    def _call(self, what: str, fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - any failure of a peer: one clear line
            raise self._failed(what, exc) from None

    @contextmanager
    def step_guard(self) -> Iterator[None]:
        """Around a training step: DDP's own collectives (the gradient all-reduce in the
        backward, the buffer broadcast in the forward) failing because a peer died become the
        same one-line DistError as the loop's collectives (not the backend's traceback). Errors
        of the step itself pass unchanged."""
        try:
            yield
        except RuntimeError as exc:
            if self.enabled and _peer_failure(exc):
                raise self._failed("the step's gradient all-reduce", exc) from None
            raise

    def maxima(self, values: Sequence[float], device: torch.device) -> list[int]:
        """The maximum of each value over the ranks (integers), in one all-reduce."""
        if not self.enabled:
            return [int(v) for v in values]
        t = self._tensor([float(v) for v in values], device)
        self._call("the sync point's agreement", dist.all_reduce, t, op=dist.ReduceOp.MAX)
        return [int(v) for v in t.tolist()]

    def sum_values(
        self, values: Mapping[str, float], count: float, device: torch.device
    ) -> tuple[dict[str, float], float]:
        """Sums of ``values`` (the same keys on every rank) and of ``count`` over the ranks."""
        if not self.enabled:
            return dict(values), count
        keys = sorted(values)
        t = self._tensor([values[k] for k in keys] + [count], device)
        self._call("summing over ranks", dist.all_reduce, t, op=dist.ReduceOp.SUM)
        return {k: float(v) for k, v in zip(keys, t[:-1].tolist())}, float(t[-1])

    def barrier(self) -> None:
        if self.enabled:
            self._call("waiting for the other ranks", dist.barrier)

    def gather(self, obj: Any) -> list[Any] | None:
        """Every rank's ``obj`` on rank 0 (a list in rank order), None on the others."""
        if not self.enabled:
            return [obj]
        out: list[Any] | None = [None] * self.world if self.main else None
        self._call("gathering state", dist.gather_object, obj, out, dst=0)
        return out


# what a backend says when a peer is gone (gloo, NCCL, the TCP store), when the reducer rethrows
# it as a plain RuntimeError rather than torch.distributed.DistError
_PEER_GONE = re.compile(
    r"gloo|nccl|connection (reset|closed|refused)|broken pipe|timed out|processgroup", re.I
)


def _peer_failure(exc: BaseException) -> bool:
    return isinstance(exc, dist.DistError) or bool(_PEER_GONE.search(str(exc)[:2000]))


def main_process() -> bool:
    """Whether this process is rank 0 of its group (or not distributed): the one that speaks."""
    return not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0


def shutdown() -> None:
    """Destroy the process group if a trainer initialised it (train.py does at its end)."""
    global _OWNED
    if _OWNED and dist.is_initialized():
        dist.destroy_process_group()
    _OWNED = False


def _local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0") or 0)


# ---------------------------------------------------------------- what differs per rank
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


def restore_rank(
    dist: Dist,
    device: torch.device,
    state: TrainState,
    ckpt: Mapping[str, Any],
    seed: int,
    log: RunMessages,
) -> None:
    """After :func:`~.resume.restore` (which gave every rank rank 0's state): this rank's own RNG
    state when the world size is the one saved; the saved partial sums on rank 0 only."""
    saved = int(ckpt.get("world_size") or 1)
    world, rank = dist.world, dist.rank
    if rank != 0:  # rank 0 carries the epoch's sums of all ranks so far (the keys stay: the
        # ranks sum the same keys, even when no step of this epoch is left to run)
        state.drop_epoch_partial()
    states = ckpt.get("rng_ranks")
    if saved == world and states and len(states) == world:
        restore_rng(states[rank], device)
        return
    if saved != world:
        if rank != 0:
            torch.manual_seed(rank_seed(seed, rank, state.global_step))
        log.info(
            f"note: checkpoint of {saved} process(es), resumed with {world}: the global batches "
            "and their samples are the same, the random draws of the ranks (dropout) are not, "
            "so the run is not bit-exact with one never stopped"
        )


def rank_means(dist: Dist, state: TrainState, device: torch.device) -> dict[str, float]:
    """This epoch's sample-weighted training means over every rank's samples."""
    if not dist.enabled:
        return state.train_means()
    sums, count = dist.sum_values(state.epoch_sums, state.epoch_count, device)
    return {metric_key("train", k): v / max(count, 1.0) for k, v in sums.items()}
