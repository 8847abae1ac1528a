"""The checkpoint format's name and versions: the bottom of the checkpoint package.

``format.py`` writes and reads them, ``legacy.py`` migrates older versions up to
``FORMAT_VERSION``, ``manager.py`` versions its bookkeeping the same way.
"""

from __future__ import annotations

from typing import Any

from ..errors import CheckpointError

__all__ = ["FORMAT", "FORMAT_VERSION", "check_version"]

FORMAT = "inktrace"
FORMAT_VERSION = 1


def check_version(what: str, version: Any, newest: int) -> None:
    """A stored format version this InkTrace can read (1 to ``newest``), or CheckpointError."""
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise CheckpointError(f"{what}: bad version {version!r}")
    if version > newest:
        raise CheckpointError(
            f"{what}: version {version} was written by a newer InkTrace "
            f"(this one reads up to {newest})"
        )
