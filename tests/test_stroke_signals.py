"""The stroke heads' signals in the tracer: an L drawn as one stroke and an L drawn as two strokes
have the same geometry; only the stroke-identity embedding tells them apart."""

import numpy as np
import pytest

from inktrace.data.dataset import render_batch
from inktrace.data.geometry import Strokes
from inktrace.evaluation.runner import exact_maps
from inktrace.vectorize import trace_maps

ONE = [([(12.0, 12.0), (12.0, 50.0), (50.0, 50.0)], 3.0)]
TWO = [([(12.0, 12.0), (12.0, 50.0)], 3.0), ([(12.0, 50.0), (50.0, 50.0)], 3.0)]


def traced(strokes, **signals):
    batch = render_batch(Strokes.from_polylines([strokes]), 64, 64)
    return trace_maps(exact_maps(batch, 0, **signals))


@pytest.mark.parametrize("drawn, expected", [(ONE, 1), (TWO, 2)])
def test_the_identity_embedding_decides_an_l(drawn, expected):
    assert len(traced(drawn, ends=True, identity=True)) == expected
    assert len(traced(drawn, ends=False, identity=True)) == expected


def test_the_stroke_end_map_reads_where_strokes_end():
    batch = render_batch(Strokes.from_polylines([TWO]), 64, 64)
    ends = batch["ends"][0].numpy()
    # both strokes end at the corner (12, 50): a peak there, and at the two free ends
    for x, y in [(12.0, 12.0), (12.0, 50.0), (50.0, 50.0)]:
        assert ends[int(y), int(x)] > 0.6
    assert float(np.median(ends)) == 0.0
    ids = batch["stroke"][0].numpy()
    assert set(np.unique(ids)) == {0.0, 1.0, 2.0}
