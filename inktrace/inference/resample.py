"""Between the input's pixels and the model's: resampling the image and mapping the maps back.

An image of H x W px run at scale s is resampled to ``round(s * H) x round(s * W)`` (bilinear,
antialiased when shrinking; pixel centres line up: align_corners=False). The maps come back to
H x W by bilinear interpolation, sampled at the input's pixel centres: probabilities and tangent
vectors as they are (the tangent then renormalised to unit length), widths divided by the scale and
offsets by the scale of their axis (sy = h / H for dy, sx = w / W for dx), so every length is in
input pixels again.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["model_size", "to_model", "to_input", "unit"]


def model_size(height: int, width: int, scale: float) -> tuple[int, int]:
    """The size of an image of ``height`` x ``width`` px at ``scale``."""
    return max(1, round(height * scale)), max(1, round(width * scale))


def to_model(image: np.ndarray, size: tuple[int, int]) -> torch.Tensor:
    """A (1, h, w) float32 tensor: the (H, W) image resampled to ``size``."""
    x = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32))[None, None]
    if tuple(size) == tuple(x.shape[-2:]):
        return x[0]
    shrink = size[0] < x.shape[-2] or size[1] < x.shape[-1]
    y = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=shrink)
    return y[0].clamp_(0.0, 1.0)


def unit(t: torch.Tensor) -> torch.Tensor:
    """(2, H, W) vectors divided by their length (or by 1e-6 where they are shorter)."""
    return t / t.norm(dim=0, keepdim=True).clamp(min=1e-6)


def to_input(maps: dict[str, torch.Tensor], size: tuple[int, int]) -> dict[str, np.ndarray]:
    """The model's maps (name -> (C, h, w)) at the input's ``size`` (H, W) as numpy float32,
    the single-channel ones as (H, W), in input pixels (see the module docstring)."""
    out: dict[str, np.ndarray] = {}
    height, width = size
    for name, value in maps.items():
        h, w = value.shape[-2:]
        if (h, w) != (height, width):
            value = F.interpolate(
                value[None].float(), size=size, mode="bilinear", align_corners=False
            )[0]
            if name == "width":
                value = value * (((height / h) * (width / w)) ** 0.5)
            elif name == "offset":
                value = value * torch.tensor([width / w, height / h]).view(2, 1, 1)
            elif name == "tangent":
                value = unit(value)
        value = value.float()
        out[name] = (value[0] if value.shape[0] == 1 else value).contiguous().numpy()
    return out
