"""A page's maps traced as independent regions, in parallel where the machine allows.

Everything the tracer decides is local: a centreline pixel, a keypoint zone, a junction, a join or
a snapped corner depends on the maps within a few pixels of the ink: a node reads them within half
its width + 1.5 px, points move by their sub-pixel offsets, corners snap ``corner_snap`` px. So ink
that lies farther than the *reach* (twice the largest of those on the maps at hand, plus 2 px, and
at least ``HALO``) from all other ink is traced on its own with the same result. A page larger than
``REGION_PIXELS`` is cut that way: the *footprint* (the pixels the tracer can act on: skeleton
probability at least the low threshold, keypoint heat at least the keypoint threshold) is grown by
half the reach (two pieces of ink within the reach of each other merge) and its connected
components are the independent pieces. They are taken in reading order (top, then left) and dealt
into ``parts`` groups of about equal footprint, ``parts`` set by the page alone (its pixels over
``REGION_PIXELS``, rounded: a page under 1.5 of them is traced whole); a piece lying apart from its
group, whose box would grow the group's to more than twice the two boxes (a mark in a far corner of
an otherwise empty page), starts a group of its own (not counted among the ``parts``), so no
group's box stretches far over empty paper. The groups depend on the page alone, so the strokes and
their order never depend on how many processes traced them. Each group is traced on its bounding
box (starting on an even row and column: thinning's subfields are pixel parities) with the skeleton
and keypoint heat outside the group's grown components set to zero, and its strokes are moved back
to the page; the groups' strokes follow each other in group order.

The same strokes as the whole page traced at once, with one caveat: a group is traced in its
box's coordinates and moved back, and sums of coordinates round differently there in the last
bit. With the sub-pixel offsets of a dense model's maps that changes nothing measurable (the A4
pages at 150 and 300 dpi: every stroke equal to the whole page's to 1e-9 px); with maps whose
points all sit on pixel centres (skeleton-only maps, the classical baseline's) an exact tie can
break the other way, e.g. Douglas-Peucker keeping the other of two equally good vertices.

With ``processes`` above 1 (on Linux, not in a daemonic process) the groups are traced in that
many forked processes, which read the page's maps from the parent's memory instead of a copy
through a pipe; only the strokes come back. A process that dies leaves its groups to the parent.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import replace

import numpy as np
from scipy import ndimage

from ..children import end_with_parent
from .maps import Maps
from .stroke import Stroke, TraceOptions

__all__ = ["REGION_PIXELS", "HALO", "plan_regions", "trace_regions", "Region"]

REGION_PIXELS = 1 << 20  # a page larger than this is traced in groups of regions, one per this
HALO = 16  # px around the footprint: more than any distance the tracer looks across
SPRAWL_SLACK = 256  # px: see _sprawls

Region = tuple[slice, slice, np.ndarray]  # rows, columns of a group's box, and its pixels there
Box = tuple[int, int, int, int]  # top, left, bottom, right


def _footprint(m: Maps, opts: TraceOptions) -> np.ndarray:
    """The pixels the tracer can act on (see the module docstring)."""
    out = m.skeleton >= min(opts.low_threshold, opts.threshold)
    for heat in (m.topo, m.geo):
        if heat is not None:
            out |= heat >= opts.keypoint_threshold
    return out


def _farthest(m: Maps, foot: np.ndarray, opts: TraceOptions) -> int:
    """How far (px) the tracer may look from the footprint on these maps: a node reads the maps
    within half its width + 1.5 px, a keypoint zone spans half the width (at most 8) + 1.5 px,
    points move by their offsets, corners snap ``corner_snap`` px; twice the largest, plus 2."""
    width = float(m.width[foot].max()) if m.width is not None else opts.default_width
    shift = float(np.abs(m.offset[:, foot]).max()) if m.offset is not None else 0.0
    look = max(0.5 * width + 1.5, opts.corner_snap) + shift
    return int(math.ceil(2 * look)) + 2


def plan_regions(m: Maps, opts: TraceOptions) -> list[Region]:
    """The groups of independent regions of a page's maps, or none when the image is traced
    whole (not larger than ``REGION_PIXELS``, or too few regions for two groups)."""
    h, w = m.shape
    if h * w <= REGION_PIXELS:
        return []
    foot = _footprint(m, opts)
    if not foot.any():
        return []
    reach = max(HALO, _farthest(m, foot, opts))
    # grown by half the reach in each direction (a square: a separable maximum filter), so two
    # pieces of ink merge when they lie within the reach of each other (the grown squares touch
    # at a Chebyshev distance of 2 * grow + 1, never more than the Euclidean one)
    grow = (reach + 1) // 2
    grown = ndimage.maximum_filter(foot.view(np.uint8), size=2 * grow + 1).astype(bool)
    labels, count = ndimage.label(grown, np.ones((3, 3), int))
    parts = min(count, round(h * w / REGION_PIXELS))
    if parts <= 1:
        return []
    boxes = ndimage.find_objects(labels)
    weight = np.bincount(labels[foot], minlength=count + 1)[1:]
    order = sorted(range(count), key=lambda k: (boxes[k][0].start, boxes[k][1].start))
    share = weight.sum() / parts
    groups: list[list[int]] = []
    spans: list[Box] = []  # each group's top, left, bottom and right
    done = 0.0
    cuts = 0  # groups started for their share of the footprint (not those a far piece starts)
    for k in order:
        ys, xs = boxes[k]
        mine = (ys.start, xs.start, ys.stop, xs.stop)
        full = done >= share * (cuts + 1) and cuts + 1 < parts
        if not groups or full or _sprawls(spans[-1], mine):
            cuts += full  # (never on the first piece: nothing is done yet)
            groups.append([k])
            spans.append(mine)
        else:
            groups[-1].append(k)
            spans[-1] = _union(spans[-1], mine)
        done += weight[k]
    out = []
    for group, (top, left, bottom, right) in zip(groups, spans):
        # boxes start on even rows and columns: thinning's subfields are the pixels' parities
        ys, xs = slice(top // 2 * 2, bottom), slice(left // 2 * 2, right)
        out.append((ys, xs, np.isin(labels[ys, xs], np.asarray(group) + 1)))
    return out


def _area(box: Box) -> int:
    return (box[2] - box[0]) * (box[3] - box[1])


def _union(a: Box, b: Box) -> Box:
    return min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])


def _sprawls(box: Box, piece: Box) -> bool:
    """Whether a group's box would grow to more than twice its and the piece's boxes together
    (plus a ``SPRAWL_SLACK`` px square), the piece lying apart: it starts a group of its own."""
    return _area(_union(box, piece)) > 2 * (_area(box) + _area(piece)) + SPRAWL_SLACK**2


def _crop(m: Maps, region: Region) -> Maps:
    """The maps of one group: its box, with no skeleton or keypoint heat outside its pixels."""
    ys, xs, inside = region

    def cut(a: np.ndarray | None, clear: bool = False) -> np.ndarray | None:
        if a is None:
            return None
        part = a[..., ys, xs].copy()
        if clear:
            part[..., ~inside] = 0.0
        return part

    return Maps(
        skeleton=cut(m.skeleton, True),  # type: ignore[arg-type]
        tangent=cut(m.tangent),
        offset=cut(m.offset),
        width=cut(m.width),
        topo=cut(m.topo, True),
        geo=cut(m.geo, True),
        ends=cut(m.ends),
        identity=cut(m.identity),
    )


Tracer = Callable[[Maps, TraceOptions], list[Stroke]]
Job = tuple[Maps, list[Region], TraceOptions, Tracer]
_JOB: dict[str, Job] = {}  # the forked processes' work: maps, groups, options, tracer
_ONE_POOL = threading.Lock()


def _trace_one(m: Maps, region: Region, opts: TraceOptions, tracer: Tracer) -> list[Stroke]:
    ys, xs, _ = region
    strokes = tracer(_crop(m, region), opts)
    shift = np.array([xs.start, ys.start], dtype=np.float64)
    return [replace(s, points=s.points + shift) for s in strokes]


def _forked(k: int) -> list[Stroke]:
    m, regions, opts, tracer = _JOB["work"]
    return _trace_one(m, regions[k], opts, tracer)


def _can_fork() -> bool:
    """Forked tracers: on Linux only (macOS forks unsafely after its system frameworks start,
    and Python there spawns), and not from a daemonic process (which may not have children)."""
    return sys.platform.startswith("linux") and not multiprocessing.current_process().daemon


def trace_regions(m: Maps, opts: TraceOptions, tracer: Tracer, processes: int = 1) -> list[Stroke]:
    """``tracer`` (the whole-image tracer) over the page's groups of regions, in up to
    ``processes`` forked processes, the strokes in group order. Should a process die (killed,
    out of memory) the groups are traced here instead: the same strokes, later."""
    regions = plan_regions(m, opts)
    if not regions:
        return tracer(m, opts)
    use = min(processes, len(regions))
    found: list[list[Stroke]] | None = None
    if use > 1 and _can_fork():
        with _ONE_POOL:  # the forked processes read the work of one call at a time
            _JOB["work"] = (m, regions, opts, tracer)
            context = multiprocessing.get_context("fork")
            try:
                with ProcessPoolExecutor(  # forked tracers end with this process
                    use, mp_context=context, initializer=end_with_parent, initargs=(os.getpid(),)
                ) as pool:
                    found = list(pool.map(_forked, range(len(regions))))
            except (BrokenProcessPool, OSError):  # a process died or could not start
                found = None
            finally:
                _JOB.clear()
    if found is None:
        found = [_trace_one(m, region, opts, tracer) for region in regions]
    return [s for part in found for s in part]
