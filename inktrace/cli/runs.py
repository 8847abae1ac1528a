"""``inktrace runs DIR...``: one row per training run found under the folders."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from ..errors import printable
from ..experiments import FORMATS, find_runs, format_rows
from .args import StrictParser, UsageError, run_guarded

__all__ = ["main"]


def _main(argv: Sequence[str] | None, prog: str) -> int:
    p = StrictParser(
        prog=prog,
        description="List the training runs under folders (their JSON logs): status, epochs, "
        "best monitored value, parameters, duration, and the settings that differ between them.",
    )
    p.add_argument("folders", nargs="+", metavar="DIR", help="folders to search (e.g. runs/)")
    p.add_argument("--format", choices=FORMATS, default="table", help="output (default table)")
    args = p.parse_args(argv)
    try:
        rows = find_runs(args.folders)
    except FileNotFoundError as exc:
        raise UsageError(str(exc)) from None
    if not rows:
        raise UsageError(f"no runs under {', '.join(args.folders)} (no training_config.json)")
    text = format_rows(rows, args.format)  # run folders' names may hold anything
    sys.stdout.write("\n".join(printable(line) for line in text.split("\n")))
    return 0


def main(argv: Sequence[str] | None = None, prog: str = "inktrace runs") -> int:
    return run_guarded(prog, _main, argv, prog)
