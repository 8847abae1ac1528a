"""Page-sized evaluation images: held-out KanjiVG characters (``render_samples``) laid out in a
grid of boxes on ruled, noisy paper, with each character's true strokes in page pixels.

A page is ``columns`` x ``rows`` boxes of ``cell`` px; character k sits in box k, its ``size`` px
sample centred there. The paper is white with faint grey ruled lines (one under every row of
boxes, 1 px, value ``RULE``) and seeded Gaussian noise (``NOISE``); the ink is the clean samples'
(darkest wins where ink and a rule meet). ``score_page`` matches the strokes traced on a whole
page to the truth box by box: a traced stroke belongs to the box holding the midpoint of its
points' extent, and is matched (matching.match_strokes, ``tolerance`` px) against that box's
true strokes; the counts are summed over the boxes.

Below the characters a page may hold lines of cursive Latin words (``render_cursive``: the data
engine's joined words, from a key stream no training draws), one word per box, so a row of boxes
reads as a line of handwriting; they are scored apart from the characters.

``evaluate_pages`` (``inktrace evaluate --pages N``) composes N pages of held-out characters and
cursive lines, predicts and traces each page in one call, and the same characters and words one
by one twice: on their own clean images, and cut from the page (each sample's square of page
pixels, the paper's noise in it: ``crop``), and returns the three sides' stroke F1, traced / true
strokes (per kind of box) and seconds, with the process's peak resident memory (Linux ru_maxrss:
the largest so far, the model and the one-by-one sides included). The page against the crops is
what tracing a page in one call costs; the crops against the clean images, what its paper does.
"""

from __future__ import annotations

import resource
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

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
    "CHARACTER",
    "CURSIVE",
]

RULE = 0.8  # paper value of the ruled lines
NOISE = 0.03  # standard deviation of the paper noise


@dataclass
class Page:
    """One page: the image (H, W) float32 in [0, 1], the boxes (x0, y0, x1, y1) of its
    characters, each box's true strokes ((n, 2) float64 polylines, page pixels), what each box
    holds (``CHARACTER`` or ``CURSIVE``) and where each box's sample lies (x, y of its top left
    corner; its side is ``size``)."""

    image: np.ndarray
    boxes: list[tuple[int, int, int, int]]
    strokes: list[list[np.ndarray]]
    kinds: list[str] = field(default_factory=list)
    corners: list[tuple[int, int]] = field(default_factory=list)
    size: int = 0

    def crop(self, k: int) -> tuple[np.ndarray, list[np.ndarray]]:
        """Box ``k``'s sample as the page shows it (its ``size`` px square of page pixels) and
        its true strokes in the crop's pixels."""
        x, y = self.corners[k]
        image = self.image[y : y + self.size, x : x + self.size].copy()
        return image, [s - np.array([x, y], dtype=np.float64) for s in self.strokes[k]]


CHARACTER, CURSIVE = "characters", "cursive words"
SIDES = ("page", "one by one", "crops")  # evaluate_pages' sides (module docstring)


def compose_page(
    samples: EvalSamples,
    indices: Sequence[int],
    columns: int,
    cell: int | None = None,
    seed: int = 0,
    rows: int | None = None,
    words: EvalSamples | None = None,
    word_indices: Sequence[int] = (),
) -> Page:
    """Samples ``indices`` of ``samples`` (clean) on one ruled, noisy page (module docstring),
    then the cursive words ``word_indices`` of ``words`` (render_cursive, the same size) in the
    boxes that follow: a row of words is a line of cursive writing."""
    size = samples.size
    if words is not None and words.size != size:
        raise ValueError(f"the words are {words.size} px, the characters {size} px")
    cell = int(cell if cell is not None else round(1.25 * size))
    if cell < size:
        raise ValueError(f"cell {cell} px must hold a {size} px character")
    items = [(samples, i, CHARACTER) for i in indices]
    if word_indices:
        if words is None:
            raise ValueError("word_indices need the words")
        items += [(words, i, CURSIVE) for i in word_indices]
    rows = rows if rows is not None else max(1, -(-len(items) // columns))
    if len(items) > rows * columns:
        raise ValueError(f"{len(items)} characters and words do not fit {columns} x {rows} boxes")
    height, width = rows * cell, columns * cell
    rng = np.random.default_rng(seed)
    page = np.ones((height, width), np.float32)
    for r in range(rows):
        page[(r + 1) * cell - 2, :] = RULE
    boxes, strokes, kinds, corners = [], [], [], []
    pad = (cell - size) // 2
    for k, (source, index, kind) in enumerate(items):
        y0, x0 = (k // columns) * cell, (k % columns) * cell
        iy, ix = y0 + pad, x0 + pad
        region = page[iy : iy + size, ix : ix + size]
        np.minimum(region, source.clean[index], out=region)
        boxes.append((x0, y0, x0 + cell, y0 + cell))
        strokes.append([s + np.array([ix, iy], dtype=np.float64) for s in source.strokes[index]])
        kinds.append(kind)
        corners.append((ix, iy))
    page += rng.normal(0.0, NOISE, page.shape).astype(np.float32)
    return Page(np.clip(page, 0.0, 1.0), boxes, strokes, kinds, corners, size)


def score_page(
    page: Page, traced: Sequence, tolerance: float, kind: str | None = None
) -> dict[str, int]:
    """Matched, traced and true stroke counts of the traced strokes (objects with ``points``)
    against ``page``, box by box (module docstring), over the boxes of ``kind`` (None: all);
    strokes outside every box are not counted."""
    centres = np.array(
        [0.5 * (s.points.min(0) + s.points.max(0)) for s in traced if len(s.points)]
    ).reshape(-1, 2)
    polys = [s.points for s in traced if len(s.points)]
    counts = {"matched": 0, "traced": 0, "true": 0}
    kinds = page.kinds or [CHARACTER] * len(page.boxes)
    for (x0, y0, x1, y1), truth, what in zip(page.boxes, page.strokes, kinds):
        if kind is not None and what != kind:
            continue
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
    words: EvalSamples | None = None,
    word_rows: int = 0,
) -> dict[str, dict[str, float]]:
    """``pages`` pages of ``columns`` x ``rows`` boxes, each traced in one call, beside the same
    characters one by one, clean and cut from the page (module docstring): the first ``rows -
    word_rows`` rows hold characters of ``samples`` (in order, which must hold enough), the last
    ``word_rows`` lines of cursive words of ``words``. ``{"page": {...}, "one by one": {...},
    "crops": {...}}`` with, per kind of box (CHARACTER, CURSIVE), f1, precision, recall and
    traced/true (as ``"<kind> f1"`` ...; the characters' also as plain ``f1`` ...), then seconds
    per page, pages, characters, words, and on the page side the peak resident MB (module
    docstring)."""
    if not 0 <= word_rows < rows or (word_rows and words is None):
        raise ValueError(f"word_rows {word_rows} must be below rows {rows}, with words given")
    per_page, per_line = columns * (rows - word_rows), columns * word_rows
    if pages * per_page > len(samples.clean):
        raise ValueError(f"{pages} pages of {per_page} need {pages * per_page} characters")
    if words is not None and pages * per_line > len(words.clean):
        raise ValueError(f"{pages} pages of {per_line} words need {pages * per_line} words")
    kinds = (CHARACTER, CURSIVE) if word_rows else (CHARACTER,)
    zero = {"matched": 0, "traced": 0, "true": 0}
    counts = {(side, kind): dict(zero) for side in SIDES for kind in kinds}
    seconds = dict.fromkeys(SIDES, 0.0)

    def one_by_one(side: str, kind: str, image: np.ndarray, truth: list[np.ndarray]) -> None:
        t0 = time.perf_counter()
        traced = trace_prediction(predictor.predict_many([image])[0])
        seconds[side] += time.perf_counter() - t0
        m = match_strokes([s.points for s in traced], truth, tolerance)
        for key, value in (("matched", m.matched), ("traced", m.traced), ("true", m.true)):
            counts[side, kind][key] += value

    for k in range(pages):
        indices = list(range(k * per_page, (k + 1) * per_page))
        lines = list(range(k * per_line, (k + 1) * per_line))
        page = compose_page(
            samples, indices, columns, seed=seed + k, rows=rows, words=words, word_indices=lines
        )
        t0 = time.perf_counter()
        strokes = trace_prediction(predictor.predict_many([page.image])[0])
        seconds["page"] += time.perf_counter() - t0
        for kind in kinds:
            for key, value in score_page(page, strokes, tolerance, kind).items():
                counts["page", kind][key] += value
        singles = [(samples, i, CHARACTER) for i in indices]
        singles += [(words, i, CURSIVE) for i in lines if words is not None]
        for box, (source, i, kind) in enumerate(singles):
            one_by_one("one by one", kind, source.clean[i], source.strokes[i])
            one_by_one("crops", kind, *page.crop(box))
    out: dict[str, dict[str, float]] = {}
    for side in SIDES:
        out[side] = {}
        for kind in kinds:
            c = counts[side, kind]
            p, r, f1 = prf(c["matched"], c["traced"], c["true"])
            figures = {
                "f1": f1,
                "precision": p,
                "recall": r,
                "traced/true": c["traced"] / max(c["true"], 1),
            }
            out[side].update({f"{kind} {name}": value for name, value in figures.items()})
            if kind == CHARACTER:
                out[side].update(figures)
        out[side].update(
            {
                "seconds per page": seconds[side] / pages,
                "pages": pages,
                "characters": pages * per_page,
                "words": pages * per_line,
            }
        )
    out["page"]["peak MB"] = _peak_mb()
    return out


def format_pages(result: dict[str, dict[str, float]], size: tuple[int, int]) -> str:
    """The table of ``evaluate_pages`` (``size``: a page's width and height in px)."""
    page, one, cut = result["page"], result["one by one"], result["crops"]
    rows = [
        f"pages of {size[0]} x {size[1]} px: {page['pages']} pages, "
        f"{page['characters']} characters, {page.get('words', 0)} cursive words",
        "| what | page in one call | one by one, cut from the page | one by one, clean |",
        "|---|---|---|---|",
    ]
    for kind in (CHARACTER, CURSIVE):
        if f"{kind} f1" not in page:
            continue
        f1, p, r, ratio = (
            f"{kind} {name}" for name in ("f1", "precision", "recall", "traced/true")
        )
        rows += [
            f"| stroke F1, {kind} (P / R) | "
            + " | ".join(f"{d[f1]:.3f} ({d[p]:.3f} / {d[r]:.3f})" for d in (page, cut, one))
            + " |",
            f"| traced / true strokes, {kind} | "
            + " | ".join(f"{d[ratio]:.2f}" for d in (page, cut, one))
            + " |",
        ]
    rows += [
        "| seconds per page | "
        + " | ".join(f"{d['seconds per page']:.1f}" for d in (page, cut, one))
        + " |",
        f"| peak resident MB (the process) | {page['peak MB']:.0f} | - | - |",
    ]
    return "\n".join(rows)
