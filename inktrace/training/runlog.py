"""What a run writes beside its checkpoints: TensorBoard events and the JSON logs of
``docs/contracts.md``, as a callback of the loop.

Run directory (one per stage, ``<logging.log_dir>/<stage>/``):

- ``events.out.tfevents.*``: scalars and image panels (TensorBoard's own writer).
- ``training_config.json``: written at start: experiment, data, model (with total_parameters),
  training, loss, system.
- ``training_log.json``: rewritten every epoch: ``training_history`` (per-epoch lists, one per
  logged quantity, aligned with ``epoch``), ``best_metrics``, ``last_update``.
- ``training_summary.json``: at the end, also for failed or interrupted runs: ``status``,
  ``completion_time``, ``best_checkpoint``, ``monitor``, ``best_value``, ``total_epochs`` ...

All JSON files are written atomically. The history and best metrics are the train state's (which
a resume restores from the checkpoint, so they match the weights); TensorBoard events logged after
the resumed step by an abandoned continuation are purged.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from ..errors import WriteError
from ..fileio import atomic_write_json
from ..losses import LOG_NAMES, metric_key
from .callbacks import Callback
from .messages import now
from .summary import run_info

__all__ = ["RunLogger"]


HPARAM_METRICS = ("val/loss", "val/f1", "val/trace_f1", "val/kp_topo_recall", "train/loss")
HPARAM_KEYS = (
    "stage",
    "experiment.name",
    "training.lr",
    "training.batch_size",
    "training.epochs",
    "training.weight_decay",
    "training.warmup_epochs",
    "training.precision",
    "training.seed",
    "model.embed_dim",
    "model.num_layers",
    "model.dropout",
    "data.train_size",
    "data.img_size",
    "data.svg_fraction",
    "data.cursive_fraction",
    "curriculum.enabled",
    "curriculum.end_stage",
    "curriculum.epochs_per_stage",
)


def hparam_values(cfg) -> dict[str, Any]:
    """The settings a run shows in the HPARAMS tab (plain numbers, strings and booleans)."""
    flat = cfg.flat()
    return {k: flat[k] for k in HPARAM_KEYS if isinstance(flat.get(k), (int, float, str, bool))}


def _session_end(status: str) -> bytes:
    from tensorboard.plugins.hparams import api_pb2, plugin_data_pb2

    code = {
        "completed": api_pb2.STATUS_SUCCESS,
        "failed": api_pb2.STATUS_FAILURE,
        "aborted": api_pb2.STATUS_FAILURE,
    }.get(status, api_pb2.STATUS_UNKNOWN)  # interrupted: resumable, so neither
    data = plugin_data_pb2.HParamsPluginData(
        version=0, session_end_info=plugin_data_pb2.SessionEndInfo(status=code)
    )
    return data.SerializeToString()


def _quiet_writer_errors(previous):
    def hook(args) -> None:
        if isinstance(args.exc_value, OSError) and _from_tensorboard(args.exc_traceback):
            return
        previous(args)

    return hook


def _from_tensorboard(tb) -> bool:
    while tb is not None:
        if "tensorboard" in tb.tb_frame.f_code.co_filename:
            return True
        tb = tb.tb_next
    return False


class RunLogger(Callback):
    def __init__(self) -> None:
        self.writer: Any = None  # a SummaryWriter once the run starts (imported then: slow)
        self._hook = threading.excepthook

    def before_train(self) -> None:
        # tensorboard is imported only when a run starts (importing inktrace stays light)
        from torch.utils.tensorboard import SummaryWriter

        t = self.trainer
        t.run_dir.mkdir(parents=True, exist_ok=True)
        # a resumed (or continued) run hides what an abandoned continuation logged after its step
        # (a fresh run never shares a run directory: folders.py gives it its own version_N)
        step = t.state.global_step
        # the writer's thread re-raises a failed write at the next call (a WriteError then):
        # its own traceback on the console would only repeat it
        self._hook = threading.excepthook
        threading.excepthook = _quiet_writer_errors(self._hook)
        self.writer = SummaryWriter(
            str(t.run_dir), purge_step=step + 1 if t.resumed_from or step else 0
        )
        self._hparams(start=True)
        atomic_write_json(t.run_dir / "training_config.json", run_info(t))

    @contextmanager
    def _events(self) -> Iterator[None]:
        """TensorBoard's writer fails with a bare OSError (a full disk): one line naming it."""
        try:
            yield
        except OSError as exc:
            if isinstance(exc, WriteError):
                raise
            where = f"{self.trainer.run_dir}/events.out.tfevents.*"
            raise WriteError.of(exc, f"{where}: cannot write ({exc.strerror or exc})") from None

    def _hparams(self, start: bool) -> None:
        """TensorBoard's HPARAMS tab: this run's settings and the metrics that compare runs
        (their values are the run's own scalars); the session's end carries its status."""
        from torch.utils.tensorboard.summary import hparams

        t = self.trainer
        values = hparam_values(t.cfg)
        metrics = {k: 0.0 for k in HPARAM_METRICS if k in t.metric_names() or k == "train/loss"}
        experiment, start_info, end_info = hparams(values, metrics)
        summaries = (experiment, start_info) if start else (end_info,)
        if not start:  # the end says how the run ended (success, failure, ...)
            end_info.value[0].metadata.plugin_data.content = _session_end(t.status)
        with self._events():
            for summary in summaries:
                self.writer.file_writer.add_summary(summary)

    def scalars(self, values: Mapping[str, float | None], step: int) -> None:
        with self._events():
            for tag, value in values.items():
                if value is not None and math.isfinite(value):  # a skipped step's NaN: no point
                    self.writer.add_scalar(tag, float(value), step)

    def after_step(self, losses: Mapping[str, float]) -> None:
        t, log = self.trainer, self.trainer.cfg.logging
        step = t.state.global_step
        if step % log.log_every_n_steps == 0 or t.state.batch_in_epoch == t.steps_per_epoch:
            scalars = {metric_key("train", "total"): losses["total"], "train/lr": t.state.last_lr}
            scalars.update({metric_key("train", k): v for k, v in losses.items() if k in LOG_NAMES})
            self.scalars(scalars, step)
        if step % log.grad_norm_every_n_steps == 0:
            self.scalars({"train/grad_norm": losses["grad_norm"]}, step)

    def after_epoch(self, metrics: Mapping[str, float]) -> None:
        t = self.trainer
        s = t.state
        if t.val_panel is not None:
            with self._events():
                self.writer.add_image("val/panels", t.val_panel, s.global_step, dataformats="CHW")
        self.scalars(
            {
                **{k: v for k, v in metrics.items() if k.startswith(("val/", "time/"))},
                "curriculum/stage": s.history["curriculum_stage"][-1],
                "train/epoch_loss": metrics.get("train/loss", float("nan")),
            },
            s.global_step,
        )
        with self._events():
            self.writer.flush()
        atomic_write_json(
            t.run_dir / "training_log.json",
            {"training_history": s.history, "best_metrics": s.best_metrics, "last_update": now()},
        )

    def after_train(self) -> None:
        t = self.trainer
        try:
            atomic_write_json(t.run_dir / "training_summary.json", t.summary)
        finally:
            writer = self.writer
            try:
                if writer is not None:
                    with self._events():
                        self._hparams(start=False)
                        writer.flush()
                        writer.close()
                self.writer = None
            finally:
                threading.excepthook = self._hook
