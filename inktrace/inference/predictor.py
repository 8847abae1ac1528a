"""``Predictor``: the five dense maps of whole images, at the images' own resolution.

Per image: read it (images.py) unless it is an array already, choose the scale (scale.py: the
typical stroke width is brought to at most 4 px, or the ``scale`` given), resample it (resample.py),
cut it into overlapping tiles when it is larger than ``tile`` (tiling.py), run the tiles through the
model's one prediction step (``InkTraceNet.maps``, as ``InkTraceNet.predict`` does) in batches of
``batch_size`` (tiles of the same size from every image of the call share batches), blend them
and map the blend back to the input's pixels. An untiled image at scale 1 gets exactly the maps
``InkTraceNet.predict`` gives.

Memory: the network sees at most ``batch_size`` tiles of ``tile`` x ``tile`` px at a time; the
maps of an image (8 float32 channels per pixel) are held whole, at the model's and the input's size.

GroupNorm computes its statistics over whatever it is shown, so a tiled image is not normalised
exactly as the whole image would be; see docs/using.md (*Tiling*) for the measured effect.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..devices import resolve_device
from ..model.net import InkTraceNet
from .images import load_image, to_gray
from .resample import model_size, to_input, to_model, unit
from .scale import choose_scale, estimate_stroke_width
from .tiling import Stitcher

__all__ = ["Predictor", "Prediction", "resolve_device", "DEFAULT_TILE", "DEFAULT_BATCH_SIZE"]

DEFAULT_TILE = 512  # px of the resampled image
DEFAULT_BATCH_SIZE = 4


@dataclass
class Prediction:
    """The maps of one image and how they were made."""

    maps: dict[str, np.ndarray]  # name -> (H, W) or (C, H, W) float32, docs/contracts.md
    scale: float  # factor applied to the image before the model
    stroke_width: float | None  # estimated typical stroke width in input px (None: not measured)
    tiles: int  # tiles the network ran on
    model_size: tuple[int, int]  # (h, w) of the resampled image the network saw


@dataclass
class _Job:
    image: np.ndarray
    scale: float
    width: float | None
    pixels: torch.Tensor  # (1, h, w) at the model's scale
    stitcher: Stitcher


class Predictor:
    """Runs an InkTraceNet over whole images of any size (see the module docstring).

    ``scale``: None estimates it per image; a number is used for every image. ``tile``: side of the
    tiles, in pixels of the resampled image; ``overlap`` (default tile / 4) between neighbours,
    whose outer quarter (``margin``) is discarded. ``channels_last`` (default: on a CPU) runs the
    convolutions in channels-last memory order, faster there; the model is converted in place."""

    def __init__(
        self,
        model: InkTraceNet,
        device: str | torch.device = "auto",
        scale: float | None = None,
        tile: int = DEFAULT_TILE,
        overlap: int | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        channels_last: bool | None = None,
    ) -> None:
        if scale is not None and not (np.isfinite(scale) and scale > 0):
            raise ValueError(f"scale must be a positive number, got {scale}")
        minimum = 2 ** getattr(model, "num_layers", 0)
        if tile < max(16, minimum):
            raise ValueError(f"tile must be at least {max(16, minimum)} px, got {tile}")
        overlap = tile // 4 if overlap is None else overlap
        if not 0 <= overlap <= tile // 2:
            raise ValueError(f"overlap must be 0 to half the tile ({tile // 2} px), got {overlap}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        self.device = resolve_device(device, key="device")
        # channels-last convolutions: 1.5x faster on a CPU (the quickstart model, one core: 7.3
        # -> 4.9 ms per 64 px image; outputs equal to 1e-3); unmeasured on GPUs, so off there
        self.channels_last = self.device.type == "cpu" if channels_last is None else channels_last
        self.memory_format = torch.channels_last if self.channels_last else torch.contiguous_format
        self.model = model.to(self.device, memory_format=self.memory_format)  # type: ignore[call-overload]
        self.scale, self.tile, self.overlap = scale, int(tile), int(overlap)
        self.margin = self.overlap // 4
        self.batch_size = int(batch_size)

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike, **settings: Any) -> Predictor:
        """A Predictor for the model stored in ``path`` (any format load_from_checkpoint reads; a
        legacy file's report is a LegacyCheckpointWarning)."""
        return cls(InkTraceNet.load_from_checkpoint(path), **settings)

    # ----------------------------------------------------------------- public API
    def predict(self, image: Any) -> dict[str, np.ndarray]:
        """The maps of one image: a path or an array (see images.to_gray) -> name -> array at the
        image's own size: skeleton, width (H, W); keypoints, tangent, offset (2, H, W)."""
        return self.predict_many([image])[0].maps

    def predict_many(self, images: Iterable[Any]) -> list[Prediction]:
        """The Predictions of several images, in order; tiles of equal size share batches."""
        jobs = [self._job(im, i) for i, im in enumerate(images)]
        self._run(jobs)
        out = []
        for job in jobs:
            blend = job.stitcher.result()
            if len(job.stitcher.tiles) > 1 and "tangent" in blend:
                blend["tangent"] = unit(blend["tangent"])
            maps = to_input(blend, job.image.shape)
            h, w = job.pixels.shape[-2:]
            out.append(Prediction(maps, job.scale, job.width, len(job.stitcher.tiles), (h, w)))
        return out

    def choose_scale(self, image: np.ndarray) -> tuple[float, float | None]:
        """(scale, estimated stroke width or None) for a grayscale image."""
        if self.scale is not None:
            return float(self.scale), None
        width = estimate_stroke_width(image)
        return choose_scale(width), width

    # ----------------------------------------------------------------- internals
    def _job(self, image: Any, index: int) -> _Job:
        if isinstance(image, (str, os.PathLike)):
            gray = load_image(image)
        else:  # the value rules of InkTraceNet.predict (model/pixels.py)
            gray = to_gray(image, f"images[{index}]")
        scale, width = self.choose_scale(gray)
        pixels = to_model(gray, model_size(gray.shape[0], gray.shape[1], scale))
        h, w = pixels.shape[-2:]
        return _Job(
            gray, scale, width, pixels, Stitcher(h, w, self.tile, self.overlap, self.margin)
        )

    def _run(self, jobs: Sequence[_Job]) -> None:
        """Every tile of every job through the model, tiles of one size batched together."""
        groups: dict[tuple[int, int], list] = {}
        for job in jobs:
            for t in job.stitcher.tiles:
                groups.setdefault((t.height, t.width), []).append((job, t))
        for work in groups.values():
            self._run_group(work)

    def _run_group(self, work: list) -> None:
        """Tiles of one size, ``batch_size`` at a time, through the model's one prediction step
        (``InkTraceNet.maps``: eval mode, restored after); each output goes to its image's
        blend."""
        for start in range(0, len(work), self.batch_size):
            chunk = work[start : start + self.batch_size]
            x = torch.stack([job.pixels[:, t.slices[0], t.slices[1]] for job, t in chunk])
            maps = self.model.maps(x.to(self.device, memory_format=self.memory_format))
            maps = {name: v.cpu() if v.dim() == 4 else v.cpu()[:, None] for name, v in maps.items()}
            for b, (job, t) in enumerate(chunk):
                job.stitcher.add(t, {name: v[b] for name, v in maps.items()})
