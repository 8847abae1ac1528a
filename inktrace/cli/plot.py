"""``inktrace plot RUN_DIR... -o curves.png``: the runs' training curves overlaid."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ..errors import printable
from ..experiments.plot import PlotUnavailable, plot_runs
from ..fileio import output_problem
from .args import StrictParser, UsageError, run_guarded

__all__ = ["main"]


def _main(argv: Sequence[str] | None, prog: str) -> int:
    p = StrictParser(
        prog=prog,
        description="Draw loss, val/f1, keypoint recall, learning rate and curriculum level "
        "against epochs for several runs, overlaid (needs matplotlib: the plot extra).",
    )
    p.add_argument(
        "runs", nargs="+", metavar="RUN_DIR", help="run folders (e.g. runs/quickstart/dense)"
    )
    p.add_argument(
        "-o", "--output", required=True, metavar="FILE", help="image to write (.png ...)"
    )
    args = p.parse_args(argv)
    if not Path(args.output).suffix.strip("."):  # matplotlib would write OUTPUT.png instead
        raise UsageError(f"-o {args.output}: name the image with its format (.png, .pdf, .svg)")
    problem = output_problem(args.output)
    if problem is not None:
        raise UsageError(f"-o {args.output}: {problem}")
    try:
        path = plot_runs(args.runs, args.output)
    except (ValueError, PlotUnavailable) as exc:
        raise UsageError(str(exc)) from None
    print(f"wrote {printable(path)} ({len(args.runs)} run(s))")
    return 0


def main(argv: Sequence[str] | None = None, prog: str = "inktrace plot") -> int:
    return run_guarded(prog, _main, argv, prog)
