"""Validation: the loss terms and metrics of a model over a whole fixed set, in chunks.

Metrics are ratios of sums of counts over the whole set (``InkMetrics``), reduced across DDP
ranks; the loss terms are sample-weighted means. ``val/iou ... val/spurs`` score the skeleton
*map* (probability >= 0.5); ``val/trace_*`` score what a user gets: each image is traced into
strokes (``inktrace.vectorize``) and their rasterised centreline is scored the same way, so a
thick but correct map is not penalised there and spurs of the tracer are. Optionally the first
chunk's image panel (input | ground truth | prediction) for TensorBoard.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch

from ..losses import metric_key
from ..metrics import InkMetrics
from ..model import InkTraceNet
from ..vectorize import trace_maps
from ..vectorize.redraw import centreline_maps
from .hardware import autocast, to_device
from .interface import TrainerView

__all__ = ["evaluate", "validate_trainer", "TRACED", "traced_maps", "panel"]

TRACED = ("precision", "recall", "f1", "centre_error", "spurs")  # logged as val/trace_<name>


def traced_maps(probs: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The skeleton and offset maps of the strokes traced from each image's maps (B first)."""
    # a diverging model's non-finite outputs score as nothing traced, never stop the run
    maps = {
        k: np.nan_to_num(v.detach().float().cpu().numpy(), nan=0.0, posinf=0.0, neginf=0.0)
        for k, v in probs.items()
    }
    strokes = [trace_maps({k: v[b] for k, v in maps.items()}) for b in range(len(maps["skeleton"]))]
    raster = centreline_maps(strokes, *maps["skeleton"].shape[1:])
    return {k: torch.as_tensor(v, device=probs["skeleton"].device) for k, v in raster.items()}


# ---------------------------------------------------------------- image panels (TensorBoard)
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


@torch.no_grad()
def evaluate(
    model: InkTraceNet,
    data: Mapping[str, torch.Tensor],
    loss_fn: Callable,
    model_inputs: Callable[[Mapping[str, torch.Tensor], int], dict[str, Any]],
    batch_size: int,
    precision: str,
    panel_rows: int = 0,
    check_stop: Callable[[], None] = lambda: None,
    reduce_sums: Callable[[dict, float], tuple[dict, float]] = lambda sums, n: (sums, n),
) -> tuple[dict[str, float], torch.Tensor | None]:
    """``val/*`` loss terms and metrics of ``model`` over ``data`` (a batch dict) in chunks of
    ``batch_size``, and the first chunk's panel of ``panel_rows`` rows (None when 0).
    ``model_inputs(chunk, i)``: extra forward arguments of chunk ``i`` (structural: its fixed
    mask). ``check_stop`` runs before each chunk (it raises to stop). With several ranks, ``data``
    is this rank's share and ``reduce_sums(sums, n)`` adds the loss sums and counts of all."""
    model.eval()
    device = next(model.parameters()).device
    metrics, traced = InkMetrics(device=device), InkMetrics(device=device)
    sums: dict[str, float] = {}
    n_total, shown = data["image"].shape[0], None
    for i, start in enumerate(range(0, n_total, batch_size)):
        check_stop()
        chunk = to_device({k: v[start : start + batch_size] for k, v in data.items()}, device)
        with autocast(device, precision):
            out = model(chunk["image"], **model_inputs(chunk, i))
            terms = loss_fn(out, chunk)
        for k, v in terms.items():
            sums[k] = sums.get(k, 0.0) + float(v) * chunk["image"].shape[0]
        probs = InkTraceNet.probabilities(out)
        metrics.update(probs, chunk)
        traced.update(traced_maps(probs), chunk)
        if i == 0 and panel_rows:
            seen = chunk
            if "visible" in out:  # show what the model saw
                seen = {**chunk, "image": 1.0 - (1.0 - chunk["image"]) * out["visible"]}
            shown = panel(seen, probs, panel_rows)
    metrics.reduce()
    traced.reduce()
    sums, n_all = reduce_sums(sums, n_total)
    result = {metric_key("val", k): v / n_all for k, v in sums.items()}
    result.update({f"val/{k}": float(v) for k, v in metrics.compute().items()})
    result.update({f"val/trace_{k}": float(v) for k, v in traced.compute().items() if k in TRACED})
    return result, shown


def validate_trainer(
    t: TrainerView, log_images: bool
) -> tuple[dict[str, float], torch.Tensor | None]:
    """``evaluate`` for a trainer: its model, validation set, loss and inputs; with several ranks
    each evaluates its share (the sums meet) and none stops mid-way (they could not agree)."""
    rows = t.cfg.visualization.num_samples if log_images and t.dist.main else 0
    data, d = t.val_batch(), t.dist
    if d.enabled:
        data = {k: v[d.share(v.shape[0])] for k, v in data.items()}
    return evaluate(
        t.model,
        data,
        t.loss_fn,
        lambda chunk, i: t.model_inputs(chunk, i, train=False),
        t.cfg.training.batch_size,
        t.precision,
        rows,
        (lambda: None) if d.enabled else t.check_stop,
        lambda sums, n: d.sum_values(sums, n, t.device),
    )
