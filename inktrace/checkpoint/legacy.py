"""Checkpoints of earlier InkTrace versions: safe loading, layout detection and migration.

Layouts (``docs/contracts.md``, "Legacy checkpoints and scripts"), all *format version 0*:

- **A** bare weights: ``model.state_dict()`` alone (``model.pth``, ``best_model.pth``), maybe with
  ``module.`` / ``_orig_mod.`` prefixes.
- **B** old ``train_structural.py`` / ``train_dense.py``: ``{"epoch", "model_state_dict",
  "optimizer_state_dict", "loss", "config"}`` with a flat config (``embed_dim``, ``num_layers``,
  ``lr``, ``batch_size``, ``epochs``, ``stage`` = the curriculum stage).
- **C** early unified ``train.py``: ``{"model", "optimizer", "scheduler", "config", "epoch",
  "best_loss"}`` with a nested config (model/training/data sections).
- **D** Lightning (``train_pl.py``): ``{"state_dict": {"model.<param>": ...}, "optimizer_states",
  "lr_schedulers", "epoch", "global_step", "hyper_parameters", "pytorch-lightning_version"}``.

``upgrade`` runs the migration registry ``MIGRATIONS`` (version -> function returning the next
version) until the current ``FORMAT_VERSION``; a future format change adds one function. Each
step appends to ``data["migration"]["notes"]``: what was recovered and what was not.

The architecture comes from the tensor shapes (embed_dim, num_layers, heads, norm), never from
asking the user; stored settings (LR, batch size, epochs, curriculum stage) are kept where valid.
Epoch numbers in old files are the last *completed* epoch (0-based): a resumed run continues
with the next one.

``to_layout_b`` goes the other way for layout B only: the file the old scripts' chain still reads
(``best_structural.pth`` / ``best_dense_model.pth``), written by the ``train_*.py`` shims.

Imports: ``versions``, ``weights`` and ``..config``; ``format`` imports this module (never the
reverse).
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch

from ..config import SECTIONS, Config
from ..errors import ConfigError
from .versions import FORMAT
from .weights import strip_prefixes

__all__ = [
    "MIGRATIONS",
    "SAFE_GLOBALS",
    "AttributeDict",
    "detect_layout",
    "infer_model_config",
    "upgrade",
    "plain",
    "LAYOUT_NAMES",
    "to_layout_b",
]


LAYOUT_NAMES = {
    "A": "bare weights",
    "B": "old train_structural.py / train_dense.py",
    "C": "early unified train.py",
    "D": "Lightning (train_pl.py)",
    "inktrace": "InkTrace",
}


class AttributeDict(dict):
    """Stand-in for Lightning's ``AttributeDict`` (a dict with attribute access) in old
    hyper-parameters."""

    def __getattr__(self, key: str) -> Any:
        try:
            return self[key]
        except KeyError:
            raise AttributeError(key) from None


def _numpy_globals() -> list:
    mod = np._core.multiarray if hasattr(np, "_core") else np.core.multiarray  # type: ignore[attr-defined]
    out: list = [
        np.ndarray,
        np.dtype,
        (mod.scalar, "numpy.core.multiarray.scalar"),
        (mod._reconstruct, "numpy.core.multiarray._reconstruct"),
        mod.scalar,
        mod._reconstruct,
    ]
    dtypes = getattr(np, "dtypes", None)
    if dtypes is not None:
        out += [getattr(dtypes, name) for name in dir(dtypes) if name.endswith("DType")]
    return out


# plain values old files hold: NumPy scalars, arrays and dtypes, argparse.Namespace configs,
# Lightning's AttributeDict (mapped onto a plain dict subclass); nothing that runs code
# (the safe unpickler fills only plain dicts, so AttributeDict is read as one)
SAFE_GLOBALS: list = [
    *_numpy_globals(),
    argparse.Namespace,
    (dict, "lightning_fabric.utilities.data.AttributeDict"),
    (dict, "lightning.fabric.utilities.data.AttributeDict"),
    (dict, "pytorch_lightning.utilities.parsing.AttributeDict"),
]


def plain(value: Any) -> Any:
    """Plain Python / tensors only (what ``weights_only=True`` loads back): NumPy scalars become
    numbers, arrays tensors, Namespaces and AttributeDicts dicts."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(value))
    if isinstance(value, argparse.Namespace):
        value = vars(value)
    if isinstance(value, Mapping):
        return {k: plain(v) for k, v in value.items()} if not _is_state_dict(value) else value
    if isinstance(value, (list, tuple)):
        out = [plain(v) for v in value]
        return out if isinstance(value, list) else tuple(out)
    return value


def _is_state_dict(value: Any) -> bool:
    return (
        isinstance(value, Mapping)
        and bool(value)
        and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in value.items())
    )


def detect_layout(data: Mapping[str, Any]) -> str:
    """Which layout a loaded checkpoint dict has: "inktrace", "A", "B", "C" or "D" (ValueError if
    none)."""
    if data.get("format") == FORMAT:
        return "inktrace"
    if isinstance(data.get("state_dict"), Mapping) and (
        "pytorch-lightning_version" in data
        or "optimizer_states" in data
        or "hyper_parameters" in data
    ):
        return "D"
    if isinstance(data.get("model_state_dict"), Mapping):
        return "B"
    if isinstance(data.get("model"), Mapping) and _is_state_dict(data["model"]):
        return "C"
    if _is_state_dict(data):
        return "A"
    keys = ", ".join(sorted(map(str, data))[:8]) or "none"
    raise ValueError(f"no known checkpoint layout (keys: {keys})")


_ENC = re.compile(r"^enc_blocks\.(\d+)\.")


def infer_model_config(state: Mapping[str, torch.Tensor]) -> dict[str, Any]:
    """InkTraceNet settings from a state dict's names and shapes: embed_dim (stem output channels),
    num_layers (encoder blocks), full_heads (a keypoint head exists), stroke_heads (a
    stroke-end head exists), norm (batch-norm
    statistics)."""
    if "stem.0.weight" not in state:
        raise ValueError("not InkTraceNet weights (no stem.0.weight)")
    levels = {int(m.group(1)) for k in state if (m := _ENC.match(k))}
    norm = "batch" if any(k.endswith("running_mean") for k in state) else "group"
    return {
        "embed_dim": int(state["stem.0.weight"].shape[0]),
        "num_layers": max(levels) + 1 if levels else 1,
        "full_heads": any(k.startswith("heads.keypoints.") for k in state),
        "stroke_heads": any(k.startswith("heads.ends.") for k in state),
        "norm": norm,
    }


# flat keys of old configs (layout B, flat hyper-parameters) -> dotted keys of the Config
_FLAT = {
    "embed_dim": "model.embed_dim",
    "num_layers": "model.num_layers",
    "lr": "training.lr",
    "learning_rate": "training.lr",
    "batch_size": "training.batch_size",
    "epochs": "training.epochs",
    "max_epochs": "training.epochs",
    "stage": "data.curriculum_stage",
    "curriculum_stage": "data.curriculum_stage",
    "img_size": "data.img_size",
    "weight_decay": "training.weight_decay",
    "mask_ratio": "model.mask_ratio",
    "seed": "training.seed",
}


def _config_from(
    stored: Any, arch: Mapping[str, Any], stage: str, notes: list[str]
) -> dict[str, Any]:
    """A full config dict: defaults, then the stored settings that are valid, then the
    architecture from the shapes (which wins: it is what the weights are)."""
    stored = plain(stored) if stored is not None else {}
    if not isinstance(stored, Mapping):
        stored = {}
    cfg = Config.from_dict({"stage": stage})
    pairs: list[tuple[str, Any]] = []
    for key, value in stored.items():
        if key in SECTIONS and isinstance(value, Mapping):
            pairs += [(f"{key}.{k}", v) for k, v in value.items()]
        elif key in _FLAT:
            pairs.append((_FLAT[key], value))
        elif key == "stage" and isinstance(value, str):
            continue
        else:
            pairs.append((str(key), value))
    ignored = []
    for dotted, value in pairs:
        section, _, name = dotted.partition(".")
        if section not in SECTIONS or name not in SECTIONS[section].fields():
            ignored.append(dotted)
            continue
        try:
            setattr(getattr(cfg, section), name, value)
        except (ConfigError, TypeError, ValueError):
            ignored.append(f"{dotted}={value!r}")
    if stage == "dense" and any(d == "data.curriculum_stage" for d, _ in pairs):
        cfg.curriculum.enabled = False  # the old dense script trained at one curriculum stage
    for key, value in arch.items():
        setattr(cfg.model, key, value)
    if stage == "structural":
        cfg.model.skip_connections = False
    shown = ", ".join(f"{k}={v}" for k, v in arch.items())
    notes.append(f"model config inferred from tensor shapes: {shown}")
    if ignored:
        notes.append(
            f"stored settings not carried over (unknown or invalid): {', '.join(ignored[:8])}"
            + (" ..." if len(ignored) > 8 else "")
        )
    return cfg.to_dict()


def _legacy_to_v1(data: Mapping[str, Any], notes: list[str]) -> dict[str, Any]:
    layout = detect_layout(data)
    notes.append(f"layout {layout} ({LAYOUT_NAMES[layout]})")
    if layout == "A":
        state, stored, optimizer, epoch, step, metrics = data, None, None, None, None, {}
    elif layout == "B":
        state, stored = data["model_state_dict"], data.get("config")
        optimizer, epoch, step = data.get("optimizer_state_dict"), data.get("epoch"), None
        metrics = {"loss": data["loss"]} if data.get("loss") is not None else {}
    elif layout == "C":
        state, stored = data["model"], data.get("config")
        optimizer, epoch, step = data.get("optimizer"), data.get("epoch"), None
        metrics = {"best_loss": data["best_loss"]} if data.get("best_loss") is not None else {}
        if data.get("scheduler") is not None:
            notes.append(
                "scheduler state of the old format not used: the LR schedule is recomputed "
                "from the epoch"
            )
    else:  # D
        state, stored = data["state_dict"], data.get("hyper_parameters")
        if isinstance(stored, Mapping) and isinstance(stored.get("config"), Mapping):
            stored = stored["config"]
        states = data.get("optimizer_states") or []
        optimizer = states[0] if states else None
        if len(states) > 1:
            notes.append(f"{len(states)} optimizer states: the first is used")
        epoch, step = data.get("epoch"), data.get("global_step")
        metrics = {}
        if data.get("lr_schedulers"):
            notes.append(
                "Lightning scheduler state not used: the LR schedule is recomputed from the step"
            )
    state = strip_prefixes(state)
    tensors = {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}
    if len(tensors) != len(state):
        notes.append(f"{len(state) - len(tensors)} non-tensor entries in the weights dropped")
    arch = infer_model_config(tensors)
    stage = "dense" if arch["full_heads"] else "structural"
    config = _config_from(stored, arch, stage, notes)
    # format_version 1: what this step produces, whatever the current version (a later one adds
    # MIGRATIONS[1])
    out: dict[str, Any] = {
        "format": FORMAT,
        "format_version": 1,
        "model": tensors,
        "config": config,
        "stage": stage,
        "metrics": plain(metrics),
    }
    if not isinstance(stored, Mapping) or not stored:
        out["config_inferred"] = True  # no settings stored: only the architecture is known
    recovered = [f"weights ({len(tensors)} tensors)"]
    missing = []
    if epoch is not None:
        epoch = int(plain(epoch))
        out["epoch"] = epoch
        out["position"] = {"epoch": epoch + 1, "batch": 0}
        recovered.append(f"epoch {epoch} (resumes with epoch {epoch + 1})")
    else:
        missing.append("epoch count (a resumed run starts at epoch 0)")
    if step is not None:
        out["global_step"] = int(plain(step))
        recovered.append(f"global step {out['global_step']}")
    if optimizer is not None:
        out["optimizer"] = plain(optimizer)
        recovered.append("optimizer state")
    else:
        missing.append("optimizer state (a fresh optimizer)")
    missing += [
        "RNG state (not bit-exact)",
        "checkpoint bookkeeping (top-k/best ranking starts fresh)",
    ]
    if layout != "D":
        missing.insert(0, "scheduler position (recomputed)")
    notes.append("recovered: " + ", ".join(recovered))
    notes.append("not recovered: " + ", ".join(missing))
    return out


# format version -> function(data, notes) returning the next version's dict
MIGRATIONS: dict[int, Callable[[Mapping[str, Any], list[str]], dict[str, Any]]] = {0: _legacy_to_v1}


def upgrade(data: Mapping[str, Any], current: int) -> tuple[dict[str, Any], list[str]]:
    """Run the migrations from the file's version up to ``current``; returns the dict and notes
    (empty when the file is already current)."""
    version = data.get("format_version", 0) if data.get("format") == FORMAT else 0
    notes: list[str] = []
    out = dict(data)
    while version < current:
        if version not in MIGRATIONS:
            raise ValueError(f"no migration from format version {version}")
        out = MIGRATIONS[version](out, notes)
        version = out["format_version"]
    return out, notes


def to_layout_b(ckpt: Mapping[str, Any], loss: Any = None) -> dict[str, Any]:
    """A current-format checkpoint dict (as ``load_checkpoint`` returns it) as the old scripts'
    layout B: ``{"epoch", "model_state_dict", "optimizer_state_dict", "loss", "config"}`` with the
    flat config they wrote (``stage`` = the curriculum stage). ``loss``: the value stored as
    ``loss`` (the old scripts' best validation loss). Tensors are shared, not copied."""
    c = Config.from_dict(ckpt["config"])
    return {
        "epoch": ckpt.get("epoch"),
        "model_state_dict": ckpt["model"],
        "optimizer_state_dict": ckpt.get("optimizer"),
        "loss": loss,
        "config": {
            "embed_dim": c.model.embed_dim,
            "num_layers": c.model.num_layers,
            "lr": c.training.lr,
            "batch_size": c.training.batch_size,
            "epochs": c.training.epochs,
            "stage": c.data.curriculum_stage,
        },
    }
