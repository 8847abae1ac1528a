"""``inktrace trace``: vector strokes of image files, as ``DIR/<stem>.svg`` and ``DIR/<stem>.json``.

Each image is predicted as ``inktrace predict`` predicts it (the same flags, the same one-line
errors and exit statuses: cli/image_commands.py) and traced by
``inktrace.tracing.trace_prediction``; the JSON is the contract's (docs/contracts.md), the SVG
draws each stroke with its mean width on a canvas of the input's size. Every TraceOptions field
is a flag (``--max-turn 30``).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import fields
from pathlib import Path
from typing import IO

import numpy as np

from ..fileio import atomic_write
from ..inference import Prediction
from ..inference.visualize import OVERLAY_FORMATS, save_overlay
from ..tracing import trace_prediction
from ..vectorize import TraceOptions, to_json, to_svg
from .args import StrictParser, UsageError, flag, run_guarded
from .batch import Writer, Written, run_images
from .image_commands import ImageFailed, image_parser, output_folder, parse_intermixed

__all__ = ["main", "build_parser"]

FORMATS = {"svg": (".svg",), "json": (".json",), "both": (".svg", ".json")}
_DOCUMENTS = {".svg": to_svg, ".json": to_json}  # suffix -> (strokes, W, H) -> text

# TraceOptions field -> what its flag does
_HELP = {
    "threshold": "skeleton probability of a centreline pixel",
    "low_threshold": "weaker pixels that connect to centreline pixels count too",
    "keypoint_threshold": "a keypoint heatmap peak must reach this",
    "max_turn": "degrees: a stroke goes on through a junction where it bends less",
    "identity_join": "stroke models: identity distance below which two branches are one stroke",
    "spur_factor": "a dead end shorter than this x the local width is a spur",
    "spur_min": "... or shorter than this (px)",
    "tolerance": "Douglas-Peucker tolerance of the fitted polyline (input px, always)",
    "corner_snap": "a corner keypoint snaps to a stroke point this close (px)",
    "default_width": "the width where the model gives none (structural model; px)",
    "min_length": "strokes shorter than this are dropped (px)",
}


def build_parser(prog: str) -> StrictParser:
    p = image_parser(
        prog,
        "Trace images of any size into vector strokes: DIR/<stem>.svg and DIR/<stem>.json per "
        "image, in the image's own pixels.",
        "folder for <stem>.svg and/or <stem>.json; created if needed",
    )
    flag(p, "format", "svg, json or both (default)", "FMT", choices=tuple(FORMATS))
    flag(p, "overlay", "also write <stem>.overlay.png: the strokes drawn over the input")
    flag(
        p,
        "overlay_format",
        "png (default) or pdf (<stem>.overlay.pdf, one page); implies --overlay",
        "FMT",
        choices=OVERLAY_FORMATS,
    )
    g = p.add_argument_group(
        "tracing (inktrace.vectorize.TraceOptions)",
        "lengths in px of the resolution traced at: the model's where an image was shrunk",
    )
    for field in fields(TraceOptions):
        text = f"{_HELP.get(field.name, field.name)} (default {field.default})"
        flag(g, field.name, text, "X", type=float)
    return p


def options_from_args(args) -> TraceOptions:
    """The TraceOptions of the command line; a bad value is a UsageError naming its flag."""
    given = {
        f.name: getattr(args, f.name)
        for f in fields(TraceOptions)
        if getattr(args, f.name) is not None
    }
    try:
        return TraceOptions(**given)
    except ValueError as exc:
        name, _, reason = str(exc).partition(" ")
        if name not in given:
            raise UsageError(str(exc)) from None
        raise UsageError(f"--{name.replace('_', '-')} {given[name]:g}: {reason}") from None


def _writer(data: bytes) -> Callable[[IO[bytes]], int]:
    return lambda f: f.write(data)


def _write(
    result: Prediction,
    image: np.ndarray,
    base: Path,
    options: TraceOptions,
    suffixes: tuple[str, ...],
    overlay: str | None = None,
    processes: int = 1,
) -> Written:
    try:
        strokes = trace_prediction(result, options, processes=processes)
    except ValueError as exc:  # maps the tracer refuses (non-finite values)
        raise ImageFailed(f"cannot trace the maps ({exc})") from None
    h, w = image.shape
    written = []
    for suffix in suffixes:
        target = base.with_name(base.name + suffix)
        data = _DOCUMENTS[suffix](strokes, w, h).encode("utf-8")
        atomic_write(target, _writer(data))
        written.append(str(target))
    if overlay:
        written.append(str(save_overlay(base.with_name(base.name + overlay), image, strokes)))
    n = len(strokes)
    return Written(f"wrote {', '.join(written)}: {n} stroke{'' if n == 1 else 's'}", n)


def _overlay(args) -> str | None:
    """The overlay's suffix (``.overlay.png`` or ``.overlay.pdf``), or None without one."""
    if args.overlay_format is not None:
        return f".overlay.{args.overlay_format}"
    return ".overlay.png" if args.overlay else None


def writer(args, cores: int = 1) -> Writer:
    """The command line's writer (module level: --workers processes receive it by name); a
    page's regions are traced in up to ``cores`` processes (this process's share of the CPU)."""
    options = options_from_args(args)
    suffixes = FORMATS[args.format or "both"]
    processes = max(1, cores)

    def write(result: Prediction, image: np.ndarray, base: Path) -> Written:
        return _write(result, image, base, options, suffixes, _overlay(args), processes)

    return write


def _main(argv: Sequence[str] | None, prog: str) -> int:
    args = parse_intermixed(build_parser(prog), argv)
    out = output_folder(args)
    options_from_args(args)  # a bad value is one line before any model is loaded
    suffixes = FORMATS[args.format or "both"]
    overlay = _overlay(args)
    outputs = (*suffixes, overlay) if overlay else suffixes
    return run_images(prog, args, out, outputs, writer)


def main(argv: Sequence[str] | None = None, prog: str = "inktrace trace") -> int:
    return run_guarded(prog, _main, argv, prog)


if __name__ == "__main__":
    sys.exit(main())
