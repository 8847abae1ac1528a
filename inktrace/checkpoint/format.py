"""The InkTrace checkpoint format (``.ckpt``): a ``torch.save`` of a dict of tensors and plain
Python values, loadable with ``weights_only=True``.

Keys: ``format`` ("inktrace"), ``format_version``, ``model`` (state dict), ``optimizer``,
``scheduler``, ``scaler``, ``config`` (the resolved configuration as a plain dict), ``stage``,
``epoch``, ``global_step``, ``metrics``, ``rng`` and whatever else an exact resume needs.
A model-only checkpoint needs just ``format``, ``format_version``, ``model`` and ``config.model``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from ..errors import CheckpointError
from ..fileio import atomic_torch_save, output_problem
from .bookkeeping import BEST_NAME, STATE_KEY
from .legacy import LAYOUT_NAMES, SAFE_GLOBALS, detect_layout, upgrade
from .payload import check_payload
from .versions import FORMAT, FORMAT_VERSION, check_version

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "CheckpointError",
    "save_checkpoint",
    "load_checkpoint",
    "read_checkpoint",
    "newest_intact",
    "check_output",
]


def save_checkpoint(
    payload: dict[str, Any],
    path: str | os.PathLike,
    check: Callable[[Path], None] | None = None,
) -> Path:
    """Write ``payload`` (with ``format``/``format_version`` added) atomically to ``path``;
    ``check(written file)`` runs before the rename (see ``fileio.atomic_write``)."""
    payload = {"format": FORMAT, "format_version": FORMAT_VERSION, **payload}
    return atomic_torch_save(payload, path, check)


def read_checkpoint(path: str | os.PathLike, map_location: Any = "cpu") -> dict[str, Any]:
    """The raw dict stored in a checkpoint file (any format), or CheckpointError saying why not."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path}: no such checkpoint file")
    if path.is_dir():
        raise CheckpointError(f"{path}: is a folder, not a checkpoint file")
    if not path.is_file():  # a FIFO would block the reader forever, a device never end
        raise CheckpointError(f"{path}: not a regular file (a FIFO, device or socket)")
    try:
        with torch.serialization.safe_globals(SAFE_GLOBALS):
            data = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any failure of an untrusted file is bad input, one line
        raise CheckpointError(f"{path}: not a readable checkpoint ({_reason(exc)})") from None
    if not isinstance(data, dict):
        raise CheckpointError(
            f"{path}: not a checkpoint (holds a {type(data).__name__}, expected a dict)"
        )
    return data


def _reason(exc: BaseException) -> str:
    """The useful line of a torch.load failure (the offending global for weights_only refusals)."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).strip()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    found = next((line for line in lines if "unsupported global" in line.lower()), None)
    name = re.search(r"GLOBAL ([\w.]+)", found or "")
    if name:
        return (
            f"refused: it needs {name.group(1)}, which is not on the allow-list of plain values; "
            "loading it could run code"
        )
    if not found and text.startswith("Weights only load failed"):
        # torch's advice (re-run with weights_only=False) is the unsafe thing: never pass it on
        detail = next(
            (ln for ln in lines if ln.lower().startswith(("unsupported operand", "unpickling"))),
            None,
        )
        return "not torch.save data" + (f"; the unpickler says: {detail}" if detail else "")
    if isinstance(exc, EOFError) or not lines:
        return "empty or cut short (no complete torch.save data)"
    reason = found or lines[0]
    if isinstance(exc, (KeyError, IndexError)) and not found:
        reason = f"corrupt or truncated data ({type(exc).__name__}: {reason})"
    return reason if len(reason) <= 200 else reason[:197] + "..."


def load_checkpoint(path: str | os.PathLike, map_location: Any = "cpu") -> dict[str, Any]:
    """A checkpoint of any supported format as a current-format dict, checked; CheckpointError
    (one line) otherwise. Older formats (legacy layouts A-D, see legacy.py) are migrated in
        memory; ``data["migration"]`` then says from what and what could not be recovered. The
    whole payload is checked against the schema of payload.py."""
    data = read_checkpoint(path, map_location)
    if data.get("format") == FORMAT:
        check_version(f"{path}: format_version", data.get("format_version"), FORMAT_VERSION)
    elif data.get("format") is not None:
        raise CheckpointError(f"{path}: not an InkTrace checkpoint (format {data.get('format')!r})")
    try:
        layout = detect_layout(data)
        data, notes = upgrade(data, FORMAT_VERSION)
    except ValueError as exc:
        raise CheckpointError(f"{path}: not an InkTrace checkpoint ({exc})") from None
    if notes:
        data["migration"] = {"layout": layout, "description": LAYOUT_NAMES[layout], "notes": notes}
    if not isinstance(data.get("model"), dict):
        raise CheckpointError(f"{path}: no model weights (key 'model')")
    check_payload(data, path)  # every key's type and range, once: no reader meets a bad one
    config = data.get("config")
    if not isinstance(config, dict) or not isinstance(config.get("model"), dict):
        raise CheckpointError(f"{path}: no model configuration (key 'config.model')")
    return data


def migration_report(path: str | os.PathLike, data: dict[str, Any]) -> str:
    """The short block saying how an older checkpoint was read ("" for a current one)."""
    info = data.get("migration")
    if not info:
        return ""
    return "\n".join(
        [f"{path}: legacy checkpoint, {info['notes'][0]}", *(f"  {n}" for n in info["notes"][1:])]
    )


def newest_intact(path: Path) -> tuple[Path, dict[str, Any]] | None:
    """The most recently written readable checkpoint of the same run as ``path`` in its folder
    (and its contents), or None. Of the same run: a current-format training checkpoint whose
    bookkeeping names a file called like ``path`` among its run's files (``last.ckpt``, the
    best, a top-k file), so a damaged ``last.ckpt`` is never answered with a legacy file or a
    hand-made one that happens to lie beside it."""
    folder = path.parent
    if not folder.is_dir():
        return None
    others = [p for p in folder.glob("*.ckpt") if p.name != path.name and p.is_file()]
    for other in sorted(others, key=lambda p: p.stat().st_mtime, reverse=True):
        try:
            data = load_checkpoint(other)
        except CheckpointError:
            continue
        if not data.get("migration") and path.name in _run_files(data.get(STATE_KEY)):
            return other, data
    return None


def _run_files(state: Any) -> set[str]:
    """The file names a checkpoint's bookkeeping says its run wrote (empty if it has none)."""
    if not isinstance(state, dict):
        return set()
    entries = [state.get("best"), *(state.get("top_k") or [])]
    names = {e.get("file") for e in entries if isinstance(e, dict)} | {state.get("last_file")}
    if isinstance(state.get("best"), dict) and state.get("save_best"):
        names.add(BEST_NAME)
    return {n for n in names if isinstance(n, str)}


def check_output(source: str | os.PathLike, target: str | os.PathLike, force: bool) -> None:
    """A checkpoint file about to be written from ``source``: never ``source`` itself, never a
    folder, an existing file only with ``force`` (CheckpointError, one line, otherwise)."""
    source, target = Path(source), Path(target)
    if target.exists() and source.exists() and target.resolve() == source.resolve():
        raise CheckpointError(f"{target}: the same file as the source; write it elsewhere")
    if target.is_dir():
        raise CheckpointError(f"{target}: is a folder; give the file to write")
    problem = output_problem(target)
    if problem is not None:
        raise CheckpointError(f"{target}: {problem}")
    if os.path.lexists(target) and not force:  # a symbolic link too: never replaced unasked
        raise CheckpointError(f"{target}: exists; pass --force to overwrite it")
