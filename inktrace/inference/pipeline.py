"""The prediction pipeline around any network: the five dense maps of whole images, at the
images' own resolution. ``MapPredictor`` does everything but the forward pass, which a ``MapNet``
does: ``Predictor`` (predictor.py) runs an InkTraceNet in PyTorch, ``OnnxPredictor``
(deploy/runtime.py) an exported model in onnxruntime. This module needs NumPy, SciPy and Pillow
only, so tracing with an ONNX model works where PyTorch is not installed.

Per image: read it (images.py) unless it is an array already, choose the scale (scale.py: the
typical stroke width is brought to at most 5 px, 4 px for textured ink, and the typical cluster
of ink, a character or a word, to at most 62 px; or the ``scale`` given),
resample it (resample.py), cut it into overlapping tiles when it is larger than ``tile``
(tiling.py), run the tiles through the network in batches (at most ``batch_size`` tiles and
``batch_pixels`` pixels, but always one tile: images of one tile share batches with the call's
other images of their size; an image of several tiles runs alone, a row of its tiles at a time),
blend them and map the blend back to the input's pixels. A tile of paper with no ink near
(``SKIP_BLANK``) is not run: it takes the maps the network gives a tile of its one grey.

Framing (``FRAME``, ``CLUSTER_REACH``). GroupNorm normalises over whatever the network is shown,
and the network was trained on glyphs that fill about 0.78 of their image, so paper around the
ink changes the maps. An image of one tile is run on a square frame around its ink where that
cuts away at least half of it; an image of several tiles (a page) on one such frame per cluster
of ink (a character, a word), the frames of similar size in batches (``frame_pages``, the
default); the rest of the maps are the network's on paper. A page whose clusters do not each fit
in a tile, or whose frames would cover more than its pixels, runs in tiles as above.

Batches are capped in pixels because a CPU runs a large batch slower than its tiles one by one:
the activations of four 512 px tiles overflow the caches (the shipped model on an A4 page at 150
dpi, 2 cores: 7.6 s in batches of four 512 px tiles, 4.1-4.6 s one tile at a time), while 64 px
glyphs gain from batches of 16 to 64 (64 glyphs: 0.46 s in fours, 0.36-0.39 s in 16s or 64s).

Memory: the network sees at most ``batch_size`` tiles of ``tile`` x ``tile`` px at a time. An image
of several tiles streams: its tiles run a row at a time, and as each row is done the band of the
blend that no later tile reaches is renormalised and written to the result, then forgotten. So
only the result (8 float32 channels per pixel) is held whole; the blend's sums and weights are one
band at a time (the A4 300 dpi page's ``inktrace predict``: a peak of 0.89 GB, against 1.21 GB
holding them whole). The result is at the model's size: where the image was shrunk it is
``Prediction.model_maps``, and ``Prediction.maps`` is an ``InputMaps`` that maps it to the input's
pixels (resample.py's ``ToInput``, a band at a time) only when first asked for; the tracer never
asks (tracing.py).

GroupNorm computes its statistics over whatever it is shown, so a tiled image is not normalised
exactly as the whole image would be; see docs/using.md (*Tiling*) for the measured effect.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import numpy as np
from scipy import ndimage

from .images import MIN_SIDE, load_image, to_gray
from .resample import ToInput, model_size, squeezed, to_input, to_model, unit
from .scale import GLYPH_SIZE, image_scale, ink_masks
from .tiling import Stitcher, Tile

__all__ = [
    "MapNet",
    "MapPredictor",
    "Prediction",
    "InputMaps",
    "DEFAULT_TILE",
    "DEFAULT_BATCH_SIZE",
    "FRAME",
    "DEFAULT_BATCH_PIXELS",
]

DEFAULT_TILE = 512  # px of the resampled image
DEFAULT_BATCH_SIZE = 16  # tiles per forward pass at most ...
DEFAULT_BATCH_PIXELS = 512 * 512  # ... and pixels (on a CPU; see the module docstring)
# A tile of an image of several tiles is *blank* when its pixels, and those within BLANK_REACH px
# around it, are all of one grey: paper with no stroke near, as a drawing program, a whitened
# scan or a page's clipped margins give it. Its maps are the network's on a tile of that grey,
# computed once per image, tile size and grey: the tile's own maps (to the bit where the tiles run
# one a pass, as on a CPU; a batch's other tiles move a tile's maps slightly). Paper that varies
# at all is run: a tile's GroupNorm lifts even a 1-grey-level texture into its maps.
SKIP_BLANK = True
BLANK_REACH = 32  # px of the resampled image: twice any distance the tracer looks across
# An image of one tile is *framed*: cropped to its ink's box plus FRAME times the box's longer
# side (and FRAME_PX) on every side, where it has more paper than that; the rest of its maps are
# the network's on paper. GroupNorm normalises over whatever the network is shown, and the
# training glyphs fill about 0.78 of their image (a margin of 0.14 of the ink's side), so a
# character with wide margins came out worse: KanjiVG characters of 70 px (seed 1, 60 of them,
# clean) pasted on 256 px of white traced 0.820 stroke F1 (inktrace-strokes; inktrace-small
# 0.807) against 0.953 (0.869) on their own 70 px images, and framed 0.948 (0.862).
FRAME = 0.15
FRAME_PX = 2
FRAME_MIN = MIN_SIDE  # px: a frame is never smaller than the training images (64 model px)
FRAME_AREA = 0.5  # an image is framed only where the frame is at most this part of it
# An image of several tiles (a page) is framed per cluster of ink (``frame_pages``, the default;
# in the same time as tiles on the bench pages): ink within 2 * CLUSTER_REACH model px is one
# cluster (a character, a word), each framed as above (the side rounded up to a multiple of
# FRAME_STEP px, so that frames of similar size share forward passes), each pixel's maps taken
# from the frame it lies deepest in (farthest from the frame's edge), the network's paper maps
# where no frame reaches. The page of 14 x 16 KanjiVG characters of 70 px (seed 1) on ruled,
# noisy paper traced 0.903 stroke F1 in tiles (inktrace-strokes), 0.941 framed, 0.933 with each
# character on its own clean image. A page whose cluster frames would not each fit in a tile (a
# drawing, a table), or would cover more than PAGE_BUDGET times its pixels (screentone, noise),
# runs in tiles. Tiles run about 1.3 times a page's pixels (their overlap), so a budget of 2 lets
# frames cost at most about 1.5 times the tiles' work (a 1024 px page of 3 px specks every 47 px,
# 484 frames of 64 px covering 1.9 times the page: predict 1.5-1.7 s framed, 1.2-1.3 s in
# tiles). At 1.0 the evaluation's page of 140 px characters (seed 0), whose frames overlap where
# characters almost touch their neighbours, ran in tiles: stroke F1 0.858 in 16.1 s against 0.900
# in 12.3 s framed (0.898 one by one).
CLUSTER_REACH = 3
FAINT_SPECK = 12  # px: a cluster of faint ink alone smaller than this is the paper's noise
RULED = 8  # a piece of faint ink alone this many times as long as broad, and longer than twice
# FRAME_MIN, is a ruled line of the paper (notebook lines): left out of the frames, its maps the
# paper's, so a faint straight line of a drawing that long is not traced on a framed page
FRAME_STEP = 16
PAGE_BUDGET = 2.0


def _finished(
    result: dict[str, np.ndarray], size: tuple[int, int]
) -> tuple[Mapping[str, np.ndarray], dict[str, np.ndarray] | None]:
    """A page's model-sized maps (name -> (C, h, w)) as ``predict_many`` hands them on: (maps,
    None) at the input's ``size``, else (an InputMaps of them, them)."""
    maps = squeezed(result)
    if next(iter(maps.values())).shape[-2:] == tuple(size):
        return maps, None
    return InputMaps(maps, size), maps


def _ruled(box: tuple[slice, slice]) -> bool:
    """Whether a piece of faint ink with this box is a ruled line of the paper (``RULED``)."""
    ys, xs = box
    long = max(ys.stop - ys.start, xs.stop - xs.start)
    return long > RULED * min(ys.stop - ys.start, xs.stop - xs.start) and long > 2 * FRAME_MIN


def _centred(start: int, stop: int, span: int, length: int) -> tuple[int, int]:
    """(start, stop) of ``span`` px centred on ``start:stop``, moved and clipped into
    ``0:length``."""
    if span >= length:
        return 0, length
    first = min(max((start + stop - span) // 2, 0), length - span)
    return int(first), int(first + span)


class MapNet(Protocol):
    """What the pipeline asks of a network: a (B, 1, h, w) float32 batch in [0, 1] -> the maps as
    probabilities (name -> (B, C, h, w) float32 arrays, docs/contracts.md), and ``num_layers``
    (its input sides must be multiples of 2 ** num_layers to be exact; tiles are at least that)."""

    num_layers: int

    def __call__(self, batch: np.ndarray) -> Mapping[str, np.ndarray]: ...


class InputMaps(Mapping[str, np.ndarray]):
    """A resampled page's maps at the input's size, made from its model-sized maps when first
    read (then kept): ``inktrace trace`` traces a shrunk page's model-sized maps and never reads
    them, so a page is not held twice (the 4000 x 3000 bench page: 2.5 s and 380 MB of float32
    saved). They are mapped back a band of ``BAND`` model rows at a time (resample.ToInput), the
    same numbers to the bit as mapping all rows at once. A read-only Mapping: ``dict(maps)`` for
    a dict (a glyph's, a page at scale 1, is one already)."""

    BAND = 256  # model rows per step

    def __init__(self, model: Mapping[str, np.ndarray], size: tuple[int, int]) -> None:
        self.model = model
        self.size = (int(size[0]), int(size[1]))
        self._maps: dict[str, np.ndarray] | None = None

    @property
    def ready(self) -> bool:
        """Whether the input-sized maps have been made."""
        return self._maps is not None

    def _made(self) -> dict[str, np.ndarray]:
        if self._maps is None:
            model = {n: v.reshape(-1, *v.shape[-2:]) for n, v in self.model.items()}
            h, w = next(iter(model.values())).shape[-2:]
            mapper = ToInput((h, w), self.size)
            for y in range(0, h, self.BAND):
                mapper.add({n: v[:, y : y + self.BAND] for n, v in model.items()})
            self._maps = mapper.result()
        return self._maps

    def __getitem__(self, name: str) -> np.ndarray:
        return self._made()[name]

    def __contains__(self, name: object) -> bool:
        return name in self.model

    def __iter__(self) -> Iterator[str]:
        return iter(self.model)

    def __len__(self) -> int:
        return len(self.model)


@dataclass
class Prediction:
    """The maps of one image and how they were made."""

    # name -> (H, W) or (C, H, W) float32, docs/contracts.md (an InputMaps, made on first read,
    # for a page of several tiles that was resampled)
    maps: Mapping[str, np.ndarray]
    scale: float  # factor applied to the image before the model
    stroke_width: float | None  # estimated typical stroke width in input px (None: not measured)
    tiles: int  # tiles the image was cut into, or the frames it ran on (``framed``)
    model_size: tuple[int, int]  # (h, w) of the resampled image the network saw
    blank: int = 0  # of those, blank tiles the network did not run on (see SKIP_BLANK)
    # the maps at model_size, in its pixels, where that differs from the input's (else None): what
    # the tracer traces a shrunk image at (tracing.py), rather than resampling ``maps`` back
    model_maps: dict[str, np.ndarray] | None = None
    framed: bool = False  # the network ran on frames around the ink (``FRAME``), not tiles

    @property
    def size(self) -> tuple[int, int]:
        """(H, W) of the input image (without making lazy maps)."""
        if isinstance(self.maps, InputMaps):
            return self.maps.size
        h, w = self.maps["skeleton"].shape[-2:]
        return int(h), int(w)


@dataclass
class _Job:
    image: np.ndarray
    scale: float
    width: float | None
    pixels: np.ndarray  # (1, h, w) at the model's scale, the frame of it where framed
    stitcher: Stitcher
    full: tuple[int, int] = (0, 0)  # (h, w) of the whole image at the model's scale
    frame: tuple[int, int] | None = None  # (top, left) of the frame in it, or None: not framed
    frames: list[tuple[int, int, int, int]] | None = None  # a page's: (top, left, height, width)
    paper: float = 1.0  # the grey of a framed image's paper
    blank: int = 0  # tiles not run: blank (see SKIP_BLANK)
    blanks: dict[tuple[int, int, float], dict[str, np.ndarray]] = field(default_factory=dict)


class MapPredictor:
    """Runs a MapNet over whole images of any size (see the module docstring).

    ``scale``: None estimates it per image; a number is used for every image. ``tile``: side of the
    tiles, in pixels of the resampled image; ``overlap`` (default tile / 8) between neighbours,
    whose outer quarter (``margin``) is discarded. A forward pass takes at most ``batch_size``
    tiles and ``batch_pixels`` pixels (None: no pixel cap; "auto": a CPU's, one 512 px tile), but
    always one tile. ``glyph_size``: where ``scale`` is estimated, clusters of ink (characters,
    words) larger than this many px are shrunk to it (default ``scale.GLYPH_SIZE``, 62 px;
    scale.py); None: the stroke width alone sets the scale. ``frame``: an image of one tile is
    cropped to its ink plus this fraction of the ink's longer side on each side (``FRAME``, 0.15;
    the rest of its maps the network's on paper); None: never. ``frame_pages`` (default): an
    image of several tiles too, one frame per cluster of ink (``CLUSTER_REACH``); False: a page
    runs in tiles."""

    def __init__(
        self,
        net: MapNet,
        scale: float | None = None,
        tile: int = DEFAULT_TILE,
        overlap: int | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        batch_pixels: int | Literal["auto"] | None = DEFAULT_BATCH_PIXELS,
        glyph_size: float | None = GLYPH_SIZE,
        frame: float | None = FRAME,
        frame_pages: bool = True,
    ) -> None:
        if scale is not None and not (np.isfinite(scale) and scale > 0):
            raise ValueError(f"scale must be a positive number, got {scale}")
        if glyph_size is not None and (
            isinstance(glyph_size, (bool, str)) or not 0 < glyph_size < float("inf")  # (NaN too)
        ):
            raise ValueError(f"glyph_size must be a positive number or None, got {glyph_size!r}")
        minimum = 2 ** int(getattr(net, "num_layers", 0))
        if tile < max(16, minimum):
            raise ValueError(f"tile must be at least {max(16, minimum)} px, got {tile}")
        overlap = tile // 8 if overlap is None else overlap
        if not 0 <= overlap <= tile // 2:
            raise ValueError(f"overlap must be 0 to half the tile ({tile // 2} px), got {overlap}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        if batch_pixels == "auto":  # a CPU's: the pipeline's networks run there unless told
            batch_pixels = DEFAULT_BATCH_PIXELS
        if batch_pixels is not None and (
            isinstance(batch_pixels, bool)
            or not isinstance(batch_pixels, (int, np.integer))
            or batch_pixels < 1
        ):
            raise ValueError(
                f"batch_pixels must be a positive integer, 'auto' or None, got {batch_pixels!r}"
            )
        self.net = net
        self.scale, self.tile, self.overlap = scale, int(tile), int(overlap)
        self.margin = self.overlap // 4
        self.multiple = minimum  # tiles are cut to multiples of the network's granularity
        self.batch_size = int(batch_size)
        self.batch_pixels = None if batch_pixels is None else int(batch_pixels)
        self.glyph_size = None if glyph_size is None else float(glyph_size)
        if frame is not None and (isinstance(frame, (bool, str)) or not 0 <= frame < float("inf")):
            raise ValueError(f"frame must be a number of at least 0 or None, got {frame!r}")
        self.frame = None if frame is None else float(frame)
        self.frame_pages = bool(frame_pages)
        self._papers: dict[int, dict[str, np.ndarray]] = {}  # grey level -> paper maps (_paper)

    # ----------------------------------------------------------------- public API
    def predict(self, image: Any) -> dict[str, np.ndarray]:
        """The maps of one image: a path or an array (see images.to_gray) -> name -> array at the
        image's own size: skeleton, width (H, W); keypoints, tangent, offset (2, H, W)."""
        return dict(self.predict_many([image])[0].maps)

    def predict_many(
        self,
        images: Iterable[Any],
        scales: Sequence[tuple[float, float | None] | None] | None = None,
    ) -> list[Prediction]:
        """The Predictions of several images, in order. Images of one tile share batches; an
        image of several tiles runs alone, a row of tiles at a time (see the module docstring).
        ``scales``: per image, its (scale, stroke width) as ``choose_scale`` gives them, measured
        already (``inktrace trace`` measures the next images in another process while the
        network runs), or None to measure it here."""
        items = list(images)
        self._papers = {}  # (the network may have changed since the last call)
        given = [None] * len(items) if scales is None else list(scales)
        if len(given) != len(items):
            raise ValueError(f"{len(given)} scales for {len(items)} images")
        jobs = [self._job(im, i, given[i]) for i, im in enumerate(items)]
        self._run([job for job in jobs if job.frames is None and len(job.stitcher.tiles) == 1])
        out = []
        for job in jobs:
            size = (job.image.shape[0], job.image.shape[1])
            h, w = job.full
            model: dict[str, np.ndarray] | None = None
            maps: Mapping[str, np.ndarray]
            if job.frames is not None:
                maps, model = self._framed_page(job, size)
            elif len(job.stitcher.tiles) == 1:
                blend = self._unframed(job, job.stitcher.result())
                maps = to_input(blend, size)
                if (h, w) != size:
                    if "tangent" in blend:
                        blend["tangent"] = unit(blend["tangent"], out=blend["tangent"])
                    model = squeezed(blend)
            else:
                maps, model = self._stream(job, size)
            tiles = len(job.stitcher.tiles) if job.frames is None else len(job.frames)
            framed = job.frames is not None or job.frame is not None
            out.append(
                Prediction(maps, job.scale, job.width, tiles, (h, w), job.blank, model, framed)
            )
        return out

    def choose_scale(self, image: np.ndarray) -> tuple[float, float | None]:
        """(scale, estimated stroke width or None) for a grayscale image."""
        if self.scale is not None:
            return float(self.scale), None
        return image_scale(image, self.glyph_size)

    def per_pass(self, height: int, width: int) -> int:
        """How many tiles of ``height`` x ``width`` px one forward pass takes."""
        if self.batch_pixels is None:
            return self.batch_size
        return max(1, min(self.batch_size, self.batch_pixels // max(1, height * width)))

    def set_threads(self, threads: int) -> None:
        """Let the network use at most ``threads`` CPU threads (worker processes share cores)."""

    # ----------------------------------------------------------------- internals
    def _gray(self, image: Any, index: int) -> np.ndarray:
        if isinstance(image, (str, os.PathLike)):
            return load_image(image)
        return to_gray(image, f"images[{index}]")

    def _job(self, image: Any, index: int, given: tuple[float, float | None] | None = None) -> _Job:
        gray = self._gray(image, index)
        scale, width = self.choose_scale(gray) if given is None else given
        if not (np.isfinite(scale) and scale > 0):
            raise ValueError(f"images[{index}]: scale must be a positive number, got {scale}")
        pixels = to_model(gray, model_size(gray.shape[0], gray.shape[1], scale))
        full = (int(pixels.shape[-2]), int(pixels.shape[-1]))
        clusters = self._clusters(pixels[0]) if self.frame is not None else None
        frame = self._frame(pixels[0], clusters) if clusters is not None else None
        if frame is not None:  # only where the frame is one tile: a glyph, a word, a drawing
            (top, bottom), (left, right), grey = frame
            framed = Stitcher(bottom - top, right - left, *self._tiling())
            if len(framed.tiles) == 1:
                crop = pixels[:, top:bottom, left:right]
                corner = (top, left)
                return _Job(gray, scale, width, crop, framed, full=full, frame=corner, paper=grey)
        stitcher = Stitcher(*full, *self._tiling())
        job = _Job(gray, scale, width, pixels, stitcher, full=full)
        if clusters is not None and self.frame_pages and len(stitcher.tiles) > 1:
            job.frames, job.paper = self._page_frames(pixels[0], clusters)
        return job

    def _clusters(self, pixels: np.ndarray) -> tuple[list[tuple[slice, slice]], float]:
        """The boxes of a model-sized image's clusters of ink to frame (``CLUSTER_REACH``) and
        its paper's grey (the median of what is not ink). Faint ink counts (``faint_ink_mask``:
        pencil, a hairline greyed by resampling), but faint ink alone is left to the paper where
        it is a speck (a cluster under ``FAINT_SPECK`` px: the paper's noise) or a ruled line (a
        row or column more than half faint ink alone, or a cluster of faint ink alone ``RULED``
        times as long as broad: ``_ruled``)."""
        dark, faint = ink_masks(pixels)
        paper = pixels[~faint]
        grey = float(np.median(paper)) if paper.size else 1.0
        if not faint.any():
            return [], grey
        # ruled lines first, so that a character near one does not join it: rows and columns
        # more than half of faint ink alone
        alone = faint & ~dark
        rows, cols = alone.mean(1) > 0.5, alone.mean(0) > 0.5
        faint[rows] &= dark[rows]
        faint[:, cols] &= dark[:, cols]
        grown = ndimage.maximum_filter(faint.view(np.uint8), size=2 * CLUSTER_REACH + 1)
        labels, count = ndimage.label(grown)
        labels[~faint] = 0  # each cluster's own ink: its box
        # per cluster: whether it holds dark ink, and its ink's pixels (bincount: a tenth of
        # ndimage.maximum / sum's time on a page)
        has_dark = np.bincount(labels[dark], minlength=count + 1)[1:] > 0
        size = np.bincount(labels.ravel(), minlength=count + 1)[1:]
        boxes = []
        for k, box in enumerate(ndimage.find_objects(labels)):
            if box is not None and (has_dark[k] or (size[k] >= FAINT_SPECK and not _ruled(box))):
                boxes.append(box)
        return boxes, grey

    def _page_frames(
        self, pixels: np.ndarray, clusters: tuple[list[tuple[slice, slice]], float] | None = None
    ) -> tuple[list[tuple[int, int, int, int]] | None, float]:
        """A model-sized page's cluster frames, (top, left, height, width) each, from its
        ``clusters`` (or else ``_clusters`` of ``pixels``): the square of ``_span``, clipped to
        the page where the page is narrower (it still holds the cluster's ink); None where the
        page runs in tiles; and its paper's grey."""
        boxes, grey = self._clusters(pixels) if clusters is None else clusters
        if not boxes:
            return None, grey
        h, w = pixels.shape
        frames, area = [], 0
        for ys, xs in boxes:
            side = self._span(max(ys.stop - ys.start, xs.stop - xs.start))
            if side > self.tile:  # a drawing, a table, a line of joined words: tiles
                return None, grey
            top, bottom = _centred(ys.start, ys.stop, side, h)
            left, right = _centred(xs.start, xs.stop, side, w)
            area += (bottom - top) * (right - left)
            if area > PAGE_BUDGET * h * w:
                return None, grey
            frames.append((top, left, bottom - top, right - left))
        return frames, grey

    def _paper(self, grey: float) -> dict[str, np.ndarray]:
        """name -> (C,) the network's maps in the middle of a ``FRAME_MIN`` tile of one ``grey``
        (to 1/255), computed once per grey and ``predict_many`` call: what a framed image's
        paper takes."""
        level = int(round(min(max(grey, 0.0), 1.0) * 255))
        if level not in self._papers:
            tile = np.full((1, 1, FRAME_MIN, FRAME_MIN), level / 255.0, np.float32)
            maps = self.net(tile)
            self._papers[level] = {
                name: (v if v.ndim == 4 else v[:, None])[0, :, FRAME_MIN // 2, FRAME_MIN // 2]
                for name, v in maps.items()
            }
        return self._papers[level]

    def _span(self, side: int) -> int:
        """The side of the frame of ink whose box's longer side is ``side`` px (``FRAME``),
        rounded up to ``FRAME_STEP`` so that frames of similar size share forward passes."""
        margin = int(math.ceil(float(self.frame or 0.0) * side)) + FRAME_PX
        span = max(side + 2 * margin, FRAME_MIN)
        return -(-span // FRAME_STEP) * FRAME_STEP

    def _paper_maps(self, grey: float, shape: tuple[int, int]) -> dict[str, np.ndarray]:
        """name -> (C, *shape) maps of paper of one ``grey`` everywhere (``_paper``): what a
        framed image's maps start from."""
        out = {}
        for name, value in self._paper(grey).items():
            out[name] = np.empty((value.shape[0], *shape), np.float32)
            out[name][:] = value[:, None, None]
        return out

    def _framed_page(
        self, job: _Job, size: tuple[int, int]
    ) -> tuple[Mapping[str, np.ndarray], dict[str, np.ndarray] | None]:
        """A framed page's maps (see ``CLUSTER_REACH``), as ``_stream`` gives a tiled one's."""
        assert job.frames is not None
        result = self._paper_maps(job.paper, job.full)
        depth = np.full(job.full, -1, np.int32)  # of each pixel in the frame its maps come from
        by_size: dict[tuple[int, int], list[tuple[int, int]]] = {}
        for top, left, fh, fw in job.frames:
            by_size.setdefault((fh, fw), []).append((top, left))
        for (fh, fw), corners in by_size.items():
            rows, cols = np.arange(fh), np.arange(fw)
            inner_y, inner_x = np.minimum(rows, fh - 1 - rows), np.minimum(cols, fw - 1 - cols)
            own = np.minimum(inner_y[:, None], inner_x[None, :]).astype(np.int32)
            step = self.per_pass(fh, fw)
            for start in range(0, len(corners), step):
                chunk = corners[start : start + step]
                x = np.stack([job.pixels[:, t : t + fh, c : c + fw] for t, c in chunk])
                maps = self.net(np.ascontiguousarray(x, dtype=np.float32))
                maps = {n: v if v.ndim == 4 else v[:, None] for n, v in maps.items()}
                for b, (t, c) in enumerate(chunk):
                    held = depth[t : t + fh, c : c + fw]
                    deeper = own > held
                    every = bool(deeper.all())  # no frame overlaps this one yet: a plain copy
                    np.maximum(held, own, out=held)
                    for name, value in maps.items():
                        window = result[name][:, t : t + fh, c : c + fw]
                        np.copyto(window, value[b], where=True if every else deeper)
        if "tangent" in result:
            result["tangent"] = unit(result["tangent"], out=result["tangent"])
        return _finished(result, size)

    def _tiling(self) -> tuple[int, int, int, int]:
        """The Stitcher's settings after the image's size: tile, overlap, margin, multiple."""
        return self.tile, self.overlap, self.margin, self.multiple

    def _frame(
        self, pixels: np.ndarray, clusters: tuple[list[tuple[slice, slice]], float] | None = None
    ) -> tuple[tuple[int, int], tuple[int, int], float] | None:
        """((top, bottom), (left, right), paper grey) of the frame of a model-sized image (see
        ``FRAME``): a square, as the training images are, centred on the box of its clusters of
        ink (``clusters``, or else ``_clusters`` of ``pixels``) and as wide as its longer side
        plus the margins (at least ``FRAME_MIN``, rounded up to ``FRAME_STEP`` so that frames
        share forward passes), moved and clipped into the image; None where that keeps more than
        ``FRAME_AREA`` of the image, or there is no ink."""
        boxes, grey = self._clusters(pixels) if clusters is None else clusters
        if not boxes:
            return None
        top_ = min(ys.start for ys, _ in boxes)
        bottom_ = max(ys.stop for ys, _ in boxes)
        left_ = min(xs.start for _, xs in boxes)
        right_ = max(xs.stop for _, xs in boxes)
        span = self._span(max(bottom_ - top_, right_ - left_))
        h, w = pixels.shape
        top, bottom = _centred(top_, bottom_, span, h)
        left, right = _centred(left_, right_, span, w)
        if (bottom - top) * (right - left) > FRAME_AREA * h * w:
            return None  # little paper to cut: the image stays as the network was trained on
        return (top, bottom), (left, right), grey

    def _unframed(self, job: _Job, blend: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """A framed image's maps (name -> (C, frame)) at its whole model size: the frame's, and
        around it the network's maps of its paper (``_paper``)."""
        if job.frame is None:
            return blend
        top, left = job.frame
        fh, fw = job.pixels.shape[-2:]
        whole = self._paper_maps(job.paper, job.full)
        for name, value in blend.items():
            whole[name][:, top : top + fh, left : left + fw] = value
        return whole

    def _run(self, jobs: Sequence[_Job]) -> None:
        """Every tile of every job through the network, tiles of one size together (as many as
        ``per_pass`` allows); each output goes to its image's blend."""
        groups: dict[tuple[int, int], list[tuple[_Job, Tile]]] = {}
        for job in jobs:
            for t in job.stitcher.tiles:
                groups.setdefault((t.height, t.width), []).append((job, t))
        for (h, w), work in groups.items():
            step = self.per_pass(h, w)
            for start in range(0, len(work), step):
                self._forward(work[start : start + step])

    def _blank(self, job: _Job, t: Tile) -> float | None:
        """The one grey of tile ``t`` and its surroundings when it is blank, else None."""
        h, w = job.pixels.shape[-2:]
        ys = slice(max(t.y - BLANK_REACH, 0), min(t.y + t.height + BLANK_REACH, h))
        xs = slice(max(t.x - BLANK_REACH, 0), min(t.x + t.width + BLANK_REACH, w))
        near = job.pixels[0, ys, xs]
        low = float(near.min())
        return low if float(near.max()) == low else None

    def _blank_maps(self, job: _Job, t: Tile, grey: float) -> dict[str, np.ndarray]:
        """The network's maps of a tile of ``t``'s size in one ``grey`` (once per image)."""
        key = (t.height, t.width, grey)
        if key not in job.blanks:
            maps = self.net(np.full((1, 1, t.height, t.width), grey, np.float32))
            job.blanks[key] = {n: (v if v.ndim == 4 else v[:, None])[0] for n, v in maps.items()}
        return job.blanks[key]

    def _row(self, job: _Job, row: Sequence[Tile]) -> None:
        """One row of a tiled image's tiles through the network (blank ones not: their grey's
        maps), each output to the blend in the row's order."""
        step = self.per_pass(row[0].height, row[0].width)
        waiting: list[tuple[_Job, Tile]] = []
        for t in row:
            grey = self._blank(job, t) if SKIP_BLANK else None
            if grey is None:
                waiting.append((job, t))
                if len(waiting) == step:
                    self._forward(waiting)
                    waiting = []
                continue
            if waiting:
                self._forward(waiting)
                waiting = []
            job.stitcher.add(t, self._blank_maps(job, t, grey))
            job.blank += 1
        if waiting:
            self._forward(waiting)

    def _forward(self, chunk: Sequence[tuple[_Job, Tile]]) -> None:
        """One forward pass over ``chunk``'s tiles (all of one size); each output goes to its
        image's blend."""
        x = np.stack([job.pixels[:, t.slices[0], t.slices[1]] for job, t in chunk])
        maps = self.net(np.ascontiguousarray(x, dtype=np.float32))
        maps = {n: v if v.ndim == 4 else v[:, None] for n, v in maps.items()}
        for b, (job, t) in enumerate(chunk):
            job.stitcher.add(t, {name: v[b] for name, v in maps.items()})

    def _stream(
        self, job: _Job, size: tuple[int, int]
    ) -> tuple[Mapping[str, np.ndarray], dict[str, np.ndarray] | None]:
        """The maps of a tiled image, a row of tiles at a time: each row's finished band of the
        blend is renormalised straight into the result's rows, so the blend is never held
        whole. At scale 1 the result is the maps (the second of the pair is None); otherwise it
        is the model-sized maps (the second), and the first an InputMaps that maps them to the
        input's size when asked."""
        stitcher = job.stitcher
        result: dict[str, np.ndarray] = {}
        starts = stitcher.row_starts()
        for k, y in enumerate(starts):
            self._row(job, [t for t in stitcher.tiles if t.y == y])
            below = starts[k + 1] if k + 1 < len(starts) else stitcher.height
            rows = slice(stitcher.top, below)
            if not result:
                shape = (stitcher.height, stitcher.width)
                channels = stitcher.channels()
                result = {n: np.empty((c, *shape), np.float32) for n, c in channels.items()}
            band = stitcher.take(below, {n: v[:, rows] for n, v in result.items()})
            if "tangent" in band:  # (a band at a time: memory, see the module docstring)
                band["tangent"] = unit(band["tangent"], out=band["tangent"])
        return _finished(result, size)
