"""The maps of one image, checked and converted to numpy, and keypoint heatmap peaks."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Maps", "read_maps", "find_peaks"]

_TWO_CHANNEL = ("keypoints", "tangent", "offset")


@dataclass
class Maps:
    """One image's maps as float32 arrays; the optional ones are None where the model has no
    such head (a structural model gives skeleton and tangent only)."""

    skeleton: np.ndarray  # (H, W)
    tangent: np.ndarray | None  # (2, H, W)
    offset: np.ndarray | None  # (2, H, W)
    width: np.ndarray | None  # (H, W)
    topo: np.ndarray | None  # (H, W): keypoint channel 0, ends / junctions / crossings
    geo: np.ndarray | None  # (H, W): keypoint channel 1, corners
    ends: np.ndarray | None = None  # (H, W): stroke-end probability (stroke heads)
    identity: np.ndarray | None = None  # (E, H, W): stroke-identity embedding (stroke heads)

    @property
    def shape(self) -> tuple[int, int]:
        return self.skeleton.shape


def _array(value: Any, name: str) -> np.ndarray:
    if hasattr(value, "detach"):  # a torch tensor: numpy without importing torch here
        value = value.detach().cpu().numpy()
    arr = np.asarray(value, dtype=np.float32)
    if not np.isfinite(arr).all():
        raise ValueError(f"map {name!r} holds non-finite values")
    return arr


def read_maps(maps: Mapping[str, Any]) -> Maps:
    """Check one image's dict of maps (numpy arrays or tensors; see docs/contracts.md)."""
    if "skeleton" not in maps:
        raise ValueError("the maps need at least 'skeleton'")
    skeleton = _array(maps["skeleton"], "skeleton")
    if skeleton.ndim != 2:
        raise ValueError(
            f"'skeleton' must be (H, W) (one image; index a batch first), got {skeleton.shape}"
        )
    h, w = skeleton.shape
    got: dict[str, np.ndarray | None] = {}
    for name in ("tangent", "offset", "width", "keypoints"):
        value = maps.get(name)
        if value is None:
            got[name] = None
            continue
        arr = _array(value, name)
        want = (2, h, w) if name in _TWO_CHANNEL else (h, w)
        if arr.shape != want:
            raise ValueError(f"map {name!r} must be {want} like the skeleton, got {arr.shape}")
        got[name] = arr
    ends = maps.get("ends")
    got["ends"] = None if ends is None else _array(ends, "ends")
    if got["ends"] is not None and got["ends"].shape != (h, w):
        raise ValueError(f"map 'ends' must be {(h, w)} like the skeleton, got {got['ends'].shape}")
    identity = maps.get("identity")  # any number of channels E
    got["identity"] = None if identity is None else _array(identity, "identity")
    if got["identity"] is not None and got["identity"].shape[1:] != (h, w):
        raise ValueError(
            f"map 'identity' must be (E, {h}, {w}) like the skeleton, got {got['identity'].shape}"
        )
    kp = got["keypoints"]
    return Maps(
        skeleton=skeleton,
        tangent=got["tangent"],
        offset=got["offset"],
        width=got["width"],
        topo=None if kp is None else kp[0],
        geo=None if kp is None else kp[1],
        ends=got["ends"],
        identity=got["identity"],
    )


def find_peaks(heat: np.ndarray | None, threshold: float, merge: float = 2.0) -> np.ndarray:
    """Sub-pixel peaks (K, 2) x, y of a heatmap: local maxima of their 3x3 neighbourhood that
    reach ``threshold``, the weaker of two peaks closer than ``merge`` px dropped, each refined by
    a parabola through the logarithms of its row and column neighbours (exact for a Gaussian)."""
    if heat is None:
        return np.zeros((0, 2))
    h, w = heat.shape
    padded = np.pad(heat, 1, constant_values=-np.inf)
    top = padded[0:h, 0:w].copy()  # the 3x3 maximum, one shifted view at a time (no 9x copy)
    for dr in range(3):
        for dc in range(3):
            np.maximum(top, padded[dr : dr + h, dc : dc + w], out=top)
    rows, cols = np.nonzero((heat >= top) & (heat >= threshold))
    if rows.size == 0:
        return np.zeros((0, 2))
    order = np.argsort(-heat[rows, cols], kind="stable")
    rows, cols = rows[order], cols[order]
    # greedy, strongest first: a peak is kept unless a kept one lies closer than ``merge``; the
    # kept peaks are looked up by position among the integer offsets that close (linear time)
    reach = int(np.ceil(merge))
    near = [
        (dr, dc)
        for dr in range(-reach, reach + 1)
        for dc in range(-reach, reach + 1)
        if dr * dr + dc * dc < merge**2
    ]
    kept_at: set[tuple[int, int]] = set()
    keep: list[int] = []
    for k, (rk, ck) in enumerate(zip(rows.tolist(), cols.tolist())):
        if not any((rk + dr, ck + dc) in kept_at for dr, dc in near):
            kept_at.add((rk, ck))
            keep.append(k)
    rows, cols = rows[keep], cols[keep]
    logs = np.log(np.maximum(padded, 1e-6))
    r, c = rows + 1, cols + 1

    def vertex(minus: np.ndarray, mid: np.ndarray, plus: np.ndarray) -> np.ndarray:
        curve = minus - 2.0 * mid + plus
        peaked = curve < -1e-9
        shift = np.where(peaked, 0.5 * (minus - plus) / np.where(peaked, curve, -1.0), 0.0)
        return np.clip(shift, -0.5, 0.5)

    dx = vertex(logs[r, c - 1], logs[r, c], logs[r, c + 1])
    dy = vertex(logs[r - 1, c], logs[r, c], logs[r + 1, c])
    return np.stack([cols + 0.5 + dx, rows + 0.5 + dy], axis=1)
