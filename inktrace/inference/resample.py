"""Between the input's pixels and the model's: resampling the image and mapping the maps back.

An image of H x W px run at scale s is resampled to ``round(s * H) x round(s * W)`` (bilinear,
antialiased when shrinking; pixel centres line up: align_corners=False; Pillow's resampler, the
one torch's ``interpolate(antialias=True)`` was written to match). The maps come back to H x W by
bilinear interpolation, sampled at the input's pixel centres: probabilities and tangent vectors
as they are (the tangent then renormalised to unit length), widths divided by the scale and
offsets by the scale of their axis (sy = h / H for dy, sx = w / W for dx), so every length is in
input pixels again.

NumPy and Pillow only: the PyTorch and the onnxruntime predictors share this module, and the
second must run where torch is not installed.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from PIL import Image

__all__ = ["model_size", "to_model", "to_input", "ToInput", "unit", "bilinear"]


def model_size(height: int, width: int, scale: float) -> tuple[int, int]:
    """The size of an image of ``height`` x ``width`` px at ``scale``."""
    return max(1, round(height * scale)), max(1, round(width * scale))


def to_model(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A (1, h, w) float32 array: the (H, W) image resampled to ``size``, within [0, 1]."""
    x = np.ascontiguousarray(image, dtype=np.float32)
    if tuple(size) == x.shape:
        return x[None]
    resized = Image.fromarray(x, mode="F").resize((size[1], size[0]), Image.Resampling.BILINEAR)
    return np.clip(np.asarray(resized, dtype=np.float32), 0.0, 1.0)[None]


def unit(t: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """(2, H, W) vectors divided by their length (or by 1e-6 where they are shorter); into
    ``out`` (float32, ``t`` itself allowed) when given."""
    length = np.maximum(np.sqrt(t[0] * t[0] + t[1] * t[1]), np.float32(1e-6))
    if out is not None:
        return np.divide(t, length, out=out)
    return (t / length).astype(np.float32, copy=False)


def squeezed(maps: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """(C, H, W) maps as the contract gives them: (H, W) for one channel."""
    return {name: np.ascontiguousarray(v[0] if v.shape[0] == 1 else v) for name, v in maps.items()}


def _axis(length_in: int, length_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(first source index, second source index, weight of the second) of each output pixel:
    half-pixel centres, clamped at the borders (torch's align_corners=False without antialias)."""
    src = (np.arange(length_out, dtype=np.float64) + 0.5) * (length_in / length_out) - 0.5
    src = np.maximum(src, 0.0)
    i0 = np.minimum(np.floor(src).astype(np.intp), length_in - 1)
    i1 = np.minimum(i0 + 1, length_in - 1)
    return i0, i1, (src - i0).astype(np.float32)


def bilinear(value: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(C, h, w) -> (C, H, W) float32 by bilinear interpolation at pixel centres (no antialias)."""
    value = np.asarray(value, dtype=np.float32)
    y0, y1, wy = _axis(value.shape[-2], size[0])
    return _mix(value, y0, y1, wy, *_axis(value.shape[-1], size[1]))


def _mix(
    value: np.ndarray,
    y0: np.ndarray,
    y1: np.ndarray,
    wy: np.ndarray,
    x0: np.ndarray,
    x1: np.ndarray,
    wx: np.ndarray,
) -> np.ndarray:
    """The bilinear mix of ``value``'s rows ``y0``/``y1`` (weights ``wy`` of the second), then of
    its columns ``x0``/``x1`` (``wx``): output rows in the order of ``y0``."""
    rows = value[:, y0, :] * (1 - wy)[:, None] + value[:, y1, :] * wy[:, None]
    return rows[:, :, x0] * (1 - wx) + rows[:, :, x1] * wx


def to_input(maps: dict[str, np.ndarray], size: tuple[int, int]) -> dict[str, np.ndarray]:
    """The model's maps (name -> (C, h, w), or (h, w) for one channel) at the input's ``size``
    (H, W) as float32 arrays, the single-channel ones as (H, W), in input pixels (see the module
    docstring). Maps of different sizes are each mapped from their own."""
    out: dict[str, np.ndarray] = {}
    for name, value in maps.items():
        value = np.asarray(value, dtype=np.float32)
        if value.ndim == 2:
            value = value[None]
        if value.ndim != 3:
            raise ValueError(f"map {name!r} must be (C, h, w) or (h, w), got {value.shape}")
        mapper = ToInput((value.shape[1], value.shape[2]), size)
        mapper.add({name: value})
        out.update(mapper.result())
    return out


class ToInput:
    """``to_input`` a band of the model's rows at a time: ``add`` takes the next rows of the
    model's maps (top to bottom) and writes every input row whose two source rows are in; only
    the one or two model rows the next input row still needs are kept. The input's maps are
    allocated once, at their size; ``result()`` gives them. Row by row the arithmetic is
    ``to_input``'s, so the maps are the same to the bit however the rows are banded."""

    def __init__(self, model: tuple[int, int], size: tuple[int, int]) -> None:
        self.h, self.w = int(model[0]), int(model[1])
        self.height, self.width = int(size[0]), int(size[1])
        self.same = (self.h, self.w) == (self.height, self.width)
        self.y0, self.y1, self.wy = _axis(self.h, self.height)
        self.x0, self.x1, self.wx = _axis(self.w, self.width)
        self.done = 0  # input rows written
        self.first = 0  # the model row of the first row kept
        self.kept: dict[str, np.ndarray] = {}  # name -> (C, rows, w) of the model's rows
        self.maps: dict[str, np.ndarray] = {}  # name -> (C, H, W), the output

    def add(self, band: dict[str, np.ndarray]) -> None:
        for name, value in band.items():
            value = np.asarray(value, dtype=np.float32)
            held = self.kept.get(name)
            keep = held is not None and held.shape[1] > 0  # (none kept at the same size)
            self.kept[name] = np.concatenate([held, value], axis=1) if keep else value
        if not self.kept:
            return
        have = self.first + next(iter(self.kept.values())).shape[1]  # model rows in so far
        end = self.height if have >= self.h else int(np.searchsorted(self.y1, have, "left"))
        if end <= self.done:
            return
        rows = slice(self.done, end)
        for name, value in self.kept.items():
            out = self.maps.get(name)
            if out is None:
                out = self.maps[name] = np.empty(
                    (value.shape[0], self.height, self.width), np.float32
                )
            out[:, rows] = self._rows(name, value, rows)
        self.done = end
        if end < self.height:  # forget the model rows no input row still needs
            drop = min(int(self.y0[end]), have) - self.first
            self.kept = {name: v[:, drop:] for name, v in self.kept.items()}
            self.first += drop
        else:
            self.kept = {}

    def _rows(self, name: str, value: np.ndarray, rows: slice) -> np.ndarray:
        if self.same:
            return value[:, rows.start - self.first : rows.stop - self.first]
        y0, y1 = self.y0[rows] - self.first, self.y1[rows] - self.first
        out = _mix(value, y0, y1, self.wy[rows], self.x0, self.x1, self.wx)
        if name == "width":
            return out * np.float32(((self.height / self.h) * (self.width / self.w)) ** 0.5)
        if name == "offset":
            sx, sy = self.width / self.w, self.height / self.h
            return out * np.array([sx, sy], np.float32).reshape(2, 1, 1)
        if name == "tangent":
            return unit(out)
        return out

    def result(self) -> dict[str, np.ndarray]:
        """name -> the map at the input's size: (H, W) for one channel, else (C, H, W)."""
        if self.done < self.height and self.maps:
            raise ValueError(f"only {self.done} of the input's {self.height} rows are written")
        return squeezed(self.maps)
