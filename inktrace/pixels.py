"""The value rule of image arrays, for every entry point: ``uint8`` (divided by 255), ``uint16``
(divided by 65535), ``bool``, or floats that are finite and in [0, 1]; any other dtype is refused
with an :class:`~inktrace.errors.ImageError` (a ValueError) whose message is one line naming the
input. A tensor is read as its NumPy array (bfloat16 as float32).

NumPy only: ``InkTraceNet.predict`` (model/batch.py) and the inference package's ``to_gray`` (which
runs without PyTorch) both apply :func:`gray_values`.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

from .errors import ImageError

__all__ = ["as_array", "gray_values"]


def as_array(images: Any, name: str) -> np.ndarray:
    """The numpy array of an array or a tensor (detached, on the CPU; bfloat16 as float32)."""
    torch = sys.modules.get("torch")  # not imported: nothing can be a tensor
    if torch is not None and isinstance(images, torch.Tensor):
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
