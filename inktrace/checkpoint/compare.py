"""Side-by-side comparison of checkpoints of any supported format (``inktrace compare``,
``scripts/compare_checkpoints.py``): format, stage, epoch, step, best and last metrics, parameter
count, the settings that differ (dotted keys), and per-layer weight distance to the first file."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any

import torch

from ..config import Config
from ..errors import printable
from .format import load_checkpoint

__all__ = ["describe", "compare_text", "layer_distances"]

_CELL = 80  # characters of a table cell: a stored string can be any length
_STATISTICS = ("running_mean", "running_var")  # batch-norm buffers are not parameters
_METRICS = (
    "val/loss",
    "val/f1",
    "val/iou",
    "val/kp_topo_recall",
    "val/centre_error",
    "train/loss",
    "loss",
    "best_loss",
)


def describe(path: str | os.PathLike) -> dict[str, Any]:
    """What a checkpoint holds, format-independent (legacy files are migrated in memory)."""
    ckpt = load_checkpoint(path)
    info = ckpt.get("migration")
    fmt = (
        f"legacy {info['layout']} ({info['description']})"
        if info
        else f"inktrace v{ckpt['format_version']}"
    )
    manager = ckpt.get("checkpoint_manager") or {}
    best = manager.get("best") or {}
    monitor = manager.get("monitor")
    model = ckpt["model"]
    return {
        "path": str(path),
        "format": fmt,
        "stage": ckpt.get("stage"),
        "epoch": ckpt.get("epoch"),
        "global_step": ckpt.get("global_step"),
        "best": f"{monitor} {best['value']:.4f} (epoch {best.get('epoch')})"
        if best.get("value") is not None
        else None,
        "metrics": {
            k: v for k, v in (ckpt.get("metrics") or {}).items() if isinstance(v, (int, float))
        },
        "parameters": sum(
            v.numel()
            for k, v in model.items()
            if isinstance(v, torch.Tensor) and v.is_floating_point() and not k.endswith(_STATISTICS)
        ),
        "config": Config.from_dict(ckpt["config"]).flat(),
        "model": model,
    }


def layer_distances(
    a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]
) -> dict[str, float | str]:
    """Per module (a key's prefix up to its last dot): ||b - a|| / ||a|| over its floating tensors;
    "missing" or "shape" where the two do not line up."""
    out: dict[str, Any] = {}
    sums: dict[str, list[float]] = {}
    for key, va in a.items():
        if not (isinstance(va, torch.Tensor) and va.is_floating_point()):
            continue
        layer = key.rsplit(".", 1)[0]
        vb = b.get(key)
        if vb is None:
            out[layer] = "missing"
            continue
        if vb.shape != va.shape:
            out[layer] = "shape"
            continue
        s = sums.setdefault(layer, [0.0, 0.0])
        s[0] += float((vb.double() - va.double()).pow(2).sum())
        s[1] += float(va.double().pow(2).sum())
    for layer, (diff, norm) in sums.items():
        if layer not in out:
            out[layer] = math.sqrt(diff) / max(math.sqrt(norm), 1e-12)
    for key in b:
        if key not in a and isinstance(b[key], torch.Tensor):
            out.setdefault(key.rsplit(".", 1)[0], "extra")
    return out


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[printable(h) for h in header]] + [
        ["-" if v is None else printable(v, _CELL) for v in row] for row in rows
    ]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def compare_text(paths: Sequence[str | os.PathLike], top: int | None = 20) -> str:
    """The comparison as text tables (``top``: the layers with the largest distance; None: all)."""
    infos = [describe(p) for p in paths]
    names = [f"[{i}]" for i in range(len(infos))]
    out = ["\n".join(f"{n} {printable(d['path'])}" for n, d in zip(names, infos)), ""]
    metric_keys = [k for k in _METRICS if any(k in d["metrics"] for d in infos)]
    rows = [
        ("format", *[d["format"] for d in infos]),
        ("stage", *[d["stage"] for d in infos]),
        ("epoch", *[d["epoch"] for d in infos]),
        ("global step", *[d["global_step"] for d in infos]),
        ("best", *[d["best"] for d in infos]),
        ("parameters", *[f"{d['parameters']:,}" for d in infos]),
    ]
    rows += [
        (k, *[f"{d['metrics'][k]:.4f}" if k in d["metrics"] else None for d in infos])
        for k in metric_keys
    ]
    out += [_table(["", *names], rows), ""]

    keys = sorted(set().union(*(d["config"] for d in infos)))
    differ = [k for k in keys if len({repr(d["config"].get(k)) for d in infos}) > 1]
    if differ:
        out += [
            "settings that differ:",
            _table(["key", *names], [(k, *[d["config"].get(k) for d in infos]) for k in differ]),
            "",
        ]
    else:
        out += ["settings: identical", ""]

    if len(infos) > 1:
        dists = [layer_distances(infos[0]["model"], d["model"]) for d in infos[1:]]
        layers = list(dict.fromkeys(k for dd in dists for k in dd))

        def size(layer: str) -> float:
            values = [dd.get(layer) for dd in dists]
            return max((v if isinstance(v, float) else math.inf) for v in values)

        shown = layers if top is None else sorted(layers, key=size, reverse=True)[:top]
        shown = [k for k in layers if k in set(shown)]
        title = "weight distance to [0] per layer, ||x - [0]|| / ||[0]||"
        if top is not None and len(layers) > len(shown):
            title += f" (the {len(shown)} largest of {len(layers)} layers; --all for every one)"
        rows = [
            (
                layer,
                *[
                    (f"{v:.4g}" if isinstance(v, float) else v)
                    for v in (dd.get(layer, "-") for dd in dists)
                ],
            )
            for layer in shown
        ]
        out += [title + ":", _table(["layer", *names[1:]], rows)]
    return "\n".join(out).rstrip() + "\n"
