"""Running an exported ONNX model (export.py) through onnxruntime: ``OnnxNet`` stands in for the
network inside a Predictor, and ``OnnxPredictor`` is a Predictor over it, so scaling, tiling,
blending and tracing are the very code the PyTorch path runs; only the forward pass differs.

``OnnxNet`` offers what Predictor asks of a model: ``maps`` (and calling it) on a (B, 1, H, W)
batch gives the maps (name -> tensor, as ``InkTraceNet.maps`` returns them), ``num_layers``, and
``to``/``eval``/``train``, which change nothing (onnxruntime's CPU provider; no training mode).
Tensors cross to NumPy and back without copies.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..checkpoint import CheckpointError
from ..inference.predictor import Predictor
from .export import ONNX_FORMAT, ONNX_FORMAT_VERSION, onnx_modules

__all__ = ["OnnxNet", "OnnxPredictor", "is_onnx"]

MAX_ONNX_BYTES = 1 << 30  # 1 GiB: far above any InkTrace model (the shipped one is 2 MB)


def is_onnx(path: str | os.PathLike) -> bool:
    """Whether a model path is an ONNX file, by its suffix (``.onnx``)."""
    return Path(path).suffix.lower() == ".onnx"


class OnnxNet:
    """An exported InkTrace model in an onnxruntime session (see the module docstring)."""

    training = False

    def __init__(self, path: str | os.PathLike, threads: int | None = None) -> None:
        (ort,) = onnx_modules("onnxruntime")
        path = Path(path)
        if not path.is_file():
            what = "is a folder" if path.is_dir() else "not found"
            raise CheckpointError(f"{path}: {what}; give an .onnx file written by inktrace export")
        if path.stat().st_size > MAX_ONNX_BYTES:
            raise CheckpointError(f"{path}: larger than 1 GiB; not an InkTrace model")
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = int(threads)
        try:
            self.session = ort.InferenceSession(
                str(path), options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own types for any unreadable file
            first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc)
            raise CheckpointError(f"{path}: not a readable ONNX model ({first})") from None
        meta = self.session.get_modelmeta().custom_metadata_map
        if meta.get("inktrace.format") != ONNX_FORMAT:
            raise CheckpointError(
                f"{path}: an ONNX model, but not one inktrace export wrote (no inktrace.format)"
            )
        version = meta.get("inktrace.format_version", "?")
        if version != str(ONNX_FORMAT_VERSION):
            raise CheckpointError(
                f"{path}: InkTrace ONNX format version {version}; this InkTrace reads version "
                f"{ONNX_FORMAT_VERSION}"
            )
        self.path = path
        self.names = [o.name for o in self.session.get_outputs()]
        try:
            self.hparams = json.loads(meta.get("inktrace.model", "{}"))
            self.card = json.loads(meta.get("inktrace.card", "{}"))
            self.num_layers = int(self.hparams.get("num_layers", 0))
        except (ValueError, TypeError, AttributeError):
            raise CheckpointError(f"{path}: damaged InkTrace metadata") from None

    def __call__(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        x = np.ascontiguousarray(image.detach().cpu().numpy(), dtype=np.float32)
        outputs = self.session.run(self.names, {"image": x})
        return {name: torch.from_numpy(value) for name, value in zip(self.names, outputs)}

    def run(self, image: np.ndarray) -> dict[str, np.ndarray]:
        """The maps of a (B, 1, H, W) float32 batch, as NumPy arrays."""
        x = np.ascontiguousarray(image, dtype=np.float32)
        return dict(zip(self.names, self.session.run(self.names, {"image": x})))

    def maps(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        """The maps of a (B, 1, H, W) batch, as ``InkTraceNet.maps`` gives them (the graph ends
        with ``InkTraceNet.probabilities``)."""
        return self(image)

    def to(self, *args: Any, **kwargs: Any) -> OnnxNet:
        return self

    def eval(self) -> OnnxNet:
        return self

    def train(self, mode: bool = True) -> OnnxNet:
        return self


class OnnxPredictor(Predictor):
    """A Predictor (same settings, same methods) whose network runs in onnxruntime on the CPU."""

    def __init__(self, model: OnnxNet | str | os.PathLike, **settings: Any) -> None:
        device = settings.pop("device", "auto")
        if str(device) not in ("auto", "cpu"):
            raise ValueError(
                f"an ONNX model runs on the CPU (onnxruntime's CPU provider), not {device!r}; "
                "use the .ckpt for another device"
            )
        settings["channels_last"] = False  # a PyTorch memory layout; onnxruntime chooses its own
        net = model if isinstance(model, OnnxNet) else OnnxNet(model)
        super().__init__(net, device="cpu", **settings)  # type: ignore[arg-type]

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike, **settings: Any) -> OnnxPredictor:
        return cls(OnnxNet(path), **settings)
