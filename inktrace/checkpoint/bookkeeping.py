"""The checkpoint manager's bookkeeping: what it stores inside every checkpoint, and how a resumed
run reads it back, checked against the files on disk.

Each file carries the manager's state *as it is after that save* under the payload key
``"checkpoint_manager"`` (:data:`STATE_KEY`); a resumed run passes it to
``CheckpointManager.load_state_dict``. The state holds plain Python values only (survives
``torch.load(weights_only=True)``) and names files relative to the checkpoint folder, so a moved
folder still resumes. It also lists the files that fell out of the top-k in that save
(``pending_delete``): if a crash struck between writing and deleting, the resumed run deletes them
after its next save.

When :func:`decode` finds a recorded file gone: a top-k entry is dropped; a gone ``best.ckpt``
keeps the best *value and epoch* (so a worse checkpoint is never written as ``best.ckpt`` and
``is_best`` stays true to the run's history) while the best path falls back to the best epoch's
top-k file if that still exists, else None. Every such repair is reported in the returned list of
warnings. A state ranked by another monitor or mode is not carried over (its files are then kept,
as another run's). Names are bare file names: the bookkeeping never reaches outside its folder.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import CheckpointError
from .versions import check_version

__all__ = [
    "STATE_KEY",
    "LAST_NAME",
    "BEST_NAME",
    "Entries",
    "encode",
    "decode",
    "best_topk_file",
    "stored_best_file",
    "plain_name",
]

STATE_KEY = "checkpoint_manager"
LAST_NAME = "last.ckpt"
BEST_NAME = "best.ckpt"
STATE_VERSION = 1


@dataclass
class Entries:
    """The files a manager knows, by bare name: ``top`` (``{"epoch", "value", "file"}``, best
    first), ``best`` (``file`` None when no ``best.ckpt`` is kept), ``last``, the files still to
    delete and the protected ones."""

    top: list[dict[str, Any]] = field(default_factory=list)
    best: dict[str, Any] | None = None
    last: str | None = None
    last_epoch: int | None = None
    pending: list[str] = field(default_factory=list)
    protected: list[str] = field(default_factory=list)


def encode(manager: Any, entries: Entries) -> dict[str, Any]:
    """The state stored in a checkpoint: the manager's settings and ``entries``."""
    return {
        "version": STATE_VERSION,
        "monitor": manager.monitor,
        "mode": manager.mode,
        "keep_top_k": manager.keep_top_k,
        "save_last": manager.save_last,
        "save_best": manager.save_best,
        "top_k": [dict(e) for e in entries.top],
        "best": None if entries.best is None else dict(entries.best),
        "last_file": entries.last,
        "last_epoch": entries.last_epoch,
        "protected": list(entries.protected),
        "pending_delete": list(entries.pending),
    }


def decode(state: Any, manager: Any) -> tuple[Entries | None, list[str]]:
    """The entries of a stored state that still hold for ``manager`` (its folder, monitor, mode
    and ``keep_top_k``), and one warning per repair. ``(None, [note])`` for an empty state (a
    checkpoint without bookkeeping); CheckpointError if ``state`` is not bookkeeping at all."""
    if not isinstance(state, Mapping):
        raise CheckpointError(
            f"checkpoint manager state: expected a dict, got {type(state).__name__}"
        )
    if not state:  # a checkpoint without bookkeeping (older or hand-made): nothing to restore
        return None, [
            "the checkpoint holds no top-k/best bookkeeping: ranking starts afresh, "
            "files already in the folder are kept"
        ]
    check_version("checkpoint manager state", state.get("version"), STATE_VERSION)
    directory, monitor, mode = manager.directory, manager.monitor, manager.mode
    warnings: list[str] = []
    out = Entries(pending=[n for n in state.get("pending_delete") or [] if plain_name(n)])

    if state.get("monitor") != monitor or state.get("mode") != mode:
        warnings.append(
            f"checkpoint bookkeeping ranks by {state.get('monitor')!r} ({state.get('mode')}), "
            f"this run by {monitor!r} ({mode}): earlier top-k and best not carried "
            f"over, their files are kept"
        )
    else:
        out.top, surplus = _top_entries(state.get("top_k") or [], manager, warnings)
        out.pending += surplus
        if state.get("best") is not None:
            out.best = _best_entry(state["best"], out.top, manager, warnings)

    last = state.get("last_file")
    if last is not None and (not plain_name(last) or not (directory / last).is_file()):
        warnings.append(f"last checkpoint {directory / str(last)} is gone: forgotten")
        last = None
    out.last = last
    last_epoch = state.get("last_epoch")
    out.last_epoch = last_epoch if isinstance(last_epoch, int) else None
    out.protected = [n for n in state.get("protected") or [] if isinstance(n, str) and n]
    out.pending = list(dict.fromkeys(out.pending))
    return out, warnings


def _top_entries(raw_entries: list, manager: Any, warnings: list[str]):
    """The well-formed top-k entries whose files exist, ranked, and the files of the surplus over
    ``keep_top_k`` (to delete after the next save)."""
    top = []
    for raw in raw_entries:
        entry = _entry(raw, need_file=True)
        if entry is None:
            warnings.append(f"checkpoint bookkeeping: malformed top-k entry {raw!r} dropped")
        elif not (manager.directory / entry["file"]).is_file():
            warnings.append(
                f"top-k checkpoint {manager.directory / entry['file']} "
                f"(epoch {entry['epoch']}) is gone: dropped from the top-k"
            )
        else:
            top.append(entry)
    # stable: ties keep their order
    top.sort(key=lambda e: e["value"] if manager.mode == "min" else -e["value"])
    keep = manager.keep_top_k
    surplus = [e["file"] for e in top[keep:]]
    if surplus:
        warnings.append(
            f"keep_top_k is {keep}, the bookkeeping kept {len(top)}: "
            f"{', '.join(surplus)} will be deleted after the next save"
        )
    return top[:keep], surplus


def _best_entry(raw: Any, top: list[dict[str, Any]], manager: Any, warnings: list[str]):
    best = _entry(raw, need_file=False)
    if best is None:
        warnings.append(f"checkpoint bookkeeping: malformed best entry {raw!r} dropped")
    elif best["file"] is not None and not (manager.directory / best["file"]).is_file():
        gone = manager.directory / best["file"]
        best["file"] = None
        file = best_topk_file(top, best)
        fallback = str(manager.directory / file) if file else None
        warnings.append(
            f"best checkpoint {gone} (epoch {best['epoch']}, {manager.monitor} "
            f"{best['value']:.4f}) is gone: best value kept, best path now "
            f"{fallback or 'none'}"
        )
    return best


def best_topk_file(top: list[dict[str, Any]], best: dict[str, Any] | None) -> str | None:
    """The top-k file holding the best epoch (same epoch and value), if it is among ``top``."""
    if best is None:
        return None
    return next(
        (e["file"] for e in top if e["epoch"] == best["epoch"] and e["value"] == best["value"]),
        None,
    )


def stored_best_file(state: Any) -> str | None:
    """The best epoch's top-k file that a stored state names (without checking the disk)."""
    if not isinstance(state, Mapping):
        return None
    top = [e for e in map(lambda raw: _entry(raw, need_file=True), state.get("top_k") or []) if e]
    return best_topk_file(top, _entry(state.get("best"), need_file=False))


def plain_name(name: Any) -> bool:
    """A bare file name (no folders, not '.'/'..'): the bookkeeping never reaches outside its
    folder."""
    return (
        isinstance(name, str)
        and name not in ("", ".", "..")
        and os.path.basename(name) == name
        and "/" not in name
        and "\\" not in name
    )


def _entry(raw: Any, need_file: bool) -> dict[str, Any] | None:
    if not isinstance(raw, Mapping):
        return None
    epoch, value, file = raw.get("epoch"), raw.get("value"), raw.get("file")
    if isinstance(epoch, bool) or not isinstance(epoch, int):
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    if file is None and not need_file:
        return {"epoch": epoch, "value": float(value), "file": None}
    if not plain_name(file) or (need_file and file in (LAST_NAME, BEST_NAME)):
        return None
    return {"epoch": epoch, "value": float(value), "file": file}
