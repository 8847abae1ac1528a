"""``inktrace config``: list the packaged configs, print any config resolved (``--explain``: with
the origin of every value), or copy one out as the start of a user's own (``--save``)."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path

from ..config import Config
from ..config.packaged import PACKAGED_DIR, locate, packaged_names
from ..errors import printable
from ..fileio import atomic_write, output_problem
from .args import UsageError, flag, run_guarded
from .train import build_parser, resolve_configs

__all__ = ["main", "listing"]


def _summary(path: Path) -> str:
    """The gist of a config file's leading comment (its first clause, at most 80 characters)."""
    lines = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        lines.append(line.lstrip("# ").strip())
    text = " ".join(lines).split(". ")[0].rstrip(".")
    head = text.split(": ")[0]
    text = head if len(head) >= 25 else text
    return text if len(text) <= 80 else text[:77].rsplit(" ", 1)[0] + " ..."


def listing() -> str:
    """The packaged configs, one a line: name and what its comment says it is."""
    names = packaged_names()
    width = max((len(n) for n in names), default=0)
    rows = [f"  {n:<{width}}  {_summary(PACKAGED_DIR / f'{n}.yaml')}" for n in names]
    return (
        f"packaged configs ({PACKAGED_DIR}):\n" + "\n".join(rows) + "\n"
        "use one by name (inktrace train --config quickstart ...) or copy it out "
        "(inktrace config quickstart --save my.yaml)\n"
    )


def _save(spec: str, target: str, force: bool) -> int:
    path, _ = locate(spec)
    Config.from_yaml(path)  # a copy of a config that does not load helps no one
    source, out = Path(path), Path(target)
    if out.exists() and out.resolve() == source.resolve():
        raise UsageError(f"--save {target}: the same file as the config; save it elsewhere")
    problem = output_problem(out)
    if problem is not None:
        raise UsageError(f"--save {target}: {problem}")
    if os.path.lexists(out) and not force:  # a symbolic link too: never replaced unasked
        raise UsageError(f"--save {target}: exists; pass --force to replace it")
    text = source.read_bytes()
    atomic_write(out, lambda f: f.write(text))
    print(f"written: {printable(out)} (a copy of {printable(path)})")
    return 0


def _main(argv: Sequence[str] | None, prog: str) -> int:
    p = build_parser(prog)
    p.description = (
        "Print a resolved config (a file, or a packaged config by name), list the packaged "
        "configs, or copy one out to start your own."
    )
    p.add_argument(
        "name",
        nargs="?",
        metavar="CONFIG",
        help="a config file, or the name of a packaged config (as --config)",
    )
    flag(p, "list", "list the packaged configs and exit")
    flag(p, "save", "copy the config file as it is (comments kept) to FILE and exit", "FILE")
    flag(p, "force", "with --save: replace FILE if it exists")
    args = p.parse_args(argv)
    if args.name is not None and args.config is not None:
        raise UsageError(f"give the config once: {args.name!r} or --config {args.config}")
    spec = args.name if args.name is not None else args.config
    if spec == "":
        raise UsageError("an empty config name: give a file or a packaged config's name")
    if args.list or spec is None:
        if spec is not None:
            raise UsageError("--list takes no config")
        sys.stdout.write(listing())
        return 0
    if args.save is not None:
        used = [f for f in ("stage", "run_all_stages", "explain", "resume") if getattr(args, f)]
        if (
            used
            or args.set
            or any(
                getattr(args, k, None) is not None
                for k in ("lr", "epochs", "batch_size", "save_dir", "init_from")
            )
        ):
            raise UsageError("--save copies the file as it is: edit the copy instead of overrides")
        return _save(spec, args.save, args.force)
    if args.force:
        raise UsageError("--force goes with --save")
    args.config, args.print_config = spec, True
    configs = resolve_configs(args)
    docs = [cfg.explain() if args.explain else cfg.to_yaml() for cfg in configs]
    sys.stdout.write(("---\n" if not args.explain else "\n").join(docs))
    return 0


def main(argv: Sequence[str] | None = None, prog: str = "inktrace config") -> int:
    return run_guarded(prog, _main, argv, prog)
