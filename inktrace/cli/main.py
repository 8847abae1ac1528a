"""The ``inktrace`` command: one subcommand per tool (``inktrace train``, ``inktrace config``
...). A command's module is imported when it runs, so ``inktrace --version`` and tracing with an
ONNX model do not import PyTorch (and start faster); tests/test_architecture.py reads the table.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

from ..errors import MissingDependency, printable, suggest
from ..version import __version__

# name -> ("module:function", one-line description); the function takes argv and prog
COMMANDS: dict[str, tuple[str, str]] = {
    "train": (
        ".train:main",
        "train one stage or the whole pipeline (as train.py)",
    ),
    "config": (
        ".configs:main",
        "list the packaged configs, print one resolved (--explain: the origin of every value), "
        "or copy one out (--save)",
    ),
    "preview-data": (
        ".preview:main",
        "draw synthetic (or SVG) training samples and their targets as a PNG grid",
    ),
    "predict": (
        ".predict:main",
        "predict the dense maps of images (DIR/<stem>.npz; any size, scale and tiling handled)",
    ),
    "trace": (
        ".trace:main",
        "trace images into vector strokes (DIR/<stem>.svg and DIR/<stem>.json)",
    ),
    "evaluate": (
        ".evaluate:main",
        "score a model and a classical baseline on KanjiVG, clean and degraded (one table)",
    ),
    "runs": (
        ".runs:main",
        "list the training runs under folders: status, best value, what differs between them",
    ),
    "plot": (
        ".plot:main",
        "draw several runs' training curves overlaid (loss, f1, recall, LR, level) into an image",
    ),
    "migrate": (
        ".checkpoints:migrate_main",
        "convert an old checkpoint (layouts A-D) to the current format",
    ),
    "export": (
        ".checkpoints:export_main",
        "write a checkpoint's weights and training card only (a small file to use the model)",
    ),
    "compare": (
        ".checkpoints:compare_main",
        "compare checkpoints side by side (metrics, settings, weights)",
    ),
}


def usage() -> str:
    rows = "\n".join(f"  {name:<13} {desc}" for name, (_, desc) in COMMANDS.items())
    return (
        f"usage: inktrace COMMAND [options]\n\ncommands:\n{rows}\n\n"
        "'inktrace COMMAND --help' for a command's options.\n"
    )


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv:
        print("inktrace: error: a command is needed (see inktrace --help)", file=sys.stderr)
        return 2
    if argv[0] in ("-h", "--help"):
        sys.stdout.write(usage())
        return 0
    if argv[0] == "--version":
        print(f"inktrace {__version__}")
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(
            f"inktrace: error: unknown command {name!r}{suggest(name, COMMANDS)} "
            "(see inktrace --help)",
            file=sys.stderr,
        )
        return 2
    module, _, function = COMMANDS[name][0].partition(":")
    try:
        entry = getattr(importlib.import_module(module, __package__), function)
    except MissingDependency as exc:
        print(f"inktrace {name}: error: {printable(exc)}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as exc:
        if exc.name != "torch" and not (exc.name or "").startswith("torch."):
            raise
        print(
            f"inktrace {name}: error: this command needs PyTorch, which is not installed: "
            'pip install "inktrace[train]" (inktrace trace/predict --checkpoint MODEL.onnx '
            "work without it)",
            file=sys.stderr,
        )
        return 2
    return int(entry(rest, f"inktrace {name}"))
