"""Which file ``--resume`` names: a checkpoint file, a run's checkpoint folder (its ``last.ckpt``),
or ``last`` (the newest ``last.ckpt`` among the checkpoint folders of the stages the command runs:
``<checkpoint.save_dir>/<stage>``). A path that exists always wins, so a file named ``last`` is
that file. A folder or ``last`` comes with the sentence the run prints: which file, and why."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from ..checkpoint.bookkeeping import LAST_NAME
from ..config import Config
from ..errors import CheckpointError, ConfigError

__all__ = ["LAST", "resume_target", "stage_checkpoint_folder"]

LAST = "last"


def stage_checkpoint_folder(cfg: Config, stage: str) -> Path:
    """Where a stage's run keeps its checkpoints: ``<checkpoint.save_dir>/<stage>``."""
    return Path(cfg.checkpoint.save_dir) / stage


def _in_folder(folder: Path) -> tuple[Path, str]:
    last = folder / LAST_NAME
    if last.is_file():
        return last, f"--resume {folder}: a run folder, continuing its {LAST_NAME}"
    runs = sorted(p.parent.name for p in folder.glob(f"*/{LAST_NAME}"))
    if runs:
        raise CheckpointError(
            f"{folder}: a folder of stages, not a run; name one: "
            + ", ".join(str(folder / r) for r in runs)
        )
    raise CheckpointError(f"{folder}: no {LAST_NAME} in this folder (is it a run's checkpoints?)")


def resume_target(spec: str | os.PathLike, configs: Sequence[Config] = ()) -> tuple[Path, str]:
    """(the checkpoint file ``--resume spec`` continues, the sentence saying which and why; ''
    for a file given as it is).

    ``configs``: the stages the command runs (``--config``), needed for ``last``."""
    path = Path(spec)
    if path.is_dir():
        return _in_folder(path)
    if path.exists() or os.fspath(spec) != LAST:
        return path, ""  # a file, as given: nothing to explain
    if not configs:
        raise ConfigError(
            "--resume last needs --config (and --stage or --run-all-stages): it continues the "
            "newest run of that config's stages"
        )
    found = [
        stage_checkpoint_folder(c, c.stage) / LAST_NAME
        for c in configs
        if c.stage and (stage_checkpoint_folder(c, c.stage) / LAST_NAME).is_file()
    ]
    if not found:
        looked = ", ".join(str(stage_checkpoint_folder(c, c.stage or "?")) for c in configs)
        raise CheckpointError(f"--resume last: no {LAST_NAME} in {looked}; nothing to continue")
    newest = max(found, key=lambda p: p.stat().st_mtime_ns)
    others = len(found) - 1
    why = f" (the newest of {len(found)} stages' runs)" if others else ""
    return newest, (
        f"--resume last: {newest}, the {LAST_NAME} of experiment "
        f"'{configs[0].experiment.name}' stage '{newest.parent.name}'{why}"
    )
