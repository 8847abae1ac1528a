"""Running an exported ONNX model (export.py) through onnxruntime: ``OnnxNet`` is the MapNet of
an ONNX file and ``OnnxPredictor`` the prediction pipeline over it (inference/pipeline.py), so
scaling, tiling, blending and tracing are the very code the PyTorch path runs; only the forward
pass differs. Nothing here imports PyTorch: with the ``runtime`` extra (onnxruntime) an install
without torch traces (``inktrace trace --checkpoint model.onnx``).
"""

from __future__ import annotations

import importlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import CheckpointError
from ..inference.pipeline import MapPredictor

__all__ = [
    "OnnxNet",
    "OnnxPredictor",
    "is_onnx",
    "onnx_modules",
    "ONNX_FORMAT",
    "ONNX_FORMAT_VERSION",
]

ONNX_FORMAT = "inktrace-onnx"
ONNX_FORMAT_VERSION = 1
MAX_ONNX_BYTES = 1 << 30  # 1 GiB: far above any InkTrace model (the shipped one is 2 MB)
_HINT = {
    "onnx": 'ONNX export needs the onnx extra: pip install "inktrace[onnx]"',
    "onnxruntime": 'ONNX models run with onnxruntime: pip install "inktrace[runtime]"',
}


def onnx_modules(*names: str) -> list[Any]:
    """The optional modules (``onnx``, ``onnxruntime``), or a one-line CheckpointError naming
    the extra that installs them."""
    out = []
    for name in names:
        try:
            out.append(importlib.import_module(name))
        except ImportError:
            raise CheckpointError(f"{name} is not installed: {_HINT[name]}") from None
    return out


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

    def __call__(self, batch: np.ndarray) -> Mapping[str, np.ndarray]:
        """The maps of a (B, 1, H, W) float32 batch (the graph ends with the probabilities)."""
        x = np.ascontiguousarray(batch, dtype=np.float32)
        return dict(zip(self.names, self.session.run(self.names, {"image": x})))

    run = __call__


class OnnxPredictor(MapPredictor):
    """The prediction pipeline (same settings and methods as Predictor but ``channels_last``)
    over an ONNX model in onnxruntime on the CPU; ``device`` may only be auto or cpu."""

    def __init__(
        self, model: OnnxNet | str | os.PathLike, device: Any = "auto", **settings: Any
    ) -> None:
        if str(device) not in ("auto", "cpu"):
            raise ValueError(
                f"an ONNX model runs on the CPU (onnxruntime's CPU provider), not {device!r}; "
                "use the .ckpt for another device"
            )
        settings.pop("channels_last", None)  # a PyTorch memory layout; onnxruntime has its own
        precision = settings.pop("precision", "fp32")
        if precision not in ("fp32", "auto"):  # auto: what runs natively, fp32 here
            raise ValueError(
                f"an ONNX model runs in fp32 here, not {precision}; use the .ckpt for {precision}"
            )
        super().__init__(model if isinstance(model, OnnxNet) else OnnxNet(model), **settings)
        self.device = "cpu"

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike, **settings: Any) -> OnnxPredictor:
        return cls(OnnxNet(path), **settings)

    def set_threads(self, threads: int) -> None:
        """onnxruntime fixes its threads when a session starts: a new session with ``threads``."""
        net = self.net
        if isinstance(net, OnnxNet):
            self.net = OnnxNet(net.path, threads=threads)
