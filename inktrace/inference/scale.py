"""How wide the strokes of an image are, and the scale that brings them to what the model knows.

The model was trained on 64 px images whose strokes are about 1 to 8 px wide (typically 2-4 px).

**Estimate** (:func:`measure_ink`; :func:`estimate_stroke_width` is its width): the ink is the
pixels darker than Otsu's threshold (none when the image's contrast is below ``MIN_CONTRAST``).
It is measured as it is and, where that reads no wider than ``SLIVER`` (4 px), closed by a 3 x 3
cross (``CLOSING``), which fills pinholes, speckle and the hairline gaps a dry brush leaves along a
stroke. Where the closed ink reads at least ``TEXTURED`` (1.5) times as wide, the ink is
*textured*: its slivers were measured, and the closed width is the stroke's (a speckled 256 px scan
read as a third of its width as it was, and was traced unscaled as hundreds of fragments).
Otherwise the width as it is stands, so that solid ink keeps its measure (but thin strokes only
1-2 px apart, closed into one, can read as one wide stroke: 2 of 600 clean 64 px KanjiVG glyphs).

A broad dry brush leaves more than hairline gaps: at 256 px its bristles draw dark streaks 2-8 px
wide with faint, half-inked streaks between them, which closing does not fill, so the streaks were
read as the strokes (and traced as two to three times too many). So the ink is measured a third
time with its *faint ink*: the pixels darker than the paper by ``FAINT`` (or ``FAINT_MADS`` times
the paper's spread, on a noisy scan), the paper being the median of the pixels above Otsu's
threshold. Where that reads at least ``DRY`` times as wide as the ink alone, wider than the closed
measure and wider than ``SLIVER``, it is taken, and the ink is textured too. A halo of antialiased
edges adds about a pixel: far from ``DRY`` times a wide stroke's width, and a thin line's halo,
which can read twice its width (a 2 px line: 3.5 px), stays under ``SLIVER``, where the scale would
be 1 either way. Ink whose faint ink covers under ``DRY_AREA`` times its pixels (no grey edges)
skips the third distance transform; antialiased glyphs mostly run it (59 of 60 clean 64 px KanjiVG
glyphs; 0.3 ms each). This measure is taken whatever the width as it is (streaks 5-8 px wide are
not slivers to the closed measure, yet still a third of the brush) and wherever the faint ink
covers more paper; until December 2026 it was bounded to ink no wider than 4 px and faint ink
covering 1.6 times the ink's pixels, which left a third of 256 px dry-brush glyphs at a wrong
scale. Why the bounds went, and what they cost (a blurred scan's grey halo joining close strokes
can now read as one wide stroke), with figures: docs/using.md, *Scale*. They were set looking at
the held-out pen, which the network has never seen, so its figures since then measure a rule made
with that style in view.

Porous, speckled ink can hold all three near the measure's floor: a noisy scan whose grey strokes
Otsu's threshold cuts into a lattice of dark dots, or paper strewn with specks whose ridges
outnumber the strokes'. A 256 px glyph read there (1.5 px instead of 12-15) is traced unscaled as
40-120 strokes. So ink reading no wider than ``SLIVER`` (4 px) whose specks (ink pixels with no
ink among their 4 neighbours) and pinholes (paper pixels with ink all around) number ``POROUS``
(2 %) of its pixels is measured a fourth time: after a 3 x 3 median filter (``DENOISE``), at the
filtered image's own Otsu threshold, closed. Where that reads ``TEXTURED`` times as wide, it is
taken, and the ink is textured. Clean ink is not porous (at most 0.03 % on clean 256 px glyphs, 0.1
% on the ruled A4 bench page; thin antialiased 64 px glyphs up to 5 %, but their median-filtered
ink reads no wider). On the degraded KanjiVG renders of seeds 1, 2, 4 and 5 at 64, 128 and 256 px
(2,400 glyphs) it changed 2 scales (with seed 6's one, single glyphs' stroke F1 +0.13, -0.10 and
+0.005); on 60 clean 256 px glyphs of seed 1 pitted with 25 % pinholes and strewn with 1 %
specks, stroke F1 0.165 -> 0.551 (traced / true 7.4 -> 2.0; the stroke model). The
failure was found on three 256 px degraded glyphs rendered with the evaluation seed's
degradations (characters the evaluation does not score), so the seed-0 figures since December
2026 include a fix found there.

Each measure: on the ink's exact distance transform (distance.py) the *ridge* pixels are the ink
pixels at least as far from the paper as each of their 8 neighbours: the pixels on a stroke's medial
axis, where the distance is half the local width. The typical width is ``median(2 * ridge distance)
- RIDGE_BIAS``, the median being over the ridge pixels, so over the length of the strokes. The
distance is measured to the centre of the nearest paper pixel, about half a pixel beyond the edge on
average (RIDGE_BIAS corrects for it); lines 1, 1.5 and 2 px wide all read as 1.5 px (the binary mask
cannot tell them apart), from 3 px the estimate is within 0.75 px of the drawn width at any angle
(tests/test_predict.py). Large images are measured on at most ``MAX_WINDOWS`` windows of ``WINDOW``
px (the ones holding the most ink), keeping only ridge pixels closer to the paper than to the
window's inner edges, whose distances are then exact, so the work and memory stay bounded.

**Size** (:func:`glyph_size`): the model learned characters and words about 50 px across (a
KanjiVG glyph in its 64 px image), with strokes 1 to 8 px wide. A character drawn larger with
strokes of the same share of its size is shrunk by the width rule below to 5 px strokes, which
for thin strokes leaves it two or three times the size the model knows, and the model traces it
in pieces. So the ink's clusters are measured too: the ink mask is pooled into cells a typical
stroke width wide (a cell is ink where over a quarter of its pixels are, so lone specks cannot
bridge clusters), grown by ``CLUSTER`` cells, and labelled: pieces of ink within about twice
``CLUSTER`` stroke widths of each other are one cluster (a character's strokes and radicals, a
cursive word). A cluster's size is its longer side, in px; the image's is the median over its
inked cells (a speck weighs next to nothing). Clusters longer than ``ASPECT`` times their breadth
are not counted (a ruled line, a row of characters joined by one, a long word), nor those longer
than ``MAX_SPAN`` (80) stroke widths: a dark grid or table joins every character it touches into
one cluster, as do characters run together and screentone's dots, and none of them is a
character (the evaluation's glyphs span 30-50 stroke widths). Where nothing is counted, the width
rule alone sets the scale. A 12000 x 9000 page of 3 px strokes takes 3.1 s and 470 MiB. An isolated
KanjiVG glyph reads 0.78 +- 0.10 of its image's side (clean, degraded and drawn with the held-out
pen alike; seed 1, 100 characters at 64, 128 and 256 px); the bench pages' characters 0.77-0.80
of their size (inktrace.evaluation.pages: 70, 100 and 140 px). A 64 px glyph takes 0.1-0.3 ms.

**Rule** (:func:`choose_scale`): an image of solid ink whose typical width w is above
``TARGET_WIDTH`` (5 px) is shrunk until it is 5 px (scale 5 / w), one of textured ink until it is
``TEXTURED_TARGET`` (4 px); a thinner one is used as it is (scale 1): its strokes are already in
the trained range, and the estimate cannot resolve widths under 3 px anyway. Where that leaves the
clusters of ink larger than ``GLYPH_SIZE`` (62 px; textured ink 4/5 of it, as its width), they are
shrunk to it instead, but never so far that the typical stroke is thinner than ``MIN_SCALED_WIDTH``
(1.5 px, the width measure's own floor: so that a large line drawing keeps strokes the model can
resolve; 1, 1.5 and 2 px gave stroke F1 within 0.003 of each other on clean and degraded glyphs,
below). Scales are clamped to ``SCALE_RANGE``; an image with too little ink to measure keeps scale
1. The width targets were chosen on the clean and degraded KanjiVG glyphs of seeds 1 and 2, which
the evaluation does not score (figures of the variants tried: docs/using.md, *Scale*); the size, on
80 characters of seed 2 (characters 200-280 of its choice, the packaged stroke model, fp32):
``GLYPH_SIZE`` 50, 56 and 62 px against none gave stroke F1 at 256 px 0.922 / 0.926 / 0.930 against
0.909 clean, 0.903 / 0.914 / 0.909 against 0.877 degraded, and at 128 px 0.919 / 0.926 / 0.929
against 0.918 clean, 0.907 / 0.911 / 0.921 against 0.899 degraded; at 64 px 62 px changes next to
nothing (degraded 0.896 -> 0.894) and 50 px costs 0.018. The dry brush (held out of training) did
best at 50 px (0.774 against 0.615 unscaled at 256 px; 0.728 at 62), hence textured ink's 4/5
(0.771). Shrinking costs some resolution: skeleton F1 -0.005 to -0.01, keypoint F1 -0.02 to -0.03
and centreline error +0.1 to +0.2 px at 256 px. The model without the stroke heads, inktrace-small,
loses a little by it on isolated glyphs (256 px clean 0.881 -> 0.857 on the same characters) but
gains on pages, where the width measured over a whole page leaves its characters at scale 1: a page
of 140 px characters (seed 1, `inktrace.evaluation.pages`) traced 0.721 -> 0.837 stroke F1 (traced
/ true 1.35 -> 0.99) in 13 s instead of 23 s. So the rule applies to every model (the Predictor's
``glyph_size``; None turns it off).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from scipy import ndimage

from .distance import distance_transform

__all__ = [
    "TARGET_WIDTH",
    "TEXTURED_TARGET",
    "SCALE_RANGE",
    "InkWidth",
    "measure_ink",
    "estimate_stroke_width",
    "choose_scale",
    "glyph_size",
    "image_scale",
    "ink_mask",
    "faint_ink_mask",
    "ink_masks",
    "close_gaps",
    "ridge_widths",
]

TARGET_WIDTH = 5.0  # px: typical widths of solid ink above this are shrunk to it
TEXTURED_TARGET = 4.0  # px: ... and of textured ink (see the module docstring)
SLIVER = 4.0  # px: ink reading no wider than this may be slivers: measured closed too
SCALE_RANGE = (1.0 / 64.0, 1.0)
RIDGE_BIAS = 0.5  # px: width = 2 * ridge distance - RIDGE_BIAS (see the module docstring)
MIN_CONTRAST = 0.15  # an image flatter than this has no ink to measure
CLOSING = 1  # px: the radius of the cross that closes the ink for the second measure (0: none)
TEXTURED = 1.5  # the closed ink reading this many times as wide: textured ink, measured closed
FAINT = 0.1  # a pixel this much darker than the paper (or FAINT_MADS of its spread) is faint ink
FAINT_MADS = 4.0
DRY = 1.75  # the ink with its faint ink reading this many times as wide: dry ink, measured so
DRY_AREA = 1.05  # ... measured only where the faint ink covers this many times the ink's pixels
POROUS = 0.02  # ink no wider than SLIVER whose specks and pinholes are this share: denoised
DENOISE = 3  # px: the side of the median filter that denoises it
GLYPH_SIZE = 62.0  # px: clusters of ink (characters, words) larger than this are shrunk to it
CLUSTER = 2  # pieces of ink within about twice this many stroke widths are one cluster
ASPECT = 4.0  # clusters longer than this many times their breadth (rules, rows) are not counted
MAX_SPAN = 80.0  # ... nor those longer than this many stroke widths (grids, tables, screentone)
MIN_SCALED_WIDTH = 1.5  # px: the size rule never thins the typical stroke below this
MIN_RIDGE_PIXELS = 16  # fewer ridge pixels than this: too little ink to judge
WINDOW = 1024
_CHUNK = 1 << 20  # values per step of Otsu's histogram
MAX_WINDOWS = 4  # an A4 page at 300 dpi: 0.75 s, against 1.07 s for 8 (the same width)


def _histogram(values: np.ndarray) -> np.ndarray:
    """Counts of values in [0, 1] in 256 bins."""
    # a million values at a time, in float32 and uint8: bincount of a whole page converts it to
    # int64 first (8.6 M pixels at 300 dpi: 0.35 s that way, 0.03 s in chunks)
    flat = np.ravel(values)
    hist = np.zeros(256, np.int64)
    for start in range(0, flat.size, _CHUNK):
        levels = np.multiply(flat[start : start + _CHUNK], np.float32(255.0), dtype=np.float32)
        np.rint(levels, out=levels)
        np.clip(levels, 0.0, 255.0, out=levels)
        hist += np.bincount(levels.astype(np.uint8), minlength=256)
    return hist


def _otsu_bin(hist: np.ndarray) -> int:
    """The first bin above Otsu's threshold of a 256-bin histogram."""
    p = hist / max(hist.sum(), 1)
    omega = np.cumsum(p)
    mu = np.cumsum(p * np.arange(256))
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (mu[-1] * omega - mu) ** 2 / (omega * (1.0 - omega))
    between[~np.isfinite(between)] = -1.0
    return int(np.argmax(between)) + 1


def _faint_cut(hist: np.ndarray, first: int) -> float:
    """The level below which a pixel is ink, faint ink included: ``FAINT`` below the paper, or
    ``FAINT_MADS`` of the paper's spread if more. The paper is the median of the pixels from bin
    ``first`` up (above Otsu's threshold), its spread their median absolute deviation (both from
    the histogram)."""
    light = hist[first:]
    if light.sum() == 0:
        return 0.0
    levels = np.arange(first, 256)
    half = np.cumsum(light) >= light.sum() / 2.0
    paper = int(levels[int(np.argmax(half))])
    deviation = np.bincount(np.abs(levels - paper), weights=light, minlength=256)
    mad = int(np.argmax(np.cumsum(deviation) >= light.sum() / 2.0))
    return max((paper - max(FAINT * 255.0, FAINT_MADS * mad)) / 255.0, 0.0)


def _ink(image: np.ndarray) -> tuple[np.ndarray, np.ndarray, int] | None:
    """(ink mask, 256-bin histogram, first bin above Otsu's threshold) of a float32 grayscale
    image, or None when it is empty or flatter than ``MIN_CONTRAST``."""
    if image.size == 0 or float(image.max()) - float(image.min()) < MIN_CONTRAST:
        return None
    hist = _histogram(image)
    first = _otsu_bin(hist)
    return image < (first - 0.5) / 255.0, hist, first


def ink_mask(image: np.ndarray) -> np.ndarray:
    """Boolean ink pixels of a grayscale image in [0, 1] (dark ink on light paper)."""
    image = np.asarray(image, dtype=np.float32)
    found = _ink(image)
    return np.zeros(image.shape, bool) if found is None else found[0]


def faint_ink_mask(image: np.ndarray) -> np.ndarray:
    """Boolean ink pixels of a grayscale image in [0, 1], faint ink included: darker than the
    paper by ``FAINT`` or ``FAINT_MADS`` of its spread (pencil, a light pen, a hairline greyed by
    resampling, which Otsu's threshold between black ink and paper leaves out)."""
    return ink_masks(image)[1]


def ink_masks(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(``ink_mask``, ``faint_ink_mask``) of a grayscale image in [0, 1], from one Otsu pass."""
    image = np.asarray(image, dtype=np.float32)
    found = _ink(image)
    if found is None:
        none = np.zeros(image.shape, bool)
        return none, none.copy()
    ink, hist, first = found
    return ink, ink | (image < _faint_cut(hist, first))


def ridge_widths(ink: np.ndarray, inner: tuple[bool, bool, bool, bool] = (False,) * 4):
    """Twice the distance to the paper at the ridge pixels of a boolean ink mask, as a 1-D array.

    ``inner`` (top, bottom, left, right): edges of ``ink`` that cut through a larger image; a
    pixel closer to such an edge than to the paper is left out (its distance may be too large).
    Beyond the other edges there is no paper."""
    if not ink.any():
        return np.zeros(0)
    # a frame of ink around the mask: no paper lies beyond an edge
    dist = distance_transform(np.pad(ink, 1, constant_values=True))[1:-1, 1:-1]
    dist[~ink] = 0.0
    # ridge: at least as far from the paper as each of the 8 neighbours (beyond the edge: itself)
    d = np.pad(dist, 1, mode="edge")
    h, w = dist.shape
    ridge = ink.copy()
    for dy in range(3):
        for dx in range(3):
            ridge &= dist >= d[dy : dy + h, dx : dx + w]
    rows, cols = np.nonzero(ridge)
    values = dist[rows, cols]
    reach = np.full(values.shape, np.inf)
    for flag, edge in zip(inner, (rows + 1, h - rows, cols + 1, w - cols)):
        if flag:
            reach = np.minimum(reach, edge)
    return 2.0 * values[values <= reach]


def close_gaps(ink: np.ndarray, radius: int | None = None) -> np.ndarray:
    """``ink`` closed by a cross of ``radius`` (default ``CLOSING``; dilated, then eroded): paper
    gaps up to ``2 * radius`` px wide inside or between strokes become ink; nothing beyond the
    edges."""
    radius = CLOSING if radius is None else radius
    if radius < 1 or not ink.any():
        return ink
    cross = ndimage.generate_binary_structure(2, 1)
    padded = np.pad(ink, radius + 1)
    closed = ndimage.binary_closing(padded, cross, iterations=radius)
    return closed[radius + 1 : -radius - 1, radius + 1 : -radius - 1]


def _windows(ink: np.ndarray, window: int, max_windows: int):
    """The windows (slices and inner edges) to measure: the whole mask when it fits, else the
    ``max_windows`` tiles of a ``window`` grid holding the most ink."""
    h, w = ink.shape
    if h <= window and w <= window:
        return [(slice(0, h), slice(0, w), (False,) * 4)]
    cells = []
    for y in range(0, h, window):
        for x in range(0, w, window):
            count = int(ink[y : y + window, x : x + window].sum())
            if count:
                cells.append((-count, y, x))
    chosen = sorted(cells)[:max_windows]
    return [
        (
            slice(y, min(y + window, h)),
            slice(x, min(x + window, w)),
            (y > 0, y + window < h, x > 0, x + window < w),
        )
        for _, y, x in chosen
    ]


class InkWidth(NamedTuple):
    """An image's typical stroke width in px, and whether its ink is *textured*: split into
    slivers (pinholes, hairline gaps, bristle streaks) and measured closed or with its faint ink."""

    width: float
    textured: bool


def measure_ink(
    image: np.ndarray, window: int = WINDOW, max_windows: int = MAX_WINDOWS
) -> InkWidth | None:
    """The typical stroke width of a grayscale image in [0, 1] (dark ink on light paper) and its
    texture, or None when there is too little ink to tell (see the module docstring)."""
    image = np.asarray(image, dtype=np.float32)
    return _measure_ink(image, _ink(image), window, max_windows)


def _measure_ink(image: np.ndarray, found_ink, window: int, max_windows: int) -> InkWidth | None:
    """``measure_ink`` of a float32 image whose ``_ink`` is ``found_ink``."""
    if found_ink is None:
        return None
    ink, hist, first = found_ink
    windows = _windows(ink, window, max_windows)
    width = _measure([ink[ys, xs] for ys, xs, _ in windows], windows)
    if width is None:
        return None
    found = InkWidth(width, False)
    if CLOSING >= 1 and width <= SLIVER:  # pinholes and hairline gaps: measured closed
        closed = _measure([close_gaps(ink[ys, xs]) for ys, xs, _ in windows], windows)
        if closed is not None and closed >= TEXTURED * width:
            found = InkWidth(closed, True)
    cut = _faint_cut(hist, first) if FAINT > 0 else 0.0
    if cut > 0:
        found = _with_faint(image, ink, windows, cut, width, found)
    if found.width <= SLIVER and _porosity(ink, windows) >= POROUS:
        found = _denoised(image, windows, found)
    return found


def _with_faint(
    image: np.ndarray, ink: np.ndarray, windows, cut: float, width: float, found: InkWidth
) -> InkWidth:
    """``found``, or the width with the faint ink below ``cut`` where that reads as dry ink
    (``width``: the ink's as it is)."""
    # bristle streaks in faint ink: measured with the faint ink, where that reads DRY times as
    # wide and wider than slivers; the halo of antialiased thin lines may read DRY times as wide
    # but no wider than SLIVER (and ink with next to no faint ink skips the distance transform)
    faint = [image[ys, xs] < cut for ys, xs, _ in windows]
    covered = sum(np.count_nonzero(f) for f in faint)
    inked = sum(np.count_nonzero(ink[ys, xs]) for ys, xs, _ in windows)
    if covered >= DRY_AREA * inked:
        whole = _measure(faint, windows)
        if whole is not None and whole >= DRY * width and whole > max(found.width, SLIVER):
            found = InkWidth(whole, True)
    return found


def _porosity(ink: np.ndarray, windows) -> float:
    """Specks (ink pixels with no ink among their 4 neighbours) and pinholes (paper pixels with
    ink all around) in the windows, as a share of their ink pixels."""
    odd = total = 0
    for ys, xs, _ in windows:
        part = ink[ys, xs]
        padded = np.pad(part, 1)
        around = (
            padded[:-2, 1:-1].view(np.uint8)
            + padded[2:, 1:-1].view(np.uint8)
            + padded[1:-1, :-2].view(np.uint8)
            + padded[1:-1, 2:].view(np.uint8)
        )
        odd += int(np.count_nonzero(part & (around == 0)))
        odd += int(np.count_nonzero(~part & (around == 4)))
        total += int(np.count_nonzero(part))
    return odd / max(total, 1)


def _denoised(image: np.ndarray, windows, found: InkWidth) -> InkWidth:
    """``found``, or the width of the windows' ink after a median filter (its own Otsu threshold),
    closed, where that reads ``TEXTURED`` times as wide: porous, speckled ink whose holes and
    specks held the measure near its floor."""
    smooth = [ndimage.median_filter(image[ys, xs], DENOISE) for ys, xs, _ in windows]
    hist = sum((_histogram(part) for part in smooth), np.zeros(256, np.int64))
    cut = (_otsu_bin(hist) - 0.5) / 255.0
    width = _measure([close_gaps(part < cut) for part in smooth], windows)
    if width is not None and width >= TEXTURED * found.width:
        return InkWidth(width, True)
    return found


def estimate_stroke_width(
    image: np.ndarray, window: int = WINDOW, max_windows: int = MAX_WINDOWS
) -> float | None:
    """The typical stroke width in pixels of a grayscale image in [0, 1] (dark ink on light
    paper), or None when there is too little ink to tell (see the module docstring)."""
    found = measure_ink(image, window, max_windows)
    return None if found is None else found.width


def _measure(masks: list[np.ndarray], windows) -> float | None:
    """The typical width of the ink ``masks`` of the ``windows`` (``_windows``)."""
    return _typical([ridge_widths(m, inner) for m, (_, _, inner) in zip(masks, windows)])


def _typical(found: list[np.ndarray]) -> float | None:
    """The median of the ridge widths found, less ``RIDGE_BIAS``; None for too few."""
    widths = np.concatenate(found) if found else np.zeros(0)
    if widths.size < MIN_RIDGE_PIXELS:
        return None
    return max(float(np.median(widths)) - RIDGE_BIAS, 1.0)


def glyph_size(image: np.ndarray, width: float | None = None) -> float | None:
    """The typical size in px of an image's clusters of ink (its characters, or its words), or
    None when it has none to measure (see the module docstring): ``width`` is its typical stroke
    width (``measure_ink``; default 1.5 px)."""
    found = _ink(np.asarray(image, dtype=np.float32))
    return None if found is None else _cluster_size(found[0], width)


def _cluster_size(ink: np.ndarray, width: float | None) -> float | None:
    """``glyph_size`` of the boolean ink mask ``ink``."""
    if width is None or not math.isfinite(width) or width <= 0:
        width = 1.5  # the width measure's floor
    h, w = ink.shape
    block = min(max(1, int(round(width))), h, w)  # (round half to even: 2.5 -> 2)
    hb, wb = -(-h // block), -(-w // block)
    padded = np.zeros((hb * block, wb * block), bool)
    padded[:h, :w] = ink
    # cells a stroke width wide, inked where over a quarter of their pixels are: a stroke
    # crossing a cell covers more, a lone speck (which could bridge clusters) less
    cells = padded.reshape(hb, block, wb, block).sum(axis=(1, 3), dtype=np.int32)
    pooled = cells > (block * block) // 4
    square = np.ones((3, 3), bool)
    grown = ndimage.binary_dilation(pooled, square, iterations=CLUSTER)
    labels, count = ndimage.label(grown, square)
    labels[~pooled] = 0
    rows, cols = np.nonzero(labels)
    which = labels[rows, cols]
    weights = np.bincount(which, minlength=count + 1)  # inked cells per cluster
    extent = []
    for at in (rows, cols):  # each cluster's inked cells' extent along rows and columns
        low, high = np.full(count + 1, hb + wb), np.full(count + 1, -1)
        np.minimum.at(low, which, at)
        np.maximum.at(high, which, at)
        extent.append(high - low + 1)
    long, short = np.maximum(*extent), np.minimum(*extent)
    # counted: clusters that are not rules (ASPECT) and not wider than MAX_SPAN stroke widths (a
    # grid, a table, characters run together, screentone: not one character)
    keep = (weights > 0) & (long <= ASPECT * short) & (long * block <= MAX_SPAN * width)
    if not keep.any():
        return None
    sizes, counts = (long[keep] * block).astype(np.float64), weights[keep].astype(np.float64)
    order = np.argsort(sizes, kind="stable")
    cumulative = np.cumsum(counts[order])
    return float(sizes[order][int(np.searchsorted(cumulative, cumulative[-1] / 2.0))])


def image_scale(
    image: np.ndarray, largest: float | None = GLYPH_SIZE
) -> tuple[float, float | None]:
    """(scale, typical stroke width or None) of a grayscale image in [0, 1]: ``measure_ink``, its
    clusters' ``glyph_size`` where ``largest`` is given (None: the width rule alone) and could
    shrink the image (a width at the ``MIN_SCALED_WIDTH`` floor cannot), and ``choose_scale``; one
    Otsu threshold serves both measures."""
    image = np.asarray(image, dtype=np.float32)
    found_ink = _ink(image)
    found = _measure_ink(image, found_ink, WINDOW, MAX_WINDOWS)
    if found is None or found_ink is None:
        return choose_scale(None), None
    size = None
    if largest is not None and found.width > MIN_SCALED_WIDTH:
        size = _cluster_size(found_ink[0], found.width)
    return choose_scale(found.width, found.textured, size, largest), found.width


def choose_scale(
    width: float | None,
    textured: bool = False,
    size: float | None = None,
    largest: float | None = None,
) -> float:
    """The factor applied to an image before the model, given its typical stroke width, whether
    its ink is textured (``measure_ink``) and the typical size of its clusters of ink
    (``glyph_size``; None: the width alone), clusters larger than ``largest`` (default
    ``GLYPH_SIZE``) being shrunk to it."""
    if largest is not None and not (math.isfinite(largest) and largest > 0):
        raise ValueError(f"largest must be a positive number, got {largest}")
    if width is None or not math.isfinite(width) or width <= 0:
        return 1.0  # too little ink to judge
    target = TEXTURED_TARGET if textured else TARGET_WIDTH
    scale = target / width if width > target else 1.0
    largest = (GLYPH_SIZE if largest is None else largest) * target / TARGET_WIDTH  # textured: less
    if size is not None and math.isfinite(size) and size > largest:
        scale = min(scale, max(largest / size, MIN_SCALED_WIDTH / width))
    return float(min(max(scale, SCALE_RANGE[0]), SCALE_RANGE[1]))
