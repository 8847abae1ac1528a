"""The training state, defined in one place, and the checkpoint payload built from it.

:class:`TrainState` is everything of a run's progress that a checkpoint must carry besides the
model, optimizer, schedule and scaler: the position (epoch, batches done in it), the global step,
the global RNG state, the non-finite counters, the LR last applied, this epoch's partial training
sums, the per-epoch history, the best and last metrics, and where the weights came from (the
global RNG state is read when a checkpoint is made and set when one is loaded). It is
the only owner of the history and of the best metrics: the run's JSON log and the console read
them from here; the checkpoint manager keeps only its own ranking of *files*.

:func:`checkpoint_payload` assembles a checkpoint from the state objects, fvcore style: anything
with ``state_dict()`` under its key, then the run's identity, then the train state's keys.
Adding a piece of state means adding a field here and its two lines in ``state_dict`` /
``load_state_dict``; nothing else changes. The keys (``position``, ``epoch_partial`` ...) are the
checkpoint format of ``docs/contracts.md``, unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..errors import NonFiniteLossError
from ..losses import metric_key
from .messages import now

__all__ = [
    "TrainState",
    "checkpoint_payload",
    "position_of",
    "capture_rng",
    "restore_rng",
    "nonfinite_message",
    "check_weights",
]


@dataclass
class TrainState:
    epoch: int = 0  # the epoch being run (0-based)
    batch_in_epoch: int = 0  # training batches of this epoch already done
    global_step: int = 0  # optimizer steps taken (skipped ones included), drives the LR
    nonfinite_run: int = 0  # consecutive non-finite losses or gradients
    skipped_steps: int = 0  # steps the fp16 scaler skipped
    last_lr: float | None = None  # LR of the last step (None: take the schedule's)
    epoch_sums: dict[str, float] = field(default_factory=dict)  # sample-weighted training sums
    epoch_count: int = 0  # samples in epoch_sums
    history: dict[str, list] = field(default_factory=dict)  # per-epoch lists, aligned with "epoch"
    best_metrics: dict[str, Any] = field(default_factory=dict)  # the best epoch's record
    last_metrics: dict[str, float] = field(
        default_factory=dict
    )  # the last finished epoch's metrics
    init_report: dict[str, Any] | None = None  # where the starting weights came from

    # ------------------------------------------------------------------ the loop's updates
    def start_epoch(self) -> None:
        """Called before an epoch's first batch: a fresh epoch starts its sums from zero."""
        if self.batch_in_epoch == 0:
            self.epoch_sums, self.epoch_count = {}, 0

    def train_means(self) -> dict[str, float]:
        """This epoch's sample-weighted means of the training losses (and grad norm) so far."""
        return {
            metric_key("train", k): v / max(self.epoch_count, 1) for k, v in self.epoch_sums.items()
        }

    def record_epoch(self, metrics: Mapping[str, float], level: int, is_best: bool) -> None:
        """The finished epoch's metrics become ``last_metrics`` and a record of the history
        (with the step, curriculum level, LR and time; missing values as None, so the lists stay
        aligned); the best epoch's (epoch, step, metrics) becomes ``best_metrics``."""
        self.last_metrics = {k: float(v) for k, v in metrics.items()}
        record = {
            "epoch": self.epoch,
            "global_step": self.global_step,
            "curriculum_stage": level,
            "lr": self.last_lr,
            "time": now(),
            **self.last_metrics,
        }
        n = len(self.history.get("epoch", []))
        for key in record:
            self.history.setdefault(key, [None] * n)
        for key, values in self.history.items():
            values.append(record.get(key))
        if is_best:
            self.best_metrics = {
                "epoch": self.epoch,
                "global_step": self.global_step,
                **self.last_metrics,
            }

    def next_epoch(self) -> None:
        self.epoch += 1
        self.batch_in_epoch = 0

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self, epoch_done: bool, device: torch.device) -> dict[str, Any]:
        """The checkpoint keys of this state. ``epoch_done``: saved at the end of ``epoch`` (a
        resume starts the next one), else in its middle (a resume continues it)."""
        return {
            "epoch": self.epoch,
            "global_step": self.global_step,
            "position": {
                "epoch": self.epoch + 1 if epoch_done else self.epoch,
                "batch": 0 if epoch_done else self.batch_in_epoch,
            },
            "rng": capture_rng(device),
            "history": self.history,
            "best_metrics": self.best_metrics,
            "nonfinite_run": self.nonfinite_run,
            "skipped_steps": self.skipped_steps,
            "init_report": self.init_report,
            "last_lr": self.last_lr,
            "epoch_partial": {
                "sums": {} if epoch_done else dict(self.epoch_sums),
                "count": 0 if epoch_done else self.epoch_count,
            },
        }

    def load_state_dict(
        self, ckpt: Mapping[str, Any], steps_per_epoch: int, device: torch.device
    ) -> None:
        """Restore from a checkpoint (current format, or a migrated legacy one, which may lack the
        position: bare weights start at epoch 0). Sets the global RNG state as saved."""
        pos = position_of(ckpt)
        self.epoch, self.batch_in_epoch = pos["epoch"], pos["batch"]
        stored_step = ckpt.get("global_step")
        self.global_step = (
            int(stored_step) if stored_step is not None else self.epoch * steps_per_epoch
        )
        self.last_lr = float(ckpt["last_lr"]) if ckpt.get("last_lr") is not None else None
        # None means "not recorded", like an absent key (types: checkpoint/payload.py)
        self.nonfinite_run = int(ckpt.get("nonfinite_run") or 0)
        self.skipped_steps = int(ckpt.get("skipped_steps") or 0)
        self.history = {k: list(v) for k, v in (ckpt.get("history") or {}).items()}
        self.best_metrics = dict(ckpt.get("best_metrics") or {})
        self.last_metrics = dict(ckpt.get("metrics") or {})
        self.init_report = ckpt.get("init_report")
        partial = ckpt.get("epoch_partial") or {}
        mid_epoch = self.batch_in_epoch != 0
        self.epoch_sums = (
            {k: float(v) for k, v in (partial.get("sums") or {}).items()} if mid_epoch else {}
        )
        self.epoch_count = int(partial.get("count") or 0) if mid_epoch else 0
        restore_rng(ckpt.get("rng") or {}, device)

    def set_epoch_partial(self, sums: Mapping[str, float], count: float) -> None:
        """This epoch's training sums so far, replaced (by those of every rank, added up)."""
        self.epoch_sums, self.epoch_count = dict(sums), int(round(count))

    def drop_epoch_partial(self) -> None:
        """This epoch's sums so far, zeroed (the keys stay: every rank sums the same keys)."""
        self.epoch_sums, self.epoch_count = dict.fromkeys(self.epoch_sums, 0.0), 0


def capture_rng(device: torch.device, every_gpu: bool = True) -> dict[str, Any]:
    """The global RNG state: ``torch`` (the CPU generator) and, on CUDA, ``cuda``: the states of
    every GPU (a list; what a checkpoint's ``rng`` holds) or, with ``every_gpu=False``, of
    ``device`` alone (one tensor; what each rank saves of itself)."""
    rng: dict[str, Any] = {"torch": torch.get_rng_state()}
    if device.type == "cuda":
        rng["cuda"] = (
            torch.cuda.get_rng_state_all() if every_gpu else torch.cuda.get_rng_state(device)
        )
    return rng


def restore_rng(rng: Mapping[str, Any], device: torch.device) -> None:
    """Set the global RNG state :func:`capture_rng` returned. A value of None counts as not
    recorded, like an absent key; a CUDA state is set only on CUDA (all GPUs from a list, else
    ``device``)."""
    if rng.get("torch") is not None:
        torch.set_rng_state(rng["torch"])
    cuda = rng.get("cuda")
    if cuda is None or device.type != "cuda":
        return
    if isinstance(cuda, (list, tuple)):
        if cuda:
            torch.cuda.set_rng_state_all(cuda)
    else:
        torch.cuda.set_rng_state(cuda, device)


def position_of(ckpt: Mapping[str, Any]) -> dict[str, int]:
    """Where a checkpoint continues: ``{"epoch", "batch"}`` (bare legacy weights: the start)."""
    pos = ckpt.get("position") or {"epoch": 0, "batch": 0}
    return {"epoch": int(pos["epoch"]), "batch": int(pos["batch"])}


def checkpoint_payload(
    objects: Mapping[str, Any],
    state: TrainState,
    identity: Mapping[str, Any],
    metrics: Mapping[str, float],
    epoch_done: bool,
    device: torch.device,
) -> dict[str, Any]:
    """One checkpoint: ``objects`` (name -> anything with ``state_dict()``: model, optimizer,
    scheduler, scaler), the run's ``identity`` (config, stage, trainer, version), the epoch's
    ``metrics`` and the train state."""
    payload = {name: obj.state_dict() for name, obj in objects.items()}
    payload.update(identity)
    payload["metrics"] = dict(metrics)
    payload.update(state.state_dict(epoch_done, device))
    return payload


def check_weights(model: torch.nn.Module, epoch: int, folder: Path) -> None:
    """NonFiniteLossError when a weight holds NaN or inf (then no checkpoint is written)."""
    bad = [
        n
        for n, p in model.state_dict().items()
        if p.is_floating_point() and not torch.isfinite(p).all()
    ]
    if bad:
        raise NonFiniteLossError(
            f"training stopped: non-finite weights after epoch {epoch} ({bad[0]} ...); "
            f"the last good checkpoint is kept in {folder}"
        )


def nonfinite_message(state: TrainState, run: int, folder: Path) -> str:
    return (
        f"training stopped: {run} consecutive non-finite losses or gradients (by step "
        f"{state.global_step - 1}, epoch {state.epoch}); the skipped steps never reached the "
        f"weights, and the last good checkpoint is kept in {folder}"
    )
