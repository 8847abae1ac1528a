"""What a run reports about itself: ``training_config.json`` (:func:`run_info`), the summary
(:func:`run_summary`, also ``training_summary.json`` and ``fit()``'s return value) and the console
banners. Functions of what a trainer shows its helpers (:class:`~.interface.TrainerView`);
:func:`already_complete` also says so on the console and reads the run's saved summary."""

from __future__ import annotations

import json
import platform
import socket
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from ..config import Config
from ..config.packaged import is_packaged
from ..config.schema import suggest
from ..errors import ConfigError
from ..losses import TERMS, metric_key
from ..metrics import InkMetrics
from ..version import __version__
from .interface import TrainerView
from .messages import now
from .validation import TRACED

__all__ = [
    "already_complete",
    "aborted_message",
    "logged_names",
    "check_monitor",
    "run_info",
    "run_summary",
    "banner_start",
    "epoch_line",
    "banner_end",
]


def logged_names(heads: Sequence[str]) -> list[str]:
    """Every name a stage whose model has ``heads`` logs per epoch: its loss terms (train and
    val), the grad norm, and the validation metrics."""
    terms = ["total", *(h for h in TERMS if h in heads)]
    return (
        [metric_key("train", t) for t in terms]
        + ["train/grad_norm"]
        + [metric_key("val", t) for t in terms]
        + [f"val/{m}" for m in sorted(InkMetrics.names("keypoints" in heads), key=_kp_last)]
        + [f"val/trace_{m}" for m in TRACED]
    )


def _kp_last(name: str) -> bool:
    return name.startswith("kp_")  # the keypoint recalls close the list (sorted() is stable)


def check_monitor(monitor: str, names: Sequence[str]) -> None:
    """``checkpoint.monitor`` must name one of ``names`` (checked before anything runs)."""
    if monitor not in names:
        raise ConfigError(
            f"checkpoint.monitor: '{monitor}' is not a metric of this stage"
            f"{suggest(monitor, names)}; known: {', '.join(names)}"
        )


def run_info(t: TrainerView) -> dict[str, Any]:
    c = t.cfg
    system = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "inktrace": __version__,
        "platform": platform.platform(),
        "hostname": socket.gethostname(),
        "device": str(t.device),
        "cuda_device": torch.cuda.get_device_name(t.device) if t.device.type == "cuda" else None,
        "num_threads": torch.get_num_threads(),
        **c.system.to_dict(),
        "resolved": dict(t.speed),
    }
    return {
        "experiment": c.experiment.to_dict(),
        "stage": t.stage,
        "trainer": type(t).__name__,
        "start_time": t.start_time,
        "config_source": c.source,
        "data": {
            **c.data.to_dict(),
            "curriculum": c.curriculum.to_dict(),
            "train_samples": len(t.train_set),
            "val_samples": c.data.val_size,
            "val_stage": t.val_level(),
        },
        "model": {
            **t.model.hparams,
            "total_parameters": t.model.get_num_params(),
            "trainable_parameters": t.model.get_num_params(trainable_only=True),
        },
        "training": {
            **c.training.to_dict(),
            "precision_resolved": t.precision,
            "steps_per_epoch": t.steps_per_epoch,
        },
        "loss": c.loss_weights.to_dict(),
        "checkpoint": {**c.checkpoint.to_dict(), "dir": str(t.ckpt_dir)},
        "system": system,
        "init_from": t.state.init_report,
        "resumed_from": str(t.resumed_from) if t.resumed_from else None,
        "config_changes_on_resume": t.config_changes,
    }


def already_complete(t: TrainerView) -> dict[str, Any]:
    """A run resumed at the end of its last epoch: say so and return its saved summary."""
    n = t.cfg.training.epochs
    t.log.info(
        f"{t.resumed_from}: the run has completed its {n} epochs; nothing to do "
        f"(--epochs {n + 10} would train 10 more)"
    )
    try:
        return json.loads((t.run_dir / "training_summary.json").read_text())
    except (OSError, ValueError):
        return run_summary(t, 0.0)


def aborted_message(t: TrainerView) -> str:
    """What a run aborted by a second Ctrl-C leaves: which epoch its last checkpoint ends."""
    done = t.state.history.get("epoch") or []
    if not done:
        return f"aborted (second Ctrl-C) in epoch {t.state.epoch + 1}, before any checkpoint"
    return (
        f"aborted (second Ctrl-C) in epoch {t.state.epoch + 1}; {t.manager.last_path} is from "
        f"the end of epoch {done[-1] + 1}"
    )


def run_summary(t: TrainerView, seconds: float) -> dict[str, Any]:
    m, s = t.manager, t.state
    return {
        "status": t.status,
        "stage": t.stage,
        "experiment": t.cfg.experiment.name,
        "start_time": t.start_time,
        "completion_time": now(),
        "duration_seconds": round(seconds, 3),
        "best_checkpoint": str(m.best_path) if m.best_path else None,
        "monitor": t.cfg.checkpoint.monitor,
        "best_value": m.best_value,
        "best_epoch": m.best_epoch,
        "last_checkpoint": str(t.interrupt_file) if t.interrupt_file else m.last_path,
        "total_epochs": s.epoch,
        "planned_epochs": t.cfg.training.epochs,
        "global_step": s.global_step,
        "skipped_steps": s.skipped_steps,
        "final_metrics": s.last_metrics,
        "error": t.error,
        "run_dir": str(t.run_dir),
    }


def banner_start(t: TrainerView) -> str:
    c = t.cfg
    what = (
        f"resuming from {t.resumed_from}"
        if t.resumed_from
        else (
            f"weights from {t.state.init_report['source']}"
            if t.state.init_report
            else "fresh weights"
        )
    )
    return (
        f"=== InkTrace [{c.experiment.name}] stage '{t.stage}' ({type(t).__name__}) ===\n"
        f"  config {_config_source(c.source)}\n"
        f"  run dir {t.run_dir}  checkpoints {t.ckpt_dir}\n"
        f"  {len(t.train_set)} training samples/epoch (level {t.data_level(t.state.epoch)}), "
        f"{c.data.val_size} validation (level {t.val_level()}), {c.data.img_size}px\n"
        f"  model {t.model.get_num_params():,} parameters "
        f"({t.model.get_num_params(trainable_only=True):,} trainable), {t.device}, "
        f"{speed_words(t.speed, c)}; {c.training.epochs} epochs x {t.steps_per_epoch} steps; "
        f"{what}" + _world(t)
    )


def _config_source(source: str | None) -> str:
    if source is None:
        return "none (defaults and code)"
    return f"{source} (packaged)" if is_packaged(source) else source


_WORDS = {
    "system.channels_last": ("channels-last", "contiguous"),
    "system.compile": ("compiled", "eager"),
}


def speed_words(speed: Mapping[str, Any], cfg: Config) -> str:
    """The resolved step settings in words, ``(auto)`` after those the device decided:
    ``fp32 (auto), channels-last (auto), eager (auto)``."""
    words = []
    for key, value in speed.items():
        word = _WORDS[key][0 if value else 1] if key in _WORDS else str(value)
        words.append(word + (" (auto)" if cfg.get(key) == "auto" else ""))
    return ", ".join(words)


def _world(t: TrainerView) -> str:
    d = t.dist
    if not d.enabled:
        return ""
    b = t.cfg.training.batch_size
    share = f"{b // d.world}" if b % d.world == 0 else f"{b // d.world}-{b // d.world + 1}"
    return f"\n  global batch {b} = {d.world} ranks x {share} (training.batch_size is global)"


_SHOWN = ("train/loss", "val/loss", "val/f1", "val/iou", "val/kp_topo_recall", "val/centre_error")


def epoch_line(
    epoch: int, epochs: int, level: int, metrics: Mapping[str, float], best: bool
) -> str:
    """The console line of a finished epoch (``epoch`` 0-based), ``* best`` when it improved."""
    shown = ", ".join(f"{k.replace('/', ' ')} {v:.4f}" for k, v in metrics.items() if k in _SHOWN)
    mark = "  * best" if best else ""
    return f"epoch {epoch + 1}/{epochs} (level {level}): {shown}{mark}"


def banner_end(s: Mapping[str, Any]) -> str:
    best = (
        f"{s['monitor']} {s['best_value']:.4f} (epoch {s['best_epoch']})"
        if s["best_value"] is not None
        else "none"
    )
    return (
        f"=== stage '{s['stage']}' {s['status']} in {s['duration_seconds']:.1f}s: best {best}; "
        f"best checkpoint {s['best_checkpoint']} ==="
    )
