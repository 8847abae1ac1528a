"""The schema of a checkpoint's payload, checked once when a file is loaded (``load_checkpoint``):
every key InkTrace reads has the type, the range and a size it can use, so that no later reader
(resume, export, compare, predict) meets a string where a dict belongs, a NaN epoch or a
30-million-element "metric". A file that breaks it is refused in one line naming the key.

Unknown keys are allowed (a later version may add some; nothing reads them). Absent keys are
allowed where InkTrace has a default (a model-only file has just ``model`` and ``config.model``).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping
from typing import Any

import torch

from ..errors import CheckpointError, printable

__all__ = ["check_payload", "MAX_COUNT", "MAX_TEXT"]

MAX_COUNT = 10**12  # epochs, steps, batches: far beyond any run, far below an overflow
MAX_TEXT = 4096  # characters of a stored name (stage, trainer, version, run folder)
_MAX_METRICS = 10_000  # entries of a metrics dict


class _Bad(Exception):
    """What is wrong with one value (the caller adds the key)."""


def _kind(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        return f"a tensor of shape {tuple(value.shape)}"
    if isinstance(value, str):
        return f"a string of {len(value)} characters" if len(value) > 40 else f"{value!r}"
    return f"{type(value).__name__} {printable(repr(value), 40)}"


def _count(value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise _Bad(f"is {_kind(value)}, not a whole number")
    if not 0 <= int(value) <= MAX_COUNT:
        raise _Bad(f"is {int(value)}, not between 0 and {MAX_COUNT}")


def _positive(value: Any) -> None:
    _count(value)
    if int(value) < 1:
        raise _Bad(f"is {int(value)}, not at least 1")


def _number(value: Any) -> None:
    """A real number (NaN and infinities allowed: a diverged metric is a fact) or a 1-element
    tensor holding one."""
    if isinstance(value, torch.Tensor):
        if value.numel() != 1 or value.is_complex():
            raise _Bad(f"is {_kind(value)}, not a number")
        return
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise _Bad(f"is {_kind(value)}, not a number")


def _finite_number(value: Any) -> None:
    _number(value)
    if not math.isfinite(float(value)):
        raise _Bad(f"is {float(value)}, not a finite number")


def _text(value: Any) -> None:
    if not isinstance(value, str):
        raise _Bad(f"is {_kind(value)}, not a string")
    if len(value) > MAX_TEXT:
        raise _Bad(f"is a string of {len(value):,} characters; at most {MAX_TEXT}")


def _dict(value: Any) -> None:
    if not isinstance(value, Mapping):
        raise _Bad(f"is {_kind(value)}, not a dict")


def _list(value: Any) -> None:
    if not isinstance(value, (list, tuple)):
        raise _Bad(f"is {_kind(value)}, not a list")


def _weights(value: Any) -> None:
    _dict(value)
    for key, tensor in value.items():
        if not isinstance(key, str):
            raise _Bad(f"has a key {_kind(key)}, not a string")
        if not isinstance(tensor, torch.Tensor):
            raise _Bad(f"[{printable(key, 80)!r}] is {_kind(tensor)}, not a tensor")


def _metrics(value: Any) -> None:
    _dict(value)
    if len(value) > _MAX_METRICS:
        raise _Bad(f"holds {len(value):,} entries; at most {_MAX_METRICS:,}")
    for key, item in value.items():
        if not isinstance(key, str):
            raise _Bad(f"has a key {_kind(key)}, not a string")
        try:
            _number(item)
        except _Bad as exc:
            raise _Bad(f"[{printable(key, 80)!r}] {exc}") from None


def _history(value: Any) -> None:
    _dict(value)
    for key, item in value.items():
        if not isinstance(key, str):
            raise _Bad(f"has a key {_kind(key)}, not a string")
        if not isinstance(item, (list, tuple)):
            raise _Bad(f"[{printable(key, 80)!r}] is {_kind(item)}, not a list")


def _schedule(value: Any) -> None:
    """A saved LR schedule: empty, or holding its position ``step_count`` (what a resume reads)."""
    _dict(value)
    if not value:
        return
    if "step_count" not in value:
        raise _Bad("has no 'step_count' (the schedule's position)")
    try:
        _count(value["step_count"])
    except _Bad as exc:
        raise _Bad(f"['step_count'] {exc}") from None


def _optimizer(value: Any) -> None:
    _dict(value)
    state = value.get("state", {})
    if not isinstance(state, Mapping):
        raise _Bad(f"['state'] is {_kind(state)}, not a dict")
    for key, kept in state.items():
        if not isinstance(key, int) or isinstance(key, bool) or not isinstance(kept, Mapping):
            raise _Bad(f"['state'][{key!r}] is {_kind(kept)}, not a parameter's state dict")
    groups = value.get("param_groups", [])
    if not isinstance(groups, (list, tuple)) or not all(isinstance(g, Mapping) for g in groups):
        raise _Bad("['param_groups'] is not a list of dicts")


def _rng(value: Any) -> None:
    _dict(value)
    state = value.get("torch")
    if state is not None and not (isinstance(state, torch.Tensor) and state.dtype == torch.uint8):
        raise _Bad(f"['torch'] is {_kind(state)}, not a byte tensor")
    cuda = value.get("cuda")
    if cuda is not None and not (
        isinstance(cuda, (list, tuple)) and all(isinstance(t, torch.Tensor) for t in cuda)
    ):
        raise _Bad("['cuda'] is not a list of tensors")


def _position(value: Any) -> None:
    _dict(value)
    for key in ("epoch", "batch"):
        if key not in value:
            raise _Bad(f"has no {key!r}")
        try:
            _count(value[key])
        except _Bad as exc:
            raise _Bad(f"[{key!r}] {exc}") from None


def _partial(value: Any) -> None:
    _dict(value)
    if "sums" in value:
        try:
            _metrics(value["sums"])
        except _Bad as exc:
            raise _Bad(f"['sums'] {exc}") from None
    if "count" in value:
        try:
            _count(value["count"])
        except _Bad as exc:
            raise _Bad(f"['count'] {exc}") from None


def _manager(value: Any) -> None:
    """The CheckpointManager's bookkeeping: its lists are lists and its best a dict (the entries
    themselves are checked, and bad ones dropped with a warning, by bookkeeping.decode)."""
    _dict(value)
    for key in ("top_k", "pending_delete", "protected"):
        item = value.get(key)
        if item is not None and not isinstance(item, (list, tuple)):
            raise _Bad(f"[{key!r}] is {_kind(item)}, not a list")
    best = value.get("best")
    if best is not None and not isinstance(best, Mapping):
        raise _Bad(f"['best'] is {_kind(best)}, not a dict")


# key -> its check; None is allowed for every key (absent and null mean "not recorded")
_SCHEMA: dict[str, Callable[[Any], None]] = {
    "model": _weights,
    "config": _dict,
    "optimizer": _optimizer,
    "scheduler": _schedule,
    "scaler": _dict,
    "stage": _text,
    "trainer": _text,
    "inktrace_version": _text,
    "run_dir": _text,
    "epoch": _count,
    "global_step": _count,
    "position": _position,
    "world_size": _positive,
    "rng": _rng,
    "rng_ranks": _list,
    "metrics": _metrics,
    "best_metrics": _metrics,
    "history": _history,
    "nonfinite_run": _count,
    "skipped_steps": _count,
    "last_lr": _finite_number,
    "epoch_partial": _partial,
    "init_report": _dict,
    "checkpoint_manager": _manager,
    "card": _dict,
    "migration": _dict,
    "migrated_from": _dict,
    "resolved": _dict,  # the "auto" settings as this run decided them (training/hardware.py)
}


def check_payload(data: Mapping[str, Any], path: Any) -> None:
    """CheckpointError (one line naming ``path`` and the key) for the first value of ``data``
    that breaks the schema above."""
    for key, check in _SCHEMA.items():
        value = data.get(key)
        if value is None:
            continue
        try:
            check(value)
        except _Bad as exc:
            raise CheckpointError(f"{path}: not a usable checkpoint: {key!r} {exc}") from None
