"""Scan-like degradations for curriculum stages 7-9. They change the image, never the targets.

Kinds (each with a per-sample severity in [0, 1]):

| kind | what it does |
|---|---|
| blur | separable Gaussian blur, sigma 0.4-1.2 px (scaled with image size) |
| noise | sensor noise, std up to 0.07 |
| paper | paper tone gradient (up to 25 % darker across the page) and texture |
| ink | uneven ink (slowly varying density, ink not quite black) and dry-brush speckle dropouts |
| bleed | faint bleed-through of mirrored strokes from the other side of the page |
| guides | light ruled or grid guide lines printed on the paper (not ink: absent from the targets) |

Stage 7 applies one kind at severity 0.3-0.6, stage 8 one or two at 0.4-0.8, stage 9 two at
0.6-1.0, chosen at random per sample. Everything is elementwise or a fixed-order weighted sum of
shifted images, so a sample degrades identically in any batch.
"""

from __future__ import annotations

import math

import torch

from .rng import Draws, uniform_field

__all__ = ["KINDS", "LEVELS", "degrade", "compose_clean"]

KINDS = ("blur", "noise", "paper", "ink", "bleed", "guides")
# stage -> (min kinds, max kinds, severity low, severity high)
LEVELS = {7: (1, 1, 0.3, 0.6), 8: (1, 2, 0.4, 0.8), 9: (2, 2, 0.6, 1.0)}


def compose_clean(ink: torch.Tensor) -> torch.Tensor:
    """Dark ink on white paper: (B, H, W) coverage -> (B, 1, H, W) image in [0, 1]."""
    return (1.0 - ink)[:, None]


def _smooth_field(draws: Draws, grid: int, height: int, width: int, device) -> torch.Tensor:
    """Low-frequency noise (B, H, W) in [0, 1]: a grid x grid lattice, bilinearly interpolated."""
    lattice = draws.uniform(grid, grid).to(device=device, dtype=torch.float32)
    ys = (torch.arange(height, device=device, dtype=torch.float32) + 0.5) / height * (grid - 1)
    xs = (torch.arange(width, device=device, dtype=torch.float32) + 0.5) / width * (grid - 1)
    y0 = ys.floor().long().clamp(max=grid - 2)
    x0 = xs.floor().long().clamp(max=grid - 2)
    fy = (ys - y0)[None, :, None]
    fx = (xs - x0)[None, None, :]
    v00 = lattice[:, y0][:, :, x0]
    v01 = lattice[:, y0][:, :, x0 + 1]
    v10 = lattice[:, y0 + 1][:, :, x0]
    v11 = lattice[:, y0 + 1][:, :, x0 + 1]
    top = v00 + (v01 - v00) * fx
    bottom = v10 + (v11 - v10) * fx
    return top + (bottom - top) * fy


def _blur(img: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Separable Gaussian blur of (B, H, W) with a per-sample sigma, 7 taps, edges replicated."""
    taps = torch.arange(-3, 4, device=img.device, dtype=torch.float32)
    weights = torch.exp(-(taps[None] ** 2) / (2 * sigma[:, None] ** 2))
    weights = weights / weights.sum(-1, keepdim=True)  # (B, 7)
    for dim in (1, 2):
        n = img.shape[dim]
        padded = torch.cat([img.narrow(dim, 0, 1).expand_as(img.narrow(dim, 0, 3)), img,
                            img.narrow(dim, n - 1, 1).expand_as(img.narrow(dim, 0, 3))], dim)
        out = torch.zeros_like(img)
        for k in range(7):
            out = out + weights[:, k, None, None] * padded.narrow(dim, k, n)
        img = out
    return img


def degrade(ink: torch.Tensor, stage: int, draws: Draws, keys: torch.Tensor) -> torch.Tensor:
    """The degraded image (B, 1, H, W) for coverage ``ink`` (B, H, W) at ``stage`` (7-9)."""
    B, H, W = ink.shape
    dev = ink.device
    lo_n, hi_n, lo_s, hi_s = LEVELS[stage]
    count = draws.integers(lo_n, hi_n).to(dev)
    order = torch.argsort(draws.uniform(len(KINDS)), dim=1).to(dev)  # a random permutation per sample
    chosen = torch.zeros(B, len(KINDS), dtype=torch.bool, device=dev)
    chosen.scatter_(1, order, (torch.arange(len(KINDS), device=dev)[None] < count[:, None]))
    sev = torch.where(chosen, draws.uniform(len(KINDS), low=lo_s, high=hi_s).to(dev, torch.float32), 0.0)
    on = {k: sev[:, i] for i, k in enumerate(KINDS)}
    scale = W / 64.0
    col = lambda v: v[:, None, None]  # noqa: E731  (B,) -> (B, 1, 1)

    # ink: density varies slowly; dry brush drops specks; ink is not always pure black
    density = 1.0 - col(on["ink"]) * 0.5 * _smooth_field(draws.fork(1), 4, H, W, dev)
    speck = uniform_field(keys, 11, H, W).to(dev) < col(on["ink"]) * 0.3
    ink_eff = ink * density * torch.where(speck, 0.3, 1.0)
    ink_tone = col(on["ink"]) * 0.25

    # paper: tone gradient along a random direction, and texture
    angle = draws.uniform(high=2 * math.pi).to(dev, torch.float32)
    ys = (torch.arange(H, device=dev, dtype=torch.float32)[None, :, None] + 0.5) / H
    xs = (torch.arange(W, device=dev, dtype=torch.float32)[None, None, :] + 0.5) / W
    ramp = (col(torch.cos(angle)) * (xs - 0.5) + col(torch.sin(angle)) * (ys - 0.5)) * 0.7071 + 0.5
    texture = 0.7 * _smooth_field(draws.fork(2), 9, H, W, dev) + 0.3 * uniform_field(keys, 12, H, W).to(dev)
    paper = 1.0 - col(on["paper"]) * (0.25 * ramp + 0.1 * texture)

    # guide lines: ruled (horizontal) or grid, every 8-16 px at 64 px
    spacing = draws.uniform(low=8.0, high=16.0).to(dev, torch.float32) * scale
    phase = draws.uniform().to(dev, torch.float32) * spacing
    grid = (draws.uniform() < 0.4).to(dev)

    def line(coord: torch.Tensor) -> torch.Tensor:
        u = (coord - col(phase)) / col(spacing)
        return torch.clamp(1.0 - (u - torch.round(u)).abs() * col(spacing), min=0.0)

    rows = line(ys * H)
    cols = torch.where(col(grid), line(xs * W), 0.0)
    guides = torch.maximum(rows, cols) * col(on["guides"]) * 0.35
    paper = paper * (1.0 - guides)

    # bleed-through: the strokes seen mirrored through the paper, faint and soft
    ghost = _blur(ink.flip(-1), torch.full((B,), 1.2 * scale, device=dev))
    paper = paper * (1.0 - col(on["bleed"]) * 0.22 * ghost)

    img = paper * (1.0 - ink_eff) + ink_eff * ink_tone
    sigma = (0.4 + 0.8 * on["blur"]) * scale
    img = torch.where(col(on["blur"] > 0), _blur(img, sigma.clamp(min=0.1)), img)
    u = [uniform_field(keys, 20 + i, H, W).to(dev) for i in range(4)]
    gauss = (u[0] + u[1] + u[2] + u[3] - 2.0) * math.sqrt(3.0)  # Irwin-Hall: mean 0, std 1
    img = img + col(on["noise"]) * 0.07 * gauss
    return img.clamp(0.0, 1.0)[:, None]
