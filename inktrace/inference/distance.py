"""The exact Euclidean distance transform of a binary mask, in numpy.

Felzenszwalb and Huttenlocher's algorithm ("Distance Transforms of Sampled Functions", 2012): the
squared distance is the lower envelope of parabolas ``f(k) + (q - k)**2``, computed by one 1-D pass
down the columns and one along the rows. Each pass walks its axis once and treats every line of the
other axis at the same time (vectorised), so an image costs ``H + W`` Python steps; lines of up to
160 pixels (a glyph) take every pair of positions at once instead, a few numpy calls. The result is
exact: squared distances are integers, held exactly in float64. The envelope's breakpoints are
rounded quotients of such integers, and rounding never orders them wrongly at the integer positions
where the envelope is read.
"""

from __future__ import annotations

import numpy as np

__all__ = ["squared_distance_transform", "distance_transform"]


_BRUTE_MAX = 160  # lines up to this long: every (q, k) pair at once, faster than the walk
_BRUTE_CHUNK = 1 << 20  # elements per step of the brute-force minimum


def _envelope(f: np.ndarray) -> np.ndarray:
    """``min over k of f[:, k] + (q - k)**2`` for every q, along axis 1, every row at once."""
    rows, n = f.shape
    if n <= _BRUTE_MAX:  # the same exact minimum (integers in float64), in a few numpy calls
        sq = (np.arange(n, dtype=np.float64)[:, None] - np.arange(n)[None, :]) ** 2  # (q, k)
        step = max(1, _BRUTE_CHUNK // (n * n))
        return np.concatenate(
            [(f[i : i + step, None, :] + sq[None]).min(-1) for i in range(0, rows, step)]
        )
    r = np.arange(rows)
    fq = f + np.arange(n, dtype=np.float64) ** 2  # f(k) + k**2: the parabolas' intersections
    v = np.zeros((rows, n), np.int64)  # vertices of the parabolas in the envelope
    z = np.full((rows, n + 1), np.inf)  # breakpoints: parabola k rules on [z[k], z[k + 1]]
    z[:, 0] = -np.inf
    k = np.zeros(rows, np.int64)  # index of the last parabola in the envelope, per row
    for q in range(1, n):
        vk = v[r, k]
        s = (fq[:, q] - fq[r, vk]) / (2.0 * (q - vk))
        todo = np.flatnonzero(s <= z[r, k])  # rows whose last parabola is now hidden
        while todo.size:
            k[todo] -= 1
            vt = v[todo, k[todo]]
            s[todo] = (fq[todo, q] - fq[todo, vt]) / (2.0 * (q - vt))
            todo = todo[s[todo] <= z[todo, k[todo]]]
        k += 1
        v[r, k] = q
        z[r, k] = s
        z[r, k + 1] = np.inf
    # Read the envelope: at q, parabola number (count of breakpoints z[1..k] below q). One sorted
    # search over all rows at once: row i's breakpoints are shifted by i * (n + 2), so they stay
    # sorted and apart (each is clipped to [-1, n]; those past the row's last parabola are stale).
    bounds = np.clip(z[:, 1:], -1.0, float(n))
    bounds[np.arange(1, n + 1)[None, :] > k[:, None]] = float(n)
    shift = (n + 2) * r[:, None]
    pos = np.arange(n)[None, :]
    found = np.searchsorted((bounds + shift).ravel(), (pos + shift).ravel(), side="left")
    owner = v[r[:, None], found.reshape(rows, n) - n * r[:, None]]
    return (pos - owner) ** 2 + f[r[:, None], owner]


def squared_distance_transform(mask: np.ndarray) -> np.ndarray:
    """Squared Euclidean distance (float64, integer-valued) from every pixel to the nearest pixel
    where ``mask`` is False (0 there); ``inf`` everywhere if the mask has no False pixel."""
    mask = np.asarray(mask, dtype=bool)
    if mask.ndim != 2:
        raise ValueError(f"distance transform: expected a 2-D mask, got shape {mask.shape}")
    if mask.size == 0:
        return np.zeros(mask.shape)
    height, width = mask.shape
    big = float(height**2 + width**2 + 1)  # farther than any real distance
    columns = _envelope(np.where(mask, big, 0.0).T).T
    out = _envelope(columns)
    out[out >= big] = np.inf
    return out


def distance_transform(mask: np.ndarray) -> np.ndarray:
    """Euclidean distance (float64) from every pixel to the nearest False pixel of ``mask``."""
    return np.sqrt(squared_distance_transform(mask))
