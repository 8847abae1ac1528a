"""The old entry points, kept as shims over the new trainers: ``train_structural.py`` and
``train_dense.py`` (their old flags, mapped onto a Config), and ``train_pl.py`` (``train.py``'s
command line under the name the old training guide uses).

Old flag -> config key: ``--embed_dim`` model.embed_dim, ``--num_layers`` model.num_layers,
``--lr`` training.lr, ``--epochs`` training.epochs, ``--batch_size`` training.batch_size;
``train_dense.py --stage N`` is the *curriculum* stage (data.curriculum_stage = N, curriculum off);
``--from-scratch`` is ``init_from: none``; ``--init_from`` and ``--resume`` take any checkpoint
format. Both scripts print the equivalent ``train.py`` command, run the same trainers, and then
leave ``<save_dir>/best_structural.pth`` / ``<save_dir>/best_dense_model.pth`` (layout B, what the
old chain and old tools read) next to the new ``<save_dir>/<stage>/`` folders.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import Sequence

from ..checkpoint import load_checkpoint
from ..config import Config, Overrides
from ..fileio import atomic_torch_save
from ..training.pipeline import run_stages
from .args import StrictParser, UsageError, fail, parse_set, run_guarded, spellings

__all__ = ["structural_main", "dense_main", "LEGACY_FILES"]

LEGACY_FILES = {"structural": "best_structural.pth", "dense": "best_dense_model.pth"}


def _parser(prog: str, stage: str) -> StrictParser:
    p = StrictParser(prog=prog, description=f"Old {stage} training script (a shim over train.py --stage {stage}).")
    p.add_argument("--config", action="once", metavar="FILE", help="YAML config (default: configs/default.yaml)")
    p.add_argument(*spellings("embed_dim"), dest="embed_dim", action="once", type=int, metavar="N")
    p.add_argument(*spellings("num_layers"), dest="num_layers", action="once", type=int, metavar="N")
    p.add_argument("--lr", action="once", type=float, metavar="X")
    p.add_argument("--epochs", action="once", type=int, metavar="N")
    p.add_argument(*spellings("batch_size"), dest="batch_size", action="once", type=int, metavar="N")
    p.add_argument(*spellings("from_scratch"), dest="from_scratch", action="store_true",
                   help="start from fresh weights (init_from: none)")
    p.add_argument(*spellings("init_from"), dest="init_from", action="once", metavar="CKPT")
    p.add_argument("--resume", action="once", metavar="CKPT")
    p.add_argument(*spellings("save_dir"), dest="save_dir", action="once", metavar="DIR")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="any other setting")
    if stage == "dense":
        p.add_argument("--stage", action="once", type=int, metavar="N", help="curriculum stage 0-9 to train on")
    return p


def _overrides(args: argparse.Namespace, stage: str) -> tuple[Overrides, list[str]]:
    """The config overrides of the old flags, and the equivalent train.py flags."""
    ov, flags = Overrides(), []

    def put(key: str, value, flag: str, new_flag: list[str]) -> None:
        ov.add(key, value, flag)
        flags.extend(new_flag)

    if args.from_scratch and args.init_from:
        raise UsageError("--from-scratch and --init_from exclude each other")
    if args.resume and (args.init_from or args.from_scratch):
        raise UsageError("--resume excludes --init_from and --from-scratch (a resumed run keeps its own weights)")
    if args.from_scratch:
        put("init_from", "none", "--from-scratch", ["--init_from", "none"])
    if args.init_from:
        put("init_from", args.init_from, "--init_from", ["--init_from", args.init_from])
    for flag, key in (("lr", "training.lr"), ("epochs", "training.epochs"), ("batch_size", "training.batch_size")):
        value = getattr(args, flag)
        if value is not None:
            put(key, value, f"--{flag}", [f"--{flag}", str(value)])
    for flag, key in (("embed_dim", "model.embed_dim"), ("num_layers", "model.num_layers")):
        value = getattr(args, flag)
        if value is not None:
            put(key, value, f"--{flag}", ["--set", f"{key}={value}"])
    if args.save_dir:
        put("checkpoint.save_dir", args.save_dir, "--save_dir", ["--save_dir", args.save_dir])
    if stage == "dense" and args.stage is not None:
        if not 0 <= args.stage <= 9:
            raise UsageError(f"--stage {args.stage}: the curriculum stage must be 0-9")
        put("data.curriculum_stage", args.stage, "--stage", ["--set", f"data.curriculum_stage={args.stage}"])
        put("curriculum.enabled", False, "--stage", ["--set", "curriculum.enabled=false"])
    for item in args.set:
        key, value = parse_set(item)
        put(key, value, f"--set {item}", ["--set", item])
    return ov, flags


def _write_legacy_best(cfg: Config, summary: dict, stage: str) -> Path | None:
    """``<save_dir>/best_<stage>.pth`` in layout B from the stage's best checkpoint."""
    best = summary.get("best_checkpoint")
    if not best:
        return None
    ckpt = load_checkpoint(best)
    c = Config.from_dict(ckpt["config"])
    payload = {
        "epoch": ckpt.get("epoch"), "model_state_dict": ckpt["model"],
        "optimizer_state_dict": ckpt.get("optimizer"), "loss": summary.get("best_value"),
        "config": {"embed_dim": c.model.embed_dim, "num_layers": c.model.num_layers, "lr": c.training.lr,
                   "batch_size": c.training.batch_size, "epochs": c.training.epochs,
                   "stage": c.data.curriculum_stage},
    }
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
        return fail(prog, f"{summary['status']}; continue with --resume {summary.get('last_checkpoint')}", 1)
    written = _write_legacy_best(cfg, summary, stage)
    if written:
        print(f"{prog}: best checkpoint also written as {written} (old layout, for the old scripts)", flush=True)
    return 0


def _default_config() -> Path:
    return Path(sys.argv[0]).resolve().parent / "configs" / "default.yaml"


def structural_main(argv: Sequence[str] | None = None, prog: str = "train_structural.py",
                    default_config: Path | None = None) -> int:
    return run_guarded(prog, _run, argv, prog, "structural", default_config or _default_config())


def dense_main(argv: Sequence[str] | None = None, prog: str = "train_dense.py",
               default_config: Path | None = None) -> int:
    return run_guarded(prog, _run, argv, prog, "dense", default_config or _default_config())

