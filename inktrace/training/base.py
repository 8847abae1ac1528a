"""BaseTrainer: the one training loop every stage uses.

The loop (``fit``): for each epoch, set the data stage and epoch, train over a seeded permutation
of the synthetic samples, validate on the stage's fixed validation set, save checkpoints and logs.
One step: autocast forward, the loss, ``GradScaler`` backward (fp16 on CUDA only; bf16 and fp32
need no scaler), ``unscale_`` then gradient clipping, the optimizer step (skipped by the scaler
on overflow), then the LR schedule, which is a function of the global step and so never drifts.

Exact resume: the data of step ``s`` is a pure function of (seed, epoch, position in epoch);
the MAE masks of step ``s`` come from a generator seeded by (seed, step); the global RNG state
(dropout) and everything else is in the checkpoint. A run stopped anywhere (Ctrl-C, SIGTERM,
epoch end) and resumed ends with the same weights, bit for bit on the CPU, as one never stopped.

Hooks for subclasses: ``configure`` (force config values), ``data_stage(epoch)``, ``val_stage()``,
``model_inputs(batch, step)``, ``before_train/after_train/before_epoch/after_epoch/after_step``.
"""

from __future__ import annotations

import math
import os
import platform
import signal
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any, Iterator, Mapping

import torch
from torch.utils.data import DataLoader

from .. import __version__
from ..checkpoint import CheckpointError, load_checkpoint, migration_report, read_checkpoint, save_checkpoint
from ..checkpoint.manager import CheckpointManager
from ..checkpoint.weights import load_weights
from ..config import Config, ConfigError
from ..fileio import atomic_write
from ..data import SyntheticInk, collate, validation_set
from ..losses import LOG_NAMES, InkLoss
from ..metrics import InkMetrics
from ..model import InkTraceNet
from .panels import panel
from .runlog import RunLogger, now
from .schedule import WarmupCosine

__all__ = ["BaseTrainer", "NonFiniteLossError", "resolve_init_from", "ARCHITECTURE_KEYS"]

# model settings that change the weights' shapes: they cannot change on resume
ARCHITECTURE_KEYS = ("model.embed_dim", "model.num_layers", "model.full_heads", "model.norm")
# settings whose change mid-epoch would break the data position
_POSITION_KEYS = ("training.batch_size", "data.train_size", "training.seed")
_NO_INIT = ("", "none", "null", "fresh")
TRAINER_STAGES = ("structural", "dense", "finetune")
# settings that define the validation set: when they change, old and new monitored values do not compare
_VALIDATION_KEYS = ("training.seed", "data.val_size", "data.img_size", "data.curriculum_stage",
                    "curriculum.enabled", "curriculum.end_stage", "data.svg_dir")


class NonFiniteLossError(FloatingPointError):
    """Training stopped after repeated non-finite losses (the last good checkpoint is kept)."""


class _Stop(Exception):
    """Internal: a stop was requested (Ctrl-C or SIGTERM) and the state is consistent."""


def _mix(*values: int) -> int:
    """A 63-bit seed from several integers (splitmix64 steps), for per-epoch/per-step generators."""
    x = 0x9E3779B97F4A7C15
    for v in values:
        x = (x ^ (int(v) & 0xFFFFFFFFFFFFFFFF)) * 0xBF58476D1CE4E5B9 & 0xFFFFFFFFFFFFFFFF
        x = (x ^ (x >> 31)) * 0x94D049BB133111EB & 0xFFFFFFFFFFFFFFFF
    return x & 0x7FFFFFFFFFFFFFFF


def previous_stage(cfg: Config) -> str | None:
    """The stage whose best checkpoint ``init_from: auto`` takes: the one before this stage in
    ``pipeline.order``; for a stage outside the order (e.g. finetune), the order's last stage."""
    order = list(cfg.pipeline.order)
    if cfg.stage in order:
        i = order.index(cfg.stage)
        return order[i - 1] if i > 0 else None
    return order[-1] if order and order[-1] != cfg.stage else None


def best_checkpoint_of(stage_dir: Path) -> Path | None:
    """A finished stage's best checkpoint: ``best.ckpt``, else the best top-k file its last
    checkpoint's bookkeeping names (runs with ``save_best: false``)."""
    if (stage_dir / "best.ckpt").is_file():
        return stage_dir / "best.ckpt"
    last = stage_dir / "last.ckpt"
    if last.is_file():
        try:
            state = read_checkpoint(last).get("checkpoint_manager") or {}
        except CheckpointError:
            return None
        best = state.get("best") or {}
        ranked = [e for e in state.get("top_k", []) if e.get("epoch") == best.get("epoch")]
        for entry in ranked:
            name = entry.get("file")
            if isinstance(name, str) and "/" not in name and (stage_dir / name).is_file():
                return stage_dir / name
    return None


def resolve_init_from(cfg: Config, init_from: str | None) -> tuple[Path | None, str]:
    """The checkpoint a stage starts from, and a line saying why: a path, ``auto`` (the best
    checkpoint of the previous stage, see ``previous_stage``), or nothing (None, 'none')."""
    if init_from is None or str(init_from).strip().lower() in _NO_INIT:
        return None, "fresh weights"
    if str(init_from) != "auto":
        path = Path(init_from)
        if not path.is_file():
            raise CheckpointError(f"init_from: {path}: no such checkpoint file")
        return path, f"weights from {path}"
    previous = previous_stage(cfg)
    if previous is None:
        return None, "fresh weights (init_from: auto, but no stage comes before this one in pipeline.order)"
    if not cfg.pipeline.auto_transfer:
        return None, "fresh weights (init_from: auto, but pipeline.auto_transfer is off)"
    stage_dir = Path(cfg.checkpoint.save_dir) / previous
    path = best_checkpoint_of(stage_dir)
    if path is None:
        raise CheckpointError(f"init_from: auto: no best checkpoint of stage '{previous}' in {stage_dir}; train "
                              f"that stage first, or set init_from to a checkpoint path or 'none'")
    return path, f"weights from {path} (best of stage '{previous}')"


class BaseTrainer:
    """Builds model, data, optimizer, schedule, scaler, checkpoints and logs from a Config, and
    runs the loop. ``fit()`` returns the run summary (a dict) and never calls ``sys.exit``.

    ``init_from``: a checkpoint path, ``"auto"``, or None / ``"none"`` for fresh weights; by
    default (``"config"``) the config's ``init_from``. ``resume``: a checkpoint of this stage to
    continue from (exactly); it wins over ``init_from``.
    """

    name = "base"

    def __init__(self, cfg: Config, init_from: str | os.PathLike | None = "config",
                 resume: str | os.PathLike | None = None, verbose: bool = True) -> None:
        self.verbose = verbose
        self.cfg = cfg.copy()
        before = self.cfg.flat()
        self.configure(self.cfg)
        forced = [f"{k}: {before[k]!r} -> {v!r}" for k, v in self.cfg.flat().items()
                  if before.get(k) != v and self.cfg.origin(k).kind != "default"]
        if forced:
            self.say(f"[{self.cfg.stage or self.name}] {type(self).__name__} sets " + "; ".join(forced))
        self.stage = self.cfg.stage or self.name
        c = self.cfg
        self.device = self._device(c.system.device)
        if c.system.num_threads:
            torch.set_num_threads(c.system.num_threads)
        if c.system.deterministic:
            torch.use_deterministic_algorithms(True, warn_only=True)
        self.precision = self._precision(c.training.precision)
        self.ckpt_dir = Path(c.checkpoint.save_dir) / self.stage
        self.run_dir = Path(c.logging.log_dir) / self.stage
        if resume is not None and Path(resume).resolve().parent != self.ckpt_dir.resolve() \
                and Path(resume).resolve().parent.name == self.stage \
                and c.origin("checkpoint.save_dir").kind != "override":
            # a run continues in the run folder (named after its stage) of the checkpoint it resumes
            # from, moved or copied runs included, unless --save_dir says otherwise
            self.ckpt_dir = Path(resume).parent
            self.say(f"[{self.stage}] continuing in {self.ckpt_dir} (the resumed checkpoint's folder)")
        for key, folder in (("checkpoint.save_dir", self.ckpt_dir), ("logging.log_dir", self.run_dir)):
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise ConfigError(f"{key}: cannot create {folder} ({exc.strerror or exc})") from None

        torch.manual_seed(c.training.seed)
        self.model = InkTraceNet.from_config(c.model).to(self.device)
        self._check_monitor()
        self.loss_fn = InkLoss(c.loss_weights)
        self.train_set = self.build_train_set()
        self.steps_per_epoch = math.ceil(len(self.train_set) / c.training.batch_size)
        self._val_cache: dict[int, dict[str, torch.Tensor]] = {}

        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=c.training.lr,
                                           betas=tuple(c.training.betas), weight_decay=c.training.weight_decay)
        self.scheduler = WarmupCosine(self.optimizer, c.training.epochs * self.steps_per_epoch,
                                      round(c.training.warmup_epochs * self.steps_per_epoch),
                                      c.training.scheduler, c.training.min_lr_ratio)
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.precision == "fp16")
        self.manager = CheckpointManager(self.ckpt_dir, monitor=c.checkpoint.monitor, mode=c.checkpoint.mode,
                                         keep_top_k=c.checkpoint.keep_top_k, save_last=c.checkpoint.save_last,
                                         save_best=c.checkpoint.save_best)

        # loop state (all of it goes into checkpoints)
        self.epoch = 0  # the epoch being run (0-based)
        self.batch_in_epoch = 0  # training batches of this epoch already done
        self.global_step = 0
        self.nonfinite_run = 0
        self.skipped_steps = 0
        self.history: dict[str, list] = {}
        self.best_metrics: dict[str, Any] = {}
        self.last_metrics: dict[str, float] = {}
        self.init_report: dict[str, Any] | None = None
        self.resumed_from: Path | None = None
        self.config_changes: list[str] = []
        self._stop_requested = False
        self.epoch_sums: dict[str, float] = {}  # this epoch's training sums so far (sample-weighted)
        self.epoch_count = 0
        self.last_lr = self.scheduler.get_last_lr()[0]
        self.interrupt_file: Path | None = None

        if resume is not None:
            self._resume(Path(resume))
        else:
            old = sorted(p.name for p in self.ckpt_dir.glob("*.ckpt"))
            if old:
                self.say(f"[{self.stage}] note: {self.ckpt_dir} holds {len(old)} checkpoint(s) of an earlier run; "
                         "last/best will be overwritten, its other files are kept but not ranked")
            choice = self.cfg.init_from if isinstance(init_from, str) and init_from == "config" else init_from
            source, why = resolve_init_from(self.cfg, None if choice is None else os.fspath(choice))
            self.init_choice = why
            if source is not None:
                self._init_weights(source)
            else:
                self.say(f"[{self.stage}] {why}")
        if c.model.freeze_encoder:
            self.model.freeze_encoder(True)

    # ------------------------------------------------------------------ hooks
    def configure(self, cfg: Config) -> None:
        """Force the settings this trainer needs (subclasses)."""

    def data_stage(self, epoch: int) -> int:
        """Curriculum stage of the training data in ``epoch``."""
        return self.cfg.data.curriculum_stage

    def val_stage(self) -> int:
        """Curriculum stage of the validation set (fixed through the run, so epochs compare)."""
        return self.cfg.data.curriculum_stage

    def model_inputs(self, batch: Mapping[str, torch.Tensor], step: int, train: bool) -> dict[str, Any]:
        """Keyword arguments of the model's forward for a batch (structural: the MAE mask)."""
        return {}

    def before_train(self) -> None: ...
    def after_train(self) -> None: ...
    def before_epoch(self) -> None: ...
    def after_epoch(self, metrics: Mapping[str, float]) -> None: ...
    def after_step(self, losses: Mapping[str, float]) -> None: ...

    def metric_names(self) -> list[str]:
        """Every name this stage logs per epoch (what ``checkpoint.monitor`` may name)."""
        heads = self.model.head_names
        terms = ["loss"] + [LOG_NAMES[h] for h in ("skeleton", "keypoints", "tangent", "width", "offset") if h in heads]
        val = ["iou", "precision", "recall", "f1", "centre_error", "spurs"]
        if "keypoints" in heads:
            val += ["kp_topo_recall", "kp_geo_recall"]
        return ([f"train/{t}" for t in terms] + ["train/grad_norm"] + [f"val/{t}" for t in terms]
                + [f"val/{m}" for m in val])

    def _check_monitor(self) -> None:
        names = self.metric_names()
        monitor = self.cfg.checkpoint.monitor
        if monitor not in names:
            from ..config.schema import suggest
            raise ConfigError(f"checkpoint.monitor: '{monitor}' is not a metric of this stage"
                              f"{suggest(monitor, names)}; known: {', '.join(names)}")

    # ------------------------------------------------------------------ setup helpers
    @staticmethod
    def _device(name: str) -> torch.device:
        if name == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        try:
            device = torch.device(name)
        except RuntimeError:
            raise ConfigError(f"system.device: unknown device {name!r} (auto, cpu, cuda or cuda:N)") from None
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ConfigError(f"system.device: {name} requested but CUDA is not available")
        return device

    def _precision(self, precision: str) -> str:
        if precision == "auto":
            if self.device.type != "cuda":
                return "fp32"
            return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        if precision == "fp16" and self.device.type != "cuda":
            raise ConfigError("training.precision: fp16 needs a CUDA device (use fp32 or bf16 on the CPU)")
        return precision

    def build_train_set(self):
        c = self.cfg
        if c.data.svg_dir:
            from ..data.svg import SvgInk
            return SvgInk(c.data.svg_dir, c.data.img_size, seed=c.training.seed)
        return SyntheticInk(self.data_stage(0), c.data.train_size, c.data.img_size, seed=c.training.seed)

    def val_batch(self) -> dict[str, torch.Tensor]:
        stage = self.val_stage()
        if stage not in self._val_cache:
            c = self.cfg
            self._val_cache[stage] = validation_set(stage, c.data.val_size, c.data.img_size, seed=c.training.seed)
        return self._val_cache[stage]

    def _autocast(self):
        dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(self.precision)
        return torch.autocast(device_type=self.device.type, dtype=dtype, enabled=dtype is not None)

    def _to_device(self, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        nb = self.device.type == "cuda"
        return {k: v.to(self.device, non_blocking=nb) for k, v in batch.items()}

    def say(self, text: str) -> None:
        if self.verbose:
            print(text, flush=True)

    # ------------------------------------------------------------------ weights in
    def _init_weights(self, path: Path) -> None:
        ckpt = load_checkpoint(path)  # any format: legacy layouts are migrated
        if ckpt.get("migration"):
            self.say(f"[{self.stage}] " + migration_report(path, ckpt).replace("\n", f"\n[{self.stage}] "))
        report = load_weights(self.model, ckpt["model"], strict=False)
        if report.mismatched:  # another architecture: transferring a few tensors would be a silent mess
            raise CheckpointError(f"init_from {path}: {len(report.mismatched)} tensors have another shape than this "
                                  f"model's ({report.summary()}); check model.embed_dim / num_layers")
        self.init_report = {"source": str(path), "loaded": len(report.loaded), "missing": report.missing,
                            "unexpected": report.unexpected,
                            "mismatched": [[k, list(a), list(b)] for k, a, b in report.mismatched]}
        self.say(f"[{self.stage}] {self.init_choice}:\n  " + report.format().replace("\n", "\n  "))

    def _resume(self, path: Path) -> None:
        ckpt = load_checkpoint(path)  # any format: legacy layouts are migrated
        legacy = ckpt.get("migration")
        if ckpt.get("stage") not in (None, self.stage) and not (legacy and self.stage not in TRAINER_STAGES):
            raise ConfigError(f"--resume {path}: checkpoint of stage '{ckpt.get('stage')}', not '{self.stage}'")
        # legacy files may lack the position (bare weights: epoch 0) or the optimizer (fresh one)
        pos = ckpt.get("position") or {"epoch": 0, "batch": 0}
        saved = Config.from_dict(ckpt["config"]).flat()
        current = self.cfg.flat()
        for key in ARCHITECTURE_KEYS:
            if saved.get(key) != current.get(key):
                raise ConfigError(f"--resume {path}: {key} is {saved.get(key)!r} in the checkpoint but "
                                  f"{current.get(key)!r} now; the architecture cannot change on resume")
        if pos["batch"] != 0:  # in the middle of an epoch: the data position must mean the same
            for key in _POSITION_KEYS:
                if saved.get(key) != current.get(key):
                    raise ConfigError(f"--resume {path}: {key} changed ({saved.get(key)!r} -> {current.get(key)!r}) "
                                      "but the checkpoint is in the middle of an epoch; resume from an epoch-end "
                                      "checkpoint to change it")
        done = int(pos["epoch"])
        if self.cfg.training.epochs < done or (self.cfg.training.epochs == done and pos["batch"] != 0):
            raise ConfigError(f"--resume {path}: training.epochs {self.cfg.training.epochs} is fewer than the "
                              f"{done + (pos['batch'] != 0)} epochs this checkpoint has started")
        self.config_changes = [f"{k}: {saved.get(k)!r} -> {current.get(k)!r}" for k in sorted(set(saved) | set(current))
                               if saved.get(k) != current.get(k) and k not in ("init_from",)]
        val_changed = [k for k in _VALIDATION_KEYS if saved.get(k) != current.get(k)]
        load_weights(self.model, ckpt["model"], strict=True)
        notes = list(legacy["notes"]) if legacy else []
        if ckpt.get("optimizer") is not None:
            try:
                self.optimizer.load_state_dict(ckpt["optimizer"])
            except (ValueError, KeyError, RuntimeError) as exc:
                notes.append(f"optimizer state does not fit this model ({str(exc).splitlines()[0]}): a fresh optimizer")
        t = self.cfg.training
        for group, lr in zip(self.optimizer.param_groups, self.scheduler.base_lrs):
            # the stored groups carry the old settings: the config's apply (and are listed above)
            group.update(initial_lr=lr, weight_decay=t.weight_decay, betas=tuple(t.betas))
        if ckpt.get("scaler") and self.scaler.is_enabled():
            self.scaler.load_state_dict(ckpt["scaler"])
        self.epoch, self.batch_in_epoch = done, int(pos["batch"])
        stored_step = ckpt.get("global_step")
        self.global_step = int(stored_step) if stored_step is not None else done * self.steps_per_epoch
        # the remaining steps follow this config (a changed batch size or epoch count included)
        remaining = (t.epochs - self.epoch) * self.steps_per_epoch - self.batch_in_epoch
        self.scheduler.seek(self.global_step, total_steps=self.global_step + remaining)
        self.last_lr = float(ckpt.get("last_lr", self.scheduler.get_last_lr()[0]))
        self.nonfinite_run = int(ckpt.get("nonfinite_run", 0))
        self.skipped_steps = int(ckpt.get("skipped_steps", 0))
        self.history = {k: list(v) for k, v in ckpt.get("history", {}).items()}
        self.best_metrics = dict(ckpt.get("best_metrics", {}))
        self.last_metrics = dict(ckpt.get("metrics") or {})
        self.init_report = ckpt.get("init_report")
        partial = ckpt.get("epoch_partial") or {}
        self.epoch_sums = {k: float(v) for k, v in partial.get("sums", {}).items()} if self.batch_in_epoch else {}
        self.epoch_count = int(partial.get("count", 0)) if self.batch_in_epoch else 0
        rng = ckpt.get("rng", {})
        if "torch" in rng:
            torch.set_rng_state(rng["torch"])
        if rng.get("cuda") and self.device.type == "cuda":
            torch.cuda.set_rng_state_all(rng["cuda"])
        if val_changed:
            warnings = [f"the validation set changed ({', '.join(val_changed)}): the best/top-k ranking starts "
                        f"again; the earlier files in {self.ckpt_dir} are kept"]
            self.best_metrics = {}
        else:
            warnings = self.manager.load_state_dict(ckpt.get("checkpoint_manager") or {})
            warnings += self._check_best_file()
        self.manager.protect(path)
        self.resumed_from = path
        self.say(f"[{self.stage}] resuming from {path}: epoch {self.epoch}, batch {self.batch_in_epoch}/"
                 f"{self.steps_per_epoch}, step {self.global_step}")
        if legacy:
            self.say(f"[{self.stage}] {path}: legacy checkpoint, " + "\n  ".join(notes))
        elif notes:
            self.say(f"[{self.stage}] note: " + "; ".join(notes))
        for line in warnings:
            self.say(f"[{self.stage}] note: {line}")
        if self.config_changes:
            self.say(f"[{self.stage}] settings changed since the checkpoint (applied): " + "; ".join(self.config_changes))

    def _check_best_file(self) -> list[str]:
        """After resuming from an older checkpoint (a top-k file, best.ckpt), ``best.ckpt`` may hold
        a model of the abandoned continuation: put the bookkeeping's best back (from its top-k
        file), or move the stray one aside as ``best.abandoned.ckpt`` (nothing is deleted)."""
        best = self.ckpt_dir / "best.ckpt"
        if not best.is_file():
            return []
        try:
            held = read_checkpoint(best)
        except CheckpointError as exc:
            return [f"{best} is unreadable ({exc}); it will be replaced at the next improvement"]
        if held.get("epoch") == self.manager.best_epoch and int(held.get("global_step", 0)) <= self.global_step:
            return []
        source = next((Path(e["path"]) for e in self.manager.top_k if e["epoch"] == self.manager.best_epoch
                       and Path(e["path"]).is_file()), None)
        if source is not None:
            atomic_write(best, lambda f: f.write(source.read_bytes()))
            return [f"best.ckpt held epoch {held.get('epoch')} of an abandoned continuation; restored epoch "
                    f"{self.manager.best_epoch} from {source.name}"]
        os.replace(best, self.ckpt_dir / "best.abandoned.ckpt")
        return [f"best.ckpt held epoch {held.get('epoch')} of an abandoned continuation; moved to best.abandoned.ckpt"]

    # ------------------------------------------------------------------ checkpoints out
    def checkpoint_payload(self, metrics: Mapping[str, float], epoch_done: bool) -> dict[str, Any]:
        rng = {"torch": torch.get_rng_state()}
        if self.device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state_all()
        return {
            "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(), "scaler": self.scaler.state_dict(),
            "config": self.cfg.to_dict(), "stage": self.stage, "trainer": type(self).__name__,
            "epoch": self.epoch, "global_step": self.global_step, "metrics": dict(metrics),
            "position": {"epoch": self.epoch + 1 if epoch_done else self.epoch,
                         "batch": 0 if epoch_done else self.batch_in_epoch},
            "rng": rng, "history": self.history, "best_metrics": self.best_metrics,
            "nonfinite_run": self.nonfinite_run, "skipped_steps": self.skipped_steps,
            "init_report": self.init_report, "inktrace_version": __version__, "last_lr": self.last_lr,
            "epoch_partial": {"sums": {} if epoch_done else dict(self.epoch_sums),
                              "count": 0 if epoch_done else self.epoch_count},
        }

    # ------------------------------------------------------------------ the loop
    def _batches(self, epoch: int) -> list[list[int]]:
        """This epoch's batches of sample indices: a permutation seeded by (seed, epoch)."""
        g = torch.Generator().manual_seed(_mix(self.cfg.training.seed, epoch, 0x5EED))
        order = torch.randperm(len(self.train_set), generator=g)
        return [chunk.tolist() for chunk in order.split(self.cfg.training.batch_size)]

    def _loader(self, batches: list[list[int]]) -> DataLoader:
        workers = self.cfg.data.num_workers
        # its own generator: a DataLoader iterator otherwise draws its base seed from the global
        # RNG, which the resumed run would consume once more than the uninterrupted one
        g = torch.Generator().manual_seed(_mix(self.cfg.training.seed, self.epoch, self.batch_in_epoch, 7))
        return DataLoader(self.train_set, batch_sampler=batches, collate_fn=collate, num_workers=workers,
                          pin_memory=self.device.type == "cuda", prefetch_factor=2 if workers else None,
                          generator=g)

    def _check_stop(self) -> None:
        if self._stop_requested:
            raise _Stop()

    def train_step(self, batch: Mapping[str, torch.Tensor]) -> dict[str, float] | None:
        """One optimisation step; the loss terms as floats, or None when the loss was not finite."""
        batch = self._to_device(batch)
        self.model.train()
        with self._autocast():
            out = self.model(batch["image"], **self.model_inputs(batch, self.global_step, train=True))
            terms = self.loss_fn(out, batch)
        loss = terms["total"]
        values = None
        if torch.isfinite(loss):
            run_before = self.nonfinite_run
            self.nonfinite_run = 0
            self.optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
            self.scaler.unscale_(self.optimizer)  # clip the true gradients, never the scaled ones
            clip = self.cfg.training.grad_clip
            params = [p for p in self.model.parameters() if p.grad is not None]
            norm = torch.nn.utils.clip_grad_norm_(params, clip if clip is not None else float("inf"))
            self.last_lr = self.scheduler.get_last_lr()[0]
            if self.scaler.is_enabled():  # fp16: the scaler skips overflowing steps and lowers its scale
                scale = self.scaler.get_scale()
                self.scaler.step(self.optimizer)
                self.scaler.update()
                if self.scaler.get_scale() < scale:
                    self.skipped_steps += 1
            elif torch.isfinite(norm):
                self.optimizer.step()
            else:  # fp32/bf16: a non-finite gradient must never reach the weights
                self.nonfinite_run = run_before + 1
                self.say(f"[{self.stage}] step {self.global_step}: non-finite gradient, step skipped "
                         f"({self.nonfinite_run}/{self.cfg.training.max_nonfinite_steps})")
            values = {k: float(v.detach()) for k, v in terms.items()}
            values["grad_norm"] = float(norm)
            if not math.isfinite(values["grad_norm"]) and not self.scaler.is_enabled():
                values = None
        else:
            self.nonfinite_run += 1
            self.say(f"[{self.stage}] step {self.global_step}: non-finite loss ({float(loss.detach())}), step skipped "
                     f"({self.nonfinite_run}/{self.cfg.training.max_nonfinite_steps})")
        self.scheduler.step()
        self.global_step += 1
        self.batch_in_epoch += 1
        return values

    def train_epoch(self) -> dict[str, float]:
        stage = self.data_stage(self.epoch)
        self.train_set.set_epoch(self.epoch)
        if hasattr(self.train_set, "set_stage"):
            self.train_set.set_stage(stage)
        batches = self._batches(self.epoch)[self.batch_in_epoch:]
        if self.batch_in_epoch == 0:
            self.epoch_sums, self.epoch_count = {}, 0
        bar = self._progress(len(batches), f"{self.stage} epoch {self.epoch + 1}/{self.cfg.training.epochs}")
        log = self.cfg.logging
        try:
            it: Iterator = iter(self._loader(batches)) if batches else iter(())
            while True:
                self._check_stop()
                try:
                    batch = next(it)
                except StopIteration:
                    break
                except Exception:
                    if self._stop_requested:  # workers died of the same Ctrl-C
                        raise _Stop() from None
                    raise
                values = self.train_step(batch)
                if values is None:
                    if self.nonfinite_run >= self.cfg.training.max_nonfinite_steps:
                        raise NonFiniteLossError(
                            f"training stopped: {self.nonfinite_run} consecutive non-finite losses or gradients (last at step "
                            f"{self.global_step - 1}, epoch {self.epoch}); the last good checkpoint is kept in "
                            f"{self.ckpt_dir}")
                    continue
                n = batch["image"].shape[0]
                self.epoch_count += n
                for k, v in values.items():
                    if math.isfinite(v):  # a step the fp16 scaler skipped has an infinite grad norm
                        self.epoch_sums[k] = self.epoch_sums.get(k, 0.0) + v * n
                step = self.global_step
                if step % log.log_every_n_steps == 0 or self.batch_in_epoch == self.steps_per_epoch:
                    scalars = {"train/loss": values["total"], "train/lr": self.last_lr}
                    scalars.update({f"train/{LOG_NAMES[k]}": v for k, v in values.items() if k in LOG_NAMES})
                    self.logger.scalars(scalars, step)
                if step % log.grad_norm_every_n_steps == 0:
                    self.logger.scalars({"train/grad_norm": values["grad_norm"]}, step)
                if bar is not None:
                    bar.set_postfix(loss=f"{values['total']:.4f}", refresh=False)
                    bar.update(1)
                self.after_step(values)
        finally:
            if bar is not None:
                bar.close()

    def train_means(self) -> dict[str, float]:
        """This epoch's sample-weighted means of the training losses (and grad norm) so far."""
        return {("train/loss" if k == "total" else f"train/{LOG_NAMES.get(k, k)}"): v / max(self.epoch_count, 1)
                for k, v in self.epoch_sums.items()}

    @torch.no_grad()
    def validate(self, log_images: bool = False) -> dict[str, float]:
        self.model.eval()
        data = self.val_batch()
        metrics = InkMetrics(device=self.device)
        sums: dict[str, float] = {}
        n_total = data["image"].shape[0]
        bs = self.cfg.training.batch_size
        for i, start in enumerate(range(0, n_total, bs)):
            self._check_stop()
            chunk = self._to_device({k: v[start:start + bs] for k, v in data.items()})
            with self._autocast():
                out = self.model(chunk["image"], **self.model_inputs(chunk, i, train=False))
                terms = self.loss_fn(out, chunk)
            n = chunk["image"].shape[0]
            for k, v in terms.items():
                sums[k] = sums.get(k, 0.0) + float(v) * n
            probs = InkTraceNet.probabilities(out)
            metrics.update(probs, chunk)
            if i == 0 and log_images:
                shown = chunk
                if "visible" in out:  # show what the model saw
                    shown = {**chunk, "image": 1.0 - (1.0 - chunk["image"]) * out["visible"]}
                self.logger.image("val/panels", panel(shown, probs, self.cfg.visualization.num_samples), self.global_step)
        metrics.reduce()
        result = {("val/loss" if k == "total" else f"val/{LOG_NAMES.get(k, k)}"): v / n_total for k, v in sums.items()}
        result.update({f"val/{k}": float(v) for k, v in metrics.compute().items()})
        return result

    def _progress(self, total: int, desc: str):
        enabled = self.cfg.logging.progress_bar
        if enabled is None:
            enabled = self.verbose and sys.stderr.isatty()
        if not enabled:
            return None
        from tqdm.auto import tqdm
        return tqdm(total=total, desc=desc, leave=False, dynamic_ncols=True)

    # ------------------------------------------------------------------ fit
    def fit(self) -> dict[str, Any]:
        """Run the remaining epochs; returns the summary (also written to training_summary.json).

        Ctrl-C or SIGTERM: the current step finishes, a resumable ``last.ckpt`` is written and the
        summary says ``interrupted`` (a second Ctrl-C aborts at once). Repeated non-finite losses
        raise ``NonFiniteLossError`` after writing a ``failed`` summary; other errors propagate
        the same way."""
        c = self.cfg
        self._stop_requested = False
        # TensorBoard: a resumed (or continued) run hides what an abandoned continuation logged after
        # its step; a fresh run into an old run directory hides all of the old run's events
        self.logger = RunLogger(self.run_dir, self.history, self.best_metrics,
                                purge_step=self.global_step + 1 if self.resumed_from or self.global_step else 0)
        self.history = self.logger.history
        start_time, t0 = now(), time.perf_counter()
        self.logger.write_config(self.run_info(start_time))
        self._banner_start()
        status, error = "failed", None
        restore = self._install_signals()
        try:
            self.before_train()
            while self.epoch < c.training.epochs:
                self.before_epoch()
                stage = self.data_stage(self.epoch)
                if self.batch_in_epoch < self.steps_per_epoch:
                    self.train_epoch()
                train = self.train_means()
                self._check_stop()
                log_images = c.visualization.enabled and (self.epoch + 1) % c.visualization.log_interval == 0
                val = self.validate(log_images)
                metrics = {**train, **val}
                self._end_epoch(metrics, stage)
                self.after_epoch(metrics)
                self.epoch += 1
                self.batch_in_epoch = 0
            self.after_train()
            status = "completed"
        except _Stop:
            status = "interrupted"
            # always written, whatever save_last says: it is the only way back into this run
            payload = self.checkpoint_payload({}, epoch_done=False)
            payload["checkpoint_manager"] = self.manager.state_dict()
            self.interrupt_file = save_checkpoint(payload, self.ckpt_dir / "last.ckpt")
            self.say(f"[{self.stage}] interrupted: state saved to {self.ckpt_dir / 'last.ckpt'}; continue with "
                     f"--resume {self.ckpt_dir / 'last.ckpt'}")
        except NonFiniteLossError as exc:
            error = str(exc)
            raise
        except BaseException as exc:
            error = f"{type(exc).__name__}: {exc}".splitlines()[0]
            raise
        finally:
            restore()
            summary = self._summary(status, error, start_time, time.perf_counter() - t0)
            try:
                self.logger.write_summary(summary)
            finally:
                self.logger.close()
            self._banner_end(summary)
        return summary

    def _end_epoch(self, metrics: dict[str, float], stage: int) -> None:
        """Log the epoch, then save its checkpoints, which carry the history and best metrics
        including this epoch (a resume from any of them continues the logs seamlessly)."""
        bad = [name for name, p in self.model.state_dict().items() if p.is_floating_point() and not torch.isfinite(p).all()]
        if bad:  # never overwrite a good checkpoint with broken weights
            raise NonFiniteLossError(f"training stopped: non-finite weights after epoch {self.epoch} ({bad[0]} ...); "
                                     f"the last good checkpoint is kept in {self.ckpt_dir}")
        self.last_metrics = {k: float(v) for k, v in metrics.items()}
        is_best = self.manager.improves(self.last_metrics)
        if is_best:
            self.best_metrics = {"epoch": self.epoch, "global_step": self.global_step, **self.last_metrics}
        self.logger.scalars({**{k: v for k, v in metrics.items() if k.startswith("val/")},
                             "curriculum/stage": stage, "train/epoch_loss": metrics.get("train/loss", float("nan"))},
                            self.global_step)
        record = {"epoch": self.epoch, "global_step": self.global_step, "curriculum_stage": stage, "lr": self.last_lr,
                  "time": now(), **self.last_metrics}
        self.logger.log_epoch(record, self.best_metrics)
        self.manager.save(self.checkpoint_payload(metrics, epoch_done=True), self.epoch, self.last_metrics)
        shown = ", ".join(f"{k.replace('/', ' ')} {v:.4f}" for k, v in metrics.items()
                          if k in ("train/loss", "val/loss", "val/f1", "val/iou", "val/kp_topo_recall", "val/centre_error"))
        self.say(f"[{self.stage}] epoch {self.epoch + 1}/{self.cfg.training.epochs} (data stage {stage}): {shown}"
                 + ("  * best" if is_best else ""))

    def _install_signals(self):
        """Ctrl-C / SIGTERM request a clean stop (main thread only); returns the restorer."""
        if threading.current_thread() is not threading.main_thread():
            return lambda: None
        previous = {}

        def handler(signum, frame):
            if self._stop_requested and signum == signal.SIGINT:
                signal.signal(signal.SIGINT, signal.default_int_handler)
                raise KeyboardInterrupt
            self._stop_requested = True
            self.say(f"\n[{self.stage}] {signal.Signals(signum).name}: finishing the step and saving "
                     "(Ctrl-C again to abort)")

        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, handler)

        def restore():
            for sig, h in previous.items():
                signal.signal(sig, h)
        return restore

    def request_stop(self) -> None:
        """Ask the loop to stop after the current step (what Ctrl-C does), e.g. from a hook."""
        self._stop_requested = True

    # ------------------------------------------------------------------ reports
    def run_info(self, start_time: str) -> dict[str, Any]:
        c = self.cfg
        system = {"python": platform.python_version(), "torch": torch.__version__, "inktrace": __version__,
                  "platform": platform.platform(), "hostname": socket.gethostname(), "device": str(self.device),
                  "cuda_device": torch.cuda.get_device_name(self.device) if self.device.type == "cuda" else None,
                  "num_threads": torch.get_num_threads(), **c.system.to_dict()}
        return {
            "experiment": c.experiment.to_dict(), "stage": self.stage, "trainer": type(self).__name__,
            "start_time": start_time, "config_source": c.source,
            "data": {**c.data.to_dict(), "curriculum": c.curriculum.to_dict(), "train_samples": len(self.train_set),
                     "val_samples": c.data.val_size, "val_stage": self.val_stage()},
            "model": {**self.model.hparams, "total_parameters": self.model.get_num_params(),
                      "trainable_parameters": self.model.get_num_params(trainable_only=True)},
            "training": {**c.training.to_dict(), "precision_resolved": self.precision,
                         "steps_per_epoch": self.steps_per_epoch},
            "loss": c.loss_weights.to_dict(), "checkpoint": {**c.checkpoint.to_dict(), "dir": str(self.ckpt_dir)},
            "system": system, "init_from": self.init_report,
            "resumed_from": str(self.resumed_from) if self.resumed_from else None,
            "config_changes_on_resume": self.config_changes,
        }

    def _summary(self, status: str, error: str | None, start_time: str, seconds: float) -> dict[str, Any]:
        m = self.manager
        return {
            "status": status, "stage": self.stage, "experiment": self.cfg.experiment.name,
            "start_time": start_time, "completion_time": now(), "duration_seconds": round(seconds, 3),
            "best_checkpoint": str(m.best_path) if m.best_path else None, "monitor": self.cfg.checkpoint.monitor,
            "best_value": m.best_value, "best_epoch": m.best_epoch,
            "last_checkpoint": str(self.interrupt_file) if status == "interrupted" and self.interrupt_file else m.last_path,
            "total_epochs": self.epoch, "planned_epochs": self.cfg.training.epochs, "global_step": self.global_step,
            "skipped_steps": self.skipped_steps, "final_metrics": self.last_metrics, "error": error,
            "run_dir": str(self.run_dir),
        }

    def _banner_start(self) -> None:
        c = self.cfg
        what = f"resuming from {self.resumed_from}" if self.resumed_from else (
            f"weights from {self.init_report['source']}" if self.init_report else "fresh weights")
        self.say(f"=== InkTrace [{c.experiment.name}] stage '{self.stage}' ({type(self).__name__}) ===\n"
                 f"  run dir {self.run_dir}  checkpoints {self.ckpt_dir}\n"
                 f"  {len(self.train_set)} training samples/epoch (stage {self.data_stage(self.epoch)}), "
                 f"{c.data.val_size} validation (stage {self.val_stage()}), {c.data.img_size}px\n"
                 f"  model {self.model.get_num_params():,} parameters "
                 f"({self.model.get_num_params(trainable_only=True):,} trainable), {self.device}, {self.precision}; "
                 f"{c.training.epochs} epochs x {self.steps_per_epoch} steps; {what}")

    def _banner_end(self, s: Mapping[str, Any]) -> None:
        best = f"{s['monitor']} {s['best_value']:.4f} (epoch {s['best_epoch']})" if s["best_value"] is not None else "none"
        self.say(f"=== stage '{self.stage}' {s['status']} in {s['duration_seconds']:.1f}s: best {best}; "
                 f"best checkpoint {s['best_checkpoint']} ===")
