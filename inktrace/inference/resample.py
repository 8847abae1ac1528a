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

import numpy as np
from PIL import Image

__all__ = ["model_size", "to_model", "to_input", "unit", "bilinear"]


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


def unit(t: np.ndarray) -> np.ndarray:
    """(2, H, W) vectors divided by their length (or by 1e-6 where they are shorter)."""
    length = np.sqrt(t[0] * t[0] + t[1] * t[1])
    return (t / np.maximum(length, np.float32(1e-6))).astype(np.float32, copy=False)


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
    x0, x1, wx = _axis(value.shape[-1], size[1])
    rows = value[:, y0, :] * (1 - wy)[:, None] + value[:, y1, :] * wy[:, None]
    return rows[:, :, x0] * (1 - wx) + rows[:, :, x1] * wx


def to_input(maps: dict[str, np.ndarray], size: tuple[int, int]) -> dict[str, np.ndarray]:
    """The model's maps (name -> (C, h, w)) at the input's ``size`` (H, W) as float32 arrays,
    the single-channel ones as (H, W), in input pixels (see the module docstring)."""
    out: dict[str, np.ndarray] = {}
    height, width = size
    for name, value in maps.items():
        value = np.asarray(value, dtype=np.float32)
        h, w = value.shape[-2:]
        if (h, w) != (height, width):
            value = bilinear(value, size)
            if name == "width":
                value = value * np.float32(((height / h) * (width / w)) ** 0.5)
            elif name == "offset":
                value = value * np.array([width / w, height / h], np.float32).reshape(2, 1, 1)
            elif name == "tangent":
                value = unit(value)
        out[name] = np.ascontiguousarray(value[0] if value.shape[0] == 1 else value)
    return out
