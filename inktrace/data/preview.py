"""A picture of what the engine renders: one row per sample, columns
image | skeleton | keypoints | tangent (hue) | width, so a person can judge a level at a glance."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from ..fileio import atomic_write

__all__ = ["preview_grid", "save_preview"]

COLUMNS = ("image", "skeleton", "keypoints", "tangent", "width")


def _hsv_to_rgb(h: np.ndarray, s: np.ndarray, v: np.ndarray) -> np.ndarray:
    i = np.floor(h * 6).astype(int) % 6
    f = h * 6 - np.floor(h * 6)
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    table = [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)]
    rgb = np.zeros(h.shape + (3,))
    for k, (r, g, b) in enumerate(table):
        sel = i == k
        rgb[sel] = np.stack([r[sel], g[sel], b[sel]], -1)
    return rgb


def _tiles(batch: dict[str, torch.Tensor], b: int, max_width: float) -> list[np.ndarray]:
    img = batch["image"][b, 0].cpu().numpy()
    gray = np.repeat(img[..., None], 3, -1)
    skel = batch["skeleton"][b].cpu().numpy()
    skeleton = np.where(skel[..., None] > 0, [0.0, 0.0, 0.0], gray * 0.25 + 0.75)
    heat = batch["keypoints"][b].cpu().numpy()
    keys = gray * 0.4 + 0.6
    keys = keys * (1 - heat[0, ..., None]) + heat[0, ..., None] * np.array([0.9, 0.1, 0.1])
    keys = keys * (1 - heat[1, ..., None]) + heat[1, ..., None] * np.array([0.1, 0.3, 0.95])
    tan = batch["tangent"][b].cpu().numpy()
    hue = (np.arctan2(tan[1], tan[0]) / (2 * math.pi)) % 1.0
    mask = batch["tangent_mask"][b].cpu().numpy()
    tangent = _hsv_to_rgb(hue, np.ones_like(hue), mask)
    tangent = np.where(
        mask[..., None] > 0,
        tangent,
        np.where(batch["mask"][b].cpu().numpy()[..., None] > 0, 0.35, 1.0),
    )
    width = batch["width"][b].cpu().numpy() / max_width
    width_rgb = np.where(
        batch["mask"][b].cpu().numpy()[..., None] > 0,
        np.stack([width, 0.3 + 0.0 * width, 1 - width], -1),
        1.0,
    )
    return [gray, skeleton, keys, tangent, width_rgb]


def preview_grid(
    batch: dict[str, torch.Tensor], rows: int | None = None, zoom: int = 3
) -> np.ndarray:
    """An RGB uint8 array: ``rows`` samples of ``batch`` (a dataset batch dict) as a grid."""
    n = batch["image"].shape[0] if rows is None else min(rows, batch["image"].shape[0])
    size = batch["image"].shape[-1]
    max_width = max(8.0 * size / 64.0, float(batch["width"][:n].max()))
    gap = 2
    lines = []
    for b in range(n):
        tiles = [np.kron(t, np.ones((zoom, zoom, 1))) for t in _tiles(batch, b, max_width)]
        sep = np.ones((tiles[0].shape[0], gap, 3))
        row = np.concatenate([x for t in tiles for x in (t, sep)][:-1], axis=1)
        lines += [row, np.ones((gap, row.shape[1], 3))]
    grid = np.concatenate(lines[:-1], axis=0)
    return (np.clip(grid, 0, 1) * 255).round().astype(np.uint8)


def save_preview(
    batch: dict[str, torch.Tensor], path: str | Path, rows: int | None = None, zoom: int = 3
) -> Path:
    from PIL import Image

    picture = Image.fromarray(preview_grid(batch, rows, zoom))
    # a temporary name that fits beside any file name (name + ".tmp" did not past 251 bytes)
    return atomic_write(path, lambda f: picture.save(f, format="PNG"))
