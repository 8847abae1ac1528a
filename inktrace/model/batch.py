"""The network's input batch: :func:`image_batch` makes the (B, 1, H, W) float32 batch of
``InkTraceNet.predict`` from an (H, W), (B, H, W) or (B, 1, H, W) array or tensor or a sequence of
equally sized (H, W) arrays, with the value rule of inktrace/pixels.py. Every refusal is an
:class:`~inktrace.errors.ImageError` (a ValueError) whose message is one line naming the input.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..errors import ImageError
from ..pixels import as_array, gray_values

__all__ = ["image_batch"]


def image_batch(images: Any, name: str = "images") -> torch.Tensor:
    """The (B, 1, H, W) float32 CPU batch in [0, 1] of ``InkTraceNet.predict``'s inputs (see the
    module docstring)."""
    if isinstance(images, (list, tuple)):
        if not images:
            raise ImageError(f"{name}: empty sequence")
        arrays = [as_array(im, f"{name}[{i}]") for i, im in enumerate(images)]
        shapes = {a.shape for a in arrays}
        if len(shapes) > 1:
            raise ImageError(
                f"{name}: sizes differ ({', '.join(str(s) for s in sorted(shapes))}); "
                "call predict once per size"
            )
        array = np.stack(arrays)
        if array.ndim != 3:
            raise ImageError(
                f"{name}: a sequence must hold (H, W) arrays, got shape {arrays[0].shape}"
            )
    else:
        array = as_array(images, name)
    if array.ndim == 2:
        array = array[None, None]
    elif array.ndim == 3:
        array = array[:, None]
    elif array.ndim != 4 or array.shape[1] != 1:
        raise ImageError(
            f"{name}: expected (H, W), (B, H, W) or (B, 1, H, W) grayscale, got shape {array.shape}"
        )
    if 0 in array.shape:
        raise ImageError(f"{name}: empty array of shape {array.shape}")
    return torch.from_numpy(np.ascontiguousarray(gray_values(array, name)))
