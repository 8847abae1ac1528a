"""The files ``inktrace predict`` writes the maps to, in one of three formats (``--maps-format``):

- ``npz`` (default): ``<stem>.npz``, every map float32 as the contract gives it, uncompressed;
- ``npz16``: ``<stem>.npz`` compressed (zip deflate), every map float16: about a quarter of the
  size on a page; values within float16's precision (3 significant digits);
- ``png``: one 16-bit grayscale PNG per map channel, ``<stem>.<map>.png`` for one-channel maps
  and ``<stem>.<map>-<c>.png`` for channel c of the others (a model with the stroke heads adds
  ``ends`` and ``identity-0`` .. ``identity-7``). A value v of a map whose range is
  [lo, hi] (``PNG_RANGES``) is stored as round((v - lo) / (hi - lo) * 65535), clipped to the
  range; the range is also in each PNG's text chunks (``inktrace.lo``, ``inktrace.hi``).

Every file is written atomically (fileio.atomic_write).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
from PIL import Image, PngImagePlugin

from ..fileio import atomic_write

__all__ = ["MAP_FORMATS", "PNG_RANGES", "map_suffixes", "save_maps", "read_png_map"]

MAP_FORMATS = ("npz", "npz16", "png")
# name -> (channels, lo, hi): probabilities in [0, 1], unit vectors, widths and offsets in px;
# the stroke heads' end probability and identity embedding (its 8 channels: the losses keep a
# trained model's within about +-4) last
PNG_RANGES = {
    "skeleton": (1, 0.0, 1.0),
    "keypoints": (2, 0.0, 1.0),
    "tangent": (2, -1.0, 1.0),
    "width": (1, 0.0, 64.0),
    "offset": (2, -4.0, 4.0),
    "ends": (1, 0.0, 1.0),
    "identity": (8, -8.0, 8.0),
}
_STROKE_HEADS = ("ends", "identity")  # written where the model has them


def _png_names(stroke_heads: bool = False) -> list[str]:
    names = []
    for name, (channels, _, _) in PNG_RANGES.items():
        if stroke_heads or name not in _STROKE_HEADS:
            names += [name] if channels == 1 else [f"{name}-{c}" for c in range(channels)]
    return names


def map_suffixes(fmt: str, stroke_heads: bool = False) -> tuple[str, ...]:
    """The suffixes of the files ``fmt`` writes for one image of a dense model (``stroke_heads``:
    of a model with the stroke heads)."""
    if fmt == "png":
        return tuple(f".{n}.png" for n in _png_names(stroke_heads))
    return (".npz",)


def _save_png(path: Path, values: np.ndarray, lo: float, hi: float) -> Path:
    scaled = (np.clip(values, lo, hi) - lo) / (hi - lo) * 65535.0
    picture = Image.fromarray(scaled.round().astype(np.uint16))
    info = PngImagePlugin.PngInfo()
    info.add_text("inktrace.lo", repr(lo))
    info.add_text("inktrace.hi", repr(hi))
    return atomic_write(path, lambda f: picture.save(f, format="PNG", pnginfo=info))


def read_png_map(path: str | Path) -> np.ndarray:
    """The float32 values of one map channel written by ``save_maps(..., "png")``."""
    with Image.open(path) as image:
        lo, hi = float(image.text["inktrace.lo"]), float(image.text["inktrace.hi"])
        stored = np.asarray(image, dtype=np.float64)
    return (lo + stored / 65535.0 * (hi - lo)).astype(np.float32)


def save_maps(base: Path, maps: Mapping[str, np.ndarray], fmt: str) -> list[Path]:
    """Write one image's ``maps`` as ``base`` + the suffixes of ``fmt`` (module docstring)."""
    if fmt == "npz":
        return [atomic_write(base.with_name(base.name + ".npz"), lambda f: np.savez(f, **maps))]  # type: ignore[arg-type]
    if fmt == "npz16":
        half = {name: np.asarray(v, dtype=np.float16) for name, v in maps.items()}
        target = base.with_name(base.name + ".npz")
        return [atomic_write(target, lambda f: np.savez_compressed(f, **half))]  # type: ignore[arg-type]
    if fmt != "png":
        raise ValueError(f"maps format {fmt!r}: expected one of {', '.join(MAP_FORMATS)}")
    unknown = sorted(set(maps) - set(PNG_RANGES))
    if unknown:  # before any file is written
        raise ValueError(f"maps {', '.join(unknown)}: no PNG range for them; use npz or npz16")
    written = []
    for name, values in maps.items():
        _, lo, hi = PNG_RANGES[name]
        channels = [values] if values.ndim == 2 else list(values)
        for c, channel in enumerate(channels):
            label = name if values.ndim == 2 else f"{name}-{c}"
            written.append(_save_png(base.with_name(f"{base.name}.{label}.png"), channel, lo, hi))
    return written
