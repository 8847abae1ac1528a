"""``inktrace predict``: the dense maps of image files, as ``DIR/<stem>.npz`` (and a PNG panel).

Images are read, scaled, tiled and predicted by ``inktrace.inference.Predictor``, ``--batch-size``
of them at a time. An image that cannot be read (or written) is one line on stderr naming it; the
others are still processed, and the exit status is 2 at the end (1 if a run failed otherwise, such
as out of memory).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from ..config.schema import suggest
from ..fileio import atomic_write
from ..inference import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_TILE,
    ImageError,
    Prediction,
    Predictor,
    load_image,
    save_panel,
)
from ..model.net import InkTraceNet
from .args import StrictParser, UsageError, fail, flag, run_guarded

__all__ = ["main", "build_parser"]


def build_parser(prog: str) -> StrictParser:
    p = StrictParser(
        prog=prog,
        description="Predict the dense maps (skeleton, keypoints, tangent, width, offset) of "
        "images of any size: DIR/<stem>.npz per image, at the image's own resolution.",
    )
    p.add_argument("images", nargs="+", metavar="IMAGE", help="PNG, JPEG, TIFF ... any mode")
    # required for now; once a model ships, its absence will mean the shipped model
    flag(p, "checkpoint", "the trained model (any checkpoint format InkTrace reads)", "CKPT")
    flag(p, "output", "folder for <stem>.npz (and <stem>.png); created if needed", "DIR")
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
    flag(p, "visualize", "also write <stem>.png: input | skeleton | keypoints | tangent | width")
    flag(p, "invert", "the images are light ink on a dark background")
    return p


def _parse(p: StrictParser, argv: Sequence[str] | None):
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


def _predictor(args) -> Predictor:
    if args.checkpoint is None:
        raise UsageError("--checkpoint CKPT is required (no model ships with InkTrace yet)")
    for name, value, low in (("--batch-size", args.batch_size, 1), ("--tile", args.tile, 16)):
        if value is not None and value < low:
            raise UsageError(f"{name} {value}: must be at least {low}")
    model = InkTraceNet.load_from_checkpoint(args.checkpoint)
    settings = {
        "device": args.device or "auto",
        "scale": _scale(args.scale),
        "tile": args.tile or DEFAULT_TILE,
        "overlap": args.overlap,
        "batch_size": args.batch_size or DEFAULT_BATCH_SIZE,
    }
    try:
        return Predictor(model, **settings)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _outputs(images: Sequence[str], out: Path) -> tuple[list[tuple[str, Path]], list[str]]:
    """(image, npz path) pairs, and errors for images whose output another image already takes."""
    taken: dict[Path, str] = {}
    jobs, errors = [], []
    for name in images:
        target = out / f"{Path(name).stem}.npz"
        if target in taken:
            errors.append(f"{name}: same output {target} as {taken[target]}; rename one of them")
            continue
        taken[target] = name
        jobs.append((name, target))
    return jobs, errors


def _write(result: Prediction, image: np.ndarray, target: Path, visualize: bool) -> str:
    atomic_write(target, lambda f: np.savez(f, **result.maps))
    written = str(target)
    if visualize:
        save_panel(target.with_suffix(".png"), image, result.maps)
        written += f" and {target.with_suffix('.png').name}"
    h, w = image.shape
    how = (
        f"stroke width {result.stroke_width:.1f} px, scale {result.scale:.3g}"
        if result.stroke_width is not None
        else f"scale {result.scale:.3g}"
    )
    tiles = f", {result.tiles} tiles" if result.tiles > 1 else ""
    return f"wrote {written} ({w}x{h}; {how}{tiles})"


def _main(argv: Sequence[str] | None, prog: str) -> int:
    args = _parse(build_parser(prog), argv)
    if args.output is None:
        raise UsageError("--output DIR is required")
    out = Path(args.output)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--output {out}: exists and is not a folder")
    predictor = _predictor(args)
    jobs, errors = _outputs(args.images, out)
    bad, failed = len(errors), 0
    for message in errors:
        fail(prog, message, 2)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"--output {out}: cannot create ({exc.strerror or exc})") from None
    for start in range(0, len(jobs), predictor.batch_size):
        loaded = []
        for name, target in jobs[start : start + predictor.batch_size]:
            try:
                image = load_image(name)
            except ImageError as exc:
                bad += 1
                fail(prog, str(exc), 2)
                continue
            loaded.append((name, target, 1.0 - image if args.invert else image))
        if not loaded:
            continue
        try:
            results = predictor.predict_many([image for _, _, image in loaded])
        except torch.OutOfMemoryError:
            failed += len(loaded)
            for name, _, _ in loaded:
                fail(prog, f"{name}: out of memory (try a smaller --tile or --batch-size)", 1)
            continue
        for (name, target, image), result in zip(loaded, results):
            try:
                print(_write(result, image, target, args.visualize), flush=True)
            except OSError as exc:
                failed += 1
                fail(prog, f"{name}: cannot write {target} ({exc.strerror or exc})", 1)
    return 1 if failed else 2 if bad else 0


def main(argv: Sequence[str] | None = None, prog: str = "inktrace predict") -> int:
    return run_guarded(prog, _main, argv, prog)


if __name__ == "__main__":
    sys.exit(main())
