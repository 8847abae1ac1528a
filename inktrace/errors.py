"""The exception types of InkTrace, in one bottom module that imports nothing from the package.

Every layer raises these (config, checkpoints, training) and every entry point catches them, so
they live below all of them; ``inktrace.config`` and ``inktrace.checkpoint`` re-export theirs.
"""

from __future__ import annotations

__all__ = ["ConfigError", "CheckpointError", "NonFiniteLossError", "DistError", "WriteError"]


class ConfigError(ValueError):
    """A configuration problem, described in one line naming the file (or flag) and dotted key."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))  # one line, whatever the input held


class CheckpointError(ValueError):
    """A checkpoint that cannot be used; the message is one line naming the file."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))  # one line, whatever a value printed


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
