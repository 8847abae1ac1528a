"""Which checkpoint files a training run keeps: ``last.ckpt``, ``best.ckpt`` and the top-k files
``epoch{E}-{monitor}{value:.4f}.ckpt`` ranked by one monitored metric.

Rules
-----
* One :meth:`CheckpointManager.save` serialises the payload once and writes it once, atomically
  (``inktrace.fileio.atomic_write``: temporary file in the same folder, fsync, ``os.replace``),
  to its first file; its other files are hard links of that one, each made under a temporary
  name and renamed into place (``inktrace.fileio.atomic_link``), so a reader never sees a part of
  ``best.ckpt``. Where the file system refuses hard links, they are written as copies of the same
  bytes, each atomically. The files of one save hold the same bytes, the bookkeeping included:
  the manager's state after that save. ``best.ckpt`` and ``last.ckpt`` are never symlinks.
  Files are only ever replaced (a new file renamed over the name), never rewritten in place, so
  replacing or deleting one name never changes another that was a link of it.
* Write order within one save: the top-k file, then ``best.ckpt``, then ``last.ckpt``. So the
  bookkeeping stored in ``last.ckpt`` only ever names files that were already on disk. Files that
  fall out of the top-k are deleted only after all new files are written. If a write raises, the
  files this save created are removed again and the bookkeeping is left as it was (``best.ckpt``,
  if it was already overwritten, then holds a checkpoint better than the recorded best; the next
  improvement overwrites it).
* A missing, non-numeric, NaN or infinite monitored value is never best and never enters the
  top-k; ``last.ckpt`` is still written. Ties: the earlier checkpoint stays ahead (a later one
  with an equal value is neither best nor pushes the earlier one out).
* Saving an epoch that is already in the top-k replaces that entry.
* Only files this manager wrote (or that the bookkeeping it loaded says its run wrote) are ever
  deleted. A folder holding another run's checkpoints is left alone, except that ``last.ckpt``,
  ``best.ckpt`` and a top-k file of the very same name are overwritten. Resuming from a file
  older than ``last.ckpt`` restores the bookkeeping as of that file: top-k files the abandoned
  run wrote later are unknown to it and stay on disk.
* :meth:`CheckpointManager.protect` exempts a file (the checkpoint a run resumed from) from
  deletion. Protection is about deletion only: ``last.ckpt``/``best.ckpt`` are still rewritten.
* :meth:`CheckpointManager.save_interrupt` writes ``last.ckpt`` whatever ``save_last`` says: a
  stopped run's only way back. :meth:`CheckpointManager.repair_best` puts ``best.ckpt`` back in
  line with the bookkeeping after a resume from an older file; :meth:`CheckpointManager.best_in`
  names a finished run's best file. No other code decides which checkpoint file is which.

Bookkeeping
-----------
Each file carries the manager's state as it is after that save (``bookkeeping.py``): a resumed
run restores it with :meth:`CheckpointManager.load_state_dict`, checked against the disk.
"""

from __future__ import annotations

import io
import math
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from ..errors import CheckpointError
from ..fileio import atomic_link, atomic_write
from .bookkeeping import (
    BEST_NAME,
    LAST_NAME,
    STATE_KEY,
    Entries,
    best_topk_file,
    decode,
    encode,
    stored_best_file,
)
from .format import read_checkpoint, save_checkpoint
from .versions import FORMAT, FORMAT_VERSION

__all__ = ["CheckpointManager", "STATE_KEY", "LAST_NAME", "BEST_NAME"]

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


class CheckpointManager:
    """Keeps ``last.ckpt``, ``best.ckpt`` and the ``keep_top_k`` best checkpoints in ``directory``.

    ``keep_top_k=0`` keeps no top-k files (with ``save_best`` that means "best only").
    Nothing touches the disk before the first :meth:`save`.
    """

    def __init__(
        self,
        directory: str | os.PathLike,
        monitor: str = "val/loss",
        mode: str = "min",
        keep_top_k: int = 3,
        save_last: bool = True,
        save_best: bool = True,
    ):
        if mode not in ("min", "max"):
            raise ValueError(f"checkpoint mode must be 'min' or 'max', not {mode!r}")
        if not isinstance(monitor, str) or not monitor:
            raise ValueError(f"checkpoint monitor must be a metric name, not {monitor!r}")
        if isinstance(keep_top_k, bool) or not isinstance(keep_top_k, int) or keep_top_k < 0:
            raise ValueError(f"keep_top_k must be an integer >= 0, not {keep_top_k!r}")
        self.directory = Path(directory)
        self.monitor = monitor
        self.mode = mode
        self.keep_top_k = keep_top_k
        self.save_last = bool(save_last)
        self.save_best = bool(save_best)
        self._top: list[dict[str, Any]] = []  # {"epoch", "value", "file"}, best first
        self._best: dict[str, Any] | None = None  # {"epoch", "value", "file" (or None)}
        self._last: str | None = None
        self._last_epoch: int | None = None
        self._protected: set[Path] = set()  # resolved paths
        self._pending: list[str] = []  # our files that fell out, not yet deleted

    @classmethod
    def from_config(cls, directory: str | os.PathLike, checkpoint: Any) -> CheckpointManager:
        """The manager of a config's ``checkpoint`` section, writing into ``directory``."""
        return cls(
            directory,
            monitor=checkpoint.monitor,
            mode=checkpoint.mode,
            keep_top_k=checkpoint.keep_top_k,
            save_last=checkpoint.save_last,
            save_best=checkpoint.save_best,
        )

    # ------------------------------------------------------------------ naming and properties
    @staticmethod
    def filename(epoch: int, monitor: str, value: float) -> str:
        """``epoch{epoch}-{monitor}{value:.4f}.ckpt`` with every character of ``monitor`` other than
        letters, digits, ``.``, ``_`` and ``-`` replaced by ``_`` ("val/loss" -> "val_loss")."""
        return f"epoch{epoch}-{_UNSAFE.sub('_', monitor)}{value:.4f}.ckpt"

    def _path(self, name: str | None) -> str | None:
        return None if name is None else str(self.directory / name)

    @property
    def top_k(self) -> list[dict[str, Any]]:
        """The kept top-k checkpoints, best first: ``[{"epoch", "value", "path"}]``."""
        return [
            {"epoch": e["epoch"], "value": e["value"], "path": self._path(e["file"])}
            for e in self._top
        ]

    @property
    def best_value(self) -> float | None:
        return None if self._best is None else self._best["value"]

    @property
    def best_epoch(self) -> int | None:
        return None if self._best is None else self._best["epoch"]

    @property
    def best_path(self) -> str | None:
        """``best.ckpt``; without it (``save_best=False``, or the file is gone) the best epoch's
        top-k file if kept; else None."""
        if self._best is None:
            return None
        return self._path(self._best["file"] or best_topk_file(self._top, self._best))

    @property
    def last_path(self) -> str | None:
        return self._path(self._last)

    def last_file(self) -> Path:
        """Where ``last.ckpt`` goes (written or not)."""
        return self.directory / LAST_NAME

    @staticmethod
    def best_in(directory: str | os.PathLike) -> Path | None:
        """A finished run's best checkpoint in ``directory``: ``best.ckpt``, else the best top-k
        file that ``last.ckpt``'s bookkeeping names (runs with ``save_best: false``); else None."""
        directory = Path(directory)
        if (directory / BEST_NAME).is_file():
            return directory / BEST_NAME
        last = directory / LAST_NAME
        if not last.is_file():
            return None
        try:
            state = read_checkpoint(last).get(STATE_KEY) or {}
        except CheckpointError:
            return None
        name = stored_best_file(state)
        return directory / name if name and (directory / name).is_file() else None

    def protect(self, path: str | os.PathLike) -> None:
        """Never delete ``path`` (e.g. the checkpoint this run resumed from), even when it falls out
        of the top-k. It stays protected in the bookkeeping of later saves."""
        self._protected.add(Path(path).resolve())

    def _is_protected(self, name: str) -> bool:
        return (self.directory / name).resolve() in self._protected

    # ------------------------------------------------------------------ ranking
    def _better(self, a: float, b: float) -> bool:
        return a < b if self.mode == "min" else a > b

    def _monitored(self, metrics: Mapping[str, Any] | None) -> float | None:
        if not isinstance(metrics, Mapping) or metrics.get(self.monitor) is None:
            return None
        try:
            value = float(metrics[self.monitor])
        except (TypeError, ValueError, RuntimeError):
            return None
        return value if math.isfinite(value) else None

    def improves(self, metrics: Mapping[str, Any] | None) -> bool:
        """Would ``save`` with these metrics make a new best? (NaN or missing: never.)"""
        value = self._monitored(metrics)
        return value is not None and (
            self._best is None or self._better(value, self._best["value"])
        )

    # ------------------------------------------------------------------ saving
    def save(
        self, payload: dict[str, Any], epoch: int, metrics: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        """Write this epoch's checkpoint files and delete the ones that fell out of the top-k.

        Returns ``{"paths": [written, in order], "is_best": bool, "removed": [deleted]}``.
        ``format``/``format_version`` are added to the payload unless it has them.
        """
        if not isinstance(payload, Mapping):
            raise TypeError(f"checkpoint payload must be a dict, not {type(payload).__name__}")
        if isinstance(epoch, bool) or not isinstance(epoch, int):
            raise TypeError(f"epoch must be an int, not {type(epoch).__name__}")
        value = self._monitored(metrics)

        top = [e for e in self._top if e["epoch"] != epoch]
        dropped = [e["file"] for e in self._top if e["epoch"] == epoch]
        new_file = None
        if value is not None and self.keep_top_k > 0:
            pos = next((i for i, e in enumerate(top) if self._better(value, e["value"])), len(top))
            if pos < self.keep_top_k:
                new_file = self.filename(epoch, self.monitor, value)
                top.insert(pos, {"epoch": epoch, "value": value, "file": new_file})
        dropped += [e["file"] for e in top[self.keep_top_k :]]
        top = top[: self.keep_top_k]

        is_best = value is not None and (
            self._best is None or self._better(value, self._best["value"])
        )
        best = self._best
        if is_best:
            best = {"epoch": epoch, "value": value, "file": BEST_NAME if self.save_best else None}
        last = LAST_NAME if self.save_last else self._last

        keep = {e["file"] for e in top} | {LAST_NAME, BEST_NAME}
        to_delete = [
            n
            for n in dict.fromkeys(dropped + self._pending)
            if n not in keep and not self._is_protected(n)
        ]
        state = self._state(top, best, last, epoch, to_delete)

        targets = (
            ([new_file] if new_file else [])
            + ([BEST_NAME] if is_best and self.save_best else [])
            + ([LAST_NAME] if self.save_last else [])
        )
        data = b""
        if targets:
            buffer = io.BytesIO()
            torch.save(
                {"format": FORMAT, "format_version": FORMAT_VERSION, **payload, STATE_KEY: state},
                buffer,
            )
            data = buffer.getvalue()
        written: list[str] = []
        created: list[Path] = []
        first: Path | None = None  # the one full write; the other names are hard links of it
        try:
            for name in targets:
                path = self.directory / name
                existed = path.exists()
                if first is None or not atomic_link(first, path):
                    atomic_write(path, lambda f: f.write(data))  # or a copy: no hard links here
                    first = first or path
                if not existed:
                    created.append(path)
                written.append(str(path))
        except BaseException:
            for path in created:
                try:
                    path.unlink()
                except OSError:
                    pass
            raise

        self._top, self._best, self._last, self._last_epoch = top, best, last, epoch
        removed, failed = [], []
        for name in to_delete:
            path = self.directory / name
            try:
                path.unlink()
                removed.append(str(path))
            except FileNotFoundError:
                pass
            except OSError:
                failed.append(name)  # retried after the next save
        self._pending = failed
        return {"paths": written, "is_best": is_best, "removed": removed}

    def save_interrupt(self, payload: Mapping[str, Any]) -> Path:
        """Write ``last.ckpt`` for a run stopped between epochs (Ctrl-C, SIGTERM), whatever
        ``save_last`` says: it is the only way back into that run. The bookkeeping is unchanged."""
        return save_checkpoint({**payload, STATE_KEY: self.state_dict()}, self.last_file())

    def repair_best(self, global_step: int) -> list[str]:
        """After resuming from a file older than the run's newest (a top-k file, ``best.ckpt``),
        ``best.ckpt`` may hold a model of the abandoned continuation: put the bookkeeping's best
        back from its top-k file, or move the stray one aside as ``best.abandoned.ckpt`` (nothing
        is deleted). ``global_step`` is the resumed position. Returns what was done, one line
        each."""
        best = self.directory / BEST_NAME
        if not best.is_file():
            return []
        try:
            held = read_checkpoint(best)
        except CheckpointError as exc:
            return [f"{best} is unreadable ({exc}); it will be replaced at the next improvement"]
        if held.get("epoch") == self.best_epoch and int(held.get("global_step", 0)) <= global_step:
            return []
        name = best_topk_file(self._top, self._best)
        source = self.directory / name if name else None
        if source is not None and source.is_file():
            if not atomic_link(source, best):
                atomic_write(best, lambda f: f.write(source.read_bytes()))
            return [
                f"best.ckpt held epoch {held.get('epoch')} of an abandoned continuation; "
                f"restored epoch {self.best_epoch} from {source.name}"
            ]
        os.replace(best, self.directory / "best.abandoned.ckpt")
        return [
            f"best.ckpt held epoch {held.get('epoch')} of an abandoned continuation; "
            "moved to best.abandoned.ckpt"
        ]

    # ------------------------------------------------------------------ bookkeeping
    def _state(self, top, best, last, last_epoch, pending) -> dict[str, Any]:
        here = self.directory.resolve()
        protected = sorted(p.name if p.parent == here else str(p) for p in self._protected)
        return encode(self, Entries(top, best, last, last_epoch, pending, protected))

    def state_dict(self) -> dict[str, Any]:
        """The bookkeeping as plain Python values (file names relative to the folder)."""
        return self._state(self._top, self._best, self._last, self._last_epoch, self._pending)

    def load_state_dict(self, state: Mapping[str, Any]) -> list[str]:
        """Restore the bookkeeping written by :meth:`state_dict` (or stored under
        ``"checkpoint_manager"`` in a checkpoint), checked against the files on disk.

        Returns warnings (one line each) about what was repaired: gone files dropped, a state
        ranked by another monitor/mode not carried over, surplus top-k entries (smaller
        ``keep_top_k``) scheduled for deletion after the next save. An empty dict (a checkpoint
        without bookkeeping) changes nothing and says so. Raises CheckpointError if ``state`` is
        not such bookkeeping at all.
        """
        entries, warnings = decode(state, self)
        if entries is not None:
            self._top, self._best, self._last = entries.top, entries.best, entries.last
            self._last_epoch, self._pending = entries.last_epoch, entries.pending
            self._protected |= {(self.directory / name).resolve() for name in entries.protected}
        return warnings

    def __repr__(self) -> str:
        return (
            f"CheckpointManager({str(self.directory)!r}, monitor={self.monitor!r}, "
            f"mode={self.mode!r}, keep_top_k={self.keep_top_k}, "
            f"best={self.best_value!r} @ epoch {self.best_epoch!r})"
        )
