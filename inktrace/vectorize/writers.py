"""Writing traced strokes: the contract's JSON and an SVG drawing.

JSON (docs/contracts.md): ``{"width": W, "height": H, "strokes": [{"points": [[x, y], ...],
"widths": [w, ...]}, ...]}``, coordinates and widths rounded to 1/1000 px; a closed stroke's
last point repeats its first. ``extras=True`` adds each stroke's ``closed`` and ``corners``.

SVG: one ``<path>`` per stroke (``M``/``L`` through its points, ``Z`` when closed), black, no
fill, round caps and joins, ``stroke-width`` the stroke's mean width (the JSON keeps the width at
every point); the canvas is W x H px with the same frame (viewBox 0 0 W H). The paths are grouped
per connected component (components.py: a page's characters and marks), one ``<g
id="component-K">`` each, in the order of each component's first stroke.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np

from .components import stroke_components
from .stroke import Stroke

__all__ = ["to_json", "to_svg", "strokes_to_dict"]

_DECIMALS = 3


def _r(v: float) -> float:
    return round(float(v), _DECIMALS)


def strokes_to_dict(
    strokes: Sequence[Stroke], width: int, height: int, extras: bool = False
) -> dict:
    """The JSON document as plain Python data."""
    out = []
    for s in strokes:
        item: dict = {
            "points": [[_r(x), _r(y)] for x, y in np.asarray(s.points).tolist()],
            "widths": [_r(w) for w in np.asarray(s.widths).tolist()],
        }
        if extras:
            item["closed"] = bool(s.closed)
            item["corners"] = [int(k) for k in s.corners]
        out.append(item)
    return {"width": int(width), "height": int(height), "strokes": out}


def to_json(
    strokes: Sequence[Stroke],
    width: int,
    height: int,
    extras: bool = False,
    indent: int | str | None = None,
) -> str:
    """The contract's JSON text for the strokes of a ``width`` x ``height`` image."""
    return json.dumps(
        strokes_to_dict(strokes, width, height, extras), indent=indent, allow_nan=False
    )


def _fmt(v: float) -> str:
    text = f"{v:.{_DECIMALS}f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def to_svg(strokes: Sequence[Stroke], width: int, height: int) -> str:
    """An SVG document drawing each stroke as one path of its mean width."""
    lines = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{int(width)}" height="{int(height)}" '
        f'viewBox="0 0 {int(width)} {int(height)}">',
        '<g fill="none" stroke="black" stroke-linecap="round" stroke-linejoin="round">',
    ]
    groups: dict[int, list[str]] = {}
    for s, label in zip(strokes, stroke_components(strokes)):
        pts = np.asarray(s.points, dtype=np.float64)
        if len(pts) == 0:
            continue
        closed = bool(s.closed) and len(pts) > 2
        body = pts[:-1] if closed and np.allclose(pts[0], pts[-1]) else pts
        d = "M " + " L ".join(f"{_fmt(x)} {_fmt(y)}" for x, y in body.tolist())
        if closed:
            d += " Z"
        w = float(np.mean(s.widths)) if len(s.widths) else 1.0
        groups.setdefault(label, []).append(f'<path d="{d}" stroke-width="{_fmt(w)}"/>')
    for k, paths in enumerate(groups.values()):
        lines += [f'<g id="component-{k}">', *paths, "</g>"]
    lines += ["</g>", "</svg>", ""]
    return "\n".join(lines)
