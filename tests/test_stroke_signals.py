"""The stroke heads' signals in the tracer. The same exact maps of an L (two strokes meeting at a
corner) are traced with the signals changed, so only the signal can make the difference."""

import numpy as np
import pytest

from inktrace.data.dataset import render_batch
from inktrace.data.geometry import Strokes
from inktrace.evaluation.runner import exact_maps
from inktrace.vectorize import trace_maps
from inktrace.vectorize.joining import _medoid

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


def test_identity_join_sets_how_far_apart_one_strokes_embeddings_may_be():
    maps = l_maps(TWO, ends=False, identity=True)
    ink = maps["identity"].any(0)
    maps["identity"][:, ink] = maps["identity"][:, ink][:, :1]
    maps["identity"][0, :46] += 1.7  # the arms 1.7 apart: two strokes at 1.5, one at 2.2
    assert len(trace_maps(maps, identity_join=1.5)) == 2
    assert len(trace_maps(maps)) == 1
    with pytest.raises(ValueError, match="identity_join"):
        trace_maps(maps, identity_join=0.0)


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
    maps["identity"][0, ink & left] = 2.0  # the two strokes 2.0 apart: unsure (1.25-3.15)
    assert len(trace_maps(maps)) == 2  # the end map says both strokes end at the corner
    maps["ends"][40:60, 2:22] = 0.0
    assert len(trace_maps(maps)) == 1
    # 1.0 apart is below IDENTITY_SURE (1.25): sure of one stroke, whatever the end map says
    ends = maps["ends"].copy()
    maps["identity"][0, ink & left] = 1.0
    maps["ends"] = l_maps(TWO, ends=True, identity=False)["ends"]
    assert len(trace_maps(maps)) == 1
    maps["identity"][0, ink & left] = 1.3  # just inside the unsure band: the end map decides
    assert len(trace_maps(maps)) == 2
    maps["ends"] = ends
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


def test_an_edge_without_pixels_reads_the_embedding_under_its_chord():
    """A dot starting on the stem of a 木 just below the crossing: the keypoint zones of the
    crossing and of the dot's two ends touch, so the dot and the stem between crossing and dot
    are edges without centreline pixels. The embedding under their chords keeps the stem one
    stroke and the dot its own (without it the stem's top ran on into the dot, by geometry)."""
    drawn = [
        ([(6.0, 25.5), (16.0, 25.0), (23.0, 24.0)], 3.5),
        ([(16.0, 13.0), (17.0, 30.0), (16.0, 56.0)], 3.5),
        ([(17.0, 26.0), (13.0, 36.0), (7.0, 47.0)], 3.5),
        ([(18.2, 29.1), (22.2, 33.9)], 3.5),
    ]
    strokes = trace_maps(exact_maps(render_batch(Strokes.from_polylines([drawn]), 64, 64), 0))
    ends = sorted((tuple(s.points[0].round(1)), tuple(s.points[-1].round(1))) for s in strokes)
    assert ends == [
        ((6.0, 25.5), (23.0, 24.0)),
        ((16.0, 13.0), (16.0, 56.0)),
        ((18.2, 29.1), (7.0, 47.0)),
        ((18.2, 29.1), (22.2, 33.9)),
    ]


def test_a_stroke_through_touching_zones_keeps_its_embedding():
    """The top of a 冂 whose bar runs under the end of a ノ and over the start of a stem, all
    within 8 px at 64 px: the bar's centreline is all keypoint zones, its edges have no pixels
    and their chords cross the other strokes' pixels. Four strokes, not six (the bar's pieces
    between the zones were fragments)."""
    drawn = [
        ([(35.3, 30.2), (34.8, 31.9), (32.5, 35.0), (30.8, 36.4)], 2.0),
        ([(25.2, 36.7), (25.6, 39.0), (25.5, 56.8)], 2.0),
        ([(26.4, 38.2), (33.0, 37.2), (47.4, 35.7), (52.3, 35.7), (53.0, 37.2), (51.2, 53.1)], 2.0),
        ([(33.8, 38.6), (34.4, 39.8), (34.4, 54.8)], 2.0),
    ]
    strokes = trace_maps(exact_maps(render_batch(Strokes.from_polylines([drawn]), 64, 64), 0))
    assert len(strokes) == 4
    assert max(s.length for s in strokes) > 40.0  # the bar and its turn into the right side


def test_the_edge_embedding_is_the_one_most_of_its_pixels_share():
    a, b = np.full(8, 1.0), np.full(8, -1.0)
    pixels = np.stack([a, a + 0.1, a - 0.1, b, b, a])
    assert np.allclose(_medoid(pixels), a)  # not the mixture (a + b) / 2 = 0
    assert np.allclose(_medoid(np.stack([a, a + 0.2])), a + 0.1)  # one stroke: the plain mean
    # a long edge: the distances of 64 evenly spaced pixels, not of 3,000 x 3,000 (1 GB)
    long = np.concatenate([np.tile(a, (1800, 1)), np.tile(b, (1200, 1))])
    assert np.allclose(_medoid(long), a)


def test_a_stroke_runs_on_along_a_stretch_it_shares_with_another():
    """A stem, and a diagonal that ends just past it: near their meeting the diagonal's end and
    the crossing are two keypoint zones that touch, and the edge between them is the diagonal's
    (its embedding). The stem's two halves, each left without a partner of their own embedding
    at the two nodes, are joined across that edge: the stem is one stroke (it was cut in two,
    its upper half running on into the diagonal's tip)."""
    drawn = [([(20.0, 8.0), (20.0, 56.0)], 3.5), ([(8.0, 40.0), (23.0, 28.0)], 3.5)]
    strokes = trace_maps(exact_maps(render_batch(Strokes.from_polylines([drawn]), 64, 64), 0))
    ends = sorted((tuple(s.points[0].round(1)), tuple(s.points[-1].round(1))) for s in strokes)
    assert ends == [((8.0, 40.0), (23.0, 28.0)), ((20.0, 8.0), (20.0, 56.0))]
    stem = next(s for s in strokes if s.points[0][1] == 8.0)
    assert abs(stem.points[:, 0] - 20.0).max() < 2.0  # along the stem, through the shared edge
    assert abs(stem.length - 48.0) < 1.0


def _overshoot(tip_identity):
    """A bar and a stem that reaches 5 px past it, the embedding of the stem's tip (above the
    bar) replaced by ``tip_identity(stem, bar)``; the strokes traced."""
    drawn = [([(10.0, 30.0), (54.0, 30.0)], 3.0), ([(30.0, 56.0), (30.0, 25.0)], 3.0)]
    batch = render_batch(Strokes.from_polylines([drawn]), 64, 64)
    maps = exact_maps(batch, 0)
    ids, stroke = maps["identity"], batch["stroke"][0].numpy()
    bar, stem = ids[:, stroke == 1][:, 0], ids[:, stroke == 2][:, 0]
    tip = np.zeros(stroke.shape, dtype=bool)
    tip[:29, 27:34] = True
    ids[:, tip & (stroke > 0)] = tip_identity(stem, bar)[:, None]
    return sorted(
        (tuple(s.points[0].round(1)), tuple(s.points[-1].round(1))) for s in trace_maps(maps)
    )


def test_an_overshoot_tip_of_unsure_embedding_goes_on_from_its_stroke():
    """The tip's embedding halfway between stem and bar (1.5 or more from each: unsure) joins
    neither at the
    crossing; as a short dead end going straight on from the stem, left free too, it is the
    stem's (it was a 5 px stroke of its own). An embedding surely apart from the stem (a dot
    drawn there) keeps it a stroke."""
    assert _overshoot(lambda stem, bar: (stem + bar) / 2) == [
        ((10.0, 30.0), (54.0, 30.0)),
        ((30.0, 56.0), (30.0, 25.0)),
    ]
    assert _overshoot(lambda stem, bar: stem + 2 * (stem - bar)) == [  # 6 or more from the stem
        ((10.0, 30.0), (54.0, 30.0)),
        ((30.0, 25.0), (30.0, 30.0)),
        ((30.0, 30.0), (30.0, 56.0)),
    ]


# an n drawn as one stroke: up a diagonal, down the stem, back up half of it (a retrace), the arch
N_WORD = [
    ([(8.0, 56.0), (20.0, 14.0), (20.0, 54.0), (20.0, 34.0), (30.0, 24.0), (42.0, 28.0),
      (44.0, 54.0)], 3.0)
]  # fmt: skip
T_BAR = ([(10.0, 40.0), (32.0, 40.0)], 3.0)  # a bar drawn across it afterwards: its own stroke


def _ends(strokes):
    return sorted(
        tuple(sorted((tuple(s.points[0].round(1)), tuple(s.points[-1].round(1))))) for s in strokes
    )


def test_a_retraced_stem_is_run_there_and_back():
    """The skeleton holds the retraced half of the stem once; the stroke runs it twice (down to
    the tip, which the end map does not mark, and back up into the arch): one stroke as long as
    the drawn one. Without the end map the tip may be a stroke's end, and the n is two."""
    batch = render_batch(Strokes.from_polylines([N_WORD]), 64, 64)
    strokes = trace_maps(exact_maps(batch, 0))
    assert _ends(strokes) == [((8.0, 56.0), (44.0, 54.0))]
    drawn = np.asarray(N_WORD[0][0])
    assert abs(strokes[0].length - np.hypot(*np.diff(drawn, axis=0).T).sum()) < 8.0  # 156.5
    assert strokes[0].points[:, 1].max() > 53.0  # it reaches the stem's foot
    assert len(trace_maps(exact_maps(batch, 0, ends=False))) == 2


def test_a_bar_across_a_retraced_stroke_stays_its_own():
    """The bar's embedding is not the n's: they are walked apart, each as one stroke."""
    batch = render_batch(Strokes.from_polylines([N_WORD + [T_BAR]]), 64, 64)
    strokes = trace_maps(exact_maps(batch, 0))
    assert _ends(strokes) == [((8.0, 56.0), (44.0, 54.0)), ((10.0, 40.0), (32.0, 40.0))]


def test_a_walk_runs_through_an_end_only_where_it_must():
    """The n's ends marked, and a third end marked at the top of the stem (a wrong reading):
    the walk keeps its ends where two marks are, and still draws the n as one stroke."""
    batch = render_batch(Strokes.from_polylines([N_WORD]), 64, 64)
    maps = exact_maps(batch, 0)
    maps["ends"][10:19, 16:25] = 1.0
    assert _ends(trace_maps(maps)) == [((8.0, 56.0), (44.0, 54.0))]


# a "+" drawn as one stroke, each of its last three spokes out and back
PLUS = [
    ([(32.0, 10.0), (32.0, 32.0), (54.0, 32.0), (32.0, 32.0), (32.0, 54.0), (32.0, 32.0),
      (10.0, 32.0)], 3.0)
]  # fmt: skip


def test_a_walk_keeps_its_ends_where_the_end_map_marks_too_few():
    """Marked, the walk runs from one true end to the other (132 px of pen, two spokes twice).
    With no end marked at all it still leaves two tips as its ends: an open stroke as long as
    the pen's path (every tip run there and back made it a closed 175 px loop)."""
    maps = exact_maps(render_batch(Strokes.from_polylines([PLUS]), 64, 64), 0)
    (stroke,) = trace_maps(maps)
    assert _ends([stroke]) == [((10.0, 32.0), (32.0, 10.0))]
    assert abs(stroke.length - 132.0) < 4.0 and not stroke.closed
    maps["ends"][:] = 0.0
    (stroke,) = trace_maps(maps)
    assert abs(stroke.length - 132.0) < 4.0 and not stroke.closed


def test_cursive_words_trace_as_the_pen_wrote_them():
    """The engine's cursive words (loops, cusps, retraced up-strokes; dots and bars after the
    word) through the tracer on their exact maps: one traced stroke per written one. Before the
    walks the same 30 words gave stroke F1 0.12, traced / true 3.5."""
    from inktrace.evaluation.runner import ceiling_method, evaluate
    from inktrace.evaluation.samples import render_cursive

    row = evaluate(ceiling_method(), render_cursive(30, 64, seed=1), "clean")
    assert row["stroke_f1"] > 0.7  # 0.78 (0.12 before the walks)
    assert 0.9 < row["count_ratio"] < 1.1
