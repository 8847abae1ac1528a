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

from ..errors import (
    CheckpointError,
    ConfigError,
    DistError,
    MissingDependency,
    SvgError,
    WriteError,
    printable,
    suggest,
)

__all__ = ["StrictParser", "UsageError", "flag", "spellings", "fail", "run_guarded"]


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
    except (UsageError, ConfigError, CheckpointError, SvgError, MissingDependency) as exc:
        return fail(prog, str(exc), 2)
    except WriteError as exc:  # says what happened, was kept; a path refused is bad input
        return fail(prog, str(exc), 2 if exc.errno in PATH_ERRNOS else 1)
    except (FloatingPointError, DistError) as exc:  # says what happened
        return fail(prog, str(exc), 1)
    except UnicodeEncodeError as exc:  # a lone surrogate outside surrogateescape's range
        return fail(prog, f"{exc.object!r}: cannot be encoded for the file system", 2)
    except OSError as exc:  # a path the system refuses (name too long, no permission ...)
        where = f"{exc.filename}: " if exc.filename is not None else ""
        return fail(prog, f"{where}{exc.strerror or exc}", 2)
    except KeyboardInterrupt:
        return fail(prog, "aborted", 1)
