"""``inktrace preview-data``: a PNG grid of what the data engine renders at a curriculum level."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from ..data import NUM_LEVELS, SyntheticInk
from ..data.curriculum import CURSIVE_FROM
from ..data.mixed import MixedInk
from ..data.pens import HELD_OUT, PEN_NAMES, check_pens
from ..data.preview import save_preview
from ..data.svg import GLYPH_WIDTH, SvgError, SvgInk
from ..errors import printable
from ..fileio import output_problem
from .args import StrictParser, UsageError, run_guarded, spellings

__all__ = ["main"]


def build_parser(prog: str) -> StrictParser:
    p = StrictParser(
        prog=prog,
        description="Draw synthetic samples as rows of image | skeleton | "
        "keypoints (red topo, blue geo) | tangent (hue) | width.",
    )
    p.add_argument(
        "--stage", dest="level", type=int, default=None, metavar="N", help="curriculum level 0-9"
    )
    p.add_argument(
        "--svg",
        metavar="DIR",
        help="render centreline SVG files instead (a folder, a file, or 'kanjivg')",
    )
    p.add_argument(
        *spellings("svg_fraction"),
        dest="svg_fraction",
        type=float,
        default=None,
        metavar="F",
        help="with --stage and --svg: the training mix (data.svg_fraction), a share F of "
        "glyphs among the level's samples (default 0.5)",
    )
    p.add_argument(
        "--pens",
        default="classic",
        metavar="NAME[,NAME]",
        help=f"pen models drawn per sample, comma-separated: {', '.join(PEN_NAMES)} "
        f"(data.pens; {', '.join(HELD_OUT)} is the held-out style; default classic)",
    )
    p.add_argument(
        *spellings("cursive_fraction"),
        dest="cursive",
        type=float,
        default=0.0,
        metavar="F",
        help=f"with --stage {CURSIVE_FROM}-9: a share F of cursive words (data.cursive_fraction)",
    )
    p.add_argument("--output", required=True, metavar="PNG", help="where to write the grid")
    p.add_argument("--samples", type=int, default=8, metavar="N", help="rows (default 8)")
    p.add_argument(
        *spellings("img_size"),
        dest="img_size",
        type=int,
        default=64,
        metavar="PX",
        help="image side (default 64)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    p.add_argument(
        "--start", type=int, default=0, metavar="K", help="first sample index (default 0)"
    )
    p.add_argument("--zoom", type=int, default=3, help="pixels per image pixel (default 3)")
    return p


def _main(argv: Sequence[str] | None, prog: str) -> int:
    args = build_parser(prog).parse_args(argv)
    if args.level is None and args.svg is None:
        raise UsageError("give --stage N, --svg DIR, or both (the training mix)")
    mixed = args.level is not None and args.svg is not None
    if args.svg_fraction is not None and not mixed:
        raise UsageError("--svg-fraction needs both --stage N and --svg DIR")
    fraction = 0.5 if args.svg_fraction is None else args.svg_fraction
    if not 0.0 <= fraction <= 1.0:
        raise UsageError(f"--svg-fraction {fraction}: must be within 0-1")
    try:
        pens = check_pens([p.strip() for p in args.pens.split(",")])
    except ValueError as exc:
        raise UsageError(f"--pens {args.pens}: {exc}") from None
    if not 0.0 <= args.cursive <= 1.0:
        raise UsageError(f"--cursive-fraction {args.cursive}: must be within 0-1")
    if args.cursive and (args.level is None or args.level < CURSIVE_FROM):
        raise UsageError(f"--cursive-fraction needs --stage {CURSIVE_FROM}-{NUM_LEVELS - 1}")
    if args.level is not None and not 0 <= args.level < NUM_LEVELS:
        raise UsageError(f"--stage {args.level}: curriculum levels are 0-{NUM_LEVELS - 1}")
    for flag, value, low in (
        ("--samples", args.samples, 1),
        ("--img-size", args.img_size, 16),
        ("--zoom", args.zoom, 1),
        ("--start", args.start, 0),
    ):
        if value < low:
            raise UsageError(f"{flag} {value}: must be at least {low}")
    if not args.output.lower().endswith(".png"):
        raise UsageError(f"--output {args.output}: the grid is written as PNG, name it *.png")
    problem = output_problem(args.output)
    if problem is not None:
        raise UsageError(f"--output {args.output}: {problem}")

    def synthetic_ink() -> SyntheticInk:
        return SyntheticInk(
            args.level,
            args.start + args.samples,
            args.img_size,
            seed=args.seed,
            pens=pens,
            cursive=args.cursive,
        )

    if mixed:
        synthetic = synthetic_ink()
        try:
            glyphs = SvgInk(args.svg, args.img_size, seed=args.seed, width=GLYPH_WIDTH, pens=pens)
        except SvgError as exc:
            raise UsageError(str(exc)) from None
        batch = MixedInk(synthetic, glyphs, fraction).render(
            range(args.start, args.start + args.samples)
        )
        what = f"{args.samples} samples of level {args.level}, a share {fraction:g} SVG glyphs"
    elif args.svg is not None:
        try:
            ds: SvgInk | SyntheticInk = SvgInk(args.svg, args.img_size, seed=args.seed, pens=pens)
            indices = [i % len(ds) for i in range(args.start, args.start + args.samples)]
            batch = ds.render(indices)
        except SvgError as exc:
            raise UsageError(str(exc)) from None
        what = f"{len(indices)} SVG samples"
    else:
        ds = synthetic_ink()
        batch = ds.render(range(args.start, args.start + args.samples))
        what = f"{args.samples} samples of level {args.level}"
    try:
        path = save_preview(batch, args.output, zoom=args.zoom)
    except OSError as exc:
        raise UsageError(f"--output {args.output}: cannot write ({exc.strerror or exc})") from None
    if pens != ("classic",):
        what += f", pens {', '.join(pens)}"
    if args.cursive:
        what += f", a share {args.cursive:g} cursive"
    columns = "image | skeleton | keypoints | tangent | width"
    print(f"wrote {printable(path)} ({what}; columns: {columns})")
    return 0


def main(argv: Sequence[str] | None = None, prog: str = "inktrace preview-data") -> int:
    return run_guarded(prog, _main, argv, prog)


if __name__ == "__main__":
    sys.exit(main())
