"""Pixel topology on a boolean mask: topology-preserving thinning and the pixel
adjacency the stroke graph walks.

Neighbours are numbered around the ring N, NE, E, SE, S, SW, W, NW (bit k of a pixel's *code* is
set when ring neighbour k is set). Thinning removes *simple* pixels (their removal changes neither
the 8-connected ink nor the 4-connected background: Yokoi's 8-connectivity number is 1) that are
not ends (at least two neighbours), in four subfields of pixels with the same row and column
parity: pixels of one subfield are never adjacent, so they can go in one vectorised step without
breaking the topology. The input here is already almost one pixel wide (the centreline step
suppresses across the stroke first); thinning only settles the remaining two-pixel patches.
"""

from __future__ import annotations

import numpy as np

__all__ = ["RING", "thin", "adjacency"]

# (drow, dcol) of ring neighbours 0-7: N, NE, E, SE, S, SW, W, NW
RING = np.array([(-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1), (-1, -1)])


def _removable_table() -> np.ndarray:
    """For each of the 256 neighbourhoods: may the centre pixel go (simple and not an end)?"""
    table = np.zeros(256, dtype=bool)
    for code in range(256):
        x = [(code >> k) & 1 for k in range(8)]
        xb = [1 - v for v in x]
        yokoi = sum(xb[k] - xb[k] * xb[(k + 1) % 8] * xb[(k + 2) % 8] for k in (0, 2, 4, 6))
        table[code] = yokoi == 1 and sum(x) >= 2
    return table


_REMOVABLE = _removable_table()


def thin(mask: np.ndarray, max_passes: int = 50) -> np.ndarray:
    """A one-pixel-wide, 8-connected mask with the topology of ``mask`` (ends are kept).

    The passes visit the four subfields in turn; within a subfield every removable pixel goes at
    once. Only pixels whose neighbourhood changed since they were last looked at can become
    removable, so each subfield step looks at those alone (at first every set pixel): the result
    is the full sweep's to the pixel, at a cost that follows the pixels removed, not the image."""
    h, w = mask.shape
    stride = w + 2
    flat = np.zeros((h + 2) * stride, dtype=bool)  # the mask with a border of unset pixels
    flat.reshape(h + 2, stride)[1:-1, 1:-1] = mask
    offsets = np.array([dr * stride + dc for dr, dc in RING], dtype=np.int64)
    weights = (1 << np.arange(8)).astype(np.uint8)
    dirty = np.flatnonzero(flat)  # pixels to look at (set, neighbourhood changed)
    for _ in range(max_passes):
        changed = False
        for a, b in ((0, 0), (0, 1), (1, 0), (1, 1)):
            rows, cols = dirty // stride - 1, dirty % stride - 1
            here = ((rows % 2) == a) & ((cols % 2) == b)
            look, dirty = dirty[here], dirty[~here]
            look = look[flat[look]]
            if look.size == 0:
                continue
            codes = (flat[look[:, None] + offsets].astype(np.uint8) * weights).sum(1, np.uint8)
            drop = look[_REMOVABLE[codes]]
            if drop.size:
                flat[drop] = False
                changed = True
                near = (drop[:, None] + offsets).ravel()
                dirty = np.union1d(dirty, near[flat[near]])
        if not changed:
            break
    return flat.reshape(h + 2, stride)[1:-1, 1:-1].copy()


def adjacency(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The set pixels' flat indices (P,) and their neighbours as (P, 8) positions into that list
    (-1 for none), by m-adjacency: a diagonal neighbour is dropped where the two pixels also
    share a set 4-neighbour, so a one-pixel-wide staircase is a path, not a chain of triangles."""
    h, w = mask.shape
    flat = np.flatnonzero(mask)
    lookup = np.full((h + 2) * (w + 2), -1, dtype=np.int64)
    r, c = flat // w + 1, flat % w + 1
    lookup[r * (w + 2) + c] = np.arange(flat.size)
    nb = np.stack([lookup[(r + dr) * (w + 2) + (c + dc)] for dr, dc in RING], axis=1)
    for k in (1, 3, 5, 7):  # a diagonal is redundant when either 4-neighbour beside it is set
        nb[:, k] = np.where((nb[:, k - 1] >= 0) | (nb[:, (k + 1) % 8] >= 0), -1, nb[:, k])
    return flat, nb
