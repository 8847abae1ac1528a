"""The pen: stroke widths along each centreline as a function of its normalised arc length
(pressure: tapering ends and brush-like swelling), drawn from the counter-based generator (rng.py).
"""

from __future__ import annotations

import math

import torch

from .rng import Draws

__all__ = ["arc_length_param", "width_profile", "stroke_widths"]


def arc_length_param(points: torch.Tensor, seg_valid: torch.Tensor) -> torch.Tensor:
    """Normalised arc length u in [0, 1] at every point (B, S, N)."""
    seg = (points[:, :, 1:] - points[:, :, :-1]).norm(dim=-1) * seg_valid
    cum = torch.cat([torch.zeros_like(seg[..., :1]), seg.cumsum(-1)], dim=-1)
    return cum / cum[..., -1:].clamp(min=1e-9)


def _arc_length_at_points(
    points: torch.Tensor, count: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``arc_length_param`` at each stroke's first ``count`` points only (past them it is constant).

    Returns u (K,) for the K = count.sum() points, stroke by stroke, and for each of them the stroke
    index (into B*S) and position. The same numbers as ``arc_length_param``, element by element.
    """
    B, S, N, _ = points.shape
    dev = points.device
    cnt = count.reshape(-1)
    first = cnt.cumsum(0) - cnt
    sid = torch.repeat_interleave(torch.arange(B * S, device=dev), cnt)
    pos = torch.arange(sid.shape[0], device=dev) - first.index_select(0, sid)
    seg_at = (sid * N + pos)[pos > 0]  # the end point of every segment
    pc = torch.view_as_complex(points.reshape(B * S * N, 2))  # points as x + iy: fast gathers
    d = torch.view_as_real(pc.index_select(0, seg_at) - pc.index_select(0, seg_at - 1))
    seg = torch.zeros(B * S * N, dtype=points.dtype, device=dev)
    seg[seg_at] = d.norm(
        dim=-1
    )  # segment j of a stroke at its point j + 1; a stroke's point 0 keeps 0
    cum = seg.view(B * S, N).cumsum(-1)  # cum[:, 0] = 0, as arc_length_param's leading zero
    total = cum[:, -1].clamp(min=1e-9)
    u = cum.reshape(-1).index_select(0, sid * N + pos) / total.index_select(0, sid)
    return u, sid, pos


def smoothstep(x: torch.Tensor) -> torch.Tensor:
    """0 below 0, 1 above 1, the cubic 3x^2 - 2x^3 between (flat at both ends)."""
    x = x.clamp(0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def width_profile(
    draws: Draws,
    u: torch.Tensor,
    base: torch.Tensor,
    taper: float = 1.0,
    swell: float = 0.25,
    slots: int | None = None,
) -> torch.Tensor:
    """Pen pressure along each stroke: tapering ends and brush-like swelling.

    ``u`` (B, S, N) arc-length parameter, ``base`` (B, S) width; ``taper`` scales how strongly ends
    thin (0 = none), ``swell`` the amplitude of the slow width oscillation. ``slots`` (>= S) fixes
    how many strokes' worth of numbers are drawn, so that padding S to a batch's largest sample
    does not move any sample's draws.
    """
    return _profile(u, base, *_pressure(draws, u.shape[1], slots, taper, swell), None)


def _pressure(
    draws: Draws, S: int, slots: int | None, taper: float, swell: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    n = S if slots is None else slots
    tips = (
        1.0 - taper * draws.uniform(n, 2, low=0.0, high=0.7)[:, :S]
    )  # width fraction left at each tip
    length = draws.uniform(n, 2, low=0.08, high=0.3)[
        :, :S
    ]  # fraction of the stroke the taper takes
    amp = swell * draws.uniform(n)[:, :S]
    freq = draws.uniform(n, low=0.5, high=1.6)[:, :S]
    phase = draws.uniform(n)[:, :S]
    return tips, length, amp, freq, phase


def stroke_widths(
    draws: Draws,
    points: torch.Tensor,
    seg_valid: torch.Tensor,
    base: torch.Tensor,
    max_width: float,
    taper: float = 1.0,
    swell: float = 0.25,
) -> torch.Tensor:
    """``width_profile(draws, arc_length_param(points, seg_valid), base, taper,
    swell).clamp(max=max_width)``, the same numbers, computed once per distinct point: past a
    stroke's end u, so the width, is constant."""
    B, S, N, _ = points.shape
    count = seg_valid.sum(-1) + 1  # points per stroke (seg_valid is a prefix)
    u, sid, pos = _arc_length_at_points(points, count)
    tips, length, amp, freq, phase = _pressure(draws, S, None, taper, swell)
    par = torch.cat(
        [base[..., None], tips, length, amp[..., None], freq[..., None], phase[..., None]], -1
    )
    par = par.reshape(B * S, 8).index_select(0, sid)  # each point's stroke's numbers
    w = _profile(
        u[:, None], par[:, 0], par[:, 1:3], par[:, 3:5], par[:, 5], par[:, 6], par[:, 7], max_width
    )
    cnt = count.reshape(-1)
    last = cnt.cumsum(0) - 1  # each stroke's last point
    src = (last - cnt + 1)[:, None] + torch.minimum(
        torch.arange(N, device=points.device), (cnt - 1)[:, None]
    )
    return w.reshape(-1).index_select(0, src.reshape(-1)).reshape(B, S, N)


def _profile(
    u: torch.Tensor,
    base: torch.Tensor,
    tips: torch.Tensor,
    length: torch.Tensor,
    amp: torch.Tensor,
    freq: torch.Tensor,
    phase: torch.Tensor,
    max_width: float | None,
) -> torch.Tensor:
    start = tips[..., 0:1] + (1 - tips[..., 0:1]) * smoothstep(u / length[..., 0:1])
    end = tips[..., 1:2] + (1 - tips[..., 1:2]) * smoothstep((1 - u) / length[..., 1:2])
    wave = 1.0 + amp[..., None] * torch.sin(2 * math.pi * (freq[..., None] * u + phase[..., None]))
    w = (base[..., None] * start * end * wave).clamp(min=0.7)
    return w if max_width is None else w.clamp(max=max_width)
