"""The old entry points, kept as shims over the new trainers: ``train_structural.py`` and
``train_dense.py`` (their old flags, mapped onto a Config), and ``train_pl.py`` (``train.py``'s
command line under the name the old training guide uses).

Old flag -> config key: ``--embed_dim`` model.embed_dim, ``--num_layers`` model.num_layers;
``train_dense.py --stage N`` is the *curriculum* stage (data.curriculum_stage = N, curriculum off);
``--from-scratch`` is ``init_from: none``; ``--init_from`` and ``--resume`` take any checkpoint
format. ``--lr``, ``--epochs``, ``--batch_size``, ``--save_dir``, ``--init_from`` and ``--set`` are
train.py's own override flags (``args.add_override_flags``), declared once for every entry point.
Both scripts print the equivalent ``train.py`` command, run the same trainers, and then leave
``<save_dir>/best_structural.pth`` / ``<save_dir>/best_dense_model.pth`` (layout B, what the old
chain and old tools read; built by ``checkpoint.legacy.to_layout_b``) next to the new
``<save_dir>/<stage>/`` folders.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

from ..checkpoint import load_checkpoint
from ..checkpoint.legacy import to_layout_b
from ..config import Config, Overrides
from ..fileio import atomic_torch_save
from ..training.pipeline import run_stages
from .args import StrictParser, UsageError, fail, flag, run_guarded
from .overrides import add_override_flags, overrides_from_args

__all__ = ["structural_main", "dense_main", "LEGACY_FILES"]

LEGACY_FILES = {"structural": "best_structural.pth", "dense": "best_dense_model.pth"}


def _parser(prog: str, stage: str) -> StrictParser:
    """The shared override flags (--lr --epochs --batch_size --save_dir --init_from --set, as
    train.py) plus the old scripts' own."""
    p = StrictParser(
        prog=prog,
        description=f"Old {stage} training script (a shim over train.py --stage {stage}).",
    )
    p.add_argument(
        "--config",
        action="once",
        metavar="FILE",
        help="YAML config (default: configs/default.yaml)",
    )
    flag(p, "embed_dim", "model.embed_dim", "N", type=int)
    flag(p, "num_layers", "model.num_layers", "N", type=int)
    flag(p, "from_scratch", "start from fresh weights (init_from: none)")
    p.add_argument(
        "--resume",
        action="once",
        metavar="CKPT",
        help="continue a run from its checkpoint (any format)",
    )
    if stage == "dense":
        p.add_argument(
            "--stage", action="once", type=int, metavar="N", help="curriculum stage 0-9 to train on"
        )
    add_override_flags(p)
    return p


def _shown(value: str, kind: type) -> str:
    """A numeric flag as the old scripts' ``type=float``/``type=int`` parsing printed it
    (``1e-3`` -> ``0.001``); a value that is not a number is shown as given (the Config refuses
    it)."""
    try:
        return str(kind(value))
    except ValueError:
        return value


def _overrides(args: argparse.Namespace, stage: str) -> tuple[Overrides, list[str]]:
    """The config overrides of the old flags, and the equivalent train.py flags (in the order the
    old scripts printed them)."""
    if args.from_scratch and args.init_from:
        raise UsageError("--from-scratch and --init_from exclude each other")
    if args.resume and (args.init_from or args.from_scratch):
        raise UsageError(
            "--resume excludes --init_from and --from-scratch (a resumed run keeps its own weights)"
        )
    own: list[tuple[str, object, str]] = []  # (key, value, flag) of this script's own flags
    flags: list[str] = []
    if args.from_scratch:
        own.append(("init_from", "none", "--from-scratch"))
        flags += ["--init_from", "none"]
    if args.init_from:
        flags += ["--init_from", args.init_from]
    for name, kind in (("lr", float), ("epochs", int), ("batch_size", int)):
        value = getattr(args, name)
        if value is not None:
            flags += [f"--{name}", _shown(value, kind)]
    for name, key in (("embed_dim", "model.embed_dim"), ("num_layers", "model.num_layers")):
        value = getattr(args, name)
        if value is not None:
            own.append((key, value, f"--{name}"))
            flags += ["--set", f"{key}={value}"]
    if args.save_dir:
        flags += ["--save_dir", args.save_dir]
    if stage == "dense" and args.stage is not None:
        if not 0 <= args.stage <= 9:
            raise UsageError(f"--stage {args.stage}: the curriculum stage must be 0-9")
        own += [
            ("data.curriculum_stage", args.stage, "--stage"),
            ("curriculum.enabled", False, "--stage"),
        ]
        flags += [
            "--set",
            f"data.curriculum_stage={args.stage}",
            "--set",
            "curriculum.enabled=false",
        ]
    for item in args.set:
        flags += ["--set", item]
    return overrides_from_args(args, extra=own), flags


def _write_legacy_best(cfg: Config, summary: dict, stage: str) -> Path | None:
    """``<save_dir>/best_<stage>.pth`` in layout B from the stage's best checkpoint."""
    best = summary.get("best_checkpoint")
    if not best:
        return None
    payload = to_layout_b(load_checkpoint(best), summary.get("best_value"))
    return atomic_torch_save(payload, Path(cfg.checkpoint.save_dir) / LEGACY_FILES[stage])


def _run(argv: Sequence[str] | None, prog: str, stage: str, default_config: Path) -> int:
    args = _parser(prog, stage).parse_args(argv)
    overrides, flags = _overrides(args, stage)
    config = args.config or str(default_config)
    cfg = Config.from_yaml(config, stage=stage, overrides=overrides)
    equivalent = ["python", "train.py", "--config", config, "--stage", stage, *flags]
    if args.resume:
        equivalent += ["--resume", args.resume]
    print(f"{prog}: this old script now runs: {shlex.join(equivalent)}", flush=True)
    summaries = run_stages([cfg], resume=args.resume)
    summary = summaries[-1]
    if summary["status"] != "completed":
        return fail(
            prog, f"{summary['status']}; continue with --resume {summary.get('last_checkpoint')}", 1
        )
    written = _write_legacy_best(cfg, summary, stage)
    if written:
        print(
            f"{prog}: best checkpoint also written as {written} (old layout, for the old scripts)",
            flush=True,
        )
    return 0


def _default_config() -> Path:
    return Path(sys.argv[0]).resolve().parent / "configs" / "default.yaml"


def structural_main(
    argv: Sequence[str] | None = None,
    prog: str = "train_structural.py",
    default_config: Path | None = None,
) -> int:
    return run_guarded(prog, _run, argv, prog, "structural", default_config or _default_config())


def dense_main(
    argv: Sequence[str] | None = None,
    prog: str = "train_dense.py",
    default_config: Path | None = None,
) -> int:
    return run_guarded(prog, _run, argv, prog, "dense", default_config or _default_config())
