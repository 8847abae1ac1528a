"""The exact Euclidean distance transform of a binary mask.

scipy.ndimage's exact transform (Maurer's algorithm, in C) finds each pixel's nearest False pixel;
the squared distance to it is an integer, computed here from the two positions, so it is held
exactly in float64 and its square root is the distance to the last bit. (An earlier NumPy
implementation of Felzenszwalb and Huttenlocher's envelope gave the same values 8x slower: 0.18 s
against 0.02 s on a 512 px window, the stroke-width estimate of an A4 page measuring four.)
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

__all__ = ["squared_distance_transform", "distance_transform"]


def squared_distance_transform(mask: np.ndarray) -> np.ndarray:
    """Squared Euclidean distance (float64, integer-valued) from every pixel to the nearest pixel
    where ``mask`` is False (0 there); ``inf`` everywhere if the mask has no False pixel."""
    mask = np.asarray(mask, dtype=bool)
    if mask.ndim != 2:
        raise ValueError(f"distance transform: expected a 2-D mask, got shape {mask.shape}")
    if mask.size == 0:
        return np.zeros(mask.shape)
    if mask.all():
        return np.full(mask.shape, np.inf)
    nearest = ndimage.distance_transform_edt(mask, return_distances=False, return_indices=True)
    rows, cols = np.indices(mask.shape)
    dy, dx = rows - nearest[0], cols - nearest[1]
    return (dy * dy + dx * dx).astype(np.float64)


def distance_transform(mask: np.ndarray) -> np.ndarray:
    """Euclidean distance (float64) from every pixel to the nearest False pixel of ``mask``."""
    return np.sqrt(squared_distance_transform(mask))
