"""``inktrace plot RUN_DIR... -o curves.png``: the runs' training curves overlaid."""

from __future__ import annotations

from collections.abc import Sequence

from ..experiments.plot import PlotUnavailable, plot_runs
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
    try:
        path = plot_runs(args.runs, args.output)
    except (ValueError, PlotUnavailable) as exc:
        raise UsageError(str(exc)) from None
    print(f"wrote {path} ({len(args.runs)} run(s))")
    return 0


def main(argv: Sequence[str] | None = None, prog: str = "inktrace plot") -> int:
    return run_guarded(prog, _main, argv, prog)
