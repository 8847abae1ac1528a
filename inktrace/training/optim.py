"""Optimisation: the optimizer (AdamW, :func:`build_optimizer`; :func:`load_optimizer_state` on
resume), its learning-rate schedule (:class:`WarmupCosine`) and the step that applies a
gradient (:class:`OptimizerStep`: scale -> backward -> unscale_ -> clip -> step -> update,
skipping a non-finite step on the device; its ``GradScaler`` is enabled for fp16 only, bf16 and
fp32 need none).

The schedule is linear warmup, then cosine decay (or constant), as a pure function of the global
step (the number of training iterations run so far).

The LR of step ``s`` never depends on how many optimizer steps actually happened, so it does not
drift when the fp16 GradScaler skips steps, and a resumed run continues on exactly the same curve:
the schedule saves its position and loads it back (``state_dict`` / ``load_state_dict``, like
every object a checkpoint holds), and the curve comes from the configuration resumed with.
Extending ``training.epochs`` on resume stretches the cosine over the new length from there on.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from ..config.schema import TrainingConfig

__all__ = ["WarmupCosine", "build_optimizer", "load_optimizer_state", "OptimizerStep"]


def build_optimizer(model: torch.nn.Module, training: Any) -> torch.optim.AdamW:
    """AdamW over the model's parameters with the ``training`` section's lr, betas and decay:
    the fused implementation (one kernel per step, and it skips a step flagged non-finite on the
    device: OptimizerStep), else the default one where the device has no fused kernel."""
    params = list(model.parameters())
    settings = dict(lr=training.lr, betas=tuple(training.betas), weight_decay=training.weight_decay)
    try:
        return torch.optim.AdamW(params, fused=True, **settings)
    except (RuntimeError, ValueError):
        return torch.optim.AdamW(params, **settings)


def load_optimizer_state(
    optimizer: torch.optim.Optimizer,
    state: dict[str, Any] | None,
    training: TrainingConfig,
    base_lrs: Sequence[float],
) -> str | None:
    """Load a checkpoint's optimizer ``state`` (None: none stored) and apply the ``training``
    section's settings to its groups (the stored groups carry the old ones); returns a note when
    the state does not fit (then the optimizer stays fresh)."""
    note = None
    if state is not None:
        try:
            optimizer.load_state_dict(state)
        except (ValueError, KeyError, RuntimeError, TypeError, IndexError) as exc:
            note = (
                f"optimizer state does not fit this model ({str(exc).splitlines()[0]}): "
                "a fresh optimizer"
            )
    fused = bool(optimizer.defaults.get("fused"))  # this optimizer's kind, whatever was saved
    for group, lr in zip(optimizer.param_groups, base_lrs):
        group.update(
            initial_lr=lr,
            weight_decay=training.weight_decay,
            betas=tuple(training.betas),
            fused=fused,
        )
    for param, kept in optimizer.state.items() if fused else ():
        if torch.is_tensor(kept.get("step")):  # fused kernels keep the count on the device
            kept["step"] = kept["step"].to(dtype=torch.float32, device=param.device)
    return note


class WarmupCosine:
    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        total_steps: int,
        warmup_steps: int = 0,
        kind: str = "cosine",
        min_lr_ratio: float = 0.0,
    ) -> None:
        if kind not in ("cosine", "constant"):
            raise ValueError(f"training.scheduler: unknown schedule {kind!r} (cosine or constant)")
        self.optimizer = optimizer
        self.base_lrs = [group["lr"] for group in optimizer.param_groups]
        self.total_steps = max(int(total_steps), 1)
        self.warmup_steps = max(int(warmup_steps), 0)
        self.kind, self.min_lr_ratio = kind, float(min_lr_ratio)
        self.step_count = 0
        self._apply()

    @classmethod
    def from_config(cls, optimizer: torch.optim.Optimizer, training: Any, steps_per_epoch: int):
        """The schedule of a ``training`` config section over its epochs of ``steps_per_epoch``."""
        return cls(
            optimizer,
            training.epochs * steps_per_epoch,
            round(training.warmup_epochs * steps_per_epoch),
            training.scheduler,
            training.min_lr_ratio,
        )

    def factor(self, step: int) -> float:
        """LR multiplier at global step ``step`` (0-based)."""
        if step < self.warmup_steps:
            return (step + 1) / (self.warmup_steps + 1)
        if self.kind == "constant":
            return 1.0
        span = max(self.total_steps - self.warmup_steps, 1)
        progress = min(max(step - self.warmup_steps, 0) / span, 1.0)
        return self.min_lr_ratio + (1.0 - self.min_lr_ratio) * 0.5 * (
            1.0 + math.cos(math.pi * progress)
        )

    def _apply(self) -> None:
        f = self.factor(self.step_count)
        for group, base in zip(self.optimizer.param_groups, self.base_lrs):
            group["lr"] = base * f

    def step(self) -> None:
        """Advance one iteration (whether or not the optimizer stepped)."""
        self.step_count += 1
        self._apply()

    def get_last_lr(self) -> list[float]:
        return [group["lr"] for group in self.optimizer.param_groups]

    def seek(self, step: int) -> None:
        """Jump to global step ``step``; set the LR there."""
        self.step_count = int(step)
        self._apply()

    def stretch(self, remaining: int) -> None:
        """End the curve ``remaining`` steps after the current one (a resume over more epochs or
        with another batch size spreads the cosine over what is left)."""
        self.total_steps = max(self.step_count + int(remaining), 1)
        self._apply()

    def state_dict(self) -> dict[str, Any]:
        """Where on the curve the run is (``step_count``, the global step) and the curve it
        followed (for readers): a checkpoint's ``scheduler``, read back by
        :meth:`load_state_dict`."""
        return {
            "step_count": self.step_count,
            "base_lrs": list(self.base_lrs),
            "total_steps": self.total_steps,
            "warmup_steps": self.warmup_steps,
            "kind": self.kind,
            "min_lr_ratio": self.min_lr_ratio,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Continue a schedule saved by :meth:`state_dict` at its position. The curve stays this
        schedule's, built from the configuration resumed with, so a changed ``lr``, warmup or
        ``training.scheduler`` applies from there on; :meth:`stretch` sets its remaining length."""
        self.seek(int(state["step_count"]))


class OptimizerStep:
    """Backward and optimizer step; returns ``(grad_norm, skipped)``, both device tensors: no
    host synchronisation (see meter.py).

    The gradient is clipped at ``grad_clip`` (its norm before clipping is returned); the step is
    skipped on the device when that norm is not finite: fp16's ``GradScaler`` does so for an
    overflow (and lowers its scale), and for fp32/bf16 the fused AdamW takes the same
    ``found_inf`` flag, so a non-finite gradient never reaches the weights, nor the moments or
    the step count. An optimizer without that support (``fused=False``) is stepped after a host
    check instead.
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        device: torch.device,
        precision: str,
        grad_clip: float | None,
    ) -> None:
        self.optimizer = optimizer
        self.scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")
        self.grad_clip = grad_clip if grad_clip is not None else float("inf")

    def __call__(
        self, loss: torch.Tensor, model: torch.nn.Module
    ) -> tuple[torch.Tensor, torch.Tensor]:
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.unscale_(self.optimizer)  # clip the true gradients, never the scaled ones
        params = [p for p in model.parameters() if p.grad is not None]
        norm = torch.nn.utils.clip_grad_norm_(params, self.grad_clip)
        found = ~torch.isfinite(norm)
        if self.scaler.is_enabled():
            self.scaler.step(self.optimizer)
            self.scaler.update()
        elif all(group.get("fused") for group in self.optimizer.param_groups):
            # fused AdamW skips the step on the device when its found_inf is set (torch's own
            # attribute, read by the fused kernel: no host sync)
            setattr(self.optimizer, "found_inf", found.to(torch.float32))  # noqa: B010
            self.optimizer.step()
            setattr(self.optimizer, "found_inf", None)  # noqa: B010
        elif not bool(found):
            self.optimizer.step()
        return norm, found
