"""Image arrays in, the network's input out: one rule for the values of every entry point.

An image array is a numpy array or a tensor (bfloat16 is read as float32) holding ``uint8``
(divided by 255), ``uint16`` (divided by 65535), ``bool``, or floats that are finite and in
[0, 1]; any other dtype is refused. :func:`image_batch` makes the (B, 1, H, W) batch of
``InkTraceNet.predict`` from an (H, W), (B, H, W) or (B, 1, H, W) array or a sequence of equally
sized (H, W) arrays; the inference package's ``to_gray`` (one image, any colour mode, for the
``Predictor``) applies the same :func:`gray_values`. Every refusal is an
:class:`~inktrace.errors.ImageError` (a ValueError) whose message is one line naming the input.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..errors import ImageError

__all__ = ["as_array", "gray_values", "image_batch"]


def as_array(images: Any, name: str) -> np.ndarray:
    """The numpy array of an array or a tensor (detached, on the CPU; bfloat16 as float32)."""
    if isinstance(images, torch.Tensor):
        t = images.detach().cpu()
        return (t.float() if t.dtype == torch.bfloat16 else t).numpy()
    if isinstance(images, np.ndarray):
        return images
    raise ImageError(f"{name}: expected a numpy array or a tensor, got {type(images).__name__}")


def gray_values(array: np.ndarray, name: str) -> np.ndarray:
    """``array``'s values as float32 in [0, 1], any shape: uint8 /255, uint16 /65535, bool as 0
    and 1, floats as they are once checked finite and in [0, 1]."""
    if array.dtype == np.uint8:
        return array.astype(np.float32) / 255.0
    if array.dtype == np.uint16:
        return array.astype(np.float32) / 65535.0
    if array.dtype != np.bool_ and not np.issubdtype(array.dtype, np.floating):
        raise ImageError(f"{name}: unsupported dtype {array.dtype} (uint8, uint16, bool or float)")
    x = array.astype(np.float32)
    if not np.isfinite(x).all():
        raise ImageError(f"{name}: values must be finite (found NaN or infinity)")
    lo, hi = float(x.min()), float(x.max())
    if lo < 0.0 or hi > 1.0:
        raise ImageError(
            f"{name}: float values must be in [0, 1] (found {lo:g} to {hi:g}); "
            "pass 8-bit data as uint8 or divide it by 255"
        )
    return x


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
