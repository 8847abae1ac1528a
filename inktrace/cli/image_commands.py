"""What the commands that run a model over image files share (``inktrace predict``, ``inktrace
trace``): the model, image and batch flags, the Predictor they make, and the outputs' names.

Each image names its outputs ``DIR/<stem><suffix>`` (a second image with the same stem is refused,
the first is kept). The loop over the images (workers, progress, restart, report) is batch.py's.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import suggest
from ..inference.images import DEFAULT_MAX_PIXELS
from ..inference.loading import open_predictor
from ..inference.pipeline import DEFAULT_BATCH_SIZE, DEFAULT_TILE, MapPredictor
from .args import StrictParser, UsageError, flag

__all__ = [
    "ImageFailed",
    "image_parser",
    "parse_intermixed",
    "make_predictor",
    "check_settings",
    "output_folder",
    "plan_outputs",
]


class ImageFailed(Exception):
    """A writer's failure for one image (not a bad image): one line, exit status 1."""


def image_parser(prog: str, description: str, output_help: str) -> StrictParser:
    """A parser with IMAGE..., --checkpoint, --output (``output_help``) and the Predictor's
    settings; the command adds its own flags."""
    p = StrictParser(prog=prog, description=description)
    p.add_argument(
        "images",
        nargs="+",
        metavar="IMAGE",
        help="image files (PNG, JPEG, TIFF ... any mode), folders (their images, sorted) or "
        "quoted glob patterns ('scans/*.png', 'book/**/*.tif')",
    )
    flag(
        p,
        "checkpoint",
        "the trained model (any checkpoint format InkTrace reads, or an .onnx file from inktrace "
        "export, run by onnxruntime, or inktrace-strokes: the installed stroke model; default: "
        "the shipped model)",
        "CKPT",
    )
    flag(p, "output", output_help, "DIR")
    flag(p, "device", "auto (CUDA when available, default), cpu, cuda or cuda:N", "DEV")
    flag(
        p,
        "batch_size",
        f"tiles per forward pass at most (default {DEFAULT_BATCH_SIZE}; on a CPU also at most "
        "512 x 512 px of tiles, faster there)",
        "N",
        type=int,
    )
    flag(
        p,
        "precision",
        "auto (default: bf16 on a CPU with bfloat16 instructions, AMX or AVX512-BF16, or a CUDA "
        "device that has them, else fp32), fp32, or bf16: bfloat16 autocast, about 2x faster "
        "where native, slower elsewhere; stroke F1 within 0.002 of fp32",
        "P",
    )
    flag(
        p,
        "scale",
        "factor applied to every image before the model; 'auto' (default) estimates it per "
        "image, shrinking strokes wider than 5 px to 5 px (textured ink: 4 px) and characters "
        "larger than 62 px to 62 px (textured ink: 50 px; strokes no thinner than 1.5 px)",
        "S",
    )
    flag(
        p,
        "tile",
        f"tile side in px of the resampled image; larger images run in overlapping tiles "
        f"(default {DEFAULT_TILE})",
        "PX",
        type=int,
    )
    flag(
        p, "overlap", "overlap between tiles in px (default: an eighth of the tile)", "PX", type=int
    )
    flag(p, "invert", "the images are light ink on a dark background")
    flag(
        p,
        "tile_pages",
        "run a page (an image of several tiles) in overlapping tiles rather than on one frame "
        "per character or word (the default since December 2026: a page of KanjiVG characters "
        "traced 0.874 -> 0.914 stroke F1 with inktrace-strokes, in about the same time)",
    )
    flag(
        p,
        "no_frame",
        "run every image as it is: no frame around the ink of a glyph with wide margins, and "
        "pages in tiles (framing: docs/using.md, Framing)",
    )
    flag(
        p,
        "max_pixels",
        f"refuse images with more pixels, read from the file's header before decoding "
        f"(default {DEFAULT_MAX_PIXELS}, above A4 at 600 dpi)",
        "N",
        type=int,
    )
    flag(
        p,
        "workers",
        "processes tracing images side by side, each with the model loaded once (default 1)",
        "N",
        type=int,
    )
    flag(p, "skip_existing", "skip an image whose outputs all exist (a rerun goes on from there)")
    flag(
        p,
        "report",
        "also write one JSON line per image to FILE: image, status (ok, skipped, error), "
        "strokes, seconds, error",
        "FILE",
    )
    return p


def parse_intermixed(p: StrictParser, argv: Sequence[str] | None) -> argparse.Namespace:
    """Options and images in any order (``a.png --output out b.png``); unknown flags as
    StrictParser reports them."""
    args, extra = p.parse_known_intermixed_args(argv)
    if extra:
        word = extra[0]
        flags = [s for a in p._actions for s in a.option_strings]
        hint = suggest(word.split("=")[0], flags) if word.startswith("-") else ""
        p.error(
            f"{'unknown option' if word.startswith('-') else 'unexpected argument'} {word!r}{hint}"
        )
    return args


def scale_setting(text: str | None) -> float | None:
    """``--scale``: None for auto, else the factor; a bad value is a UsageError."""
    if text is None or text == "auto":
        return None
    try:
        value = float(text)
    except ValueError:
        raise UsageError(f"--scale {text}: expected 'auto' or a positive number") from None
    if not (math.isfinite(value) and value > 0):
        raise UsageError(f"--scale {text}: must be a positive number")
    return value


def check_settings(args: argparse.Namespace) -> None:
    """The Predictor's flags checked before any image or model is read (UsageError)."""
    for name, value, low in (("--batch-size", args.batch_size, 1), ("--tile", args.tile, 16)):
        if value is not None and value < low:
            raise UsageError(f"{name} {value}: must be at least {low}")
    scale_setting(args.scale)
    if args.precision not in (None, "auto", "fp32", "bf16"):
        raise UsageError(f"--precision {args.precision}: expected auto, fp32 or bf16")


def _stderr(line: str) -> None:
    print(line, file=sys.stderr)


def make_predictor(args: argparse.Namespace) -> MapPredictor:
    """The Predictor of ``--checkpoint`` (default: the shipped model; an ``.onnx`` file runs in
    onnxruntime, without PyTorch) with the command line's settings; what a legacy checkpoint
    could not recover is printed on stderr."""
    check_settings(args)
    settings: dict[str, Any] = {
        "device": args.device or "auto",
        "scale": scale_setting(args.scale),
        "tile": args.tile or DEFAULT_TILE,
        "overlap": args.overlap,
        "batch_size": args.batch_size or DEFAULT_BATCH_SIZE,
        "precision": args.precision or "auto",
        "frame_pages": not args.tile_pages,
    }
    if args.no_frame:
        settings["frame"] = None
    try:
        return open_predictor(args.checkpoint, report=_stderr, **settings)
    except ValueError as exc:
        if type(exc) is not ValueError:  # CheckpointError, ConfigError: already one line
            raise
        raise UsageError(_as_flag(str(exc), settings)) from None


def _as_flag(message: str, settings: dict[str, Any]) -> str:
    """A Predictor's refusal of one of ``settings`` ("overlap must be ...") named as the
    command line's flag ("--overlap must be ...")."""
    name = message.split(" ", 1)[0]
    return f"--{name.replace('_', '-')}{message[len(name) :]}" if name in settings else message


def output_folder(args: argparse.Namespace) -> Path:
    """``--output``, required, and a folder if it exists."""
    if args.output is None:
        raise UsageError("--output DIR is required")
    out = Path(args.output)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--output {out}: exists and is not a folder")
    return out


def _resolved(path: Path) -> Path:
    """``path`` resolved, or made absolute where it cannot be (a symlink loop is load_image's
    one line to report, not a traceback here)."""
    try:
        return path.resolve()
    except (OSError, RuntimeError):
        return Path(os.path.abspath(path))


def plan_outputs(
    images: Sequence[str], out: Path, suffixes: Sequence[str]
) -> list[tuple[str, Path | None, str | None]]:
    """(image, DIR/<stem>, None) for each image, in order, or (image, None, error) for an image
    whose output another image already takes, or whose output (``DIR/<stem><suffix>`` for each
    of ``suffixes``) would overwrite one of the input images."""
    inputs = {_resolved(Path(name)): name for name in images}
    taken: dict[Path, str] = {}
    planned: list[tuple[str, Path | None, str | None]] = []
    for name in images:
        base = out / Path(name).stem
        if base in taken:
            target = f"{base}{suffixes[0]}"
            if _resolved(Path(name)) == _resolved(Path(taken[base])):
                error = f"{name}: given twice (its outputs are written once)"
            else:
                error = f"{name}: same output {target} as {taken[base]}; rename one of them"
            planned.append((name, None, error))
            continue
        clash = next((s for s in suffixes if _resolved(Path(f"{base}{s}")) in inputs), None)
        if clash is not None:
            target = f"{base}{clash}"
            error = f"{name}: its output {target} would overwrite an input; choose --output"
            planned.append((name, None, error))
            continue
        taken[base] = name
        planned.append((name, base, None))
    return planned
