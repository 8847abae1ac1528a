"""Overlapping tiles over a large image and their seamless blending.

Along each axis the tiles are as few as can cover the image in pieces of at most ``tile`` px that
overlap by at least ``overlap`` px, and no longer than that needs (rounded up to a multiple of
``multiple``, the network's input granularity), spread evenly: a 1760 px side in 512 px tiles
overlapping by 64 px is four tiles of 488 px, not four of 512 (the network's work is its pixels).
A tile's output is weighted per pixel by the product of two 1-D ramps: 1 in
its interior and along every edge that is the image's own edge; towards an edge shared with a
neighbour it falls linearly to 0 across the overlap, and is 0 on the outermost ``margin`` px,
where the tile lacked context. Where two tiles overlap by exactly ``overlap`` px their weights sum
to 1; everywhere the blend is the weighted mean (divided by the sum of the weights, which covers
corners and wider overlaps), so it changes continuously from one tile to the next: no seam.
Tiles come row by row, and the blend is handed on a band of rows at a time: a page's blend is never
held whole.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["Tile", "tile_length", "tile_starts", "plan_tiles", "ramp", "Stitcher"]


@dataclass(frozen=True)
class Tile:
    y: int
    x: int
    height: int
    width: int

    @property
    def slices(self) -> tuple[slice, slice]:
        return slice(self.y, self.y + self.height), slice(self.x, self.x + self.width)


def tile_length(length: int, tile: int, overlap: int, multiple: int = 1) -> int:
    """The length of the tiles along an axis of ``length`` px: the whole axis when it fits in one
    tile, else the shortest multiple of ``multiple`` (at most ``tile``) with which the fewest tiles
    of at most ``tile`` px cover the axis overlapping by at least ``overlap`` px."""
    if length <= tile:
        return length
    if not 0 <= overlap < tile:
        raise ValueError(f"overlap {overlap} must be at least 0 and below the tile size {tile}")
    count = max(math.ceil((length - overlap) / (tile - overlap)), 2)
    need = math.ceil((length + (count - 1) * overlap) / count)
    return min(tile, multiple * math.ceil(need / multiple))


def tile_starts(length: int, tile: int, overlap: int, multiple: int = 1) -> list[int]:
    """Starts of the tiles (of ``tile_length`` px) covering ``length`` px with overlaps of at
    least ``overlap`` px, spread evenly; a single start 0 when the length fits in one tile."""
    size = tile_length(length, tile, overlap, multiple)
    if size >= length:
        return [0]
    count = max(math.ceil((length - overlap) / (size - overlap)), 2)
    return [round(i * (length - size) / (count - 1)) for i in range(count)]


def plan_tiles(height: int, width: int, tile: int, overlap: int, multiple: int = 1) -> list[Tile]:
    """The tiles of a ``height`` x ``width`` image, row by row (each at most ``tile`` square, and
    no longer on each axis than the overlap needs: ``tile_length``)."""
    th = tile_length(height, tile, overlap, multiple)
    tw = tile_length(width, tile, overlap, multiple)
    return [
        Tile(y, x, th, tw)
        for y in tile_starts(height, tile, overlap, multiple)
        for x in tile_starts(width, tile, overlap, multiple)
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
    """Blends one image's tiles a band of rows at a time. Tiles are added in ``tiles``' order (row
    by row); once a row of tiles is in, ``take(y)`` with the next row's start gives the blend of
    every row above ``y`` (no later tile reaches there) and forgets them, so only about one row
    of tiles is ever held, whatever the image's height. ``result()`` takes what is left."""

    def __init__(
        self, height: int, width: int, tile: int, overlap: int, margin: int, multiple: int = 1
    ) -> None:
        if overlap and overlap < 2 * margin + 1:
            raise ValueError(f"overlap {overlap} must exceed twice the margin {margin}")
        self.height, self.width = height, width
        self.overlap, self.margin = overlap, margin
        self.tiles = plan_tiles(height, width, tile, overlap, multiple)
        self.top = 0  # the image row of the first row held
        self._sums: dict[str, np.ndarray] = {}  # name -> (C, rows held, width)
        self._weight = np.zeros((0, width), np.float32)

    def weights(self, t: Tile) -> np.ndarray:
        wy = ramp(t.height, t.y, self.height, self.overlap, self.margin)
        wx = ramp(t.width, t.x, self.width, self.overlap, self.margin)
        return wy[:, None] * wx[None, :]

    def row_starts(self) -> list[int]:
        """The first image row of each row of tiles, top to bottom."""
        return sorted({t.y for t in self.tiles})

    def add(self, t: Tile, maps: dict[str, np.ndarray]) -> None:
        """``maps``: name -> (C, t.height, t.width) outputs of the model for tile ``t``."""
        if t.y < self.top:
            raise ValueError(f"tile at row {t.y} comes after rows up to {self.top} were taken")
        rows = t.y + t.height - self.top
        if rows > self._weight.shape[0]:
            grow = rows - self._weight.shape[0]
            self._weight = np.concatenate([self._weight, np.zeros((grow, self.width), np.float32)])
            for name, total in self._sums.items():
                extra = np.zeros((total.shape[0], grow, self.width), np.float32)
                self._sums[name] = np.concatenate([total, extra], axis=1)
        w = self.weights(t)
        ys = slice(t.y - self.top, t.y - self.top + t.height)
        xs = slice(t.x, t.x + t.width)
        for name, value in maps.items():
            if name not in self._sums:
                held = (value.shape[0], self._weight.shape[0], self.width)
                self._sums[name] = np.zeros(held, np.float32)
            self._sums[name][:, ys, xs] += np.asarray(value, np.float32) * w
        self._weight[ys, xs] += w

    def channels(self) -> dict[str, int]:
        """name -> channels of every map added so far."""
        return {name: total.shape[0] for name, total in self._sums.items()}

    def take(self, below: int, out: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
        """name -> (C, below - top, width): the blend of the rows from ``top`` to ``below``,
        which no tile still to come may reach; they are forgotten. With ``out`` (name -> float32
        arrays of that shape, e.g. rows of the caller's result) the blend is written there."""
        n = below - self.top
        if not 0 <= n <= self._weight.shape[0]:
            raise ValueError(f"rows {self.top} to {below} are not held")
        weight = np.maximum(self._weight[:n], np.float32(1e-12))
        if out is None:
            out = {name: total[:, :n] / weight for name, total in self._sums.items()}
        else:
            for name, total in self._sums.items():
                np.divide(total[:, :n], weight, out=out[name])
        self._sums = {name: total[:, n:].copy() for name, total in self._sums.items()}
        self._weight = self._weight[n:].copy()
        self.top = below
        return out

    def result(self) -> dict[str, np.ndarray]:
        """name -> (C, rows, width): the blend of every row not yet taken (all of them, after
        adding every tile: the whole image). Like ``take``, it hands the rows over: a second call
        gives none."""
        return self.take(self.height)
