"""``inktrace predict``: the dense maps of image files, as ``DIR/<stem>.npz`` (and a PNG panel).

Images (files, folders, globs) are read, scaled, tiled and predicted by
``inktrace.inference.Predictor`` (the flags are cli/image_commands.py's and the loop, with
``--workers``, ``--skip-existing`` and ``--report``, cli/batch.py's, shared with ``inktrace
trace``). An image that cannot be read (or written) is one line on stderr naming it; the others
are still processed, and the exit status is 2 at the end (1 if a run failed otherwise, such as
out of memory).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..inference import Prediction, save_panel
from ..inference.mapfiles import MAP_FORMATS, map_suffixes, save_maps
from .args import StrictParser, flag, run_guarded
from .batch import Writer, Written, run_images
from .image_commands import image_parser, output_folder, parse_intermixed

__all__ = ["main", "build_parser"]


def build_parser(prog: str) -> StrictParser:
    p = image_parser(
        prog,
        "Predict the dense maps (skeleton, keypoints, tangent, width, offset) of images of any "
        "size: DIR/<stem>.npz per image, at the image's own resolution.",
        "folder for <stem>.npz (and <stem>.panel.png); created if needed",
    )
    flag(
        p,
        "visualize",
        "also write <stem>.panel.png: input | skeleton | keypoints | tangent | width",
    )
    flag(
        p,
        "maps_format",
        "npz (float32, default), npz16 (compressed float16) or png (one 16-bit PNG per map "
        "channel, <stem>.<map>[-<c>].png)",
        "FMT",
        choices=MAP_FORMATS,
    )
    return p


def _write(
    result: Prediction, image: np.ndarray, base: Path, visualize: bool, fmt: str = "npz"
) -> Written:
    files = save_maps(base, result.maps, fmt)
    written = str(files[0]) + (f" (+{len(files) - 1} more)" if len(files) > 1 else "")
    if visualize:
        panel = base.with_name(base.name + ".panel.png")
        save_panel(panel, image, result.maps)
        written += f" and {panel.name}"
    h, w = image.shape
    how = (
        f"stroke width {result.stroke_width:.1f} px, scale {result.scale:.3g}"
        if result.stroke_width is not None
        else f"scale {result.scale:.3g}"
    )
    blank = f", {result.blank} of them blank" if result.blank else ""
    unit = "frames" if result.framed else "tiles"
    tiles = f", {result.tiles} {unit}{blank}" if result.tiles > 1 else ""
    tiles += ", framed" if result.framed and result.tiles == 1 else ""
    return Written(f"wrote {written} ({w}x{h}; {how}{tiles})")


def writer(args, cores: int = 1) -> Writer:
    """The command line's writer (module level: --workers processes receive it by name); it runs
    no work of its own in parallel, so ``cores`` is unused."""

    def write(result: Prediction, image: np.ndarray, base: Path) -> Written:
        return _write(result, image, base, args.visualize, args.maps_format or "npz")

    return write


def _main(argv: Sequence[str] | None, prog: str) -> int:
    args = parse_intermixed(build_parser(prog), argv)
    out = output_folder(args)
    suffixes = map_suffixes(args.maps_format or "npz")
    suffixes = (*suffixes, ".panel.png") if args.visualize else suffixes
    return run_images(prog, args, out, suffixes, writer)


def main(argv: Sequence[str] | None = None, prog: str = "inktrace predict") -> int:
    return run_guarded(prog, _main, argv, prog)


if __name__ == "__main__":
    sys.exit(main())
