"""The classical baseline: Otsu binarisation, ``skimage.morphology.skeletonize``, then the same
tracer as the model (``trace_maps``) on maps built from that skeleton.

Exactly: ink = image < ``skimage.filters.threshold_otsu(image)`` (an image of one grey level has
no ink); skeleton map = ``skeletonize(ink)`` as 0/1 floats; width map = 2 x the Euclidean distance
from each pixel to the nearest paper pixel (``inference.distance_transform``; the stroke width at
a centreline pixel); no tangent, offset or keypoint maps, so ``trace_maps`` thins nothing further,
places points at pixel centres, has no keypoint zones and no corner keypoints; default
``TraceOptions`` otherwise (spurs shorter than the local width or 2 px are pruned).

scikit-image is optional (the ``eval`` extra): without it ``available()`` is False and
``baseline_maps`` raises ``BaselineUnavailable``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..inference.distance import distance_transform

threshold_otsu: Callable[[np.ndarray], float] | None
skeletonize: Callable[[np.ndarray], np.ndarray] | None
try:
    from skimage.filters import threshold_otsu
    from skimage.morphology import skeletonize
except ImportError:  # the optional ``eval`` extra
    threshold_otsu = skeletonize = None

__all__ = ["BaselineUnavailable", "available", "baseline_maps", "NO_SKIMAGE"]

NO_SKIMAGE = (
    "the classical baseline needs scikit-image: pip install 'inktrace[eval]' "
    "(or pass --no-baseline)"
)


class BaselineUnavailable(RuntimeError):
    """scikit-image is not installed."""


def available() -> bool:
    return skeletonize is not None


def baseline_maps(image: np.ndarray) -> dict[str, np.ndarray]:
    """The baseline's maps of one grayscale image (H, W) in [0, 1], dark ink on light paper."""
    if threshold_otsu is None or skeletonize is None:  # not available()
        raise BaselineUnavailable(NO_SKIMAGE)
    image = np.asarray(image, dtype=np.float64)
    if image.max() - image.min() < 1e-12:
        ink = np.zeros(image.shape, dtype=bool)
    else:
        ink = image < threshold_otsu(image)
    skeleton = skeletonize(ink).astype(np.float32)
    width = (2.0 * distance_transform(ink)).astype(np.float32)
    return {"skeleton": skeleton, "width": np.where(np.isfinite(width), width, 0.0)}
