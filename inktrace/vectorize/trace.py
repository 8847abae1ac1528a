"""``trace_maps``: one image's dense maps to vector strokes.

1. keypoint peaks: topological (channel 0) and corner (channel 1) heatmap maxima (maps.py);
2. centreline pixels and their sub-pixel points: suppression across the stroke, not thinning of
   the probability map; nothing is suppressed in the zones of topological keypoints
   (centreline.py);
3. the stroke graph, split at ends, junctions and keypoint zones, then pruned of spurs, bridges,
   tiny loops and specks (graph.py);
4. strokes: edges joined through nodes where they go on straight, loops closed (joining.py);
5. corners snapped to their keypoints, smooth runs simplified, widths read (fitting.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import numpy as np

from .centreline import centreline
from .fitting import fit, snap_corners
from .graph import build_graph, prune
from .joining import assemble
from .maps import Maps, find_peaks, read_maps
from .regions import trace_regions
from .stroke import Stroke, TraceOptions

__all__ = ["trace_maps"]

_ZONE_MARGIN = 1.5  # px beyond half the stroke width around a topological keypoint


def _width_near(width: np.ndarray, xy: np.ndarray, default: float) -> np.ndarray:
    """The widest width map value in the 3x3 pixels around each point (``default`` if none)."""
    h, w = width.shape
    padded = np.pad(width, 1)
    r = np.clip(np.floor(xy[:, 1]).astype(np.int64), 0, h - 1) + 1
    c = np.clip(np.floor(xy[:, 0]).astype(np.int64), 0, w - 1) + 1
    near = np.max([padded[r + dr, c + dc] for dr in (-1, 0, 1) for dc in (-1, 0, 1)], axis=0)
    return np.where(near > 0, near, default)


def _discs(shape: tuple[int, int], centres: np.ndarray, radii: np.ndarray) -> np.ndarray:
    h, w = shape
    out = np.zeros(shape, dtype=bool)
    for (x, y), r in zip(centres, radii):
        r0, r1 = max(int(y - r), 0), min(int(y + r) + 1, h)
        c0, c1 = max(int(x - r), 0), min(int(x + r) + 1, w)
        rows = np.arange(r0, r1)[:, None] + 0.5
        cols = np.arange(c0, c1)[None, :] + 0.5
        out[r0:r1, c0:c1] |= (rows - y) ** 2 + (cols - x) ** 2 <= r * r
    return out


def trace_maps(
    maps: Mapping[str, Any],
    options: TraceOptions | None = None,
    *,
    processes: int = 1,
    **settings: Any,
) -> list[Stroke]:
    """Vector strokes from one image's maps.

    ``maps``: a dict of numpy arrays (or CPU tensors) for one image, as docs/contracts.md
    describes them: ``skeleton`` (H, W) and ``tangent`` (2, H, W), and where the model has them
    ``keypoints`` (2, H, W), ``width`` (H, W) and ``offset`` (2, H, W). Without keypoints there are
    no keypoint zones and no corner keypoints; without offsets points come from the skeleton
    probabilities; without widths every width is ``default_width``; without a tangent nothing is
    suppressed (the skeleton is thinned).
    ``options`` / ``settings``: a TraceOptions, and any of its fields to change (keywords).
    A page larger than ``regions.REGION_PIXELS`` is traced as groups of independent regions
    (regions.py), in up to ``processes`` processes; the strokes do not depend on ``processes``.
    Returns the strokes in the contract frame (pixel (i, j) centred at (j + .5, i + .5)).
    """
    opts = options if options is not None else TraceOptions()
    if settings:
        opts = replace(opts, **settings)
    return trace_regions(read_maps(maps), opts, _trace_whole, processes)


def _trace_whole(m: Maps, opts: TraceOptions) -> list[Stroke]:
    """The strokes of one image's (or one region group's) checked maps."""
    h, w = m.shape
    if m.width is not None:
        width = np.maximum(m.width, 0.0)
    else:
        width = np.full((h, w), opts.default_width, dtype=np.float32)
    topo = find_peaks(m.topo, opts.keypoint_threshold)
    geo = find_peaks(m.geo, opts.keypoint_threshold)
    radii = 0.5 * np.clip(_width_near(width, topo, opts.default_width), 1.0, 16.0) + _ZONE_MARGIN
    mask, points = centreline(m, opts.threshold, opts.low_threshold, _discs((h, w), topo, radii))
    graph = build_graph(mask, points, width, m.tangent, topo, radii, m.identity)
    prune(graph, opts)
    chains = assemble(graph, opts.max_turn, m.ends, opts.identity_join)
    snap_corners(chains, geo, opts.corner_snap)
    strokes = [fit(chain, opts.tolerance) for chain in chains]
    return [s for s in strokes if s.length >= opts.min_length]
