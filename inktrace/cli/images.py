"""What the commands that run a model over image files share (``inktrace predict``, ``inktrace
trace``): the model and image flags, the Predictor they make, and the per-image loop.

The loop names one output per image, ``DIR/<stem><suffix>`` (a second image with the same stem is
refused, the first is kept), reads ``--batch-size`` images at a time, predicts them together and
hands each image's Prediction to the command's writer, which prints one line. An image that cannot
be read is one line on stderr naming it; the others are still processed, and the exit status is 2
at the end (1 if an image failed otherwise: out of memory, a file that cannot be written).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from ..config.schema import suggest
from ..deploy.runtime import OnnxNet, OnnxPredictor, is_onnx
from ..errors import printable
from ..inference import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_MAX_PIXELS,
    DEFAULT_TILE,
    ImageError,
    Prediction,
    Predictor,
    load_image,
)
from ..model.net import InkTraceNet
from ..pretrained import load_pretrained
from .args import StrictParser, UsageError, fail, flag

__all__ = [
    "ImageFailed",
    "Writer",
    "image_parser",
    "parse_intermixed",
    "make_predictor",
    "output_folder",
    "plan_outputs",
    "run_images",
]

# (prediction, the grayscale image it was made from, DIR/<stem> without a suffix) -> stdout line
Writer = Callable[[Prediction, np.ndarray, Path], str]


class ImageFailed(Exception):
    """A writer's failure for one image (not a bad image): one line, exit status 1."""


def image_parser(prog: str, description: str, output_help: str) -> StrictParser:
    """A parser with IMAGE..., --checkpoint, --output (``output_help``) and the Predictor's
    settings; the command adds its own flags."""
    p = StrictParser(prog=prog, description=description)
    p.add_argument("images", nargs="+", metavar="IMAGE", help="PNG, JPEG, TIFF ... any mode")
    flag(
        p,
        "checkpoint",
        "the trained model (any checkpoint format InkTrace reads, or an .onnx file from inktrace "
        "export, run by onnxruntime; default: the shipped model)",
        "CKPT",
    )
    flag(p, "output", output_help, "DIR")
    flag(p, "device", "auto (CUDA when available, default), cpu, cuda or cuda:N", "DEV")
    flag(p, "batch_size", f"tiles per forward pass (default {DEFAULT_BATCH_SIZE})", "N", type=int)
    flag(
        p,
        "scale",
        "factor applied to every image before the model; 'auto' (default) estimates it per "
        "image, shrinking strokes wider than 4 px to 4 px",
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
        p, "overlap", "overlap between tiles in px (default: a quarter of the tile)", "PX", type=int
    )
    flag(p, "invert", "the images are light ink on a dark background")
    flag(
        p,
        "max_pixels",
        f"refuse images with more pixels, read from the file's header before decoding "
        f"(default {DEFAULT_MAX_PIXELS}, above A4 at 600 dpi)",
        "N",
        type=int,
    )
    return p


def parse_intermixed(p: StrictParser, argv: Sequence[str] | None):
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


def _scale(text: str | None) -> float | None:
    if text is None or text == "auto":
        return None
    try:
        value = float(text)
    except ValueError:
        raise UsageError(f"--scale {text}: expected 'auto' or a positive number") from None
    if not (math.isfinite(value) and value > 0):
        raise UsageError(f"--scale {text}: must be a positive number")
    return value


def make_predictor(args) -> Predictor:
    """The Predictor of ``--checkpoint`` (default: the shipped model) with the command line's
    settings."""
    for name, value, low in (("--batch-size", args.batch_size, 1), ("--tile", args.tile, 16)):
        if value is not None and value < low:
            raise UsageError(f"{name} {value}: must be at least {low}")
    scale = _scale(args.scale)
    if args.checkpoint is None:
        model = load_pretrained()
    elif is_onnx(args.checkpoint):  # an exported model, run by onnxruntime (deploy/runtime.py)
        model = OnnxNet(args.checkpoint)
    else:
        model = InkTraceNet.load_from_checkpoint(args.checkpoint)
    settings = {
        "device": args.device or "auto",
        "scale": scale,
        "tile": args.tile or DEFAULT_TILE,
        "overlap": args.overlap,
        "batch_size": args.batch_size or DEFAULT_BATCH_SIZE,
    }
    try:
        return (OnnxPredictor if isinstance(model, OnnxNet) else Predictor)(model, **settings)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def output_folder(args) -> Path:
    """``--output``, required, and a folder if it exists."""
    if args.output is None:
        raise UsageError("--output DIR is required")
    out = Path(args.output)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--output {out}: exists and is not a folder")
    return out


def _out_of_memory(exc: BaseException) -> bool:
    """CUDA's OutOfMemoryError, Python's MemoryError, or the CPU allocator's RuntimeError."""
    text = str(exc).lower()
    return not isinstance(exc, RuntimeError) or "out of memory" in text or "can't allocate" in text


def _resolved(path: Path) -> Path:
    """``path`` resolved, or made absolute where it cannot be (a symlink loop is load_image's
    one line to report, not a traceback here)."""
    try:
        return path.resolve()
    except (OSError, RuntimeError):
        return Path(os.path.abspath(path))


def plan_outputs(
    images: Sequence[str], out: Path, suffixes: Sequence[str]
) -> tuple[list[tuple[str, Path]], list[str]]:
    """(image, DIR/<stem>) pairs, and errors for images whose output another image already
    takes, or whose output (``DIR/<stem><suffix>`` for each of ``suffixes``) would overwrite one
    of the input images."""
    inputs = {_resolved(Path(name)): name for name in images}
    taken: dict[Path, str] = {}
    jobs, errors = [], []
    for name in images:
        base = out / Path(name).stem
        if base in taken:
            target = f"{base}{suffixes[0]}"
            errors.append(f"{name}: same output {target} as {taken[base]}; rename one of them")
            continue
        clash = next((s for s in suffixes if _resolved(Path(f"{base}{s}")) in inputs), None)
        if clash is not None:
            target = f"{base}{clash}"
            errors.append(f"{name}: its output {target} would overwrite an input; choose --output")
            continue
        taken[base] = name
        jobs.append((name, base))
    return jobs, errors


def run_images(
    prog: str, args, out: Path, predictor: Predictor, suffixes: Sequence[str], write: Writer
) -> int:
    """Every image of ``args.images`` through ``predictor`` (inverted with ``args.invert``) and
    ``write``, the outputs (``suffixes``, first the main one) in ``out`` (module docstring); the
    exit status."""
    suffix = suffixes[0]
    max_pixels = DEFAULT_MAX_PIXELS if args.max_pixels is None else args.max_pixels
    if max_pixels < 1:
        raise UsageError(f"--max-pixels {max_pixels}: must be at least 1")
    jobs, errors = plan_outputs(args.images, out, suffixes)
    bad, failed = len(errors), 0
    for message in errors:
        fail(prog, message, 2)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"--output {out}: cannot create ({exc.strerror or exc})") from None
    for start in range(0, len(jobs), predictor.batch_size):
        loaded = []
        for name, base in jobs[start : start + predictor.batch_size]:
            try:
                image = load_image(name, max_pixels)
            except ImageError as exc:
                bad += 1
                fail(prog, str(exc), 2)
                continue
            loaded.append((name, base, 1.0 - image if args.invert else image))
        if not loaded:
            continue
        try:
            results = predictor.predict_many([image for _, _, image in loaded])
        except (torch.OutOfMemoryError, MemoryError, RuntimeError) as exc:
            if isinstance(exc, RuntimeError) and not _out_of_memory(exc):
                raise
            failed += len(loaded)
            for name, _, _ in loaded:
                fail(prog, f"{name}: out of memory (try a smaller --tile or --batch-size)", 1)
            continue
        for (name, base, image), result in zip(loaded, results):
            try:
                print(printable(write(result, image, base)), flush=True)
            except OSError as exc:
                failed += 1
                fail(prog, f"{name}: cannot write {base}{suffix} ({exc.strerror or exc})", 1)
            except ImageFailed as exc:
                failed += 1
                fail(prog, f"{name}: {exc}", 1)
    return 1 if failed else 2 if bad else 0
