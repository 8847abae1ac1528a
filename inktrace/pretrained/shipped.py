"""Loading the shipped model (``inktrace-small.ckpt``, see the package docstring) as an
InkTraceNet, and reading its card: the PyTorch half of inktrace.pretrained."""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Any

from ..checkpoint import load_checkpoint, load_model, model_from_checkpoint, read_checkpoint
from ..model.net import InkTraceNet
from .files import packaged_model, pretrained_path

__all__ = ["load_pretrained", "load_with_card", "pretrained_card"]


def load_pretrained() -> InkTraceNet:
    """The shipped model, in eval mode on the CPU (a fresh copy at every call)."""
    return load_model(pretrained_path(), InkTraceNet)[0]  # a current-format file: no report


def load_with_card(
    path: str | os.PathLike | None = None,
) -> tuple[InkTraceNet, dict[str, Any], str]:
    """A model file (default: the shipped one; or a packaged model's name) read once: the
    model, what it was trained on (its ``card``, else its config's ``data`` section as
    ``{"data": ...}``) and the load report of a legacy file ("" otherwise; the caller shows
    it)."""
    path = pretrained_path() if path is None else (packaged_model(path) or path)
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
