"""A page traced as groups of independent regions (inktrace/vectorize/regions.py) gives the strokes
the whole-page tracer gives, in an order that does not depend on the number of processes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import thicken

from inktrace.data import Strokes, render_batch
from inktrace.data.curriculum import make_strokes
from inktrace.data.rng import Draws, sample_keys
from inktrace.vectorize import TraceOptions, regions, trace_maps
from inktrace.vectorize.maps import read_maps
from inktrace.vectorize.trace import _trace_whole

MAP_KEYS = ("skeleton", "keypoints", "tangent", "width", "offset")
H, W = 371, 407  # odd sizes, and glyphs at odd offsets: boxes must keep thinning's parities


def page_maps(seed: int = 0) -> dict[str, np.ndarray]:
    """Junction-rich curriculum glyphs (level 4) at odd offsets, and long lines across the page
    at many angles, as a model's maps: the exact skeleton thickened and made uncertain."""
    n = 9
    st = make_strokes(4, Draws(sample_keys(seed, 20, 0, torch.arange(n))), 64)
    polylines = []
    for b in range(n):
        shift = np.array([13 + 130 * (b % 3) + b, 21 + 120 * (b // 3) + 2 * b], float)
        for s in range(st.points.shape[1]):
            if st.seg_valid[b, s].any():
                polylines.append(
                    st.points[b, s, : int(st.seg_valid[b, s].sum()) + 1].numpy() + shift
                )
    for angle in (0, 17, 45, 73, 90, 131):  # long strokes joining glyphs into larger regions
        t = np.deg2rad(angle)
        c = np.array([W / 2 + 7 * np.cos(t), H / 2 + 5 * np.sin(t)])
        d = np.array([np.cos(t), np.sin(t)]) * 75
        polylines.append(np.stack([c - d, c + d]))
    strokes = Strokes.from_polylines([[(p, 3.0) for p in polylines]])
    out = render_batch(strokes, H, W)
    maps = thicken({k: out[k][0].numpy() for k in (*MAP_KEYS, "mask")}, seed)
    return {k: maps[k] for k in MAP_KEYS}


def canonical(strokes):
    return [
        (s.points.round(9).tolist(), s.widths.round(9).tolist(), s.closed, list(s.corners))
        for s in strokes
    ]


@pytest.fixture(scope="module")
def page():
    return page_maps()


def test_regions_give_the_whole_page_strokes_for_any_number_of_processes(page, monkeypatch):
    whole = _trace_whole(read_maps(page), TraceOptions())
    assert len(whole) > 30
    monkeypatch.setattr(regions, "REGION_PIXELS", 80 * 80)
    groups = regions.plan_regions(read_maps(page), TraceOptions())
    assert len(groups) >= 4  # the glyphs the long lines miss are regions of their own
    assert all(ys.start % 2 == 0 and xs.start % 2 == 0 for ys, xs, _ in groups)
    one = trace_maps(page, processes=1)
    two = trace_maps(page, processes=2)
    assert canonical(one) == canonical(two)  # the same strokes in the same order
    assert sorted(map(str, canonical(one))) == sorted(map(str, canonical(whole)))
    # the long lines across the page come out as long as from the whole page
    lines = [s for s in one if s.length > 120]
    assert len(lines) == len([s for s in whole if s.length > 120]) >= 3


def test_a_small_image_is_traced_whole_and_an_inkless_page_gives_nothing(page, monkeypatch):
    opts = TraceOptions()
    assert regions.plan_regions(read_maps(page), opts) == []  # below REGION_PIXELS: whole
    monkeypatch.setattr(regions, "REGION_PIXELS", 80 * 80)
    blank = {k: np.zeros_like(v) for k, v in page.items()}
    assert regions.plan_regions(read_maps(blank), opts) == []
    assert trace_maps(blank, processes=2) == []


def _killed(k):
    import os
    import signal

    os.kill(os.getpid(), signal.SIGKILL)  # a tracer process dies (the OOM killer, kill -9)


def test_a_tracer_process_that_dies_leaves_the_page_traced_here(page, monkeypatch):
    monkeypatch.setattr(regions, "REGION_PIXELS", 80 * 80)
    want = canonical(trace_maps(page, processes=1))
    monkeypatch.setattr(regions, "_forked", _killed)
    assert canonical(trace_maps(page, processes=2)) == want


def test_the_reach_grows_with_the_widths_the_tracer_reads(page, monkeypatch):
    """A node reads the maps within half its width + 1.5 px: wide strokes reach farther than the
    16 px halo, and the regions grow with them (the strokes stay the whole page's)."""
    wide = dict(page, width=np.where(page["skeleton"] > 0.5, 40.0, 3.0).astype(np.float32))
    opts = TraceOptions()
    foot = regions._footprint(read_maps(wide), opts)
    assert regions._farthest(read_maps(wide), foot, opts) >= 2 * (20 + 1.5) + 2
    assert regions._farthest(read_maps(page), regions._footprint(read_maps(page), opts), opts) < 16
    monkeypatch.setattr(regions, "REGION_PIXELS", 80 * 80)
    whole = _trace_whole(read_maps(wide), opts)
    assert sorted(map(str, canonical(trace_maps(wide, processes=2)))) == sorted(
        map(str, canonical(whole))
    )


def test_ink_farther_apart_than_the_reach_is_traced_apart(monkeypatch):
    """Strokes 24 px apart, between the reach (16 px on these maps) and twice it, are independent
    pieces, one group each, and give the whole image's strokes (a page of characters with gaps
    of 20-40 px between them was one piece when each piece was grown by the whole reach)."""
    h, w = 120, 264
    lines = [np.array([[12.5 + 24 * k, 20.0], [12.5 + 24 * k, 100.0]]) for k in range(10)]
    out = render_batch(Strokes.from_polylines([[(p, 3.0) for p in lines]]), h, w)
    maps = thicken({k: out[k][0].numpy() for k in (*MAP_KEYS, "mask")}, 0)
    maps = {k: maps[k] for k in MAP_KEYS}
    opts = TraceOptions()
    m = read_maps(maps)
    assert max(regions.HALO, regions._farthest(m, regions._footprint(m, opts), opts)) == 16
    monkeypatch.setattr(regions, "REGION_PIXELS", h * w // 10)
    groups = regions.plan_regions(m, opts)
    assert len(groups) == 10
    assert [xs.start for _, xs, _ in groups] == sorted(xs.start for _, xs, _ in groups)
    whole = _trace_whole(m, opts)
    assert len(whole) == 10
    assert canonical(trace_maps(maps, processes=2)) == canonical(whole)


def test_a_mark_far_from_the_rest_is_a_group_of_its_own(page, monkeypatch):
    """A speck of keypoint heat in the far corner of a page otherwise inked at its top left does
    not stretch a group's box over the empty paper between them: it is a group of its own, and
    the strokes are the whole page's."""
    h, w = 900, 3000
    big = {k: np.zeros((*v.shape[:-2], h, w), v.dtype) for k, v in page.items()}
    for k, v in page.items():
        big[k][..., : v.shape[-2], : v.shape[-1]] = v
    big["keypoints"][0, h - 3 : h - 1, w - 4 : w - 2] = 0.5  # a network's corner artefact
    big["keypoints"][0, 1:3, w - 4 : w - 2] = 0.5  # and one first in reading order, far right
    opts = TraceOptions()
    monkeypatch.setattr(regions, "REGION_PIXELS", h * w // 2)  # two groups by footprint
    m = read_maps(big)
    groups = regions.plan_regions(m, opts)
    assert len(groups) == 4  # the two specks apart, the ink in two halves as before
    far = [g for g in groups if g[0].stop == h]
    assert len(far) == 1 and far[0][0].start > h - 40 and far[0][1].start > w - 40
    plain = dict(big, keypoints=big["keypoints"].copy())
    plain["keypoints"][0, :3], plain["keypoints"][0, -3:] = 0.0, 0.0
    without = regions.plan_regions(read_maps(plain), opts)  # the ink's two groups alone
    assert [(ys, xs) for ys, xs, _ in groups[1:3]] == [(ys, xs) for ys, xs, _ in without]
    spread = sum((ys.stop - ys.start) * (xs.stop - xs.start) for ys, xs, _ in groups)
    assert spread < 2 * H * W  # every box within the inked corner, or the speck's own
    whole = _trace_whole(read_maps(big), opts)
    assert sorted(map(str, canonical(trace_maps(big, processes=2)))) == sorted(
        map(str, canonical(whole))
    )
