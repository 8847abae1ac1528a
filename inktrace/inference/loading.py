"""Which prediction pipeline runs a model: a checkpoint (PyTorch), an ``.onnx`` file
(onnxruntime), an InkTraceNet, a pipeline already made, or the shipped model (its checkpoint, or
its ONNX twin where PyTorch is not installed). PyTorch is imported only for what needs it, so
tracing with an ONNX model works in an install without it.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from collections.abc import Callable
from typing import Any

from ..deploy.runtime import OnnxPredictor, is_onnx
from ..errors import MissingDependency
from ..pretrained import PRETRAINED_NAME, pretrained_onnx_path
from .pipeline import MapPredictor

__all__ = ["torch_available", "require_torch", "open_predictor", "predictor_for"]

TORCH_HINT = (
    'pip install "inktrace[train]" (or torch first, e.g. the CPU build: pip install torch '
    "--index-url https://download.pytorch.org/whl/cpu); an exported .onnx model traces without it"
)


def torch_available() -> bool:
    """Whether PyTorch can be imported here (without importing it)."""
    return "torch" in sys.modules or importlib.util.find_spec("torch") is not None


def require_torch(what: str) -> None:
    """A one-line MissingDependency when PyTorch is not installed: ``what`` needs it."""
    if not torch_available():
        raise MissingDependency(f"{what} needs PyTorch, which is not installed: {TORCH_HINT}")


def _torch_predictor() -> Any:
    """The PyTorch Predictor class (imports torch)."""
    return importlib.import_module(".predictor", __package__).Predictor


def open_predictor(
    checkpoint: str | os.PathLike | None,
    report: Callable[[str], object] | None = None,
    **settings: Any,
) -> MapPredictor:
    """The pipeline of a model file with the Predictor's ``settings``: an ``.onnx`` file runs in
    onnxruntime, any other in PyTorch; a packaged model's name (``inktrace-strokes``) its file;
    None (or ``inktrace-small``) is the shipped model (in PyTorch when it is installed, else its
    ONNX export). What a legacy checkpoint could not recover goes to ``report`` (else a
    LegacyCheckpointWarning)."""
    if checkpoint is not None and os.fspath(checkpoint) == PRETRAINED_NAME:
        if not os.path.exists(checkpoint):  # the shipped model by name (a local file wins)
            checkpoint = None  # as without one: its ONNX export where PyTorch is not installed
    if checkpoint is None:
        if not torch_available():
            return OnnxPredictor(pretrained_onnx_path(), **settings)
        shipped = importlib.import_module("..pretrained.shipped", __package__)
        return _torch_predictor()(shipped.load_pretrained(), **settings)
    if is_onnx(checkpoint):
        return OnnxPredictor(checkpoint, **settings)
    require_torch(f"{checkpoint}: a PyTorch checkpoint")
    return _torch_predictor().from_checkpoint(checkpoint, report=report, **settings)


def predictor_for(model: Any, **settings: Any) -> MapPredictor:
    """A pipeline from a model: a MapPredictor (returned as it is: passing any ``settings`` with
    one is a ValueError), a path or None (open_predictor) or an InkTraceNet (PyTorch)."""
    if isinstance(model, MapPredictor):
        if settings:
            raise ValueError(
                f"{', '.join(sorted(settings))}: set on the Predictor itself, not with "
                "model=Predictor"
            )
        return model
    if model is None or isinstance(model, (str, os.PathLike)):
        return open_predictor(model, **settings)
    if "torch" in sys.modules:  # an InkTraceNet can only exist where torch is imported
        predictor = _torch_predictor()
        if isinstance(model, importlib.import_module("..model.net", __package__).InkTraceNet):
            return predictor(model, **settings)
    raise TypeError(
        f"model must be an InkTraceNet, a checkpoint path or a Predictor, not "
        f"{type(model).__name__}"
    )
