"""The training loss: one term per head, weighted by the config's ``loss_weights``.

- skeleton (``loss_skel``): the centreline is a few % of the pixels, so plain BCE would learn
  "no ink". Class-balanced BCE (positives weighted by negatives/positives of the batch, capped at
  ``max_pos_weight``) plus a soft Dice term: both vanish for a perfect prediction.
- keypoints (``loss_keys``): the penalty-reduced focal loss of CornerNet/CenterNet, which rewards
  sharp peaks: positives are the peak pixels of the target heatmaps (local 3x3 maxima above 0.5,
  i.e. the pixel nearest each point), negatives near a point are down-weighted by (1 - target)^4;
  normalised by the number of peaks.
- tangent (``loss_tangent``): 1 - cos of the angle between the predicted and true (cos 2θ, sin 2θ)
  (i.e. of twice the direction difference), averaged over ``tangent_mask``.
- width (``loss_width``): smooth L1 (β = 1 px) on the width in pixels, over ``mask``.
- offset (``loss_offset``): smooth L1 (β = 0.5 px) on (dx, dy), over ``mask``.
- ends (``loss_ends``, stroke heads): the keypoint focal loss on the stroke-end heatmap.
- identity (``loss_identity``, stroke heads): the discriminative loss of De Brabandere et al.
  (2017) on the stroke-identity embedding, over ``mask`` (the whole band of every stroke; where
  bands meet, each pixel belongs to its nearest stroke, as the ``stroke`` target says): each pixel
  is pulled to within ``IDENTITY_PULL`` of its stroke's mean embedding, and the means of two
  strokes of one image are pushed at least ``2 * IDENTITY_PUSH`` apart; the pairs that touch (a
  pixel of one beside a pixel of the other: the strokes that meet at a junction, cross, or run
  side by side) have a push term of their own (their mean, added to the mean over all pairs),
  since those are the pairs the tracer must tell apart: where few pairs touch, each touching pair
  weighs many times an untouching one.
  A stroke is then a set of alike embeddings, whatever its shape. The band includes the
  junctions, so the short edges between two nearby junctions, which the tracer reads too, are
  trained (until issue 19's identity fine-tune the loss ran over ``tangent_mask``, junctions left
  out, and touching pairs counted once).

A term whose head the model lacks (structural models have skeleton and tangent only) is left out,
and so is its weight. Masked means divide by the batch's mask size (at least 1).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import cast

import torch
import torch.nn.functional as F

from .config.schema import LossWeightsConfig

__all__ = ["InkLoss", "LOG_NAMES", "TERMS", "metric_key"]

TERMS = ("skeleton", "keypoints", "tangent", "width", "offset", "ends", "identity")
LOG_NAMES = {
    "skeleton": "loss_skel",
    "keypoints": "loss_keys",
    "tangent": "loss_tangent",
    "width": "loss_width",
    "offset": "loss_offset",
    "ends": "loss_ends",
    "identity": "loss_identity",
}
IDENTITY_PULL = 0.5  # embedding distance within which a pixel is close enough to its stroke
IDENTITY_PUSH = 1.5  # half the distance two strokes' mean embeddings are pushed apart
IDENTITY_SLOTS = 64  # strokes per image told apart (ids above share the last slot)
_FOCAL_ALPHA, _FOCAL_BETA = 2.0, 4.0


def metric_key(split: str, term: str) -> str:
    """The logged name of a loss term: ``metric_key("train", "total")`` is ``train/loss``,
    ``metric_key("val", "skeleton")`` is ``val/loss_skel``; other names (``grad_norm``) as they
    are."""
    return f"{split}/{'loss' if term == 'total' else LOG_NAMES.get(term, term)}"


def _masked_mean(value: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return (value * mask).sum() / mask.sum().clamp(min=1.0)


def skeleton_loss(
    logits: torch.Tensor, target: torch.Tensor, max_pos_weight: float = 50.0
) -> torch.Tensor:
    """Class-balanced BCE + soft Dice for a (B, H, W) thin-structure target."""
    logits, target = logits.float(), target.float()
    pos = target.sum()
    neg = target.numel() - pos
    pos_weight = (neg / pos.clamp(min=1.0)).clamp(1.0, max_pos_weight).detach()
    bce = F.binary_cross_entropy_with_logits(logits, target, pos_weight=pos_weight, reduction="sum")
    bce = bce / (pos * pos_weight + neg).clamp(min=1.0)
    prob = torch.sigmoid(logits)
    inter = (prob * target).sum((1, 2))
    dice = 1.0 - (2.0 * inter + 1.0) / (prob.sum((1, 2)) + target.sum((1, 2)) + 1.0)
    return bce + dice.mean()


def peak_mask(heat: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    """Pixels that are 3x3 local maxima of a (B, C, H, W) heatmap and above ``threshold``."""
    pooled = F.max_pool2d(heat, 3, stride=1, padding=1)
    return (heat >= pooled) & (heat > threshold)


def keypoint_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Penalty-reduced pixel-wise focal loss (CenterNet) for (B, 2, H, W) Gaussian heatmaps."""
    logits, target = logits.float(), target.float()
    pos = peak_mask(target).float()
    log_p = F.logsigmoid(logits)
    log_1mp = F.logsigmoid(-logits)
    p = torch.sigmoid(logits)
    pos_term = -((1 - p) ** _FOCAL_ALPHA) * log_p * pos
    neg_term = -((1 - target) ** _FOCAL_BETA) * (p**_FOCAL_ALPHA) * log_1mp * (1 - pos)
    return (pos_term.sum() + neg_term.sum()) / pos.sum().clamp(min=1.0)


def tangent_loss(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    cos = (pred.float() * target.float()).sum(1)
    return _masked_mean(1.0 - cos, mask.float())


def width_loss(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return _masked_mean(
        F.smooth_l1_loss(pred.float(), target.float(), reduction="none", beta=1.0), mask.float()
    )


def offset_loss(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    err = F.smooth_l1_loss(pred.float(), target.float(), reduction="none", beta=0.5).sum(1)
    return _masked_mean(err, mask.float())


def _touching_pairs(ids: torch.Tensor) -> torch.Tensor:
    """(B, SLOTS, SLOTS) 1.0 where two different strokes of an image touch: a pixel of one is
    one of the 8 neighbours of a pixel of the other (ids (B, H, W), 0: no stroke)."""
    B = ids.shape[0]
    padded = F.pad(ids, (1, 1, 1, 1))
    here = padded[:, 1:-1, 1:-1]
    h, w = here.shape[1:]
    flat = torch.zeros(B * IDENTITY_SLOTS * IDENTITY_SLOTS + 1, device=ids.device)
    b = torch.arange(B, device=ids.device)[:, None, None].expand_as(here)
    for dy, dx in ((0, 1), (1, 0), (1, 1), (1, -1)):  # the other four are the same pairs reversed
        there = padded[:, 1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w]
        pair = (here > 0) & (there > 0) & (here != there)
        index = (b * IDENTITY_SLOTS + here) * IDENTITY_SLOTS + there
        flat.index_fill_(0, torch.where(pair, index, flat.numel() - 1).reshape(-1), 1.0)
    touch = flat[:-1].view(B, IDENTITY_SLOTS, IDENTITY_SLOTS)
    return torch.maximum(touch, touch.transpose(1, 2))


def identity_loss(
    embedding: torch.Tensor, stroke: torch.Tensor, mask: torch.Tensor
) -> torch.Tensor:
    """Discriminative loss for a (B, E, H, W) embedding, stroke ids (B, H, W) (0: none) and the
    pixels that count (B, H, W); see the module docstring. 0 for a batch without strokes.
    Computed with weights rather than selections, so it never waits for the device."""
    B, E = embedding.shape[:2]
    ids = stroke.long().clamp(0, IDENTITY_SLOTS - 1)
    weight = ((ids > 0) & (mask > 0)).reshape(-1).float()  # (B*H*W,)
    b = torch.arange(B, device=ids.device)[:, None].expand(B, ids[0].numel()).reshape(-1)
    inst = b * IDENTITY_SLOTS + ids.reshape(-1)  # the instance of each pixel
    emb = embedding.float().permute(0, 2, 3, 1).reshape(-1, E)
    count = torch.zeros(B * IDENTITY_SLOTS, device=emb.device).index_add_(0, inst, weight)
    total = torch.zeros(B * IDENTITY_SLOTS, E, device=emb.device)
    total.index_add_(0, inst, emb * weight[:, None])
    mean = total / count.clamp(min=1.0)[:, None]
    dist = (emb - mean.index_select(0, inst)).norm(dim=1)
    pull_pix = F.relu(dist - IDENTITY_PULL) ** 2 * weight
    present = (count > 0).float()
    per_inst = torch.zeros_like(count).index_add_(0, inst, pull_pix) / count.clamp(min=1.0)
    pull = per_inst.sum() / present.sum().clamp(min=1.0)
    # push apart the means of every two strokes of one image, and those that touch once more
    m = mean.view(B, IDENTITY_SLOTS, E)
    here = present.view(B, IDENTITY_SLOTS)
    pair = here[:, :, None] * here[:, None, :] * (1.0 - torch.eye(IDENTITY_SLOTS, device=m.device))
    touch = _touching_pairs(ids * (mask > 0).long()) * pair
    diff = m[:, :, None] - m[:, None, :]
    gap = (diff.square().sum(-1) + 1e-12).sqrt()
    short = F.relu(2.0 * IDENTITY_PUSH - gap) ** 2
    push = (short * pair).sum() / pair.sum().clamp(min=1.0)
    push_touching = (short * touch).sum() / touch.sum().clamp(min=1.0)
    reg = (mean.norm(dim=1) * present).sum() / present.sum().clamp(min=1.0)
    return pull + push + push_touching + 0.001 * reg


class InkLoss:
    """Weighted sum of the per-head terms. ``__call__(out, batch)`` returns a dict with every term
    present (unweighted, as tensors) and ``total`` (the weighted sum that is back-propagated)."""

    def __init__(self, weights: Mapping[str, float] | None = None) -> None:
        to_dict = getattr(weights, "to_dict", None)  # a config section
        weights = dict(to_dict() if to_dict is not None else (weights or {}))
        unknown = set(weights) - set(TERMS)
        if unknown:
            raise ValueError(
                f"loss_weights: unknown term(s) {sorted(unknown)} (known: {', '.join(TERMS)})"
            )
        defaults = (
            LossWeightsConfig().to_dict()
        )  # the schema holds the defaults (seed: 10, 5, 2, 1, 1)
        self.weights = {name: float(weights.get(name, defaults[name])) for name in TERMS}

    def __call__(
        self, out: Mapping[str, torch.Tensor], batch: Mapping[str, torch.Tensor]
    ) -> dict[str, torch.Tensor]:
        terms: dict[str, torch.Tensor] = {
            "skeleton": skeleton_loss(out["skeleton_logits"], batch["skeleton"])
        }
        terms["tangent"] = tangent_loss(out["tangent"], batch["tangent"], batch["tangent_mask"])
        if "keypoints_logits" in out:
            terms["keypoints"] = keypoint_loss(out["keypoints_logits"], batch["keypoints"])
        if "width" in out:
            terms["width"] = width_loss(out["width"], batch["width"], batch["mask"])
        if "offset" in out:
            terms["offset"] = offset_loss(out["offset"], batch["offset"], batch["mask"])
        if "ends_logits" in out:
            terms["ends"] = keypoint_loss(out["ends_logits"][:, None], batch["ends"][:, None])
        if "identity" in out:
            terms["identity"] = identity_loss(out["identity"], batch["stroke"], batch["mask"])
        terms = {name: terms[name] for name in TERMS if name in terms}
        total = sum(self.weights[name] * value for name, value in terms.items())
        terms["total"] = cast(torch.Tensor, total)  # a sum of tensors (0 + ... starts it)
        return terms
