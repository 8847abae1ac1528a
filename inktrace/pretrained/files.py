"""Where the shipped model's files are: its checkpoint and its ONNX export (no PyTorch here)."""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import CheckpointError

__all__ = [
    "PRETRAINED_NAME",
    "STROKES_NAME",
    "packaged_model",
    "pretrained_path",
    "pretrained_onnx_path",
]

PRETRAINED_NAME = "inktrace-small"
_FILE = Path(__file__).with_name(f"{PRETRAINED_NAME}.ckpt")
_ONNX = _FILE.with_suffix(".onnx")
STROKES_NAME = "inktrace-strokes"  # the stroke model: opt-in by name (docs/using.md)
_PACKAGED = {PRETRAINED_NAME: _FILE, STROKES_NAME: _FILE.with_name(f"{STROKES_NAME}.ckpt")}


def packaged_model(name: str | os.PathLike) -> Path | None:
    """The file of a model installed with inktrace, by name (``inktrace-small``,
    ``inktrace-strokes``), where ``name`` is one and no file or folder of that name exists;
    else None. CheckpointError when this installation lacks the named file."""
    key = os.fspath(name)
    if not isinstance(key, str) or key not in _PACKAGED or os.path.exists(key):
        return None
    path = _PACKAGED[key]
    if not path.is_file():
        raise CheckpointError(
            f"{name}: the packaged model {path.name} is missing from this installation "
            "(reinstall inktrace, or pass a checkpoint)"
        )
    return path


def pretrained_path() -> Path:
    """The shipped model's file; CheckpointError when this installation lacks it."""
    if not _FILE.is_file():
        raise CheckpointError(
            f"{_FILE}: the shipped model is missing from this installation "
            "(reinstall inktrace, or pass a checkpoint)"
        )
    return _FILE


def pretrained_onnx_path() -> Path:
    """The shipped model as ONNX (the same weights); CheckpointError when this installation
    lacks it."""
    if not _ONNX.is_file():
        raise CheckpointError(
            f"{_ONNX}: the shipped ONNX model is missing from this installation "
            "(reinstall inktrace, or pass a checkpoint)"
        )
    return _ONNX
