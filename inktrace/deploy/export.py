"""``inktrace export CKPT OUT.onnx``: a checkpoint's model as an ONNX file.

The graph takes ``image`` (B, 1, H, W) float32, dark ink on light paper in [0, 1], with the batch,
height and width dynamic (any size: the padding to a multiple of ``2**num_layers`` is inside the
graph), and gives one output per map the model's heads produce, named as in docs/contracts.md and
shaped as ``InkTraceNet.probabilities`` returns them: probabilities for skeleton and keypoints,
the tangent, width and offset as they are. The names are read from the model, not listed here, so
a model with more heads exports them all.

The metadata (``metadata_props``) carry ``inktrace.format`` (``inktrace-onnx``), ``inktrace.
format_version``, ``inktrace.version``, ``inktrace.outputs`` (the names, comma-separated),
``inktrace.model`` (the model's settings, JSON, defaults included) and ``inktrace.card`` (JSON:
the card of an exported file, else the one checkpoint/model_only.py would write).

GroupNorm is exported with its statistics computed in float64 (``_StableGroupNorm``): onnxruntime's
InstanceNormalization and ReduceMean sum in float32 one element after another, which put 3e-4 of
error into the first normalised feature of a 128 px page and 4e-3 into its skeleton; with float64
statistics every map is within about 1e-5 of PyTorch (tests/test_onnx.py), at no measurable cost.

The TorchScript-based exporter (``dynamo=False``) is used: it keeps the image size symbolic
through the padding arithmetic, which the dynamo exporter turns into a guard on the example size.
"""

from __future__ import annotations

import copy
import io
import json
import os
import warnings
from typing import Any

import torch

from ..checkpoint import load_checkpoint, model_from_checkpoint
from ..checkpoint.format import check_output
from ..checkpoint.model_only import model_card
from ..fileio import atomic_write
from ..model.net import InkTraceNet
from ..version import __version__
from .runtime import ONNX_FORMAT, ONNX_FORMAT_VERSION, onnx_modules

__all__ = ["export_onnx", "ONNX_FORMAT", "ONNX_FORMAT_VERSION", "OPSET", "onnx_modules"]

OPSET = 17


class _StableGroupNorm(torch.nn.Module):
    """nn.GroupNorm with float64 statistics (see the module docstring); the same weights."""

    def __init__(self, norm: torch.nn.GroupNorm) -> None:
        super().__init__()
        self.groups, self.eps = norm.num_groups, norm.eps
        self.weight, self.bias = norm.weight, norm.bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(x.shape[0], self.groups, -1)
        wide = flat.double()
        mean = wide.mean(-1, keepdim=True)
        var = ((wide - mean) ** 2).mean(-1, keepdim=True)
        y = ((flat - mean.float()) * torch.rsqrt(var + self.eps).float()).reshape(x.shape)
        if self.weight is not None:
            y = y * self.weight[:, None, None] + self.bias[:, None, None]
        return y


def _exportable(model: InkTraceNet) -> InkTraceNet:
    """A copy of ``model`` with every GroupNorm replaced by ``_StableGroupNorm``."""
    model = copy.deepcopy(model)
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, torch.nn.GroupNorm):
                setattr(parent, name, _StableGroupNorm(child))
    return model


class _Maps(torch.nn.Module):
    """The model with ``probabilities`` applied: the maps, in ``names`` order, as outputs."""

    def __init__(self, model: InkTraceNet, names: list[str]) -> None:
        super().__init__()
        self.model, self.names = model, names

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, ...]:
        maps = self.model.probabilities(self.model(image))
        return tuple(maps[name] for name in self.names)


def export_onnx(
    source: str | os.PathLike,
    target: str | os.PathLike,
    note: str | None = None,
    force: bool = False,
) -> dict[str, Any]:
    """Write the model of ``source`` (any checkpoint InkTrace reads) to ``target`` as ONNX (see
    the module docstring); returns the card stored in it. Refuses to overwrite ``target`` unless
    ``force``, and never ``source`` itself."""
    (onnx,) = onnx_modules("onnx")
    check_output(source, target, force)
    data = load_checkpoint(source)
    model = model_from_checkpoint(data, source, InkTraceNet)[0]  # in eval mode
    card = dict(data.get("card") or model_card(data, source))
    if note:
        card["note"] = str(note)
    m = 2**model.num_layers
    # an example needing padding on both axes, so the padding is part of the graph
    example = torch.rand(1, 1, 3 * m + 1, 2 * m + 3)
    with torch.no_grad():
        shapes = {n: v.dim() for n, v in model.probabilities(model(example)).items()}
    names = list(shapes)
    axes = {
        n: (
            {0: "batch", 1: "height", 2: "width"}
            if r == 3
            else {0: "batch", 2: "height", 3: "width"}
        )
        for n, r in shapes.items()
    }
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer's notes on shape arithmetic (kept symbolic)
        torch.onnx.export(
            _Maps(_exportable(model), names),
            (example,),
            # the stub says a path; the TorchScript exporter (dynamo=False) writes to a file object
            buffer,  # type: ignore[arg-type]
            input_names=["image"],
            output_names=names,
            dynamic_axes={"image": {0: "batch", 2: "height", 3: "width"}, **axes},
            opset_version=OPSET,
            dynamo=False,
        )
    proto = onnx.load_from_string(buffer.getvalue())
    meta = {
        "inktrace.format": ONNX_FORMAT,
        "inktrace.format_version": str(ONNX_FORMAT_VERSION),
        "inktrace.version": __version__,
        "inktrace.outputs": ",".join(names),
        "inktrace.model": json.dumps(model.hparams, sort_keys=True),  # every key, defaults too
        "inktrace.card": json.dumps(card, sort_keys=True),
    }
    for key, value in meta.items():
        prop = proto.metadata_props.add()
        prop.key, prop.value = key, value
    proto.producer_name, proto.producer_version = "inktrace", __version__
    onnx.checker.check_model(proto)
    payload = proto.SerializeToString()
    atomic_write(target, lambda f: f.write(payload))
    return card
