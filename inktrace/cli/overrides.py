"""The training command line's config overrides: the shared flags (``--lr``, ``--epochs`` ...)
and ``--set KEY=VALUE``, in the order their precedence needs (train.py, the legacy scripts)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import yaml

from ..config import Overrides
from .args import UsageError, flag

__all__ = ["OVERRIDE_FLAGS", "add_override_flags", "overrides_from_args", "parse_set"]


OVERRIDE_FLAGS = {
    "lr": "training.lr",
    "epochs": "training.epochs",
    "batch_size": "training.batch_size",
    "save_dir": "checkpoint.save_dir",
    "init_from": "init_from",
}


def add_override_flags(parser: argparse.ArgumentParser) -> None:
    """The override flags every training entry point shares."""
    g = parser.add_argument_group("overrides (highest precedence)")
    flag(g, "lr", "learning rate (training.lr)", "X")
    flag(g, "epochs", "epochs (training.epochs)", "N")
    flag(g, "batch_size", "batch size (training.batch_size)", "N")
    flag(g, "save_dir", "checkpoint root (checkpoint.save_dir); stages write DIR/<stage>/", "DIR")
    flag(
        g, "init_from", "initialise weights from CKPT ('auto' = best of the previous stage)", "CKPT"
    )
    g.add_argument(
        "--set",
        dest="set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="any setting, e.g. --set model.embed_dim=64 (VALUE is read as YAML)",
    )


def parse_set(item: str) -> tuple[str, object]:
    """``section.key=value`` with the value read as a YAML scalar (``1e-3`` -> 0.001 later)."""
    key, sep, text = item.partition("=")
    key = key.strip()
    if not sep or not key:
        raise UsageError(f"--set expects KEY=VALUE (e.g. training.lr=1e-3), got {item!r}")
    try:
        value = yaml.safe_load(text) if text.strip() else None
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or "cannot be parsed"
        raise UsageError(f"--set {item}: malformed value ({problem})") from None
    return key, value


def overrides_from_args(
    args: argparse.Namespace,
    skip: tuple[str, ...] = (),
    extra: Sequence[tuple[str, object, str]] = (),
) -> Overrides:
    """The command line's overrides (flags named in ``skip`` left out).

    ``extra``: (dotted key, value, flag) of an entry point's own flags, added after the shared
    flags and before ``--set``, so that a ``--set`` of the same key is the one reported."""
    out = Overrides()
    for attr, key in OVERRIDE_FLAGS.items():
        value = getattr(args, attr, None)
        if value is not None and attr not in skip:
            out.add(key, value, f"--{attr}")
    for key, value, name in extra:
        out.add(key, value, name)
    for item in getattr(args, "set", []) or []:
        key, value = parse_set(item)
        out.add(key, value, f"--set {item}")
    return out
