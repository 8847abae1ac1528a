"""Which image files the IMAGE arguments of ``inktrace predict`` and ``trace`` name.

An argument is, in this order:

- a folder: its images, sorted by name; not its subfolders, not hidden files (``.name``, such as
  the temporary files of an interrupted write) and not the pictures the commands themselves write
  (``*.overlay.png``, ``*.panel.png``, the maps' ``*.skeleton.png``, ``*.tangent-0.png`` ...), so
  an output folder inside the input folder is harmless;
  a folder without images is one error line;
- an existing file (any name: a file called ``a[1].png`` is that file, not a pattern), or a name
  without glob characters (``*``, ``?``, ``[``), passed on as it is: load_image says in one line
  what is wrong with it;
- a glob pattern (quoted on the command line so that we expand it, not the shell): the matching
  files, sorted; ``**`` reaches into subfolders; no match is one error line.

The order of the images is the order of the arguments, each expanded in sorted order, so a run's
outputs and report are the same from one run to the next.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Sequence
from pathlib import Path

from ..inference.mapfiles import map_suffixes

__all__ = ["IMAGE_SUFFIXES", "OWN_OUTPUTS", "expand_inputs"]

# what Pillow reads and people scan to; compared in lower case
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".gif", ".webp", ".pgm", ".ppm")
# pictures predict and trace write: overlays, panels and the maps as PNGs (--maps-format png)
OWN_OUTPUTS = (".overlay.png", ".overlay.pdf", ".panel.png", *map_suffixes("png", True))


def _is_image_name(name: str) -> bool:
    lower = name.lower()
    return (
        not name.startswith(".")
        and lower.endswith(IMAGE_SUFFIXES)
        and not lower.endswith(OWN_OUTPUTS)
    )


def _folder(path: str) -> list[str]:
    """The images directly inside folder ``path``, sorted (regular files and links to them)."""
    names = []
    with os.scandir(path) as entries:
        for entry in entries:
            if not _is_image_name(entry.name):
                continue
            try:
                if entry.is_dir():
                    continue
            except OSError:  # a symlink loop: load_image reports it
                pass
            names.append(os.path.join(path, entry.name))
    return sorted(names)


def _has_magic(name: str) -> bool:
    return any(c in name for c in "*?[")


def expand_inputs(arguments: Sequence[str]) -> list[tuple[str, str | None]]:
    """(image name, None) for each image the IMAGE arguments name, in order (module docstring),
    and (argument, error line) in its place for an argument that names none."""
    found: list[tuple[str, str | None]] = []
    for arg in arguments:
        if os.path.isdir(arg):
            try:
                names = _folder(arg)
            except OSError as exc:
                found.append((arg, f"{arg}: cannot list the folder ({exc.strerror or exc})"))
                continue
            if not names:
                kinds = ", ".join(s[1:] for s in IMAGE_SUFFIXES)
                found.append((arg, f"{arg}: a folder without images ({kinds})"))
            found += [(name, None) for name in names]
        elif os.path.lexists(arg) or not _has_magic(arg):
            found.append((arg, None))
        else:
            names = sorted(p for p in glob.glob(arg, recursive=True) if not Path(p).is_dir())
            if not names:
                found.append((arg, f"{arg}: no file matches this pattern"))
            found += [(name, None) for name in names]
    return found
