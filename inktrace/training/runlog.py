"""What a run writes beside its checkpoints: TensorBoard events and the JSON logs of CONTRACTS.md.

Run directory (one per stage, ``<logging.log_dir>/<stage>/``):

- ``events.out.tfevents.*``: scalars and image panels (TensorBoard's own writer).
- ``training_config.json``: written at start: experiment, data, model (with total_parameters),
  training, loss, system.
- ``training_log.json``: rewritten every epoch: ``training_history`` (per-epoch lists, one per
  logged quantity, aligned with ``epoch``), ``best_metrics``, ``last_update``.
- ``training_summary.json``: at the end, also for failed or interrupted runs: ``status``,
  ``completion_time``, ``best_checkpoint``, ``monitor``, ``best_value``, ``total_epochs`` ...

All JSON files are written atomically. On resume the history comes from the checkpoint (so it
matches the weights), and TensorBoard events after the resumed step are purged.
"""

from __future__ import annotations

import datetime as _dt
import os
from pathlib import Path
from typing import Any, Mapping

import torch

from ..fileio import atomic_write_json

__all__ = ["RunLogger", "now"]


def now() -> str:
    return _dt.datetime.now().astimezone().isoformat(timespec="seconds")


class RunLogger:
    def __init__(self, run_dir: str | os.PathLike, history: Mapping[str, list] | None = None,
                 best_metrics: Mapping[str, Any] | None = None, purge_step: int | None = None) -> None:
        from torch.utils.tensorboard import SummaryWriter  # tensorboard is imported only when a run starts

        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.writer = SummaryWriter(str(self.run_dir), purge_step=purge_step)
        self.history: dict[str, list] = {k: list(v) for k, v in (history or {}).items()}
        self.best_metrics: dict[str, Any] = dict(best_metrics or {})

    # TensorBoard
    def scalars(self, values: Mapping[str, float], step: int) -> None:
        for tag, value in values.items():
            self.writer.add_scalar(tag, float(value), step)

    def image(self, tag: str, image: torch.Tensor, step: int) -> None:
        self.writer.add_image(tag, image, step, dataformats="CHW")

    # JSON
    def write_config(self, info: Mapping[str, Any]) -> Path:
        return atomic_write_json(self.run_dir / "training_config.json", info)

    def log_epoch(self, record: Mapping[str, Any], best_metrics: Mapping[str, Any]) -> Path:
        """Append one epoch's values (missing ones as null, so the lists stay aligned)."""
        n = len(self.history.get("epoch", []))
        for key in record:
            self.history.setdefault(key, [None] * n)
        for key, values in self.history.items():
            values.append(record.get(key))
        self.best_metrics = dict(best_metrics)
        self.writer.flush()
        return atomic_write_json(self.run_dir / "training_log.json", {
            "training_history": self.history, "best_metrics": self.best_metrics, "last_update": now()})

    def write_summary(self, summary: Mapping[str, Any]) -> Path:
        return atomic_write_json(self.run_dir / "training_summary.json", summary)

    def close(self) -> None:
        self.writer.flush()
        self.writer.close()
