"""``inktrace evaluate``: the model (``--checkpoint``), a classical baseline and the ceiling (the
exact target maps through the same tracer) on KanjiVG characters rendered by the data engine,
clean, scan-degraded and drawn with the held-out pen, and (``--cursive N``) on the engine's
cursive words, in one table (inktrace/evaluation/)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any

from ..data.svg import SvgError, kanjivg_dir
from ..errors import printable
from ..evaluation import (
    CONDITIONS,
    NO_SKIMAGE,
    Method,
    baseline_available,
    baseline_method,
    ceiling_method,
    choose_files,
    evaluate,
    evaluate_all,
    format_table,
    model_method,
    render_cursive,
    render_samples,
    seen_in_training,
)
from ..evaluation.pages import evaluate_pages, format_pages
from ..evaluation.runner import STROKE_TOLERANCE
from ..inference import Predictor
from ..inference.predictor import DEFAULT_BATCH_SIZE
from ..model import InkTraceNet
from ..pretrained import load_with_card
from .args import StrictParser, UsageError, flag, run_guarded

__all__ = ["main", "build_parser"]

PAGE_GRID = (14, 20)  # boxes per row and column of a --pages page
NO_KANJIVG = "--dataset kanjivg needs the kanjivg package: pip install 'inktrace[kanjivg]'"


def build_parser(prog: str) -> StrictParser:
    p = StrictParser(
        prog=prog,
        description="Score the model, a classical baseline (Otsu + skeletonize + the same "
        "tracer) and the ceiling (the exact maps through the same tracer) on KanjiVG characters, "
        "clean, degraded and drawn with the held-out pen, at one or more sizes.",
    )
    flag(
        p,
        "checkpoint",
        "the model to evaluate (default: the shipped model; inktrace-strokes: the packaged "
        "stroke model)",
        "CKPT",
    )
    flag(p, "dataset", "kanjivg (the kanjivg extra) or a folder of centreline SVGs", "NAME")
    p.add_argument(
        "--size",
        nargs="+",
        type=int,
        default=None,
        metavar="PX",
        help="image sizes (default 64 128 256)",
    )
    flag(p, "count", "characters, a fixed seeded subset (default 200)", "N", type=int)
    flag(p, "seed", "subset, pen and degradation seed (default 0)", "S", type=int)
    p.add_argument(
        "--baseline",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also score the classical baseline (needs scikit-image; default on)",
    )
    p.add_argument(
        "--ceiling",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also score the exact target maps through the same tracer: the best any model "
        "can reach with it (clean and held-out pen; default on)",
    )
    p.add_argument(
        "--conditions",
        nargs="+",
        choices=CONDITIONS,
        default=None,
        metavar="NAME",
        help=f"which images: {', '.join(CONDITIONS)} (default all; {CONDITIONS[2]} is the pen "
        "style held out of training)",
    )
    p.add_argument(
        "--model",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="score the model (--no-model: the baseline alone; default on)",
    )
    flag(p, "device", "auto (default), cpu, cuda, cuda:N or mps", "DEV")
    flag(p, "batch_size", "images per forward pass (default 16)", "N", type=int)
    flag(
        p,
        "precision",
        "fp32 (default: the figures in docs/using.md), bf16 (bfloat16 autocast, what `inktrace "
        "trace` runs by default on a CPU with bfloat16 instructions) or auto (bf16 where native)",
        "P",
    )
    flag(
        p,
        "pages",
        "instead: N pages of 14 x 20 boxes (about A4 at 150 dpi at --size 70) on ruled, noisy "
        "paper: characters, then --cursive-lines lines of cursive words; each page traced in one "
        "call, beside the same characters and words one by one",
        "N",
        type=int,
    )
    flag(
        p,
        "tile_pages",
        "with --pages: run each page in tiles rather than on one frame per character or word "
        "(inktrace trace --tile-pages)",
    )
    flag(
        p,
        "cursive",
        "also score N cursive words of the data engine (joined letters, loops, retraced "
        "up-strokes; dots and bars after the word: condition 'cursive', clean) at each size, "
        "from a key stream no training draws (default 0: none)",
        "N",
        type=int,
    )
    flag(
        p,
        "cursive_lines",
        "with --pages: how many of a page's 20 rows are lines of cursive words (default 4)",
        "N",
        type=int,
    )
    return p


def _check_inputs(args, sizes: Sequence[int]) -> None:
    """The sizes and the dataset, before anything is loaded or rendered."""
    for size in sizes:
        if size < 16:
            raise UsageError(f"--size {size}: must be at least 16")
    if args.precision not in (None, "auto", "fp32", "bf16"):
        raise UsageError(f"--precision {args.precision}: expected fp32, bf16 or auto")
    if args.dataset == "kanjivg":
        try:
            kanjivg_dir()
        except SvgError:
            raise UsageError(NO_KANJIVG) from None


def _predictor(model, args, batch_size: int) -> Predictor:
    """``--device``, ``--precision`` and ``--batch-size`` (else ``batch_size``) applied; a bad
    device in one line."""
    try:
        size = args.batch_size or batch_size
        precision = args.precision or "fp32"
        return Predictor(
            model,
            device=args.device or "auto",
            batch_size=size,
            precision=precision,
            frame_pages=not args.tile_pages,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _pages(args, prog: str) -> int:
    """``--pages N``: evaluation/pages.py's table (the model only, one --size)."""
    if args.pages < 1:
        raise UsageError(f"--pages {args.pages}: must be at least 1")
    if args.size is not None and len(args.size) > 1:
        raise UsageError("--pages takes one --size (the characters' px, default 70)")
    size = 70 if args.size is None else args.size[0]
    columns, rows = PAGE_GRID
    lines = rows // 5 if args.cursive_lines is None else args.cursive_lines
    if not 0 <= lines < rows:
        raise UsageError(f"--cursive-lines {lines}: must be 0 to {rows - 1}")
    _check_inputs(args, [size])
    model = _load(args.checkpoint)[0]
    predictor = _predictor(model, args, DEFAULT_BATCH_SIZE)  # page tiles: the Predictor's default
    seed = 0 if args.seed is None else args.seed
    characters = args.pages * columns * (rows - lines)
    files = choose_files(args.dataset, characters, seed)
    if len(files) < characters:
        raise UsageError(f"--pages {args.pages}: {args.dataset} holds only {len(files)} characters")
    samples = render_samples(files, size, seed)
    words = render_cursive(args.pages * columns * lines, size, seed) if lines else None
    print(f"{prog}: {args.pages} page(s) ...", file=sys.stderr, flush=True)
    tolerance = STROKE_TOLERANCE * size / 64.0
    result = evaluate_pages(
        predictor, samples, args.pages, columns, rows, tolerance, seed, words, lines
    )
    cell = round(1.25 * size)
    print(format_pages(result, (columns * cell, rows * cell)))
    return 0


def _with_cursive(
    rows: list[dict],
    methods: Sequence[Method],
    sizes: Sequence[int],
    count: int,
    seed: int,
    progress: Callable[[str], None],
) -> list[dict]:
    """``rows`` with each method's rows on ``count`` clean cursive words after each size's
    (condition ``cursive``)."""
    out = []
    for size in sizes:
        out += [row for row in rows if row["size"] == size]
        words = render_cursive(count, size, seed)
        for method in methods:
            progress(f"{method.name} at {size} px, cursive")
            row = {"method": method.name, "size": size, "condition": "cursive"}
            out.append(row | evaluate(method, words, "clean"))
    return out


def _load(checkpoint: str | None) -> tuple[InkTraceNet, dict[str, Any]]:
    """The model of ``--checkpoint`` (default: the shipped one) and its card; what a legacy file
    could not recover goes to stderr."""
    model, card, report = load_with_card(checkpoint)
    if report:
        print(report, file=sys.stderr)
    return model, card


def _main(argv: Sequence[str] | None, prog: str) -> int:
    args = build_parser(prog).parse_args(argv)
    if args.dataset is None:
        raise UsageError("--dataset is required (kanjivg or a folder of SVGs)")
    if args.pages is not None:
        if args.cursive is not None:
            raise UsageError("--cursive goes without --pages (a page has --cursive-lines)")
        return _pages(args, prog)
    if args.cursive_lines is not None:
        raise UsageError("--cursive-lines goes with --pages")
    if args.cursive is not None and args.cursive < 0:
        raise UsageError(f"--cursive {args.cursive}: must be at least 0")
    sizes = args.size or [64, 128, 256]
    conditions = tuple(dict.fromkeys(args.conditions or CONDITIONS))
    count = 200 if args.count is None else args.count
    for name, value, low in (("--count", count, 1), ("--batch-size", args.batch_size, 1)):
        if value is not None and value < low:
            raise UsageError(f"{name} {value}: must be at least {low}")
    _check_inputs(args, sizes)
    if args.baseline and not baseline_available():
        raise UsageError(NO_SKIMAGE)
    if not args.model and args.checkpoint is not None:
        raise UsageError("--no-model with --checkpoint: choose one")
    if not args.model and not args.baseline and not args.ceiling:
        raise UsageError("nothing to evaluate: --no-model, --no-baseline and --no-ceiling")
    methods = []
    card = None
    if args.model:
        model, card = _load(args.checkpoint)
        methods.append(model_method(_predictor(model, args, 16)))  # glyphs
    if args.baseline:
        methods.append(baseline_method())
    if args.ceiling:
        methods.append(ceiling_method())
    seed = 0 if args.seed is None else args.seed
    files = choose_files(args.dataset, count, seed)
    seen = seen_in_training(files, (card or {}).get("data"))
    if seen:
        print(
            f"{prog}: note: {seen} of the {len(files)} characters may have been in the model's "
            "training data (data.svg_holdout below --count, or another --seed)",
            file=sys.stderr,
        )
    held_out = CONDITIONS[2] in conditions
    sets = [render_samples(files, size, seed, held_out=held_out) for size in sizes]

    def progress(text: str) -> None:
        print(f"{prog}: {text} ...", file=sys.stderr, flush=True)

    rows = evaluate_all(methods, sets, conditions, progress=progress)
    if args.cursive:
        rows = _with_cursive(rows, methods, sizes, args.cursive, seed, progress)
    print(
        f"{printable(args.dataset)}: {len(files)} characters (seed {seed}); tolerances per 64 "
        "px: skeleton 1 px, strokes 1.5 px; keypoints and spurs 3 px at every size. Stroke "
        "errors (counts): +frag short extra pieces, +cut extra pieces of a true stroke, +spur "
        "other extras; -merg true strokes merged into a traced one, -cut cut with no piece "
        "matching, -lost not found"
    )
    print(format_table(rows))
    return 0


def main(argv: Sequence[str] | None = None, prog: str = "inktrace evaluate") -> int:
    return run_guarded(prog, _main, argv, prog)


if __name__ == "__main__":
    sys.exit(main())
