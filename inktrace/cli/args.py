"""Command-line parsing shared by every InkTrace entry point.

``StrictParser`` refuses prefixes of long options (``--e`` is not ``--epochs``), reports an unknown
flag in one line with the closest known flag, and exits with status 2 as docs/contracts.md requires.
"""

from __future__ import annotations

import argparse
import errno
import sys
from collections.abc import Sequence
from typing import NoReturn

import yaml

from ..checkpoint import CheckpointError
from ..config import ConfigError, Overrides
from ..config.schema import suggest
from ..data.svg import SvgError
from ..errors import DistError, WriteError, printable

__all__ = ["StrictParser", "UsageError", "add_override_flags", "overrides_from_args", "parse_set"]


class UsageError(Exception):
    """Bad command line: printed as one line, exit status 2."""


class _Once(argparse.Action):
    """Store a value, refusing a second occurrence of the flag (``--lr 1 --lr 2`` is a mistake)."""

    def __call__(self, parser, namespace, values, option_string=None):
        if getattr(namespace, self.dest, None) is not None:
            parser.error(f"{option_string} given twice")
        setattr(namespace, self.dest, values)


class StrictParser(argparse.ArgumentParser):
    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)
        self.register("action", "once", _Once)

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see {self.prog} --help)")

    def parse_args(self, args: Sequence[str] | None = None, namespace=None):  # type: ignore[override]
        parsed, extra = self.parse_known_args(args, namespace)
        if extra:
            flags = [s for a in self._actions for s in a.option_strings]
            word = extra[0]
            hint = suggest(word.split("=")[0], flags) if word.startswith("-") else ""
            what = "unknown option" if word.startswith("-") else "unexpected argument"
            self.error(f"{what} {word!r}{hint}")
        return parsed


def spellings(name: str) -> list[str]:
    """``--batch_size`` and ``--batch-size``: every InkTrace flag is accepted with either."""
    a, b = name.replace("-", "_"), name.replace("_", "-")
    return [f"--{a}"] if a == b else [f"--{a}", f"--{b}"]


def flag(parser, name: str, help: str, metavar: str | None = None, **kwargs) -> None:
    """Declare ``--name`` in both spellings, stored under ``name`` with ``_``; a flag with a
    ``metavar`` takes a value and refuses a second occurrence, one without is a switch."""
    action = kwargs.pop("action", "once" if metavar else "store_true")
    dest = name.replace("-", "_")
    if metavar:
        kwargs["metavar"] = metavar
    parser.add_argument(*spellings(name), dest=dest, action=action, help=help, **kwargs)


# Flag -> dotted config key. The generic `--set key=value` covers everything else.
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
    for key, value, flag in extra:
        out.add(key, value, flag)
    for item in getattr(args, "set", []) or []:
        key, value = parse_set(item)
        out.add(key, value, f"--set {item}")
    return out


# a write refused because of the path itself (bad input, status 2), not because the work failed
# (a full disk, an I/O error: status 1)
PATH_ERRNOS = frozenset(
    {
        errno.EACCES,
        errno.EPERM,
        errno.EROFS,
        errno.ENOTDIR,
        errno.EISDIR,
        errno.EEXIST,
        errno.ENAMETOOLONG,
        errno.ELOOP,
        errno.ENOENT,
    }
)


def fail(prog: str, message: str, status: int) -> int:
    print(f"{prog}: error: {printable(message)}", file=sys.stderr)  # a path may hold anything
    return status


def run_guarded(prog: str, fn, *args) -> int:
    """Run ``fn``; bad usage or input becomes one line on stderr and status 2."""
    try:
        return fn(*args)
    except (UsageError, ConfigError, CheckpointError, SvgError) as exc:
        return fail(prog, str(exc), 2)
    except WriteError as exc:  # says what happened, was kept; a path refused is bad input
        return fail(prog, str(exc), 2 if exc.errno in PATH_ERRNOS else 1)
    except (FloatingPointError, DistError) as exc:  # says what happened
        return fail(prog, str(exc), 1)
    except OSError as exc:  # a path the system refuses (name too long, no permission ...)
        where = f"{exc.filename}: " if exc.filename is not None else ""
        return fail(prog, f"{where}{exc.strerror or exc}", 2)
    except KeyboardInterrupt:
        return fail(prog, "aborted", 1)
