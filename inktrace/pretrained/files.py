"""Where the shipped model's files are: its checkpoint and its ONNX export (no PyTorch here)."""

from __future__ import annotations

from pathlib import Path

from ..errors import CheckpointError

__all__ = ["PRETRAINED_NAME", "pretrained_path", "pretrained_onnx_path"]

PRETRAINED_NAME = "inktrace-small"
_FILE = Path(__file__).with_name(f"{PRETRAINED_NAME}.ckpt")
_ONNX = _FILE.with_suffix(".onnx")


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
