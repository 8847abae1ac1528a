"""Atomic file writing: a temporary file in the same folder, flushed, fsynced, then renamed over
the target, so a crash or a full disk never leaves a torn file and never destroys the old one.
:func:`atomic_link` gives a complete file a second name the same way (a hard link under a
temporary name, renamed over the target)."""

from __future__ import annotations

import errno
import importlib
import json
import math
import os
import re
import secrets
import shutil
import stat
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from .errors import WriteError

__all__ = [
    "atomic_write",
    "atomic_link",
    "atomic_write_json",
    "atomic_torch_save",
    "output_problem",
    "sweep_stale_temps",
]

# .<name>.<pid>.<8 random characters>.tmp: the writer's pid tells a killed save from a live one
_TEMP = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)\.[A-Za-z0-9_]{8}\.tmp$")
_OLD_TEMP = re.compile(r"^\..+\.[A-Za-z0-9_]{8}\.tmp$")  # before the pid was in the name
_OLD_AGE = 3600.0  # seconds after which an old-style temporary file is surely abandoned


def _temp_name(path: Path) -> str:
    """``path``'s name as it stands in its temporary file's name, cut short enough that the
    temporary name (the dot, the pid, 8 random characters, ``.tmp``: at most 30 more bytes)
    stays within the 255 bytes a file name may have, so any name that can be written can be
    written atomically."""
    name = path.name
    while len(os.fsencode(name)) > 225:
        name = name[:-1]
    return name


def _abandon(tmp: str | os.PathLike, path: str | os.PathLike, exc: BaseException) -> None:
    """After a failed atomic write of ``path``: remove its temporary file ``tmp``, and raise an
    OSError as a one-line WriteError (``path`` is kept as it was); other exceptions are the
    caller's to re-raise."""
    try:
        os.unlink(tmp)
    except FileNotFoundError:
        pass
    if isinstance(exc, OSError) and not isinstance(exc, WriteError):
        reason = exc.strerror or str(exc) or type(exc).__name__
        raise WriteError.of(exc, f"{path}: cannot write ({reason}); kept as it was") from None


def atomic_write(
    path: str | os.PathLike,
    write: Callable[[IO[bytes]], object],
    check: Callable[[Path], None] | None = None,
) -> Path:
    """Call ``write(file)`` on a temporary file next to ``path`` and rename it into place;
    ``check(temporary path)``, when given, runs on the written file before the rename (an error
    there leaves ``path`` as it was and no temporary file)."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        prefix = f".{_temp_name(path)}.{os.getpid()}."
        fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=path.parent)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise WriteError.of(exc, f"{path}: cannot write ({reason})") from None
    try:
        with os.fdopen(fd, "wb") as f:
            try:  # as open() would create it (mkstemp makes it 0600)
                os.fchmod(f.fileno(), 0o666 & ~_umask())
            except OSError:  # a file system without permissions (vfat, some mounts)
                pass
            write(f)
            f.flush()
            os.fsync(f.fileno())
        if check is not None:
            check(Path(tmp))
        os.replace(tmp, path)
    except BaseException as exc:
        _abandon(tmp, path, exc)
        raise
    return path


def atomic_link(source: str | os.PathLike, path: str | os.PathLike) -> bool:
    """Make ``path`` another name of the complete file ``source`` (a hard link), atomically: the
    link is made under a temporary name next to ``path`` (the pattern :func:`sweep_stale_temps`
    removes after a crash) and renamed over it, so a reader of ``path`` sees the old file or the
    new one, never a part. Returns False, with nothing changed, where the file system refuses hard
    links (FAT, some network and Windows mounts, the link limit, no ``os.link``): the caller then
    writes a copy. Raises WriteError when the rename fails."""
    source, path = Path(source), Path(path)
    link = getattr(os, "link", None)
    if link is None:
        return False
    for _ in range(100):
        tmp = path.parent / f".{_temp_name(path)}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
        try:
            link(source, tmp)
            break
        except FileExistsError:
            continue
        except OSError:
            return False
    else:
        return False
    try:
        os.replace(tmp, path)
    except BaseException as exc:
        _abandon(tmp, path, exc)
        raise
    try:  # POSIX rename() does nothing when both names are already one file: drop the extra name
        os.unlink(tmp)
    except FileNotFoundError:
        pass
    return True


def output_problem(path: str | os.PathLike) -> str | None:
    """Why ``path`` cannot be written as a file, in a few words, or None when it can: a folder,
    a FIFO, device or socket (writing would block or go nowhere), a symbolic link to nothing
    (dangling, or a loop), or a parent that is a file. Checked before any work, so a bad output
    path is one line at once, never a traceback or a hang after the work is done."""
    path = Path(path)
    if os.path.islink(path) and not os.path.exists(path):
        return "a symbolic link to nothing (dangling, or a loop)"
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        mode = None
    except NotADirectoryError:
        mode = None  # a parent is a file: found below
    except OSError as exc:
        return exc.strerror or str(exc)
    if mode is not None:
        if stat.S_ISDIR(mode):
            return "is a folder; give the file to write"
        if not stat.S_ISREG(mode):
            return "not a regular file (a FIFO, device or socket)"
        return None
    parent = path.parent
    while not os.path.lexists(parent) and parent != parent.parent:
        parent = parent.parent
    if os.path.lexists(parent) and not os.path.isdir(parent):
        return f"{parent} is not a folder"
    return None


def _umask() -> int:
    """The process's umask: from /proc where Linux shows it (reading it otherwise means setting
    it, briefly, which other threads could see)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_json(path: str | os.PathLike, data: Any) -> Path:
    """Indented UTF-8 JSON written atomically; NaN and infinities become null (strict JSON, which
    every reader can parse)."""
    text = json.dumps(_finite(data), indent=2, allow_nan=False, default=_plain) + "\n"
    return atomic_write(path, lambda f: f.write(text.encode("utf-8")))


def atomic_torch_save(
    obj: Any, path: str | os.PathLike, check: Callable[[Path], None] | None = None
) -> Path:
    """``torch.save(obj)`` to ``path`` atomically (atomic_write); PyTorch is imported here, on
    first use, so that this module serves installs without it."""
    torch = importlib.import_module("torch")

    def save(f: IO[bytes]) -> None:
        try:
            torch.save(obj, f)
        except RuntimeError:
            # torch reports a failed write as "unexpected pos ...": find the real reason
            f.flush()
            os.fsync(f.fileno())  # raises the OSError (e.g. no space left) if that was it
            if shutil.disk_usage(Path(path).parent).free == 0:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)) from None
            raise

    return atomic_write(path, save, check)


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def _plain(value: Any) -> Any:
    """JSON fallback for tensors and arrays (anything with ``tolist``), numpy scalars and paths."""
    if hasattr(value, "tolist") and len(getattr(value, "shape", ())) > 0:
        return _finite(value.tolist())
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if hasattr(value, "item"):
        return _finite(value.item())
    if isinstance(value, (set, tuple)):
        return list(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def sweep_stale_temps(folder: str | os.PathLike) -> list[Path]:
    """Remove the temporary files that killed saves left in ``folder`` (their writer is gone);
    those of a live process are kept. Returns what was removed."""
    removed: list[Path] = []
    folder = Path(folder)
    if not folder.is_dir():
        return removed
    now = time.time()
    for path in folder.iterdir():
        m = _TEMP.match(path.name)
        try:
            if m:
                stale = not _alive(int(m["pid"]))
            else:
                stale = bool(_OLD_TEMP.match(path.name)) and now - path.stat().st_mtime > _OLD_AGE
            if stale and path.is_file():
                path.unlink()
                removed.append(path)
        except OSError:  # gone meanwhile, or not ours to remove
            continue
    return removed
