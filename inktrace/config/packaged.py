"""The configs that ship inside the package (``inktrace/configs/*.yaml``), and how a ``--config``
value finds its file.

A value names a file when one exists at that path: a path always wins. Otherwise a bare name
(``quickstart``, ``quickstart.yaml``) names the packaged config of that name, so ``inktrace train
--config quickstart`` works from an installed wheel, far from any clone. ``extends:`` inside a
config follows the same rule, relative to the extending file: the packaged configs extend one
another by file name, and a config copied out of the package (``inktrace config quickstart --save
my.yaml``) still finds its parents.

In a clone, ``configs/`` is a link to ``inktrace/configs/``: one set of files, two spellings.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = [
    "PACKAGED_DIR",
    "packaged_names",
    "packaged_path",
    "locate",
    "is_packaged",
    "not_found_hint",
]

PACKAGED_DIR = Path(__file__).resolve().parent.parent / "configs"
_SUFFIXES = (".yaml", ".yml")


def packaged_names() -> list[str]:
    """The names of the packaged configs, sorted (``default``, ``quickstart`` ...)."""
    if not PACKAGED_DIR.is_dir():
        return []
    return sorted(p.stem for p in PACKAGED_DIR.glob("*.yaml") if p.is_file())


def packaged_path(name: str) -> Path | None:
    """The packaged config ``name`` names (``quickstart`` or ``quickstart.yaml``), else None."""
    text = os.fspath(name)
    if not text or "/" in text or os.sep in text or text.startswith("."):
        return None
    stem = next((text[: -len(s)] for s in _SUFFIXES if text.endswith(s)), text)
    return PACKAGED_DIR / f"{stem}.yaml" if stem in packaged_names() else None


def is_packaged(path: str | os.PathLike) -> bool:
    """Whether ``path`` is one of the packaged files (by its own path, links not followed: the
    clone's ``configs/quickstart.yaml`` is the user's path, not the package's)."""
    here = Path(os.path.abspath(os.fspath(path)))
    return here.parent == PACKAGED_DIR and here.suffix == ".yaml"


def locate(spec: str | os.PathLike) -> tuple[str, str | None]:
    """(the file ``spec`` stands for, a sentence saying why when a packaged config was involved).

    An existing path is used as it is (the sentence mentions a packaged config it shadows); a
    name of a packaged config that is no file here gives the packaged file; anything else is
    returned unchanged, for the loader to report as not found."""
    text = os.fspath(spec)
    packaged = packaged_path(text)
    if os.path.exists(text):
        if packaged is not None and not is_packaged(text):
            return text, (
                f"config {text!r}: the file {os.path.abspath(text)} (a path wins over the "
                f"packaged config of that name)"
            )
        return text, None
    if packaged is not None:
        return str(packaged), (
            f"config {text!r}: the packaged config {packaged} (no file {text!r} here)"
        )
    return text, None


def not_found_hint() -> str:
    """What to say after 'config file not found' for a value that is not a path."""
    names = packaged_names()
    return f" (packaged configs: {', '.join(names)}; see inktrace config --list)" if names else ""
