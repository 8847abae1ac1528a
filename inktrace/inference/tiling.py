"""Overlapping tiles over a large image and their seamless blending.

Along each axis the tiles are ``tile`` px long and spread evenly so that neighbours overlap by at
least ``overlap`` px. A tile's output is weighted per pixel by the product of two 1-D ramps: 1 in
its interior and along every edge that is the image's own edge; towards an edge shared with a
neighbour it falls linearly to 0 across the overlap, and is 0 on the outermost ``margin`` px,
where the tile lacked context. Where two tiles overlap by exactly ``overlap`` px their weights sum
to 1; everywhere the blend is the weighted mean (divided by the sum of the weights, which covers
corners and wider overlaps), so it changes continuously from one tile to the next: no seam.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["Tile", "tile_starts", "plan_tiles", "ramp", "Stitcher"]


@dataclass(frozen=True)
class Tile:
    y: int
    x: int
    height: int
    width: int

    @property
    def slices(self) -> tuple[slice, slice]:
        return slice(self.y, self.y + self.height), slice(self.x, self.x + self.width)


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Starts of tiles of ``tile`` px covering ``length`` px with overlaps of at least ``overlap``
    px, spread evenly; a single start 0 when the length fits in one tile."""
    if length <= tile:
        return [0]
    if not 0 <= overlap < tile:
        raise ValueError(f"overlap {overlap} must be at least 0 and below the tile size {tile}")
    count = math.ceil((length - overlap) / (tile - overlap))
    count = max(count, 2)
    return [round(i * (length - tile) / (count - 1)) for i in range(count)]


def plan_tiles(height: int, width: int, tile: int, overlap: int) -> list[Tile]:
    """The tiles of a ``height`` x ``width`` image, row by row (each at most ``tile`` square)."""
    th, tw = min(tile, height), min(tile, width)
    return [
        Tile(y, x, th, tw)
        for y in tile_starts(height, tile, overlap)
        for x in tile_starts(width, tile, overlap)
    ]


def ramp(size: int, start: int, length: int, overlap: int, margin: int) -> np.ndarray:
    """1-D float32 weights of a tile of ``size`` px at ``start`` on an axis of ``length`` px."""
    w = np.ones(size, np.float32)
    if size >= length:
        return w
    span = np.float32(max(overlap - 2 * margin, 1))
    edge = np.arange(size, dtype=np.float32)  # distance from the tile's start
    rise = np.clip((edge - np.float32(margin) + np.float32(0.5)) / span, 0.0, 1.0)
    if start > 0:
        w = w * rise
    if start + size < length:
        w = w * rise[::-1]
    return w


class Stitcher:
    """Accumulates the weighted outputs of one image's tiles; ``result()`` is their blend."""

    def __init__(self, height: int, width: int, tile: int, overlap: int, margin: int) -> None:
        if overlap and overlap < 2 * margin + 1:
            raise ValueError(f"overlap {overlap} must exceed twice the margin {margin}")
        self.height, self.width = height, width
        self.overlap, self.margin = overlap, margin
        self.tiles = plan_tiles(height, width, tile, overlap)
        self._sums: dict[str, np.ndarray] = {}
        self._weight = np.zeros((height, width), np.float32)
        self._single = len(self.tiles) == 1

    def weights(self, t: Tile) -> np.ndarray:
        wy = ramp(t.height, t.y, self.height, self.overlap, self.margin)
        wx = ramp(t.width, t.x, self.width, self.overlap, self.margin)
        return wy[:, None] * wx[None, :]

    def add(self, t: Tile, maps: dict[str, np.ndarray]) -> None:
        """``maps``: name -> (C, t.height, t.width) outputs of the model for tile ``t``."""
        if self._single:
            self._sums = {name: np.array(value, np.float32) for name, value in maps.items()}
            self._weight.fill(1.0)
            return
        w = self.weights(t)
        ys, xs = t.slices
        for name, value in maps.items():
            if name not in self._sums:
                self._sums[name] = np.zeros((value.shape[0], self.height, self.width), np.float32)
            self._sums[name][:, ys, xs] += np.asarray(value, np.float32) * w
        self._weight[ys, xs] += w

    def result(self) -> dict[str, np.ndarray]:
        """name -> (C, height, width): the blend of every tile added."""
        if self._single:
            return self._sums
        weight = np.maximum(self._weight, np.float32(1e-12))
        return {name: total / weight for name, total in self._sums.items()}
