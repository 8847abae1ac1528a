"""``train.py`` / ``inktrace train``: parse the command line, resolve configs, run the stages."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ..config import Config
from ..config.packaged import locate
from ..training.distributed import main_process, shutdown
from ..training.pipeline import pipeline_configs, run_stages
from ..training.resume import ResumePoint
from ..training.resume_target import resume_target
from .args import StrictParser, UsageError, fail, flag, run_guarded
from .overrides import add_override_flags, overrides_from_args

__all__ = ["build_parser", "main", "resolve_configs"]


def build_parser(prog: str = "train.py") -> StrictParser:
    p = StrictParser(
        prog=prog,
        description="Train InkTrace: one stage (--stage) or the whole pipeline (--run-all-stages).",
        epilog="Precedence, lowest to highest: config defaults < extends: parents < the file "
        "< the stage's block < command line.",
    )
    p.add_argument(
        "--config",
        action="once",
        metavar="FILE",
        help="YAML config: a file, or the name of a packaged config when no such file exists "
        "(quickstart, default ...: inktrace config --list)",
    )
    which = p.add_mutually_exclusive_group()
    which.add_argument(
        "--stage",
        action="once",
        metavar="NAME",
        help="stage to run (structural, dense, finetune, debug ...)",
    )
    flag(
        which,
        "run-all-stages",
        "run every stage of pipeline.order, handing weights on (--init_from: the first stage's)",
    )
    flag(p, "start-from", "with --run-all-stages: skip the stages before NAME", "NAME")
    p.add_argument(
        "--resume",
        action="once",
        metavar="CKPT",
        help="continue a run: a checkpoint file, a run's checkpoint folder (its last.ckpt), or "
        "'last' with --config (the newest last.ckpt of the stages it runs)",
    )
    flag(
        p,
        "overwrite",
        "let a new run replace the checkpoints another experiment left in its folder "
        "(refused without it)",
    )
    add_override_flags(p)
    flag(p, "print-config", "print the resolved config as YAML and exit")
    p.add_argument(
        "--explain",
        action="store_true",
        help="print every resolved value with its origin (default, file:line, stage, flag) "
        "and exit",
    )
    return p


def resolve_configs(args: argparse.Namespace) -> list[Config]:
    """The resolved config of every stage this command runs, in order."""
    return _resolve(args)[0]


def _resolve(args: argparse.Namespace) -> tuple[list[Config], ResumePoint | None]:
    """The configs, and the checkpoint of ``--resume`` when reading it was needed for them."""
    if args.start_from and not args.run_all_stages:
        raise UsageError("--start-from needs --run-all-stages")
    if args.resume and args.init_from:
        raise UsageError(
            "--resume and --init_from exclude each other (a resumed run keeps its own weights)"
        )
    if not args.config:
        if args.resume:
            if args.stage or args.run_all_stages:
                raise UsageError(
                    "--stage/--run-all-stages with --resume need --config FILE (without it, the "
                    "checkpoint's own stage and config are used)"
                )
            args.resume, args.resume_why = resume_target(args.resume)
            point = ResumePoint.read(args.resume)
            return [point.config(overrides_from_args(args))], point
        raise UsageError("--config FILE is required (or --resume CKPT to continue a run)")
    overrides = overrides_from_args(args)
    if args.run_all_stages:
        # --init_from seeds the first stage; later ones keep their own (auto hands weights on)
        later = overrides_from_args(args, skip=("init_from",))
        configs = pipeline_configs(args.config, later, args.start_from, first_overrides=overrides)
        if args.resume:
            args.resume, args.resume_why = resume_target(args.resume, configs)
        return configs, None
    if args.stage is None and not (args.print_config or args.explain):
        if args.resume:
            raise UsageError(
                "--resume with --config needs --stage NAME or --run-all-stages "
                "(or give --resume alone to use the checkpoint's stored config)"
            )
        raise UsageError("choose --stage NAME or --run-all-stages")
    configs = [Config.from_yaml(args.config, stage=args.stage, overrides=overrides)]
    if args.resume:
        args.resume, args.resume_why = resume_target(args.resume, configs)
    return configs, None


def _main(argv: Sequence[str] | None, prog: str, print_only: bool) -> int:
    args = build_parser(prog).parse_args(argv)
    args.print_config = args.print_config or print_only
    configs, point = _resolve(args)
    if args.print_config or args.explain:
        docs = [cfg.explain() if args.explain else cfg.to_yaml() for cfg in configs]
        sys.stdout.write(("---\n" if not args.explain else "\n").join(docs))
        return 0
    if args.config:
        _, note = locate(args.config)  # which file a name stands for, and why (the banner too)
        if note:
            print(note)
    if args.resume and args.resume_why:
        print(args.resume_why)  # which file, and why (a folder's last.ckpt, the newest run)
    if args.resume and point is None:  # read once: for the stage lookup and the trainer
        point = ResumePoint.read(args.resume)
    summaries = run_stages(configs, resume=point, overwrite=args.overwrite)
    last = summaries[-1] if summaries else {"status": "completed"}
    if last["status"] == "interrupted":
        if not main_process():  # rank 0 wrote the checkpoint and says where to continue
            return 1
        return fail(prog, f"interrupted; continue with --resume {last.get('last_checkpoint')}", 1)
    return 0


def main(
    argv: Sequence[str] | None = None, prog: str = "train.py", print_only: bool = False
) -> int:
    try:
        return run_guarded(prog, _main, argv, prog, print_only)
    finally:
        shutdown()  # a process group train.py joined (torchrun) is left cleanly
