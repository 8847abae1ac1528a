"""The shipped pretrained model: ``inktrace-small.ckpt`` beside this file, a weights-only export
(checkpoint/model_only.py) of the run that ``configs/pretrained.yaml`` reproduces.

It is what ``inktrace predict``, ``inktrace trace`` and ``inktrace evaluate`` use without
``--checkpoint``, and ``inktrace.trace(image)`` without ``model=``. Its ``card`` says what it was
trained on (see ``pretrained_card()``); docs/using.md gives its figures.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any

from ..checkpoint import (
    CheckpointError,
    load_checkpoint,
    load_model,
    model_from_checkpoint,
    read_checkpoint,
)
from ..model.net import InkTraceNet

__all__ = [
    "PRETRAINED_NAME",
    "pretrained_path",
    "load_pretrained",
    "load_with_card",
    "pretrained_card",
]

PRETRAINED_NAME = "inktrace-small"
_FILE = Path(__file__).with_name(f"{PRETRAINED_NAME}.ckpt")


def pretrained_path() -> Path:
    """The shipped model's file; CheckpointError when this installation lacks it."""
    if not _FILE.is_file():
        raise CheckpointError(
            f"{_FILE}: the shipped model is missing from this installation "
            "(reinstall inktrace, or pass a checkpoint)"
        )
    return _FILE


def load_pretrained() -> InkTraceNet:
    """The shipped model, in eval mode on the CPU (a fresh copy at every call)."""
    return load_model(pretrained_path(), InkTraceNet)[0]  # a current-format file: no report


def load_with_card(
    path: str | os.PathLike | None = None,
) -> tuple[InkTraceNet, dict[str, Any], str]:
    """A model file (default: the shipped one) read once: the model, what it was trained on (its
    ``card``, else its config's ``data`` section as ``{"data": ...}``) and the load report of a
    legacy file ("" otherwise; the caller shows it)."""
    path = pretrained_path() if path is None else path
    ckpt = load_checkpoint(path)
    card = ckpt.get("card") or {"data": (ckpt.get("config") or {}).get("data")}
    model, report = model_from_checkpoint(ckpt, path, InkTraceNet)
    return model, dict(card), report


@lru_cache(maxsize=1)
def _card(path: str, mtime: float) -> dict[str, Any]:
    return dict(read_checkpoint(path).get("card") or {})


def pretrained_card() -> dict[str, Any]:
    """How the shipped model was trained: experiment, epochs, data, curriculum, metrics..."""
    path = pretrained_path()
    return dict(_card(str(path), path.stat().st_mtime))
