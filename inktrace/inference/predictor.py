"""``Predictor``: the prediction pipeline (pipeline.py) with an InkTraceNet run by PyTorch.

``TorchNet`` is the MapNet of an InkTraceNet: it moves each batch to the device (channels-last on
a CPU, where convolutions run faster in that order), runs the model's one prediction step
(``InkTraceNet.maps``: eval mode, restored after; as ``InkTraceNet.predict`` does) in inference
mode and hands the probabilities back as NumPy arrays. An untiled image at scale 1 gets the maps
``InkTraceNet.predict`` gives.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any, Literal

import numpy as np
import torch

from ..devices import INFERENCE_PRECISIONS, inference_precision, resolve_device
from ..model.net import InkTraceNet
from .pipeline import (
    DEFAULT_BATCH_PIXELS,
    DEFAULT_BATCH_SIZE,
    DEFAULT_TILE,
    FRAME,
    MapPredictor,
    Prediction,
)
from .scale import GLYPH_SIZE

__all__ = ["Predictor", "TorchNet", "Prediction", "resolve_device", "PRECISIONS"]

# fp32, bfloat16 autocast (about 2x faster on CPUs with bfloat16 instructions, AMX or
# AVX512-BF16, slower on the others; the shipped model's stroke F1 moved by at most 0.002 on 100
# held-out KanjiVG characters, 64 and 128 px, clean and degraded: benchmarks/RESULTS.md), or auto:
# bf16 where the device runs it natively, else fp32 (inktrace.devices.inference_precision)
PRECISIONS = INFERENCE_PRECISIONS


class TorchNet:
    """An InkTraceNet as a MapNet (see the module docstring)."""

    def __init__(
        self, model: InkTraceNet, device: torch.device, channels_last: bool, precision: str = "fp32"
    ) -> None:
        self.device, self.precision = device, inference_precision(precision, device)
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.model = model.to(device, memory_format=self.memory_format)  # type: ignore[call-overload]
        self.num_layers = int(getattr(model, "num_layers", 0))

    def __call__(self, batch: np.ndarray) -> Mapping[str, np.ndarray]:
        was_training = self.model.training
        switch = any(m.training for m in self.model.modules())  # (switching costs 0.5 ms a batch)
        if switch:
            self.model.eval()
        try:
            bf16 = self.precision == "bf16"
            with (
                torch.inference_mode(),
                torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=bf16),
            ):
                x = torch.from_numpy(batch).to(self.device, memory_format=self.memory_format)
                maps = self.model.maps(x)  # the one prediction step, as InkTraceNet.predict
                # float32 in the plain layout in one copy: the blend reads channels-last maps
                # at half the speed
                return {
                    name: v.to("cpu", torch.float32, memory_format=torch.contiguous_format).numpy()
                    for name, v in maps.items()
                }
        finally:
            if switch:
                self.model.train(was_training)


class Predictor(MapPredictor):
    """Runs an InkTraceNet over whole images of any size (pipeline.py's module docstring).

    ``device``: auto (CUDA when available), cpu, cuda or cuda:N. ``scale``: None estimates it per
    image; a number is used for every image. ``tile``: side of the tiles, in pixels of the
    resampled image; ``overlap`` (default tile / 8) between neighbours, whose outer quarter
    (``margin``) is discarded. A forward pass takes at most ``batch_size`` tiles and
    ``batch_pixels`` pixels (default: one 512 px tile's on a CPU, four on a GPU), but always one
    tile. ``channels_last`` (default: on a CPU) runs the convolutions in channels-last memory
    order, faster there; the model is converted in place. ``precision``: fp32 (default, the maps of
    ``InkTraceNet.predict``), bf16 (bfloat16 autocast: see ``PRECISIONS``) or auto (bf16 where
    the device runs it natively, as the command line's default); the maps come back as float32
    either way, and ``precision`` tells which ran. ``glyph_size``: the scale rule's largest
    cluster of ink; ``frame``, ``frame_pages``: framing (all three MapPredictor)."""

    def __init__(
        self,
        model: InkTraceNet,
        device: str | torch.device = "auto",
        scale: float | None = None,
        tile: int = DEFAULT_TILE,
        overlap: int | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        channels_last: bool | None = None,
        batch_pixels: int | Literal["auto"] | None = "auto",
        precision: str = "fp32",
        glyph_size: float | None = GLYPH_SIZE,
        frame: float | None = FRAME,
        frame_pages: bool = True,
    ) -> None:
        self.device = resolve_device(device, key="device")
        if batch_pixels == "auto" and self.device.type != "cpu":  # a GPU's memory allows more
            batch_pixels = DEFAULT_BATCH_PIXELS * 4
        # channels-last convolutions: 1.5x faster on a CPU (the quickstart model, one core: 7.3
        # -> 4.9 ms per 64 px image; outputs equal to 1e-3); unmeasured on GPUs, so off there
        self.channels_last = self.device.type == "cpu" if channels_last is None else channels_last
        net = TorchNet(model, self.device, self.channels_last, precision)
        super().__init__(
            net,
            scale,
            tile,
            overlap,
            batch_size,
            batch_pixels,
            glyph_size,
            frame,
            frame_pages,
        )
        self.model = model
        self.precision = net.precision  # what runs: fp32 or bf16 (auto decided)

    @classmethod
    def from_checkpoint(
        cls,
        path: str | os.PathLike,
        report: Callable[[str], object] | None = None,
        **settings: Any,
    ) -> Predictor:
        """A Predictor for the model stored in ``path`` (any format load_from_checkpoint reads,
        or a packaged model's name: ``inktrace-strokes``). What a legacy file could not recover
        goes to ``report`` (a function of one line), or without it is a
        LegacyCheckpointWarning."""
        model = InkTraceNet.load_from_checkpoint(path, report=report is None)
        text = str(getattr(model, "load_report", None) or "")
        if report is not None and text:
            report(text)
        return cls(model, **settings)

    def set_threads(self, threads: int) -> None:
        torch.set_num_threads(max(1, int(threads)))
