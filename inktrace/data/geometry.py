"""Stroke geometry: the padded batch of stroke centrelines, with a width profile.

A batch of strokes is a set of padded polylines, ``points`` (B, S, N, 2) in the pixel frame of
docs/contracts.md (x right, y down, pixel (i, j) centred at (j + .5, i + .5)), with ``widths``
(B, S, N) and ``seg_valid`` (B, S, N-1) marking the segments that exist. Everything downstream
(keypoints, rendering, targets) is computed from this one description, so image and targets
cannot disagree.

The centrelines are built elsewhere: shapes as cubic Bézier chains (primitives.py, svgparse.py),
flattened into polylines (bezier.py) and given widths by the pen (pen.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

__all__ = ["Strokes"]


@dataclass
class Strokes:
    """A padded batch of stroke centrelines (see the module docstring)."""

    points: torch.Tensor  # (B, S, N, 2) float64
    widths: torch.Tensor  # (B, S, N) float64, stroke width in pixels at each point
    seg_valid: torch.Tensor  # (B, S, N-1) bool
    closed: torch.Tensor  # (B, S) bool: the stroke ends where it starts

    @property
    def stroke_valid(self) -> torch.Tensor:
        return self.seg_valid.any(-1)

    @staticmethod
    def from_polylines(batch: Sequence[Sequence[tuple]], closed_tol: float = 1e-6) -> Strokes:
        """Build from Python data: per sample, a list of ``(points (n, 2), widths (n,) or
        float)``."""
        S = max(1, max((len(sample) for sample in batch), default=1))
        N = max(2, max((len(p) for sample in batch for p, _ in sample), default=2))
        B = len(batch)
        points = torch.zeros(B, S, N, 2, dtype=torch.float64)
        widths = torch.ones(B, S, N, dtype=torch.float64)
        seg_valid = torch.zeros(B, S, N - 1, dtype=torch.bool)
        for b, sample in enumerate(batch):
            for s, (pts, w) in enumerate(sample):
                pts = torch.as_tensor(pts, dtype=torch.float64).reshape(-1, 2)
                n = pts.shape[0]
                if n < 2:
                    raise ValueError(
                        f"stroke {s} of sample {b} has {n} point(s); a stroke needs two"
                    )
                w = torch.as_tensor(w, dtype=torch.float64)
                w = w.expand(n) if w.ndim == 0 else w
                if w.shape != (n,):
                    raise ValueError(
                        f"stroke {s} of sample {b}: {tuple(w.shape)} widths for {n} points"
                    )
                points[b, s, :n], points[b, s, n:] = pts, pts[-1]
                widths[b, s, :n], widths[b, s, n:] = w, w[-1]
                seg_valid[b, s, : n - 1] = True
        last = _last_points(points, seg_valid)
        length = ((points[:, :, 1:] - points[:, :, :-1]).norm(dim=-1) * seg_valid).sum(-1)
        closed = ((last - points[:, :, 0]).norm(dim=-1) <= closed_tol) & (
            length > closed_tol
        )  # not a dot
        return Strokes(points, widths, seg_valid, closed)


def _last_points(points: torch.Tensor, seg_valid: torch.Tensor) -> torch.Tensor:
    n_seg = seg_valid.sum(-1)  # (B, S)
    idx = n_seg[..., None, None].expand(*n_seg.shape, 1, 2)
    return points.gather(2, idx)[:, :, 0]
