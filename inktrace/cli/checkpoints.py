"""``inktrace migrate`` (convert any supported checkpoint to the current format),
``inktrace export`` (weights and a model card only: a small file for using the model; or an
ONNX model, deploy/export.py) and
``inktrace compare`` / ``scripts/compare_checkpoints.py`` (checkpoints side by side)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from functools import partial
from pathlib import Path

from ..checkpoint import load_checkpoint, migration_report, model_from_checkpoint, save_checkpoint
from ..checkpoint.compare import compare_text
from ..checkpoint.format import check_output
from ..checkpoint.model_only import export_weights
from ..deploy.export import export_onnx
from ..deploy.runtime import is_onnx
from ..errors import printable
from ..model import InkTraceNet
from ..pretrained import packaged_model
from .args import StrictParser, run_guarded

__all__ = ["migrate_main", "export_main", "compare_main"]


def _migrate(argv: Sequence[str] | None, prog: str) -> int:
    p = StrictParser(
        prog=prog,
        description="Convert a checkpoint of any supported format (legacy layouts A-D "
        "included) to the current InkTrace format, and say what was recovered.",
    )
    p.add_argument("old", metavar="OLD", help="checkpoint to read")
    p.add_argument("new", metavar="NEW.ckpt", help="file to write (current format)")
    p.add_argument("--force", action="store_true", help="overwrite NEW if it exists")
    args = p.parse_args(argv)
    old, new = Path(args.old), Path(args.new)
    check_output(old, new, args.force)
    data = load_checkpoint(old)
    migration = data.pop("migration", None)
    payload = {k: v for k, v in data.items() if k not in ("format", "format_version")}
    if migration:
        payload["migrated_from"] = {
            "path": str(old),
            "layout": migration["layout"],
            "notes": migration["notes"],
        }
    save_checkpoint(payload, new)
    report = (
        migration_report(old, {"migration": migration})
        if migration
        else f"{old}: already the current format"
    )
    print("\n".join(printable(line) for line in report.split("\n")))
    print(f"written: {printable(new)}")
    return 0


def _export(argv: Sequence[str] | None, prog: str) -> int:
    p = StrictParser(
        prog=prog,
        description="Write a checkpoint's model weights and a card of how it was trained "
        "(no optimizer or resume state): a small file for predict, trace and init_from; "
        "or, to OUT.onnx, an ONNX model for onnxruntime (the onnx extra).",
    )
    p.add_argument(
        "source",
        metavar="CKPT",
        help="checkpoint to read (any supported format, or a packaged model's name)",
    )
    p.add_argument("target", metavar="OUT", help="file to write (OUT.ckpt, or OUT.onnx)")
    p.add_argument(
        "--format",
        choices=("ckpt", "onnx"),
        help="what to write (default: from OUT's suffix, .onnx -> onnx, else ckpt)",
    )
    p.add_argument("--note", help="a line stored in the card (e.g. the machine and time)")
    p.add_argument(
        "--average",
        metavar="OTHER",
        help="write the weighted average of CKPT's and OTHER's weights (one architecture; e.g. "
        "a fine-tuned model and the one it started from, WiSE-FT); a .ckpt only",
    )
    p.add_argument(
        "--weight",
        type=float,
        metavar="W",
        help="with --average: CKPT's share, 0 to 1 (default 0.5); OTHER's is 1 - W",
    )
    p.add_argument("--force", action="store_true", help="overwrite OUT if it exists")
    args = p.parse_args(argv)
    onnx = args.format == "onnx" or (args.format is None and is_onnx(args.target))
    args.source = packaged_model(args.source) or args.source  # inktrace-strokes, inktrace-small
    average = None
    if args.weight is not None and args.average is None:
        p.error("--weight goes with --average")
    if args.average is not None:
        if onnx:
            p.error("--average writes a .ckpt: export the averaged file to ONNX after")
        weight = 0.5 if args.weight is None else args.weight
        if not 0.0 <= weight <= 1.0:  # (NaN too)
            p.error(f"--weight {args.weight}: must be between 0 and 1")
        average = (packaged_model(args.average) or args.average, weight + 0.0)  # not -0
    if onnx:  # export_onnx checks its file with onnx's checker before the rename
        card = export_onnx(args.source, args.target, note=args.note, force=args.force)
    else:
        card = export_weights(
            args.source,
            args.target,
            args.note,
            args.force,
            verify=partial(model_from_checkpoint, model_class=InkTraceNet),
            average=average,
        )
    size = Path(args.target).stat().st_size
    value = card.get("monitored_value")
    best = f", {card['monitor']} {value:.4f}" if isinstance(value, float) else ""
    mix = card.get("averaged") or {}
    share = mix.get("weight")
    mixed = (
        f"; averaged, {share:g} of it with {mix.get('with')}"
        if isinstance(share, (int, float))
        else ""
    )
    print(  # the card's strings are escaped already; the path is the user's own
        f"written: {printable(args.target)} ({size / 1e6:.1f} MB{', ONNX' if onnx else ''}; "
        f"{card.get('experiment')} {card.get('stage')}, epochs {card.get('epochs')}{best}"
        f"{mixed})"
    )
    return 0


def _compare(argv: Sequence[str] | None, prog: str) -> int:
    p = StrictParser(
        prog=prog, description="Compare checkpoints of any supported format side by side."
    )
    p.add_argument(
        "paths", nargs="+", metavar="CKPT", help="checkpoints (files, or a packaged model's name)"
    )
    p.add_argument(
        "--top", type=int, default=20, help="layers shown in the weight-distance table (default 20)"
    )
    p.add_argument("--all", action="store_true", help="show every layer")
    args = p.parse_args(argv)
    if len(args.paths) < 2:
        p.error("give at least two checkpoints")
    paths = [packaged_model(p) or p for p in args.paths]  # inktrace-small, inktrace-strokes
    sys.stdout.write(compare_text(paths, top=None if args.all else max(args.top, 1)))
    return 0


def migrate_main(argv: Sequence[str] | None = None, prog: str = "inktrace migrate") -> int:
    return run_guarded(prog, _migrate, argv, prog)


def compare_main(argv: Sequence[str] | None = None, prog: str = "inktrace compare") -> int:
    return run_guarded(prog, _compare, argv, prog)


def export_main(argv: Sequence[str] | None = None, prog: str = "inktrace export") -> int:
    return run_guarded(prog, _export, argv, prog)
