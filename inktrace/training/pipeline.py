"""Running stages: the configs of a pipeline, one stage or all of them in order, a resumed run.

Usable from the command line (``train.py``) and from a notebook alike::

    configs = pipeline_configs("configs/quickstart.yaml", start_from="dense")
    summaries = run_stages(configs)
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..config import Config
from ..errors import CheckpointError, ConfigError
from .folders import check_experiment
from .resume import ResumePoint
from .stages import trainer_class
from .trainer import BaseTrainer

__all__ = ["pipeline_configs", "run_stages", "resume_config", "checkpoint_config"]


def pipeline_configs(
    path: str | os.PathLike,
    overrides: Mapping[str, Any] | None = None,
    start_from: str | None = None,
    first_overrides: Mapping[str, Any] | None = None,
) -> list[Config]:
    """The resolved config of every stage of ``pipeline.order`` in ``path``, from ``start_from``
    on, with ``overrides``; the first stage's with ``first_overrides`` instead when given
    (``train.py --run-all-stages --init_from CKPT`` seeds the first stage only, and the later
    ones keep their own ``init_from``: ``auto`` hands the weights on)."""
    first = overrides if first_overrides is None else first_overrides
    base = Config.from_yaml(path, overrides=first)
    order = list(base.pipeline.order)
    missing = [s for s in order if s not in base.stages]
    if missing:
        raise ConfigError(
            f"{base.source}: pipeline.order names stage '{missing[0]}', which is not defined "
            f"under stages: ({', '.join(base.stages) or 'none'})"
        )
    if start_from is not None:
        if start_from not in order:
            raise ConfigError(
                f"--start-from {start_from}: not in pipeline.order ({', '.join(order)})"
            )
        order = order[order.index(start_from) :]
    return [
        Config.from_yaml(path, stage=s, overrides=first if i == 0 else overrides)
        for i, s in enumerate(order)
    ]


def checkpoint_config(
    resume: str | os.PathLike | ResumePoint, overrides: Mapping[str, Any] | None = None
) -> Config:
    """The configuration stored in a checkpoint (with ``overrides`` on top): what
    ``train.py --resume CKPT`` runs with when no ``--config`` is given."""
    return ResumePoint.of(resume).config(overrides)


def resume_config(
    configs: Sequence[Config], resume: str | os.PathLike | ResumePoint
) -> tuple[int, str]:
    """Index of the stage the checkpoint belongs to among ``configs`` (and that stage's name)."""
    point = ResumePoint.of(resume)
    names = [c.stage or "" for c in configs]
    if len(configs) == 1:
        return 0, names[0]
    if point.stage not in names:
        raise CheckpointError(
            f"{point.path}: checkpoint of stage {point.stage!r}, which this pipeline does not run "
            f"({', '.join(map(str, names))})"
        )
    return names.index(point.stage), names[names.index(point.stage)]


def run_stages(
    configs: Sequence[Config],
    resume: str | os.PathLike | ResumePoint | None = None,
    verbose: bool = True,
    callbacks: Sequence[Any] = (),
    overwrite: bool = False,
) -> list[dict[str, Any]]:
    """Run the stages in order (each from its config's ``init_from``, ``auto`` handing on the
    previous stage's best checkpoint); with ``resume``, the stage it belongs to continues from it
    and the stages before it are skipped. Stops at the first stage that does not complete.
    ``callbacks`` are passed to every stage's trainer: the same objects, so what they count
    carries over from one stage to the next. Every stage that starts fresh is checked first for
    another experiment's checkpoints in its folder (refused unless ``overwrite``: folders.py),
    so a pipeline is refused before its first stage trains, not hours later."""
    start, point = 0, None
    if resume is not None:
        point = ResumePoint.of(resume)  # read once, for the stage lookup and the trainer
        start, _ = resume_config(configs, point)
    for cfg in configs[start + (point is not None) :]:
        folder = Path(cfg.checkpoint.save_dir) / (cfg.stage or trainer_class(cfg).name)
        check_experiment(folder, cfg.experiment.name, overwrite)
    callbacks, summaries = list(callbacks), []  # the same callback objects serve every stage
    for i, cfg in enumerate(configs[start:], start):
        cls: type[BaseTrainer] = trainer_class(cfg)
        trainer = cls(
            cfg,
            resume=point if i == start else None,
            verbose=verbose,
            callbacks=callbacks,
            overwrite=overwrite,
        )
        summary = trainer.fit()
        summaries.append(summary)
        if summary["status"] != "completed":
            break
    return summaries
