"""A run's folders: which ones it writes (:func:`run_folders`), and that it owns them: an
exclusive lock on its checkpoint folder and on its run (log) folder for as long as it trains, so
parallel runs and sweeps never mix their files.

- **Locks** are ``flock`` locks on ``.<folder name>.inktrace.lock`` beside the folder (outside
  it, so the folder holds only the run's files; the lock file records the holder's pid, host,
  start time and command line). The operating system releases them when the process ends,
  however it ends, so a crashed run leaves no stale lock: the next run simply takes it.
- **Checkpoint folder.** A second run into a checkpoint folder in use is refused with one line
  naming the running one (its checkpoints are what ``--resume`` continues: two writers there
  would corrupt both runs).
- **Another experiment's checkpoints.** A new (not resumed) run into a checkpoint folder that
  holds the checkpoints of another experiment (``experiment.name`` stored in them differs) is
  refused with one line naming it and the ways out: ``--resume`` it, another ``--save_dir``, or
  ``--overwrite`` (:func:`check_experiment`). Refusing keeps the one layout
  ``<save_dir>/<stage>`` that ``init_from: auto``, the legacy files and every guide rely on,
  and loses nothing: a run of the same experiment again replaces ``last``/``best`` with a note.
- **Run folder.** A new run whose ``<log_dir>/<stage>`` already holds another run's logs (or is
  in use) writes them into the next free ``<log_dir>/<stage>/version_<N>`` instead; TensorBoard
  shows each as its own run, and the runs table finds each. A resumed run continues in the run
  folder its checkpoint names.
- **Which folders.** ``<checkpoint.save_dir>/<stage>`` and ``<logging.log_dir>/<stage>``; a
  resumed run continues in the folder of its checkpoint when that folder is named after the stage
  (a moved run folder still works), unless the save directory was given explicitly.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
from pathlib import Path

from ..checkpoint import read_checkpoint
from ..checkpoint.bookkeeping import BEST_NAME, LAST_NAME
from ..config import Config
from ..errors import CheckpointError, ConfigError, printable
from ..fileio import sweep_stale_temps
from .messages import RunMessages, now
from .resume import ResumePoint

__all__ = [
    "FolderLock",
    "FolderBusy",
    "lock_folder",
    "free_run_folder",
    "own_folders",
    "release",
    "LOCK_NAME",
    "lock_path",
    "is_locked",
    "check_experiment",
    "run_folders",
    "resume_folder",
]

LOCK_NAME = ".{}.inktrace.lock"
_HELD: dict[str, FolderLock] = {}  # folder -> this process's lock on it
_LOGS = ("training_config.json", "training_summary.json", "training_log.json")


class FolderBusy(Exception):
    """Another live process holds the folder; the message names it."""


class FolderLock:
    def __init__(self, folder: Path, fd: int) -> None:
        self.folder, self.fd = folder, fd

    def release(self) -> None:
        if self.fd >= 0:
            _HELD.pop(str(self.folder), None)
            try:
                fcntl.flock(self.fd, fcntl.LOCK_UN)
            finally:
                os.close(self.fd)
                self.fd = -1


def lock_path(folder: Path) -> Path:
    """The lock file of ``folder``, beside it (resolved: a symlink or ``.`` names the same one)."""
    folder = Path(folder).resolve()
    return folder.parent / LOCK_NAME.format(folder.name)


def _holder(path: Path) -> str:
    try:
        info = json.loads(path.read_text())
        return (
            f"pid {info.get('pid')} on {info.get('host')}, started {info.get('started')}: "
            f"{info.get('command', '')[:120]}"
        )
    except (OSError, ValueError):
        return "another process"


def lock_folder(folder: Path) -> FolderLock:
    """Lock ``folder`` (created) for this process, or FolderBusy naming the holder. A lock this
    process already holds (a trainer built and dropped in a notebook) is handed over."""
    folder.mkdir(parents=True, exist_ok=True)
    folder = folder.resolve()
    key = str(folder)
    if key in _HELD:
        _HELD[key].release()
    path = lock_path(folder)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise FolderBusy(f"{folder} is in use by a running training ({_holder(path)})") from None
    info = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started": now(),
        "command": " ".join(sys.argv),
    }
    os.ftruncate(fd, 0)
    os.write(fd, (json.dumps(info) + "\n").encode())
    lock = _HELD[key] = FolderLock(folder.resolve(), fd)
    return lock


def is_locked(folder: Path) -> bool:
    """Whether a live process holds ``folder`` now (a run training there)."""
    path = lock_path(Path(folder))
    if not path.exists():
        return False
    if str(Path(folder).resolve()) in _HELD:
        return True
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing drops the shared lock taken to look
    return False


def _has_logs(folder: Path) -> bool:
    return any((folder / name).exists() for name in _LOGS) or any(
        folder.glob("events.out.tfevents.*")
    )


def free_run_folder(base: Path) -> tuple[Path, FolderLock]:
    """A fresh run's log folder: ``base`` when it holds no run's logs and is free, else the next
    ``base/version_<N>`` that is; locked."""
    candidates = [base] + [base / f"version_{n}" for n in range(1, 10_000)]
    for folder in candidates:
        if folder.exists() and _has_logs(folder):
            continue
        try:
            lock = lock_folder(folder)
        except FolderBusy:
            continue
        if _has_logs(folder):  # written meanwhile by a run that has finished since
            lock.release()
            continue
        return folder, lock
    raise FolderBusy(f"{base}: no free version_N folder left")


def own_folders(
    ckpt_dir: Path, run_dir: Path, resuming: bool, log: RunMessages
) -> tuple[Path, list[FolderLock]]:
    """Lock a run's checkpoint folder and its run folder: ``run_dir`` itself when ``resuming``,
    else the free folder :func:`free_run_folder` chooses. Returns the run folder and the locks;
    ConfigError naming the running holder when a folder is taken."""
    locks: list[FolderLock] = []
    try:
        locks.append(lock_folder(ckpt_dir))
        _sweep(ckpt_dir, log)
        if resuming:
            locks.append(lock_folder(run_dir))
        else:
            base = run_dir
            run_dir, lock = free_run_folder(base)
            locks.append(lock)
            if run_dir != base:
                log.info(f"logs in {run_dir} ({base} holds another run's logs)")
        _sweep(run_dir, log)
    except FolderBusy as exc:
        release(locks)
        raise ConfigError(f"{exc}; choose another --save_dir / logging.log_dir, or wait") from None
    return run_dir, locks


def _sweep(folder: Path, log: RunMessages) -> None:
    """Remove what killed saves left in a folder this run now owns."""
    litter = sweep_stale_temps(folder)
    if litter:
        log.info(f"removed {len(litter)} temporary file(s) of killed saves in {folder}")


def release(locks: list[FolderLock]) -> None:
    for lock in locks:
        lock.release()
    locks.clear()


def _stored_experiment(path: Path) -> str | None:
    try:
        config = read_checkpoint(path).get("config")
    except CheckpointError:
        return None
    experiment = config.get("experiment") if isinstance(config, dict) else None
    name = experiment.get("name") if isinstance(experiment, dict) else None
    return name if isinstance(name, str) else None


def check_experiment(folder: Path, experiment: str, overwrite: bool) -> list[str]:
    """Before a new run writes into checkpoint ``folder``: ConfigError (one line) when it holds
    the checkpoints of another experiment than ``experiment`` and ``overwrite`` is off; else the
    notes to print once the run owns the folder (what it will replace)."""
    old = sorted(p.name for p in Path(folder).glob("*.ckpt") if p.is_file())
    if not old:
        return []
    newest = next(
        (folder / n for n in (LAST_NAME, BEST_NAME) if n in old),
        max((folder / n for n in old), key=lambda p: p.stat().st_mtime),
    )
    other = _stored_experiment(newest)
    if other is not None and other != experiment and not overwrite:
        raise ConfigError(
            f"{folder} holds {len(old)} checkpoint(s) of experiment '{printable(other, 80)}' "
            f"(newest: {newest.name}), not of '{printable(experiment, 80)}'; continue that "
            f"run with --resume {newest}, write this one elsewhere with --save_dir DIR, or "
            "replace them with --overwrite"
        )
    whose = "this experiment" if other == experiment else "an earlier run"
    if other is not None and other != experiment:
        whose = f"experiment '{printable(other, 80)}' (--overwrite)"
    return [
        f"note: {folder} holds {len(old)} checkpoint(s) of {whose}; last/best will be "
        "overwritten, its other files are kept but not ranked"
    ]


# ---------------------------------------------------------------- which folders a run writes
def resume_folder(path: Path, default: Path, stage: str, save_dir_given: bool) -> Path:
    """Where a resumed run writes its checkpoints: the resumed file's folder when it is named
    after the stage (a moved or copied run folder), unless the save directory was given."""
    folder = path.resolve().parent
    if folder != default.resolve() and folder.name == stage and not save_dir_given:
        return path.parent
    return default


def run_folders(
    cfg: Config, stage: str, point: ResumePoint | None, log: RunMessages
) -> tuple[Path, Path]:
    """The checkpoint and run folders of a stage (created): ``<checkpoint.save_dir>/<stage>`` or,
    on resume, the resumed file's folder (:func:`resume_folder`); ``<logging.log_dir>/<stage>``."""
    ckpt_dir = Path(cfg.checkpoint.save_dir) / stage
    run_dir = Path(cfg.logging.log_dir) / stage
    if point is not None:
        given = cfg.origin("checkpoint.save_dir").kind == "override"
        logs_given = cfg.origin("logging.log_dir").kind == "override"
        stored = point.checkpoint.get("run_dir")  # the run folder the checkpoint's run logged to
        if stored and not logs_given:
            run_dir = Path(stored)
        folder = resume_folder(point.path, ckpt_dir, stage, given)
        if folder != ckpt_dir:
            # a moved or copied run: its logs go beside it, where they sat beside the original,
            # never into the original's (unless logging.log_dir is given)
            if not logs_given:
                run_dir = _beside(folder, cfg.checkpoint.save_dir, str(run_dir))
                log.info(f"logs beside it in {run_dir}")
            ckpt_dir = folder
            log.info(f"continuing in {folder} (the resumed checkpoint's folder)")
    for key, folder in (("checkpoint.save_dir", ckpt_dir), ("logging.log_dir", run_dir)):
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"{key}: cannot create {folder} ({exc.strerror or exc})") from None
    return ckpt_dir, run_dir


def _beside(folder: Path, save_dir: str, run_dir: str) -> Path:
    """Where a run's logs go when its checkpoint folder ``<save_dir>/<stage>`` now is ``folder``:
    at the place ``run_dir`` had relative to ``save_dir`` (``<root>/runs/<stage>`` when they
    were unrelated)."""
    try:
        rel = os.path.relpath(os.path.abspath(run_dir), os.path.abspath(save_dir))
    except ValueError:  # another drive
        rel = None
    if rel is None or os.path.isabs(rel) or rel.split(os.sep).count("..") > 1:
        rel = os.path.join("..", "runs", folder.name)
    return (folder.parent / rel).resolve()
