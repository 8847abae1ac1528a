"""The stroke heads' signals in the tracer. The same exact maps of an L (two strokes meeting at a
corner) are traced with the signals changed, so only the signal can make the difference."""

import numpy as np
import pytest

from inktrace.data.dataset import render_batch
from inktrace.data.geometry import Strokes
from inktrace.evaluation.runner import exact_maps
from inktrace.vectorize import trace_maps

ONE = [([(12.0, 12.0), (12.0, 50.0), (50.0, 50.0)], 3.0)]
TWO = [([(12.0, 12.0), (12.0, 50.0)], 3.0), ([(12.0, 50.0), (50.0, 50.0)], 3.0)]


def l_maps(drawn, **signals):
    return exact_maps(render_batch(Strokes.from_polylines([drawn]), 64, 64), 0, **signals)


@pytest.mark.parametrize("drawn", [ONE, TWO])
def test_the_identity_embedding_decides_whether_an_l_is_one_stroke(drawn):
    maps = l_maps(drawn, ends=False, identity=True)
    truth = len(drawn)
    assert len(trace_maps(maps)) == truth
    ink = maps["identity"].any(0)
    maps["identity"][:, ink] = maps["identity"][:, ink][:, :1]  # one embedding: one stroke
    assert len(trace_maps(maps)) == 1


def test_apart_embeddings_split_an_l_at_its_keypoint():
    maps = l_maps(TWO, ends=False, identity=True)
    ink = maps["identity"].any(0)
    maps["identity"][:, ink] = maps["identity"][:, ink][:, :1]
    assert len(trace_maps(maps)) == 1
    maps["identity"][0, :46] += 3.0  # the vertical arm apart from the horizontal one
    assert len(trace_maps(maps)) == 2


def test_the_stroke_end_map_decides_where_the_embedding_is_absent():
    maps = l_maps(TWO, ends=True, identity=False)
    assert len(trace_maps(maps)) == 2
    maps["ends"][40:60, 2:22] = 0.0  # no stroke ends at the corner (12, 50): a corner of one
    assert len(trace_maps(maps)) == 1


def test_an_unsure_embedding_defers_to_the_end_map():
    maps = l_maps(TWO, ends=True, identity=True)
    ink = maps["identity"].any(0)
    left = np.zeros_like(ink)
    left[:, :14] = True
    maps["identity"][:, ink] = 0.0
    maps["identity"][0, ink & left] = 1.0  # the two strokes 1.0 apart: unsure (0.75-2.25)
    assert len(trace_maps(maps)) == 2  # the end map says both strokes end at the corner
    maps["ends"][40:60, 2:22] = 0.0
    assert len(trace_maps(maps)) == 1


def test_the_stroke_targets():
    batch = render_batch(Strokes.from_polylines([TWO]), 64, 64)
    ends = batch["ends"][0].numpy()
    for x, y in [(12.0, 12.0), (12.0, 50.0), (50.0, 50.0)]:  # both strokes end at the corner
        assert ends[int(y), int(x)] > 0.6
    assert float(np.median(ends)) == 0.0
    assert set(np.unique(batch["stroke"][0].numpy())) == {0.0, 1.0, 2.0}
    closed = [([(10.0, 10.0), (40.0, 10.0), (40.0, 40.0), (10.0, 10.0)], 3.0)]
    assert float(render_batch(Strokes.from_polylines([closed]), 64, 64)["ends"].max()) == 0.0
