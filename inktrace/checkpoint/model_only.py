"""Weights-only export: a training checkpoint (any format InkTrace reads) -> a small model file
for using the model (``inktrace export``; the shipped model in inktrace/pretrained/ is one).

The file is a model-only checkpoint of the current format (``format``, ``format_version``,
``model``, ``config.model``; see format.py), so everything that reads checkpoints reads it, plus a
``card``: what the model was trained on and how, taken from the source checkpoint (experiment,
stage, epochs and steps, its monitored value and validation metrics, the data and curriculum
settings, the InkTrace version, the source file's name and SHA-256). No optimizer, scheduler, RNG
or history, so it cannot be resumed, only used or fine-tuned from (``init_from``).

The card carries plain, bounded values only: names cut to 200 characters with control
characters escaped, at most 64 scalar validation metrics, the note cut to 1,000 characters. The
file is loaded back before it is renamed into place (same tensors, a model that builds from
them: the caller's ``verify``), so an export that exits 0 always loads.

``average=(other, weight)`` writes a weighted average of two models instead: every weight
``weight`` x the source's + (1 - ``weight``) x ``other``'s, as in WiSE-FT (a fine-tuned model
averaged with the one it was fine-tuned from keeps most of what each does well) or model soups.
Both must be one architecture (the same tensors, names, shapes and dtypes, and the same model
settings but those that only training reads: ``_TRAINING_ONLY``); integer tensors (a BatchNorm's
count of batches) are the source's. The card is the source's, its validation metrics dropped
(they measured the source alone) and an ``averaged`` section added: the other file's name and
SHA-256, and the weight (an average of an averaged file records the last average only).
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch

from ..errors import CheckpointError, printable
from .format import check_output, load_checkpoint, save_checkpoint

__all__ = ["export_weights", "model_card", "file_sha256"]

_TEXT = 200  # characters of a name in the card
_NOTE = 1000  # characters of the note
_METRICS = 64  # validation metrics in the card

_TRAINING_ONLY = ("dropout", "freeze_encoder", "mask_ratio", "mask_patch_size")  # model settings
_DATA_KEYS = ("img_size", "svg_dir", "svg_fraction", "svg_holdout", "svg_holdout_seed")
_CURRICULUM_KEYS = ("enabled", "start_stage", "end_stage", "epochs_per_stage")


def file_sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _scalar(value: Any) -> Any:
    """A bool, int, float, None or (bounded, escaped) string; anything else (a tensor of more
    than one element, a list, a dict) is not a card value: None."""
    if isinstance(value, torch.Tensor):
        value = value.item() if value.numel() == 1 and not value.is_complex() else None
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, str):
        return printable(value, _TEXT)
    return None


def _metrics(metrics: Any) -> dict[str, Any]:
    if not isinstance(metrics, Mapping):
        return {}
    out = {}
    for key, value in metrics.items():
        value = _scalar(value)
        if isinstance(key, str) and key.startswith("val/") and isinstance(value, (int, float)):
            out[printable(key, _TEXT)] = float(value)
        if len(out) == _METRICS:
            break
    return out


def model_card(data: Mapping[str, Any], source: str | os.PathLike) -> dict[str, Any]:
    """What a checkpoint says about how its model was trained (see the module docstring); an
    exported file's own card, bounded again, so exporting an export (``inktrace export
    inktrace-small OUT.ckpt``) keeps the training's facts and source."""
    if isinstance(data.get("card"), Mapping):
        return _bounded(data["card"])
    config = _dict(data.get("config"))
    monitor = _dict(config.get("checkpoint")).get("monitor")
    epoch = _scalar(data.get("epoch"))
    return _bounded(
        {
            "experiment": _dict(config.get("experiment")).get("name"),
            "stage": data.get("stage"),
            "epochs": epoch + 1 if isinstance(epoch, int) and not isinstance(epoch, bool) else None,
            "global_step": data.get("global_step"),
            "monitor": monitor,
            "monitored_value": _metrics(data.get("metrics")).get(monitor)
            if isinstance(monitor, str)
            else None,
            "metrics": data.get("metrics"),
            "data": config.get("data"),
            "curriculum": config.get("curriculum"),
            "batch_size": _dict(config.get("training")).get("batch_size"),
            "inktrace_version": data.get("inktrace_version"),
            "source": {"name": Path(source).name, "sha256": file_sha256(source)},
        }
    )


def _bounded(card: Mapping[str, Any]) -> dict[str, Any]:
    """A card of plain, bounded values (the module docstring's rules): the keys of a new card,
    each made a scalar, a bounded section or metrics, and an earlier export's note."""
    scalars = ("experiment", "stage", "epochs", "global_step", "monitor", "monitored_value")
    out: dict[str, Any] = {k: _scalar(card.get(k)) for k in scalars}
    out["metrics"] = _metrics(card.get("metrics"))
    for name, keys in (("data", _DATA_KEYS), ("curriculum", _CURRICULUM_KEYS)):
        part = _dict(card.get(name))
        out[name] = {k: _scalar(part[k]) for k in keys if k in part}
    out["batch_size"] = _scalar(card.get("batch_size"))
    out["inktrace_version"] = _scalar(card.get("inktrace_version"))
    source = _dict(card.get("source"))
    out["source"] = {"name": _scalar(source.get("name")), "sha256": _scalar(source.get("sha256"))}
    averaged = _dict(card.get("averaged"))
    if averaged:
        out["averaged"] = {k: _scalar(averaged.get(k)) for k in ("with", "sha256", "weight")}
    if isinstance(card.get("note"), str):
        out["note"] = printable(card["note"], _NOTE)
    return out


def _dict(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _weights(data: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    return {
        k: v.detach().to("cpu", copy=True).contiguous()
        for k, v in data["model"].items()
        if isinstance(v, torch.Tensor)
    }


def _averaged(
    source: str | os.PathLike,
    data: Mapping[str, Any],
    weights: dict[str, torch.Tensor],
    other: str | os.PathLike,
    weight: float,
) -> dict[str, torch.Tensor]:
    """``weight`` x ``weights`` + (1 - ``weight``) x ``other``'s (the module docstring), or
    CheckpointError naming what differs."""
    them = load_checkpoint(other)
    theirs = _weights(them)
    if theirs.keys() != weights.keys():
        extra = sorted(theirs.keys() ^ weights.keys())
        raise CheckpointError(
            f"{other}: not the architecture of {source} ({len(extra)} tensors in one only, "
            f"e.g. {printable(extra[0], _TEXT)})"
        )
    mine_cfg, their_cfg = _dict(data["config"].get("model")), _dict(them["config"].get("model"))
    for key in sorted((mine_cfg.keys() & their_cfg.keys()) - set(_TRAINING_ONLY)):
        if mine_cfg[key] != their_cfg[key]:
            raise CheckpointError(
                f"{other}: model.{key} is {their_cfg[key]!r}, {source}'s {mine_cfg[key]!r}: "
                "not one architecture"
            )
    out = {}
    for name, mine in weights.items():
        other_t = theirs[name]
        if other_t.shape != mine.shape or other_t.dtype != mine.dtype:
            raise CheckpointError(
                f"{other}: {printable(name, _TEXT)} is {tuple(other_t.shape)} "
                f"{other_t.dtype}, {source}'s {tuple(mine.shape)} {mine.dtype}"
            )
        if mine.is_floating_point():
            out[name] = (weight * mine.double() + (1.0 - weight) * other_t.double()).to(mine.dtype)
        else:  # counts (BatchNorm's num_batches_tracked): the source's
            out[name] = mine
    return out


def _weight(value: Any) -> float:
    """An average's weight as a float in [0, 1], or CheckpointError."""
    try:
        weight = float(value) if not isinstance(value, (bool, str)) else math.nan
    except (TypeError, ValueError):
        weight = math.nan
    if not 0.0 <= weight <= 1.0:  # NaN too
        raise CheckpointError(f"average weight must be between 0 and 1, got {value!r}")
    return weight + 0.0  # not -0.0


def export_weights(
    source: str | os.PathLike,
    target: str | os.PathLike,
    note: str | None = None,
    force: bool = False,
    verify: Callable[[dict[str, Any], Path], Any] | None = None,
    average: tuple[str | os.PathLike, float] | None = None,
) -> dict[str, Any]:
    """Write the weights of ``source`` (or, with ``average=(other, weight)``, their average with
    ``other``'s: the module docstring) and their card to ``target``; returns the card.

    Refuses to overwrite ``target`` unless ``force``, and never ``source`` itself. The written
    file is read back before it is renamed into place: the same tensors, and ``verify(checkpoint,
    target)`` (e.g. building the model from it) must pass, else CheckpointError and ``target``
    is left as it was.
    """
    if average is not None and Path(average[0]).resolve() == Path(target).resolve():
        raise CheckpointError(f"{target}: the file to write is the one averaged with")
    check_output(source, target, force)
    data = load_checkpoint(source)
    weights = _weights(data)
    card = model_card(data, source)
    if average is not None:
        other, weight = average[0], _weight(average[1])
        weights = _averaged(source, data, weights, other, weight)
        card["metrics"], card["monitored_value"] = {}, None
        card["averaged"] = {
            "with": printable(Path(other).name, _TEXT),
            "sha256": file_sha256(other),
            "weight": float(weight),
        }
    if note:
        card["note"] = printable(note, _NOTE)
    target = Path(target)

    def loads_back(written: Path) -> None:
        try:
            back = load_checkpoint(written)
            if back["model"].keys() != weights.keys() or not all(
                torch.equal(back["model"][k], v) for k, v in weights.items()
            ):
                raise CheckpointError(f"{target}: the weights read back differ from those written")
            if verify is not None:
                verify(back, target)
        except CheckpointError as exc:
            raise CheckpointError(f"{source}: not exported: {exc}") from None

    model_config = data["config"]["model"]
    save_checkpoint(
        {"model": weights, "config": {"model": model_config}, "card": card}, target, loads_back
    )
    return card
