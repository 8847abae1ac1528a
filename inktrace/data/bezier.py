"""Bézier chains to polylines: cubic Bézier evaluation and adaptive flattening into the padded
centreline arrays of ``Strokes`` (geometry.py), with as many segments as each piece's bend needs.
"""

from __future__ import annotations

import torch

__all__ = ["flatten_pieces"]

SAMPLES_PER_PIECE = 16  # most polyline segments per Bézier piece (fewer where the piece is flatter)


def flatten_pieces(
    ctrl: torch.Tensor,
    piece_valid: torch.Tensor,
    samples: int = SAMPLES_PER_PIECE,
    tolerance: float = 0.05,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Polylines from Bézier chains: ``ctrl`` (B, S, P, 4, 2), ``piece_valid`` (B, S, P) a prefix.

    Each piece gets 1, 2, 4, 8 or 16 uniform segments, the fewest that keep the polyline within
    about ``tolerance`` px of the curve (a straight piece is one segment), so rendering cost
    follows the geometry; pieces that would need more than 16 are cut at 16. Returns points
    (B, S, N, 2) and seg_valid (B, S, N-1); points past a stroke's end repeat its last point, so
    every array stays finite.
    """
    B, S, P = piece_valid.shape
    T = samples
    dev = ctrl.device
    p0, c1, c2, p3 = ctrl.unbind(-2)
    chord = p3 - p0
    cx, cy = chord[..., 0], chord[..., 1]
    clen2 = (cx * cx + cy * cy).clamp(min=1e-18)

    def off(c: torch.Tensor) -> torch.Tensor:  # distance of a control point from the chord segment
        v = c - p0
        t = ((v[..., 0] * cx + v[..., 1] * cy) / clen2).clamp(0.0, 1.0)
        return (v - t[..., None] * chord).norm(dim=-1)

    # the curve stays within 3/4 of this of its chord (a loop, whose ends meet, is never "flat")
    flat = torch.maximum(off(c1), off(c2))  # (B, S, P)
    need = 0.75 * flat / tolerance  # n segments leave about flat / n^2: n^2 >= need
    # level 0 -> T segments, then 8, 4, 2, 1 (each capped at T); a piece keeps its samples
    # k = 0, step, ...
    level = torch.zeros_like(flat, dtype=torch.long)
    for i, m in enumerate((8, 4, 2, 1)):
        level = torch.where(need <= m * m, i + 1, level)
    steps = [T // min(m, T) for m in (T, 8, 4, 2, 1)]
    level = level.reshape(-1)
    step = torch.tensor(steps, device=dev).index_select(0, level)  # (B*S*P,)
    npc = torch.where(
        piece_valid.reshape(-1),
        torch.tensor([-(-T // s) for s in steps], device=dev).index_select(0, level),
        0,
    )
    # the kept samples, in order: piece index and parameter index k of each
    piece = torch.repeat_interleave(torch.arange(B * S * P, device=dev), npc)
    rank = torch.arange(piece.shape[0], device=dev)
    ki = (rank - (npc.cumsum(0) - npc).index_select(0, piece)) * step.index_select(0, piece)
    kept = npc.reshape(B * S, P).sum(-1)  # points per stroke before its end point
    count = (kept + 1).reshape(B, S)  # points per stroke
    N = max(int(count.max()) if count.numel() else 2, 2)
    # the curves at the kept parameters (the same products and sums, element by element, as a full
    # evaluation of every piece from t=0, without its end)
    t = torch.arange(T, dtype=ctrl.dtype, device=dev) / T
    s = (1.0 - t)[:, None]
    t = t[:, None]
    coef = torch.cat([s * s * s, 3 * s * s * t, 3 * s * t * t, t * t * t], -1)  # (T, 4)
    # rows gathered as complex numbers x + iy (fast copies); products taken on the real numbers
    rows = torch.view_as_complex(ctrl.reshape(B * S * P, 4, 2)).index_select(0, piece)
    coef = torch.view_as_complex(coef.repeat_interleave(2, 1).reshape(T, 4, 2)).index_select(0, ki)
    prod = torch.view_as_real(coef) * torch.view_as_real(rows)  # (K, 4, 2)
    prod = torch.view_as_complex(prod)  # so that a sum adds x and y alike
    pts = prod[:, 0] + prod[:, 1] + prod[:, 2] + prod[:, 3]
    n_valid = piece_valid.sum(-1)
    end = ctrl.gather(2, (n_valid - 1).clamp(min=0)[..., None, None, None].expand(B, S, 1, 4, 2))[
        :, :, 0, 3
    ]
    # each stroke's points, then its end point repeated to the length N
    j = torch.arange(N, device=dev)
    src = torch.where(
        j < kept[:, None],
        (kept.cumsum(0) - kept)[:, None] + j,
        pts.shape[0] + torch.arange(B * S, device=dev)[:, None],
    )
    out = torch.cat([pts, torch.view_as_complex(end.reshape(B * S, 2))]).index_select(
        0, src.reshape(-1)
    )
    out = torch.view_as_real(out)
    out = out.reshape(B, S, N, 2)
    seg_valid = torch.arange(N - 1, device=dev) < (count - 1)[..., None]
    return out, seg_valid
