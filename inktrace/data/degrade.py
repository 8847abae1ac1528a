"""Scan-like degradations for curriculum levels 7-9. They change the image, never the targets.

Kinds (each with a per-sample severity in [0, 1]):

| kind | what it does |
|---|---|
| blur | separable Gaussian blur, sigma 0.4-1.2 px at 64 px (scaled with the image size) |
| noise | sensor noise, std up to 0.07 |
| paper | paper tone gradient (up to 25 % darker across the page) and texture |
| ink | uneven ink (slowly varying density, ink not quite black) and dry-brush speckle dropouts |
| bleed | faint bleed-through of mirrored strokes from the other side of the page |
| guides | light ruled or grid guide lines printed on the paper (not ink: absent from the targets) |

Level 7 applies one kind at severity 0.3-0.6, level 8 one or two at 0.4-0.8, level 9 two at
0.6-1.0, chosen at random per sample. Everything is elementwise or a fixed-order weighted sum of
shifted images, so a sample degrades identically in any batch.
"""

from __future__ import annotations

import math

import torch

from .pen import smoothstep
from .rng import Draws, normal_field, uniform_field

__all__ = ["KINDS", "SEVERITY", "degrade", "degrade_samples", "compose_clean"]

KINDS = ("blur", "noise", "paper", "ink", "bleed", "guides")
# level -> (min kinds, max kinds, severity low, severity high)
SEVERITY = {7: (1, 1, 0.3, 0.6), 8: (1, 2, 0.4, 0.8), 9: (2, 2, 0.6, 1.0)}


def compose_clean(ink: torch.Tensor) -> torch.Tensor:
    """Dark ink on white paper: (B, H, W) coverage -> (B, 1, H, W) image in [0, 1].
    The coverage buffer is reused for the image (it is not needed afterwards)."""
    return ink.neg_().add_(1.0)[:, None]


def smooth_field(
    draws: Draws,
    grid: int,
    height: int,
    width: int,
    device: torch.device | str,
    eased: bool = False,
) -> torch.Tensor:
    """Low-frequency noise (B, H, W) in [0, 1]: a grid x grid lattice of uniforms, bilinearly
    interpolated (``eased``: with smoothstep weights, no creases at the lattice lines). The image
    size only sets the sampling, so the pattern scales with the image."""
    lattice = draws.uniform(grid, grid).to(device=device, dtype=torch.float32)
    ys = (torch.arange(height, device=device, dtype=torch.float32) + 0.5) / height * (grid - 1)
    xs = (torch.arange(width, device=device, dtype=torch.float32) + 0.5) / width * (grid - 1)
    y0 = ys.floor().long().clamp(max=grid - 2)
    x0 = xs.floor().long().clamp(max=grid - 2)
    fy, fx = ys - y0, xs - x0
    if eased:
        fy, fx = smoothstep(fy), smoothstep(fx)
    fy, fx = fy[None, :, None], fx[None, None, :]
    v00 = lattice[:, y0][:, :, x0]
    v01 = lattice[:, y0][:, :, x0 + 1]
    v10 = lattice[:, y0 + 1][:, :, x0]
    v11 = lattice[:, y0 + 1][:, :, x0 + 1]
    top = v00 + (v01 - v00) * fx
    bottom = v10 + (v11 - v10) * fx
    return top + (bottom - top) * fy


def _blur(img: torch.Tensor, sigma: torch.Tensor, max_sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of (B, H, W) with a per-sample sigma (at most ``max_sigma``, which
    fixes the kernel to +-3 max_sigma, so a sample blurs the same in any batch), edges
    replicated."""
    r = max(1, math.ceil(3 * max_sigma))
    taps = torch.arange(-r, r + 1, device=img.device, dtype=torch.float32)
    weights = torch.exp(-(taps[None] ** 2) / (2 * sigma[:, None] ** 2))
    weights = weights / weights.sum(-1, keepdim=True)  # (B, 2r+1)
    for dim in (1, 2):
        n = img.shape[dim]
        edge_lo = img.narrow(dim, 0, 1)
        edge_hi = img.narrow(dim, n - 1, 1)
        shape = list(img.shape)
        shape[dim] = r
        padded = torch.cat([edge_lo.expand(shape), img, edge_hi.expand(shape)], dim)
        out = torch.zeros_like(img)
        for k in range(2 * r + 1):
            out = out + weights[:, k, None, None] * padded.narrow(dim, k, n)
        img = out
    return img


def degrade(ink: torch.Tensor, level: int, draws: Draws, keys: torch.Tensor) -> torch.Tensor:
    """The degraded image (B, 1, H, W) for coverage ``ink`` (B, H, W) at ``level`` (7-9).

    Every random number is drawn for every sample (so the slots never move); each effect is then
    computed only for the samples that use it.
    """
    B, H, W = ink.shape
    dev = ink.device
    lo_n, hi_n, lo_s, hi_s = SEVERITY[level]
    count = draws.integers(lo_n, hi_n).to(dev)
    order = torch.argsort(draws.uniform(len(KINDS)), dim=1).to(
        dev
    )  # a random permutation per sample
    chosen = torch.zeros(B, len(KINDS), dtype=torch.bool, device=dev)
    chosen.scatter_(1, order, (torch.arange(len(KINDS), device=dev)[None] < count[:, None]))
    sev = torch.where(
        chosen, draws.uniform(len(KINDS), low=lo_s, high=hi_s).to(dev, torch.float32), 0.0
    )
    angle = draws.uniform(high=2 * math.pi).to(dev, torch.float32)
    spacing = draws.uniform(low=8.0, high=16.0).to(dev, torch.float32) * (W / 64.0)
    phase = draws.uniform().to(dev, torch.float32) * spacing
    grid = (draws.uniform() < 0.4).to(dev)
    density_field = smooth_field(draws.fork(1), 4, H, W, dev)
    paper_field = smooth_field(draws.fork(2), 9, H, W, dev)
    scale = W / 64.0
    ys = (torch.arange(H, device=dev, dtype=torch.float32)[None, :, None] + 0.5) / H
    xs = (torch.arange(W, device=dev, dtype=torch.float32)[None, None, :] + 0.5) / W

    def users(kind: str) -> torch.Tensor:
        return chosen[:, KINDS.index(kind)].nonzero(as_tuple=True)[0]

    def col(v: torch.Tensor) -> torch.Tensor:
        return v[:, None, None]

    s = {k: sev[:, i] for i, k in enumerate(KINDS)}
    ink_eff = ink.clone()
    ink_tone = torch.zeros(B, 1, 1, device=dev)
    paper = torch.ones_like(ink)

    i = users("ink")  # uneven density, dry-brush specks, ink not quite black
    if i.numel():
        speck = uniform_field(keys[i], 11, H, W) < col(s["ink"][i]) * 0.3
        density = 1.0 - col(s["ink"][i]) * 0.5 * density_field[i]
        ink_eff[i] = ink[i] * density * torch.where(speck, 0.3, 1.0)
        ink_tone[i] = col(s["ink"][i]) * 0.25
    i = users("paper")  # tone gradient along a random direction, and texture
    if i.numel():
        ramp = (
            col(torch.cos(angle[i])) * (xs - 0.5) + col(torch.sin(angle[i])) * (ys - 0.5)
        ) * 0.7071 + 0.5
        texture = 0.7 * paper_field[i] + 0.3 * uniform_field(keys[i], 12, H, W)
        paper[i] = 1.0 - col(s["paper"][i]) * (0.25 * ramp + 0.1 * texture)
    i = users("guides")  # ruled or grid lines, printed under the ink

    def line(coord: torch.Tensor, sp: torch.Tensor, ph: torch.Tensor) -> torch.Tensor:
        u = (coord - col(ph)) / col(sp)
        return torch.clamp(1.0 - (u - torch.round(u)).abs() * col(sp), min=0.0)

    if i.numel():
        rows = line(ys * H, spacing[i], phase[i])
        cols = torch.where(col(grid[i]), line(xs * W, spacing[i], phase[i]), 0.0)
        paper[i] = paper[i] * (1.0 - torch.maximum(rows, cols) * col(s["guides"][i]) * 0.35)
    i = users("bleed")  # the strokes seen mirrored through the paper, faint and soft
    if i.numel():
        ghost = _blur(
            ink[i].flip(-1), torch.full((i.numel(),), 1.2 * scale, device=dev), 1.2 * scale
        )
        paper[i] = paper[i] * (1.0 - col(s["bleed"][i]) * 0.22 * ghost)
    img = paper * (1.0 - ink_eff) + ink_eff * ink_tone
    i = users("blur")
    if i.numel():
        img[i] = _blur(img[i], (0.4 + 0.8 * s["blur"][i]) * scale, 1.2 * scale)
    i = users("noise")
    if i.numel():
        img[i] = img[i] + col(s["noise"][i]) * 0.07 * normal_field(keys[i], 20, H, W)
    return img.clamp(0.0, 1.0)[:, None]


def degrade_samples(ink: torch.Tensor, level: int, keys: torch.Tensor) -> torch.Tensor:
    """``degrade`` with each sample's draws taken from its key (as the curriculum levels draw
    them): the same sample degrades the same in any batch and from any caller."""
    return degrade(ink, level, Draws(keys).fork(300), keys.to(ink.device))
