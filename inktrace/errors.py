"""The exception types of InkTrace, in one bottom module that imports nothing from the package.

Every layer raises these (config, checkpoints, images, training) and every entry point catches
them, so they live below all of them; ``inktrace.config``, ``inktrace.checkpoint`` and
``inktrace.inference`` re-export theirs.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = [
    "ConfigError",
    "CheckpointError",
    "NonFiniteLossError",
    "DistError",
    "WriteError",
    "SvgError",
    "MissingDependency",
    "ImageError",
    "LegacyCheckpointWarning",
    "printable",
    "suggest",
]


def printable(text: object, limit: int | None = None) -> str:
    """``text`` safe to print on a terminal: control and format characters (escape codes, bidi
    overrides, NUL ...) shown as ``\\x1b``-style escapes, never sent raw; cut to ``limit``
    characters (with ``...``) when given. For every string a file, not the user, supplied."""
    text = str(text)
    if limit is not None and len(text) > limit:
        text = text[: max(limit - 3, 0)] + "..."
    if text.isprintable():
        return text
    return "".join(
        c if c.isprintable() or c == " " else c.encode("unicode_escape").decode("ascii")
        for c in text
    )


def suggest(word: str, candidates: Iterable[str]) -> str:
    """' (did you mean 'x'?)' for the closest candidate, or '' when nothing is close."""
    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _one_line(message: object) -> str:
    """Whitespace runs (newlines included) become one space; other control characters are
    escaped."""
    return printable(" ".join(str(message).split()))


class ConfigError(ValueError):
    """A configuration problem, described in one line naming the file (or flag) and dotted key."""

    def __init__(self, message: str) -> None:
        super().__init__(_one_line(message))  # one line, whatever the input held


class CheckpointError(ValueError):
    """A checkpoint that cannot be used; the message is one line naming the file."""

    def __init__(self, message: str) -> None:
        super().__init__(_one_line(message))  # one line, whatever a value printed


class LegacyCheckpointWarning(UserWarning):
    """A checkpoint of an earlier InkTrace was read: the message says what could not be recovered
    (``InkTraceNet.load_from_checkpoint``; ``warnings.filterwarnings`` silences it)."""


class ImageError(ValueError):
    """An image (a file or an array) that cannot be used; the message is one line and names it."""


class NonFiniteLossError(FloatingPointError):
    """Training stopped after repeated non-finite losses (the last good checkpoint is kept)."""


class DistError(RuntimeError):
    """A collective of a distributed run failed: another rank died or stopped answering."""


class WriteError(OSError):
    """A file could not be written (disk full, no permission ...): its message names the file and
    the reason in one line; whatever was there before is intact."""

    @classmethod
    def of(cls, cause: OSError, message: str) -> WriteError:
        error = cls(message)
        error.errno = cause.errno
        return error


class SvgError(ValueError):
    """A centreline SVG that cannot be read; the message names the file."""


class MissingDependency(ImportError):
    """An optional dependency a command needs is not installed; the message says which and the
    pip command that installs it (e.g. PyTorch, which tracing with an ONNX model does not need)."""
