"""BaseTrainer: the one training loop every stage uses.

``fit()``: per epoch, train over a seeded permutation of the samples, validate on the stage's
fixed validation set, then the callbacks log and checkpoint. One step: autocast forward, the
loss, :class:`~.optim.OptimizerStep`, then the LR schedule (a function of the global step).
The state a checkpoint carries is :mod:`.state`, the resume rules :mod:`.resume`, the side
concerns :mod:`.callbacks`. A run stopped anywhere and resumed ends with the same weights, bit for
bit on the CPU, as one never stopped.

Stage trainers override ``configure`` (force config values), ``data_level(epoch)``,
``val_level()`` and ``model_inputs(batch, step, train)``.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import torch

from ..checkpoint import CheckpointManager, check_model_fits
from ..config import Config
from ..data import validation_set
from ..errors import NonFiniteLossError
from ..losses import InkLoss
from ..model import InkTraceNet
from ..version import __version__
from .batches import Prefetched, epoch_batches, epoch_loader, train_set
from .callbacks import CallbackList, EpochCheckpoint, ProgressBar, StopOnSignal, refuse_old_hooks
from .distributed import (
    Dist,
    check_world,
    gather_rank_state,
    rank_means,
    rank_seed,
    restore_rank,
    wrap_ddp,
)
from .folders import FolderLock, check_experiment, own_folders, release, run_folders
from .hardware import autocast, compiled, resolve_speed, setup_device, to_device, unrecorded
from .messages import RunMessages, now, one_line
from .meter import StepClock, StepMeter, StepValues
from .optim import OptimizerStep, WarmupCosine, build_optimizer
from .resume import ResumePoint, load_init_weights, resolve_init_from, restore
from .runlog import RunLogger
from .state import TrainState, check_weights, checkpoint_payload, nonfinite_message
from .summary import (
    aborted_message,
    already_complete,
    banner_end,
    banner_start,
    check_monitor,
    epoch_line,
    logged_names,
    run_summary,
)
from .validation import validate_trainer

__all__ = ["BaseTrainer", "NonFiniteLossError", "TRAINERS"]

# stage name -> its trainer class: filled here, by BaseTrainer.__init_subclass__, when a class
# names its stage (``class DenseTrainer(BaseTrainer, stage="dense")``, stages.py)
TRAINERS: dict[str, type[BaseTrainer]] = {}


class _Stop(Exception):
    """Internal: a stop was requested (Ctrl-C, SIGTERM, a callback) and the state is consistent."""


class BaseTrainer:
    """Builds model, data, optimizer, schedule, scaler, checkpoints and logs from a Config, and
    runs the loop. ``fit()`` returns the run summary (a dict) and never calls ``sys.exit``.

    ``init_from``: a checkpoint path, ``"auto"``, or None / ``"none"`` for fresh weights; by
    default (``"config"``) the config's ``init_from``. ``resume``: a checkpoint of this stage to
    continue from exactly (a path or a :class:`ResumePoint`); it wins over ``init_from``.
    ``overwrite``: a new run may replace another experiment's checkpoints in its folder (else
    ConfigError, see :mod:`.folders`). ``callbacks``: objects with some of ``before_train``,
    ``before_epoch``, ``after_step(losses)``, ``after_epoch(metrics)``, ``after_train`` (see
    :mod:`.callbacks`).
    """

    name = "base"

    def __init_subclass__(cls, stage: str | None = None, **kwargs: Any) -> None:
        """``stage``: the stage this class trains (its ``name``), entered in ``TRAINERS``; a
        subclass without one (a variation of a stage trainer) inherits the name, unregistered."""
        super().__init_subclass__(**kwargs)
        refuse_old_hooks(cls)
        if stage is not None:  # a later class naming the same stage replaces the earlier one
            cls.name = stage
            TRAINERS[stage] = cls

    def __init__(
        self,
        cfg: Config,
        init_from: str | os.PathLike | None = "config",
        resume: str | os.PathLike | ResumePoint | None = None,
        verbose: bool = True,
        callbacks: Iterable[Any] = (),
        overwrite: bool = False,
    ) -> None:
        self.verbose = verbose
        self.cfg = cfg.copy()
        before = self.cfg.flat()
        self.configure(self.cfg)
        self.stage = self.cfg.stage or self.name
        c = self.cfg
        self.dist = Dist.setup(c.system.device, c.system.dist_timeout)
        self.log = RunMessages(self.stage, verbose and self.dist.main)
        forced = [
            f"{k}: {before[k]!r} -> {v!r}"
            for k, v in self.cfg.flat().items()
            if before.get(k) != v and self.cfg.origin(k).kind != "default"
        ]
        if forced:
            self.log.info(f"{type(self).__name__} sets " + "; ".join(forced))
        self.device = self.dist.device(setup_device(c.system, c.training.precision)[0])
        check_world(c, self.dist.world)
        point = ResumePoint.of(resume) if resume is not None else None
        # every "auto" decided for this device; a resume keeps what its checkpoint recorded
        # (a checkpoint written before the record resumes with what auto meant then)
        stored = (
            None if point is None else point.checkpoint.get("resolved", unrecorded(self.device))
        )
        self.speed = resolve_speed(c, self.device, stored)
        self.precision = self.speed["training.precision"]
        replacing = []  # what a new run replaces, said once it owns the folder
        if point is not None:  # its weights fit its config, before anything is allocated
            check_model_fits(point.checkpoint, point.path, InkTraceNet)
        self.ckpt_dir, self.run_dir = run_folders(self.cfg, self.stage, point, self.log)
        if point is None:  # never another experiment's checkpoints, unless asked (folders.py)
            replacing = check_experiment(self.ckpt_dir, c.experiment.name, overwrite)

        torch.manual_seed(c.training.seed)
        self.model = InkTraceNet.from_config(c.model).to(self.device)
        check_monitor(self.cfg.checkpoint.monitor, self.metric_names())
        self.loss_fn = InkLoss(c.loss_weights.to_dict())
        self.train_set = self.build_train_set()
        self.steps_per_epoch = math.ceil(len(self.train_set) / c.training.batch_size)
        self._val_cache: dict[int, dict[str, torch.Tensor]] = {}
        self.optimizer = build_optimizer(self.model, c.training)
        self.scheduler = WarmupCosine.from_config(self.optimizer, c.training, self.steps_per_epoch)
        self.optimizer_step = OptimizerStep(
            self.optimizer, self.device, self.precision, c.training.grad_clip
        )
        self.scaler = self.optimizer_step.scaler
        self.manager = CheckpointManager.from_config(self.ckpt_dir, c.checkpoint)
        self.state = TrainState(last_lr=self.scheduler.get_last_lr()[0])
        self.resumed_from: Path | None = None
        self.config_changes: list[str] = []
        self.stop_requested = False
        self.status: str = "not started"
        self.error: str | None = None
        self.summary: dict[str, Any] | None = None
        self.start_time: str | None = None
        self.val_panel: torch.Tensor | None = None
        own = [RunLogger(), EpochCheckpoint(), ProgressBar(c.logging.progress_bar), StopOnSignal()]
        if not self.dist.main:  # rank 0 alone writes logs and shows progress
            own = [EpochCheckpoint(), StopOnSignal()]
        self.callbacks = CallbackList(own, callbacks, self)
        self.interrupt_file: Path | None = None
        self._stop_agreed = False
        self.clock, self.meter = StepClock(self.device), StepMeter(self.device)

        if point is not None:
            self.config_changes, self.resumed_from = restore(self, point, TRAINERS)
            restore_rank(
                self.dist, self.device, self.state, point.checkpoint, c.training.seed, self.log
            )
        else:
            source, why = resolve_init_from(self.cfg, init_from)
            if source is not None:
                self.state.init_report = load_init_weights(self.model, source, why, self.log)
            else:
                self.log.info(why)
        self.locks: list[FolderLock] = []
        if self.dist.main:  # rank 0 alone: the other ranks write nothing
            # the last step: nothing fails after
            self.run_dir, self.locks = own_folders(
                self.ckpt_dir, self.run_dir, point is not None, self.log
            )
        for line in replacing:  # said only now that nothing can refuse the run any more
            self.log.info(line)
        if c.model.freeze_encoder:
            self.model.freeze_encoder(True)
        if self.dist.enabled and point is None and not self.dist.main:  # rank 0: 1-process
            torch.manual_seed(rank_seed(c.training.seed, self.dist.rank))
        if self.speed["system.channels_last"]:
            self.model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        self.net = compiled(
            wrap_ddp(self.model, self.dist, self.device),
            self.speed["system.compile"],
            self.log.info,
        )

    # ------------------------------------------------------------------ stage trainers override
    def configure(self, cfg: Config) -> None:
        """Force the settings this trainer needs."""

    def data_level(self, epoch: int) -> int:
        """Curriculum level of the training data in ``epoch``."""
        return self.cfg.data.curriculum_stage

    def val_level(self) -> int:
        """Curriculum level of the validation set (fixed through the run, so epochs compare)."""
        return self.cfg.data.curriculum_stage

    def model_inputs(
        self, batch: Mapping[str, torch.Tensor], step: int, train: bool
    ) -> dict[str, Any]:
        """Keyword arguments of the model's forward for a batch (structural: the MAE mask)."""
        return {}

    def build_train_set(self):
        return train_set(self.cfg, self.data_level(0), self.device)

    def metric_names(self) -> list[str]:
        """Every name this stage logs per epoch (what ``checkpoint.monitor`` may name)."""
        return logged_names(self.model.head_names)

    # ------------------------------------------------------------------ checkpoints out
    def checkpoint_payload(self, metrics: Mapping[str, float], epoch_done: bool) -> dict[str, Any]:
        objects = {
            "model": self.model,
            "optimizer": self.optimizer,
            "scheduler": self.scheduler,
            "scaler": self.scaler,
        }
        identity = {
            "config": self.cfg.to_dict(),
            "stage": self.stage,
            "trainer": type(self).__name__,
            "inktrace_version": __version__,
            "world_size": self.dist.world,
            "run_dir": str(self.run_dir.resolve()),
            "resolved": dict(self.speed),  # what "auto" meant: a resume keeps it
        }
        if self.dist.enabled:  # every rank calls this: the ranks' states meet on rank 0
            identity["rng_ranks"] = gather_rank_state(
                self.dist, self.state, self.device, epoch_done
            )
        return checkpoint_payload(objects, self.state, identity, metrics, epoch_done, self.device)

    # ------------------------------------------------------------------ data
    def val_batch(self) -> dict[str, torch.Tensor]:
        level = self.val_level()
        if level not in self._val_cache:
            c = self.cfg
            self._val_cache[level] = validation_set(
                level,
                c.data.val_size,
                c.data.img_size,
                seed=c.training.seed,
                pens=c.data.pens,
                cursive=c.data.cursive_fraction,
            )
        return self._val_cache[level]

    # ------------------------------------------------------------------ the loop
    def request_stop(self) -> None:
        """Stop after the current step with a resumable ``last.ckpt`` (what Ctrl-C does)."""
        self.stop_requested = True

    def check_stop(self) -> None:
        """Raise the loop's internal stop when a stop was requested (with several ranks: when
        they agreed on it at a sync point, so all stop together)."""
        if self._stop_agreed if self.dist.enabled else self.stop_requested:
            raise _Stop()

    def train_step(self, batch: Mapping[str, torch.Tensor], weight: float = 1.0) -> StepValues:
        """One optimisation step, skipped on the device when its loss or gradient is not finite;
        returns its loss terms and grad norm (read lazily: meter.py). ``weight``: of this rank's
        mean loss in the global batch (distributed.py)."""
        s, batch = self.state, to_device(batch, self.device)
        self.model.train()
        with self.dist.step_guard():  # a peer dying mid-step: one line, not gloo's traceback
            with autocast(self.device, self.precision):
                inputs = self.model_inputs(batch, s.global_step, train=True)
                out = self.net(batch["image"], **inputs)
                terms = self.loss_fn(out, batch)
            loss = terms["total"]
            s.last_lr = self.scheduler.get_last_lr()[0]
            norm, found = self.optimizer_step(loss * weight if weight != 1 else loss, self.model)
        n = batch["image"].shape[0] if weight else 0
        values = self.meter.add(terms, norm, found, self.precision == "fp16", n)
        self.scheduler.step()
        s.global_step += 1
        s.batch_in_epoch += 1
        return values

    def sync(self) -> None:
        """A sync point (meter.py): the step accounts into the state, skipped steps said, the
        non-finite limit checked; with several ranks, whether any was asked to stop."""
        s, limit = self.state, self.cfg.training.max_nonfinite_steps
        bad, worst = self.meter.read(s)
        if self.dist.enabled:  # one all-reduce: the ranks fail, and stop, after the same step
            bad, worst, stop = self.dist.maxima([bad, worst, self.stop_requested], self.device)
            self._stop_agreed |= bool(stop)
        if bad:
            self.log.info(
                f"{bad} step(s) up to step {s.global_step - 1} skipped: non-finite loss or "
                f"gradient ({worst} in a row; limit {limit})"
            )
        if worst >= limit:
            raise NonFiniteLossError(nonfinite_message(s, worst, self.ckpt_dir))

    def train_epoch(self) -> None:
        s = self.state
        self.train_set.set_epoch(s.epoch)
        if hasattr(self.train_set, "set_level"):
            self.train_set.set_level(self.data_level(s.epoch))
        c = self.cfg
        order = epoch_batches(len(self.train_set), c.training.batch_size, c.training.seed, s.epoch)
        shards = [self.dist.shard(b) for b in order[s.batch_in_epoch :]]
        s.start_epoch()
        self.meter.start(s)
        every = c.logging.log_every_n_steps
        batches = [b for b, _ in shards]
        loader = epoch_loader(self.train_set, batches, c, s.epoch, s.batch_in_epoch, self.device)
        weights = iter([w for _, w in shards])
        clock = self.clock = StepClock(self.device)
        it = Prefetched(loader, c.data.prefetch) if c.data.prefetch else iter(loader)
        try:
            while True:
                self.check_stop()
                try:
                    with clock.waiting():
                        batch = next(it)
                except StopIteration:
                    break
                except Exception:
                    if self.stop_requested:  # workers died of the same Ctrl-C
                        raise _Stop() from None
                    raise
                values = self.train_step(batch, next(weights))
                clock.stepped()
                if s.global_step % every == 0:
                    self.sync()
                self.callbacks.call("after_step", values)
        finally:
            if isinstance(it, Prefetched):
                it.close()
        self.sync()

    def validate(self, log_images: bool = False) -> dict[str, float]:
        """Loss terms and metrics over the whole validation set (this rank's share, summed over
        the ranks); with ``log_images`` the first chunk's panel is kept as ``val_panel``."""
        result, self.val_panel = validate_trainer(self, log_images)
        return result

    def fit(self) -> dict[str, Any]:
        """Run the remaining epochs; returns the summary (also written to training_summary.json).

        Ctrl-C or SIGTERM: the current step finishes, a resumable ``last.ckpt`` is written and the
        summary says ``interrupted`` (a second Ctrl-C aborts at once). Repeated non-finite losses
        raise ``NonFiniteLossError`` after writing a ``failed`` summary; other errors propagate
        the same way."""
        if self.resumed_from is not None and self.state.epoch >= self.cfg.training.epochs:
            self.status = "completed"
            self.summary = already_complete(self)  # no file touched
            return self.summary
        self.stop_requested, self.interrupt_file = False, None
        self.status, self.error = "failed", None
        self.start_time, t0 = now(), time.perf_counter()
        self.log.plain(banner_start(self))
        in_flight = False
        try:
            try:
                self._run_epochs()
                self.status = "completed"
            except _Stop:
                self.status = "interrupted"
                self.sync()
                payload = self.checkpoint_payload({}, epoch_done=False)
                if self.dist.main:
                    self.interrupt_file = self.manager.save_interrupt(payload)
                self.dist.barrier()
        except BaseException as exc:
            in_flight, self.status = True, "failed"
            self.error = str(exc) if isinstance(exc, NonFiniteLossError) else one_line(exc)
            if isinstance(exc, KeyboardInterrupt):  # the second Ctrl-C: no checkpoint of now
                self.status, self.error = "aborted", aborted_message(self)
            raise
        finally:
            late = self._finish(time.perf_counter() - t0, in_flight)
        if late is not None:
            raise late
        assert self.summary is not None  # written by _finish
        return self.summary

    def _run_epochs(self) -> None:
        c, s = self.cfg, self.state
        self.callbacks.call("before_train")
        while s.epoch < c.training.epochs:
            self.callbacks.call("before_epoch")
            if s.batch_in_epoch < self.steps_per_epoch:
                self.train_epoch()
            train = {**rank_means(self.dist, self.state, self.device), **self.clock.means()}
            self.check_stop()
            log_images = (
                c.visualization.enabled and (s.epoch + 1) % c.visualization.log_interval == 0
            )
            self._end_epoch({**train, **self.validate(log_images)})
            s.next_epoch()

    def _finish(self, seconds: float, in_flight: bool) -> BaseException | None:
        """The end of ``fit``, whatever happened: the user's ``after_train`` (an error there fails
        the run), the summary, the built-in callbacks in reverse order (signals, bar, logs), the
        last lines. Returns the error to raise when none is already on its way."""
        user_error = self.callbacks.call_each("after_train", self.callbacks.user)
        if user_error is not None and not in_flight:
            self.status, self.error = "failed", one_line(user_error)
        summary = self.summary = run_summary(self, seconds)
        own_error = self.callbacks.call_each("after_train", reversed(self.callbacks.builtin))
        if self.status == "interrupted" and self.interrupt_file is not None:
            path = self.interrupt_file
            self.log.info(f"interrupted: state saved to {path}; continue with --resume {path}")
        for error in (user_error, own_error):
            if error is not None and in_flight:  # the first error propagates; say the others
                self.log.info(f"while stopping: {one_line(error)}")
        self.log.plain(banner_end(summary))
        release(self.locks)
        return None if in_flight else user_error or own_error

    def _end_epoch(self, metrics: dict[str, float]) -> None:
        """Record the epoch in the state, then the callbacks log it and save its checkpoints,
        which carry the history and best metrics including this epoch."""
        s = self.state
        check_weights(self.model, s.epoch, self.ckpt_dir)  # never save broken weights
        level, is_best = self.data_level(s.epoch), self.manager.improves(metrics)
        s.record_epoch(metrics, level, is_best)
        self.callbacks.call("after_epoch", metrics, which="builtin")  # logs, then checkpoints
        self.log.info(epoch_line(s.epoch, self.cfg.training.epochs, level, metrics, is_best))
        self.callbacks.call("after_epoch", metrics, which="user")
