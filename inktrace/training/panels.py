"""Image panels for TensorBoard: one row per sample, input | ground truth | prediction.

Ground truth and prediction are drawn the same way: the skeleton in white on black, topo
keypoints (channel 0) in red and geo keypoints (channel 1) in green on top, scaled by their
heat; a model without keypoint heads shows its skeleton only.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

__all__ = ["panel"]


def _maps_rgb(skeleton: torch.Tensor, keypoints: torch.Tensor | None) -> torch.Tensor:
    """(N, H, W) skeleton in [0, 1] and optional (N, 2, H, W) heat -> (N, 3, H, W) RGB."""
    rgb = skeleton[:, None].repeat(1, 3, 1, 1) * 0.8
    if keypoints is not None:
        topo, geo = keypoints[:, 0], keypoints[:, 1]
        rgb[:, 0] = torch.maximum(rgb[:, 0], topo)
        rgb[:, 1] = torch.maximum(rgb[:, 1] * (1 - topo), geo)
        rgb[:, 2] = rgb[:, 2] * (1 - topo) * (1 - geo)
    return rgb.clamp(0, 1)


def panel(
    batch: Mapping[str, torch.Tensor], pred: Mapping[str, torch.Tensor], num: int, gap: int = 2
) -> torch.Tensor:
    """(3, rows, cols) float image in [0, 1] for the first ``num`` samples."""
    n = min(num, batch["image"].shape[0])
    image = batch["image"][:n, 0].float().cpu()
    gt = _maps_rgb(
        batch["skeleton"][:n].float().cpu(),
        batch["keypoints"][:n].float().cpu() if "keypoints" in pred else None,
    )
    pr = _maps_rgb(
        pred["skeleton"][:n].float().cpu(),
        pred["keypoints"][:n].float().cpu() if "keypoints" in pred else None,
    )
    cols = [image[:, None].repeat(1, 3, 1, 1), gt, pr]
    H, W = image.shape[-2:]
    out = torch.full((3, n * (H + gap) - gap, 3 * (W + gap) - gap), 0.35)
    for r in range(n):
        for c, col in enumerate(cols):
            out[:, r * (H + gap) : r * (H + gap) + H, c * (W + gap) : c * (W + gap) + W] = col[r]
    return out
