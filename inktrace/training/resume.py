"""The rules of continuing a run and of choosing a stage's starting weights, as plain functions.

Resume (``--resume CKPT``), checked in this order, each over (saved config, current config,
position) and each a one-line ``ConfigError`` naming the file:

1. a checkpoint of another stage is refused (a migrated legacy file may continue a stage that is
   not named after a trainer, such as ``debug``);
2. an architecture change (``ARCHITECTURE_KEYS``) is refused;
3. in the middle of an epoch, the settings that define the data position (``POSITION_KEYS``)
   cannot change;
4. fewer ``training.epochs`` than the checkpoint has started is refused;
5. every other difference applies and is listed; a change of the validation set
   (``VALIDATION_KEYS``) restarts the best/top-k ranking.

Starting weights (``init_from``): a checkpoint path, ``auto`` (the best checkpoint of the stage
before this one in ``pipeline.order``, see :func:`previous_stage`), or nothing.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..checkpoint import CheckpointManager, load_checkpoint, load_weights, migration_report
from ..checkpoint.format import newest_intact
from ..checkpoint.weights import WeightsReport, strip_prefixes
from ..config import Config
from ..errors import CheckpointError, ConfigError
from ..model.net import InkTraceNet
from ..model.widen import WidenError, widen_state
from ..pretrained import packaged_model
from .interface import TrainerView
from .optim import load_optimizer_state
from .state import position_of

__all__ = [
    "ARCHITECTURE_KEYS",
    "POSITION_KEYS",
    "VALIDATION_KEYS",
    "ResumePoint",
    "ResumePlan",
    "plan_resume",
    "restore",
    "previous_stage",
    "resolve_init_from",
    "load_init_weights",
]

# model settings that change the weights' shapes: they cannot change on resume
ARCHITECTURE_KEYS = (
    "model.embed_dim",
    "model.num_layers",
    "model.full_heads",
    "model.stroke_heads",
    "model.norm",
)
# settings whose change mid-epoch would break the data position
POSITION_KEYS = ("training.batch_size", "data.train_size", "training.seed")
# settings that define the validation set: when they change, old and new monitored values
# do not compare
VALIDATION_KEYS = (
    "training.seed",
    "data.val_size",
    "data.img_size",
    "data.curriculum_stage",
    "curriculum.enabled",
    "curriculum.end_stage",
    "data.svg_dir",
    "data.pens",
    "data.cursive_fraction",
)
_NOT_COMPARED = ("init_from",)
_SEEDS_CHANGED = (
    "written by InkTrace 0.1, which seeded the batch order and the MAE masks another way: "
    "a mid-epoch resume of it is not bit-exact, and a structural stage's validation losses "
    "do not compare with the earlier ones"
)
_NO_INIT = ("", "none", "null", "fresh")


@dataclass(frozen=True)
class ResumePoint:
    """A checkpoint to continue from, read once: its path and its (migrated) contents."""

    path: Path
    checkpoint: dict[str, Any]

    @classmethod
    def read(cls, path: str | os.PathLike) -> ResumePoint:
        """Read ``path``; when it is damaged, the error names the newest intact checkpoint
        beside it and how to resume from that."""
        try:
            return cls(Path(path), load_checkpoint(path))
        except CheckpointError as exc:
            alternative = newest_intact(Path(path))
            if alternative is None:
                raise
            other, data = alternative
            where = position_of(data)
            raise CheckpointError(
                f"{exc}; the newest intact checkpoint beside it is {other} (epoch "
                f"{where['epoch']}, batch {where['batch']}): --resume {other}"
            ) from None

    @classmethod
    def of(cls, resume: str | os.PathLike | ResumePoint) -> ResumePoint:
        return resume if isinstance(resume, ResumePoint) else cls.read(resume)

    @property
    def stage(self) -> str | None:
        return self.checkpoint.get("stage")

    @property
    def legacy(self) -> Mapping[str, Any] | None:
        """What migrating an old layout recovered (None for a current-format file)."""
        return self.checkpoint.get("migration")

    @property
    def position(self) -> dict[str, int]:
        """``{"epoch", "batch"}`` to continue at (bare legacy weights: the very start)."""
        return position_of(self.checkpoint)

    def release(self) -> None:
        """Drop the weights and optimizer state once a trainer has taken them, so that a caller
        holding the point (a pipeline, the command line) keeps no second copy in memory."""
        for key in ("model", "optimizer"):
            self.checkpoint.pop(key, None)

    def config(self, overrides: Any = None) -> Config:
        """The configuration stored in the checkpoint (``overrides`` on top)."""
        stored = self.checkpoint.get("config")
        if not isinstance(stored, dict) or self.checkpoint.get("config_inferred"):
            raise CheckpointError(
                f"{self.path}: holds no training configuration (weights only); "
                "pass --config FILE --stage NAME with --resume to say what to train"
            )
        return Config.from_dict(stored, overrides=overrides, source=f"{self.path} (stored config)")


@dataclass
class ResumePlan:
    """What a permitted resume changes: the listed setting changes, and the validation-set keys
    that changed (non-empty: the best/top-k ranking restarts)."""

    config_changes: list[str] = field(default_factory=list)
    validation_changed: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------------- the rules
def check_stage(
    path: Path, saved_stage: str | None, stage: str, legacy: bool, trainer_stages: Collection[str]
) -> None:
    if saved_stage not in (None, stage) and not (legacy and stage not in trainer_stages):
        raise ConfigError(f"--resume {path}: checkpoint of stage '{saved_stage}', not '{stage}'")


def check_architecture(path: Path, saved: Mapping[str, Any], current: Mapping[str, Any]) -> None:
    for key in ARCHITECTURE_KEYS:
        if saved.get(key) != current.get(key):
            raise ConfigError(
                f"--resume {path}: {key} is {saved.get(key)!r} in the checkpoint but "
                f"{current.get(key)!r} now; the architecture cannot change on resume"
            )


def check_position(
    path: Path, saved: Mapping[str, Any], current: Mapping[str, Any], position: Mapping[str, int]
) -> None:
    if position["batch"] == 0:  # at an epoch boundary everything may change
        return
    for key in POSITION_KEYS:
        if saved.get(key) != current.get(key):
            raise ConfigError(
                f"--resume {path}: {key} changed ({saved.get(key)!r} -> {current.get(key)!r}) "
                "but the checkpoint is in the middle of an epoch; resume from an epoch-end "
                "checkpoint to change it"
            )


def check_epochs(path: Path, epochs: int, position: Mapping[str, int]) -> None:
    done, mid = position["epoch"], position["batch"] != 0
    if epochs < done or (epochs == done and mid):
        raise ConfigError(
            f"--resume {path}: training.epochs {epochs} is fewer than the "
            f"{done + mid} epochs this checkpoint has started"
        )


def changed_settings(saved: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """``key: old -> new`` for every setting that differs (what a resume applies)."""
    return [
        f"{k}: {saved.get(k)!r} -> {current.get(k)!r}"
        for k in sorted(set(saved) | set(current))
        if saved.get(k) != current.get(k) and k not in _NOT_COMPARED
    ]


def plan_resume(
    point: ResumePoint, cfg: Config, stage: str, trainer_stages: Collection[str]
) -> ResumePlan:
    """Check every rule (ConfigError on the first broken one) and say what the resume changes."""
    check_stage(point.path, point.stage, stage, bool(point.legacy), trainer_stages)
    saved, current = Config.from_dict(point.checkpoint["config"]).flat(), cfg.flat()
    check_architecture(point.path, saved, current)
    check_position(point.path, saved, current, point.position)
    check_epochs(point.path, cfg.training.epochs, point.position)
    return ResumePlan(
        changed_settings(saved, current),
        [k for k in VALIDATION_KEYS if saved.get(k) != current.get(k)],
    )


def restore(
    trainer: TrainerView, point: ResumePoint, trainer_stages: Collection[str]
) -> tuple[list[str], Path]:
    """Continue ``trainer`` from ``point`` after :func:`plan_resume` allowed it: every object
    ``BaseTrainer.checkpoint_payload`` saved loads its own state back: weights (strict),
    optimizer (a fresh one when the stored state does not fit), scaler, train state and RNG, the
    schedule (its position; the curve over the remaining steps), and the checkpoint manager's
    bookkeeping. Returns the settings changed since the checkpoint and the file resumed from."""
    if "model" not in point.checkpoint:
        raise CheckpointError(f"{point.path}: already restored into a trainer; read it again")
    plan = plan_resume(point, trainer.cfg, trainer.stage, trainer_stages)
    ckpt, legacy, t, log = point.checkpoint, point.legacy, trainer.cfg.training, trainer.log
    load_weights(trainer.model, ckpt["model"], strict=True)
    notes = list(legacy["notes"]) if legacy else []
    if str(ckpt.get("inktrace_version", "")).startswith("0.1."):
        notes.append(_SEEDS_CHANGED)
    optimizer, scheduler, manager, s = (
        trainer.optimizer,
        trainer.scheduler,
        trainer.manager,
        trainer.state,
    )
    note = load_optimizer_state(optimizer, ckpt.get("optimizer"), t, scheduler.base_lrs)
    if note is not None:
        notes.append(note)
    if ckpt.get("scaler") and trainer.scaler.is_enabled():
        trainer.scaler.load_state_dict(ckpt["scaler"])
    s.load_state_dict(ckpt, trainer.steps_per_epoch, trainer.device)
    # the schedule at its saved position (a legacy file has none: the train state's global step,
    # the same number), over the steps this config leaves (a changed batch size or epoch count)
    scheduler.load_state_dict(ckpt.get("scheduler") or {"step_count": s.global_step})
    scheduler.stretch((t.epochs - s.epoch) * trainer.steps_per_epoch - s.batch_in_epoch)
    if s.last_lr is None:
        s.last_lr = scheduler.get_last_lr()[0]
    if plan.validation_changed:
        warnings = [
            f"the validation set changed ({', '.join(plan.validation_changed)}): the best/top-k "
            f"ranking starts again; the earlier files in {manager.directory} are kept"
        ]
        s.best_metrics = {}
    else:
        warnings = manager.load_state_dict(ckpt.get("checkpoint_manager") or {})
        warnings += manager.repair_best(s.global_step)
    manager.protect(point.path)
    point.release()
    log.info(
        f"resuming from {point.path}: epoch {s.epoch}, batch {s.batch_in_epoch}/"
        f"{trainer.steps_per_epoch}, step {s.global_step}"
    )
    if legacy:
        log.info(f"{point.path}: legacy checkpoint, " + "\n  ".join(notes))
    elif notes:
        log.info("note: " + "; ".join(notes))
    for line in warnings:
        log.info(f"note: {line}")
    if plan.config_changes:
        log.info(
            "settings changed since the checkpoint (applied): " + "; ".join(plan.config_changes)
        )
    return plan.config_changes, point.path


# ---------------------------------------------------------------------------------- init_from
def previous_stage(cfg: Config) -> str | None:
    """The stage whose best checkpoint ``init_from: auto`` takes: the one before this stage in
    ``pipeline.order``; for a stage outside the order (e.g. finetune), the order's last stage."""
    order = list(cfg.pipeline.order)
    if cfg.stage in order:
        i = order.index(cfg.stage)
        return order[i - 1] if i > 0 else None
    return order[-1] if order and order[-1] != cfg.stage else None


def resolve_init_from(
    cfg: Config, init_from: str | os.PathLike | None = "config"
) -> tuple[Path | None, str]:
    """The checkpoint a stage starts from, and a line saying why: a path, ``auto`` (the best
    checkpoint of the previous stage), or nothing (None, 'none'); ``"config"``: the config's
    ``init_from``."""
    if isinstance(init_from, str) and init_from == "config":
        init_from = cfg.init_from
    init_from = None if init_from is None else os.fspath(init_from)
    if init_from is None or str(init_from).strip().lower() in _NO_INIT:
        return None, "fresh weights"
    if str(init_from) != "auto":
        given = packaged_model(init_from) or Path(init_from)  # inktrace-small, inktrace-strokes
        if not given.is_file():
            raise CheckpointError(f"init_from: {given}: no such checkpoint file")
        return given, f"weights from {given}"
    previous = previous_stage(cfg)
    if previous is None:
        return (
            None,
            "fresh weights (init_from: auto, but no stage comes before this one in pipeline.order)",
        )
    if not cfg.pipeline.auto_transfer:
        return None, "fresh weights (init_from: auto, but pipeline.auto_transfer is off)"
    stage_dir = Path(cfg.checkpoint.save_dir) / previous
    path = CheckpointManager.best_in(stage_dir)
    if path is None:
        raise CheckpointError(
            f"init_from: auto: no best checkpoint of stage '{previous}' in {stage_dir}; train "
            f"that stage first, or set init_from to a checkpoint path or 'none'"
        )
    return path, f"weights from {path} (best of stage '{previous}')"


def _widen_into(
    model: torch.nn.Module, state: Any, config: Any, report: WeightsReport, path: Path
) -> int:
    """Load the tensors ``report`` found of another shape into ``model`` widened (an InkTraceNet
    with ``embed_dim`` a whole multiple of the checkpoint's, widen.py), move them to the report's
    loaded ones and return how many; CheckpointError when they cannot be widened exactly."""
    keys = [k for k, _, _ in report.mismatched]
    summary = report.summary()
    try:
        if not isinstance(model, InkTraceNet):
            raise WidenError("only an InkTraceNet can be widened")
        norm = model.hparams["norm"]
        saved = (config or {}).get("model") or {}
        for name in ("num_layers", "norm"):  # where the checkpoint says (legacy files may not)
            if name in saved and saved[name] != model.hparams[name]:
                raise WidenError(
                    f"model.{name} is {saved[name]!r} there, {model.hparams[name]!r} here"
                )
        renamed = strip_prefixes(state)
        tensors = {
            k: v for k, v in renamed.items() if isinstance(k, str) and isinstance(v, torch.Tensor)
        }
        grown = widen_state(tensors, model.state_dict(), norm)
        widened = {k: grown[k] for k in keys}  # the rest fitted as it was
    except (WidenError, KeyError) as exc:  # KeyError: a tensor only load_weights' renaming found
        raise CheckpointError(
            f"init_from {path}: {len(keys)} tensors have another shape than this model's "
            f"({summary}) and cannot be widened into it ({exc}); check model.embed_dim / "
            "num_layers"
        ) from None
    model.load_state_dict(widened, strict=False)
    report.loaded.extend(keys)
    report.mismatched = []
    return len(keys)


def load_init_weights(model: torch.nn.Module, path: Path, why: str, log: Any) -> dict[str, Any]:
    """Copy every weight of ``path`` (any format) whose name and shape fit into ``model``, say what
    was missing or unexpected, and return the report kept as ``init_report``. Tensors of another
    shape are an error (another architecture), never a silent partial load, unless the model is
    the checkpoint's widened (same layout, ``embed_dim`` a whole multiple: ``_widen_into``)."""
    ckpt = load_checkpoint(path)  # any format: legacy layouts are migrated
    if ckpt.get("migration"):
        log.lines(migration_report(path, ckpt))
    report = load_weights(model, ckpt["model"], strict=False)
    widened = (
        _widen_into(model, ckpt["model"], ckpt.get("config"), report, path)
        if report.mismatched
        else 0
    )
    if widened:
        why += (
            f", {widened} tensors widened to this model's channels (model/widen.py: the maps "
            "stay the checkpoint's until training changes them)"
        )
    log.info(f"{why}:\n  " + report.format().replace("\n", "\n  "))
    return {
        "source": str(path),
        "loaded": len(report.loaded),
        "missing": report.missing,
        "unexpected": report.unexpected,
        "mismatched": [[k, list(a), list(b)] for k, a, b in report.mismatched],
    }
