"""Running stages from the command line: one stage, the whole pipeline, or a resumed run."""

from __future__ import annotations

import os
from typing import Any, Sequence

from ..checkpoint import CheckpointError, load_checkpoint
from ..config import Config
from .base import BaseTrainer
from .stages import trainer_class

__all__ = ["run_stages", "resume_config", "checkpoint_config"]


def checkpoint_config(path: str | os.PathLike, overrides: dict | None = None) -> Config:
    """The configuration stored in a checkpoint (with ``overrides`` on top): what
    ``train.py --resume CKPT`` runs with when no ``--config`` is given."""
    ckpt = load_checkpoint(path)
    config = ckpt.get("config")
    if not isinstance(config, dict):
        raise CheckpointError(f"{path}: holds no configuration; pass --config FILE --stage NAME with --resume")
    return Config.from_dict(config, overrides=overrides, source=f"{path} (stored config)")


def resume_config(configs: Sequence[Config], path: str | os.PathLike) -> tuple[int, str]:
    """Index of the stage ``path`` belongs to among ``configs`` (and that stage's name)."""
    stage = load_checkpoint(path).get("stage")
    names = [c.stage for c in configs]
    if len(configs) == 1:
        return 0, names[0]
    if stage not in names:
        raise CheckpointError(f"{path}: checkpoint of stage {stage!r}, which this pipeline does not run "
                              f"({', '.join(map(str, names))})")
    return names.index(stage), stage


def run_stages(configs: Sequence[Config], resume: str | os.PathLike | None = None,
               verbose: bool = True) -> list[dict[str, Any]]:
    """Run the stages in order (each from its config's ``init_from``, ``auto`` handing on the
    previous stage's best checkpoint); with ``resume``, the stage it belongs to continues from it
    and the stages before it are skipped. Stops at the first stage that does not complete."""
    start = 0
    if resume is not None:
        start, _ = resume_config(configs, resume)
    summaries = []
    for i, cfg in enumerate(configs[start:], start):
        cls: type[BaseTrainer] = trainer_class(cfg)
        trainer = cls(cfg, resume=resume if i == start and resume is not None else None, verbose=verbose)
        summary = trainer.fit()
        summaries.append(summary)
        if summary["status"] != "completed":
            break
    return summaries
