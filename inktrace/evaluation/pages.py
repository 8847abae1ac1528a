"""Page-sized evaluation images: held-out KanjiVG characters (``render_samples``) laid out in a
grid of boxes on ruled, noisy paper, with each character's true strokes in page pixels.

A page is ``columns`` x ``rows`` boxes of ``cell`` px; character k sits in box k, its ``size`` px
sample centred there. The paper is white with faint grey ruled lines (one under every row of
boxes, 1 px, value ``RULE``) and seeded Gaussian noise (``NOISE``); the ink is the clean samples'
(darkest wins where ink and a rule meet). ``score_page`` matches the strokes traced on a whole
page to the truth box by box: a traced stroke belongs to the box holding the midpoint of its
points' extent, and is matched (matching.match_strokes, ``tolerance`` px) against that box's
true strokes; the counts are summed over the boxes.

``evaluate_pages`` (``inktrace evaluate --pages N``) composes N pages of held-out characters,
predicts and traces each page in one call, and the same characters one by one on their own clean
images, and returns both sides' stroke F1, traced / true strokes and seconds, with the process's
peak resident memory (Linux ru_maxrss: the largest so far, the model and the one-by-one side
included).
"""

from __future__ import annotations

import resource
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..inference import Predictor
from ..tracing import trace_prediction
from .matching import match_strokes, prf
from .samples import EvalSamples

__all__ = [
    "Page",
    "compose_page",
    "score_page",
    "evaluate_pages",
    "format_pages",
    "RULE",
    "NOISE",
]

RULE = 0.8  # paper value of the ruled lines
NOISE = 0.03  # standard deviation of the paper noise


@dataclass
class Page:
    """One page: the image (H, W) float32 in [0, 1], the boxes (x0, y0, x1, y1) of its
    characters, and each box's true strokes ((n, 2) float64 polylines, page pixels)."""

    image: np.ndarray
    boxes: list[tuple[int, int, int, int]]
    strokes: list[list[np.ndarray]]


def compose_page(
    samples: EvalSamples,
    indices: Sequence[int],
    columns: int,
    cell: int | None = None,
    seed: int = 0,
    rows: int | None = None,
) -> Page:
    """Samples ``indices`` of ``samples`` (clean) on one ruled, noisy page (module docstring)."""
    size = samples.size
    cell = int(cell if cell is not None else round(1.25 * size))
    if cell < size:
        raise ValueError(f"cell {cell} px must hold a {size} px character")
    rows = rows if rows is not None else max(1, -(-len(indices) // columns))
    if len(indices) > rows * columns:
        raise ValueError(f"{len(indices)} characters do not fit {columns} x {rows} boxes")
    height, width = rows * cell, columns * cell
    rng = np.random.default_rng(seed)
    page = np.ones((height, width), np.float32)
    for r in range(rows):
        page[(r + 1) * cell - 2, :] = RULE
    boxes, strokes = [], []
    pad = (cell - size) // 2
    for k, index in enumerate(indices):
        y0, x0 = (k // columns) * cell, (k % columns) * cell
        iy, ix = y0 + pad, x0 + pad
        region = page[iy : iy + size, ix : ix + size]
        np.minimum(region, samples.clean[index], out=region)
        boxes.append((x0, y0, x0 + cell, y0 + cell))
        strokes.append([s + np.array([ix, iy], dtype=np.float64) for s in samples.strokes[index]])
    page += rng.normal(0.0, NOISE, page.shape).astype(np.float32)
    return Page(np.clip(page, 0.0, 1.0), boxes, strokes)


def score_page(page: Page, traced: Sequence, tolerance: float) -> dict[str, int]:
    """Matched, traced and true stroke counts of the traced strokes (objects with ``points``)
    against ``page``, box by box (module docstring); strokes outside every box are not counted."""
    centres = np.array(
        [0.5 * (s.points.min(0) + s.points.max(0)) for s in traced if len(s.points)]
    ).reshape(-1, 2)
    polys = [s.points for s in traced if len(s.points)]
    counts = {"matched": 0, "traced": 0, "true": 0}
    for (x0, y0, x1, y1), truth in zip(page.boxes, page.strokes):
        inside = (
            (centres[:, 0] >= x0)
            & (centres[:, 0] < x1)
            & (centres[:, 1] >= y0)
            & (centres[:, 1] < y1)
        )
        mine = [polys[i] for i in np.flatnonzero(inside)]
        m = match_strokes(mine, truth, tolerance)
        counts["matched"] += m.matched
        counts["traced"] += m.traced
        counts["true"] += m.true
    return counts


def _peak_mb() -> float:
    scale = 1024.0 * 1024.0 if sys.platform == "darwin" else 1024.0  # bytes there, KiB here
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / scale


def evaluate_pages(
    predictor: Predictor,
    samples: EvalSamples,
    pages: int,
    columns: int,
    rows: int,
    tolerance: float,
    seed: int = 0,
) -> dict[str, dict[str, float]]:
    """``pages`` pages of ``columns`` x ``rows`` characters of ``samples`` (in order, which must
    hold enough), each traced in one call, beside the same characters one by one: ``{"page": {...},
    "one by one": {...}}`` with f1, precision, recall, traced/true, seconds per page, pages,
    characters, and on the page side the peak resident MB (module docstring)."""
    per_page = columns * rows
    if pages * per_page > len(samples.clean):
        raise ValueError(f"{pages} pages of {per_page} need {pages * per_page} characters")
    sides = {
        name: {"matched": 0, "traced": 0, "true": 0, "seconds": 0.0}
        for name in ("page", "one by one")
    }
    for k in range(pages):
        indices = list(range(k * per_page, (k + 1) * per_page))
        page = compose_page(samples, indices, columns, seed=seed + k, rows=rows)
        t0 = time.perf_counter()
        strokes = trace_prediction(predictor.predict_many([page.image])[0])
        sides["page"]["seconds"] += time.perf_counter() - t0
        for key, value in score_page(page, strokes, tolerance).items():
            sides["page"][key] += value
        one = sides["one by one"]
        for i in indices:
            t0 = time.perf_counter()
            traced = trace_prediction(predictor.predict_many([samples.clean[i]])[0])
            one["seconds"] += time.perf_counter() - t0
            m = match_strokes([s.points for s in traced], samples.strokes[i], tolerance)
            one["matched"] += m.matched
            one["traced"] += m.traced
            one["true"] += m.true
    out = {}
    for name, c in sides.items():
        p, r, f1 = prf(c["matched"], c["traced"], c["true"])
        out[name] = {
            "f1": f1,
            "precision": p,
            "recall": r,
            "traced/true": c["traced"] / max(c["true"], 1),
            "seconds per page": c["seconds"] / pages,
            "pages": pages,
            "characters": pages * per_page,
        }
    out["page"]["peak MB"] = _peak_mb()
    return out


def format_pages(result: dict[str, dict[str, float]], size: tuple[int, int]) -> str:
    """The table of ``evaluate_pages`` (``size``: a page's width and height in px)."""
    page, one = result["page"], result["one by one"]
    rows = [
        f"pages of {size[0]} x {size[1]} px: {page['pages']} pages, "
        f"{page['characters']} characters",
        "| what | page in one call | characters one by one |",
        "|---|---|---|",
        f"| stroke F1 (P / R) | {page['f1']:.3f} ({page['precision']:.3f} / {page['recall']:.3f}) "
        f"| {one['f1']:.3f} ({one['precision']:.3f} / {one['recall']:.3f}) |",
        f"| traced / true strokes | {page['traced/true']:.2f} | {one['traced/true']:.2f} |",
        f"| seconds per page | {page['seconds per page']:.1f} | {one['seconds per page']:.1f} |",
        f"| peak resident MB (the process) | {page['peak MB']:.0f} | - |",
    ]
    return "\n".join(rows)
