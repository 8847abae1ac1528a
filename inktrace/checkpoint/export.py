"""Weights-only export: a training checkpoint (any format InkTrace reads) -> a small model file
for using the model (``inktrace export``; the shipped model in inktrace/pretrained/ is one).

The file is a model-only checkpoint of the current format (``format``, ``format_version``,
``model``, ``config.model``; see format.py), so everything that reads checkpoints reads it, plus a
``card``: what the model was trained on and how, taken from the source checkpoint (experiment,
stage, epochs and steps, its monitored value and validation metrics, the data and curriculum
settings, the InkTrace version, the source file's name and SHA-256). No optimizer, scheduler, RNG
or history, so it cannot be resumed, only used or fine-tuned from (``init_from``).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from .format import check_output, load_checkpoint, save_checkpoint

__all__ = ["export_weights", "model_card", "file_sha256"]

_DATA_KEYS = ("img_size", "svg_dir", "svg_fraction", "svg_holdout", "svg_holdout_seed")
_CURRICULUM_KEYS = ("enabled", "start_stage", "end_stage", "epochs_per_stage")


def file_sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _plain(value: Any) -> Any:
    """Numbers, strings, lists and dicts only (tensors become numbers or lists)."""
    if isinstance(value, torch.Tensor):
        return value.item() if value.numel() == 1 else value.tolist()
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def model_card(data: Mapping[str, Any], source: str | os.PathLike) -> dict[str, Any]:
    """What a checkpoint says about how its model was trained (see the module docstring)."""
    config = data.get("config") or {}
    section = lambda name, keys: {  # noqa: E731
        k: (config.get(name) or {}).get(k) for k in keys if k in (config.get(name) or {})
    }
    metrics = {k: v for k, v in (data.get("metrics") or {}).items() if str(k).startswith("val/")}
    checkpoint = config.get("checkpoint") or {}
    card = {
        "experiment": (config.get("experiment") or {}).get("name"),
        "stage": data.get("stage"),
        "epochs": None if data.get("epoch") is None else int(data["epoch"]) + 1,
        "global_step": data.get("global_step"),
        "monitor": checkpoint.get("monitor"),
        "monitored_value": metrics.get(checkpoint.get("monitor")),
        "metrics": metrics,
        "data": section("data", _DATA_KEYS),
        "curriculum": section("curriculum", _CURRICULUM_KEYS),
        "batch_size": (config.get("training") or {}).get("batch_size"),
        "inktrace_version": data.get("inktrace_version"),
        "source": {"name": Path(source).name, "sha256": file_sha256(source)},
    }
    return _plain(card)


def export_weights(
    source: str | os.PathLike,
    target: str | os.PathLike,
    note: str | None = None,
    force: bool = False,
) -> dict[str, Any]:
    """Write the weights of ``source`` and their card to ``target``; returns the card.

    Refuses to overwrite ``target`` unless ``force``, and never ``source`` itself.
    """
    check_output(source, target, force)
    data = load_checkpoint(source)
    weights = {
        k: v.detach().to("cpu", copy=True).contiguous()
        for k, v in data["model"].items()
        if isinstance(v, torch.Tensor)
    }
    card = model_card(data, source)
    if note:
        card["note"] = str(note)
    save_checkpoint(
        {"model": weights, "config": {"model": data["config"]["model"]}, "card": card}, target
    )
    return card
