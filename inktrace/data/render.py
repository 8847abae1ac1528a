"""The image and the dense targets of a batch, assembled from the same vector geometry.

raster.py scans every centreline segment into ink coverage, the skeleton and each pixel's nearest
segment; this module turns the nearest segments into the per-pixel targets, adds the keypoint
heatmaps and the tangent mask, and returns the maps.

Target definitions (pixel (i, j) has its centre at (j + .5, i + .5)):

- ``ink``: coverage of the union of strokes, a disc of the local width swept along the
  centreline with a 1 px linear edge (hair-lines thinner than 1 px are lighter, not thinner).
- ``skeleton``: the digital centreline: for a segment running mostly along x, the pixel of each
  column whose centre line x = j + .5 the segment crosses, in the row where it crosses (and the
  same with rows for mostly-vertical segments), plus the pixels holding the stroke's ends and the
  vertices where the centreline turns from mostly-x to mostly-y. One pixel wide, 8-connected,
  exact for straight strokes.
- ``offset`` (dx, dy): from the pixel centre to the nearest centreline point; ``width``: the
  stroke width there; ``tangent`` (cos 2θ, sin 2θ) of the centreline direction there.
- ``mask``: where offset, width and tangent are defined: the pixels within max(half the width,
  1.5 px) of some centreline (its *band*); the targets there come from the nearest centreline
  among those whose band holds the pixel. ``tangent_mask``: ``mask`` minus discs around junctions
  and crossings (radius half the widest stroke there + 1 px), where the direction is ambiguous.
- ``keypoints``: Gaussian heatmaps (sigma 1 px, peak 1) of topo points (channel 0: endpoints,
  junctions, crossings) and geo points (channel 1: corners) inside the image (those listed).
- ``ends``: the same Gaussian at both ends of every open stroke as it was drawn (a closed stroke
  has none), also where the end touches another stroke: what the stroke-end head learns.
- ``stroke``: which stroke the pixel's targets come from (its index + 1 in the sample; 0 outside
  ``mask``), the stroke identity the embedding head learns to tell apart.
"""

from __future__ import annotations

import math

import torch

from .geometry import Strokes, _last_points
from .keypoints import CORNER, CROSSING, JUNCTION, SHALLOW, Keypoints
from .raster import (
    _NO_KEY,
    _SEG_BITS,
    BAND,
    Segments,
    _join_skeleton,
    _plane,
    _rasterise,
    _segments,
)

__all__ = ["render", "BAND", "KEYPOINT_SIGMA"]

KEYPOINT_SIGMA = 1.0  # px


def _disc_window(
    xy: torch.Tensor,
    batch: torch.Tensor,
    radius: torch.Tensor,
    height: int,
    width: int,
    max_radius: float,
    trash: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Square windows around points: flat pixel index (``trash`` outside the disc or the image),
    and squared distance, each (P, 2k+1, 2k+1). Fixed-size windows need no per-pixel gathers."""
    k = int(math.ceil(max_radius)) + 1
    offs = torch.arange(-k, k + 1, device=xy.device)
    row = torch.floor(xy[:, 1]).long()[:, None, None] + offs[None, :, None]
    col = torch.floor(xy[:, 0]).long()[:, None, None] + offs[None, None, :]
    dy = row.to(xy.dtype) + 0.5 - xy[:, 1, None, None]
    dx = col.to(xy.dtype) + 0.5 - xy[:, 0, None, None]
    d2 = dx * dx + dy * dy
    # the bounds and the row offsets are per row / per column: only the last steps are full size
    inside = ((row >= 0) & (row < height)) & ((col >= 0) & (col < width))
    keep = (d2 <= (radius * radius)[:, None, None]) & inside
    pix = torch.where(keep, (batch[:, None, None] * (height * width) + row * width) + col, trash)
    return pix, d2


def _nearest_targets(
    segs: Segments, nearest: torch.Tensor, B: int, height: int, width: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """mask, width, offset and tangent at the pixels some band holds, from the nearest centreline
    segment among those (its index sits in the low bits of ``nearest``)."""
    HW = height * width
    dev = nearest.device
    # flat gathers and scatters (index_select / scatter_) are several times faster on the CPU than
    # advanced indexing of 2-D tensors and index_put
    p_idx = (nearest != _NO_KEY).nonzero().squeeze(1)
    pb, rem = p_idx // HW, p_idx % HW
    prow, pcol = rem // width, rem % width
    g = nearest.index_select(0, p_idx) & ((1 << _SEG_BITS) - 1)
    qx, qy = pcol.to(torch.float32) + 0.5, prow.to(torch.float32) + 0.5
    ga, gd = segs["a"].index_select(0, g), segs["d"].index_select(0, g)
    gax, gay, gdx, gdy = ga[:, 0], ga[:, 1], gd[:, 0], gd[:, 1]
    glen2 = (gd * gd).sum(-1).clamp(min=1e-12)
    gt = (((qx - gax) * gdx + (qy - gay) * gdy) / glen2).clamp(0.0, 1.0)
    mask = _plane(B * HW, torch.float32, dev)
    mask.index_fill_(0, p_idx, 1.0)
    width_map = _plane(B * HW, torch.float32, dev)
    width_map.scatter_(0, p_idx, segs["wa"].index_select(0, g) + gt * segs["dw"].index_select(0, g))
    # two-channel maps are (B, 2, H, W): channel c of pixel (b, i) sits at b*2*HW + c*HW + i
    p2 = p_idx + pb * HW
    offset = _plane(B * 2 * HW, torch.float32, dev)
    offset.scatter_(0, p2, gax + gt * gdx - qx)
    offset.scatter_(0, p2 + HW, gay + gt * gdy - qy)
    tangent = _plane(B * 2 * HW, torch.float32, dev)
    tangent.scatter_(0, p2, (gdx * gdx - gdy * gdy) / glen2)
    tangent.scatter_(0, p2 + HW, 2 * gdx * gdy / glen2)
    stroke = _plane(B * HW, torch.float32, dev)
    stroke.scatter_(0, p_idx, segs["s"].index_select(0, g).to(torch.float32) + 1.0)
    return mask, width_map, offset, tangent, stroke


def _gaussian_heat(
    xy: torch.Tensor, plane: torch.Tensor, height: int, width: int, planes: int
) -> torch.Tensor:
    """(planes*H*W) heatmap: a Gaussian (sigma ``KEYPOINT_SIGMA``, peak 1) at each point ``xy``
    (P, 2) in plane ``plane`` (P,), the maximum where they overlap."""
    HW = height * width
    heat = _plane(planes * HW + 1, torch.float32, xy.device)
    r = 3.0 * KEYPOINT_SIGMA
    radius = torch.full((xy.shape[0],), r, dtype=torch.float32, device=xy.device)
    pix, d2 = _disc_window(xy, plane, radius, height, width, r, planes * HW)
    value = torch.exp(d2 * (-0.5 / (KEYPOINT_SIGMA * KEYPOINT_SIGMA)))
    heat.scatter_reduce_(0, pix.flatten(), value.flatten(), reduce="amax")
    return heat[:-1]


def _ends_map(strokes: Strokes, B: int, height: int, width: int, dev: torch.device) -> torch.Tensor:
    """Heatmap (B*H*W) of both ends of every open stroke (see the module docstring)."""
    sb, ss = (strokes.stroke_valid & ~strokes.closed).nonzero(as_tuple=True)
    last = _last_points(strokes.points, strokes.seg_valid)
    xy = torch.cat([strokes.points[sb, ss, 0], last[sb, ss]]).to(device=dev, dtype=torch.float32)
    b = torch.cat([sb, sb]).to(dev)
    inside = (xy[:, 0] >= 0) & (xy[:, 0] < width) & (xy[:, 1] >= 0) & (xy[:, 1] < height)
    return _gaussian_heat(xy[inside], b[inside], height, width, B)


def _keypoint_maps(
    keypoints: Keypoints, mask: torch.Tensor, B: int, height: int, width: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The tangent mask (``mask`` minus discs around junctions and crossings, shallow ones included)
    and the keypoint heatmaps of the listed points (those inside the image)."""
    HW = height * width
    dev = mask.device
    kind = keypoints.kind.to(dev)
    kxy = keypoints.xy.to(device=dev, dtype=torch.float32)
    krad = keypoints.radius.to(device=dev, dtype=torch.float32)
    kb, kk = ((kind == JUNCTION) | (kind == CROSSING) | (kind == SHALLOW)).nonzero(as_tuple=True)
    rad = krad[kb, kk]
    pix, _ = _disc_window(
        kxy[kb, kk], kb, rad, height, width, float(rad.max()) if rad.numel() else 0.0, B * HW
    )
    tangent_mask = _plane(B * HW + 1, torch.float32, dev)
    tangent_mask[:-1] = mask
    tangent_mask[pix.flatten()] = 0.0

    kb, kk = keypoints.listed(height, width).to(dev).nonzero(as_tuple=True)
    channel = (kind[kb, kk] == CORNER).long()
    # heat maps are (B, 2, H, W): channel c of sample b is plane 2b + c
    heat = _gaussian_heat(kxy[kb, kk], kb * 2 + channel, height, width, B * 2)
    return tangent_mask[:-1], heat


def render(
    strokes: Strokes,
    keypoints: Keypoints,
    height: int,
    width: int,
    device: torch.device | str = "cpu",
) -> dict[str, torch.Tensor]:
    """Image coverage and dense targets for a batch, as float32 tensors on ``device``."""
    B = strokes.points.shape[0]
    segs = _segments(strokes, device)
    ink, skeleton, nearest = _rasterise(segs, B, height, width, device)
    _join_skeleton(strokes, segs["x_major"], height, width, skeleton)
    mask, width_map, offset, tangent, stroke = _nearest_targets(segs, nearest, B, height, width)
    tangent_mask, heat = _keypoint_maps(keypoints, mask, B, height, width)
    ends = _ends_map(strokes, B, height, width, mask.device)
    one, two = (B, height, width), (B, 2, height, width)
    return {
        "ink": ink.reshape(one),
        "skeleton": skeleton.reshape(one),
        "keypoints": heat.reshape(two),
        "tangent": tangent.reshape(two),
        "width": width_map.reshape(one),
        "offset": offset.reshape(two),
        "mask": mask.reshape(one),
        "tangent_mask": tangent_mask.reshape(one),
        "ends": ends.reshape(one),
        "stroke": stroke.reshape(one),
    }
