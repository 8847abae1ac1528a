"""Tracing (inktrace.vectorize): dense maps -> vector strokes, and the JSON / SVG writers.

The "perfect predictions" are the data engine's exact targets for polylines drawn here; the
"thick" ones mimic a predicted skeleton (dilated to about 3 px inside the target band, with
probabilities 0.55-0.95), keeping the other maps as rendered.
"""

import json
import time
import xml.etree.ElementTree as ET

import numpy as np
import pytest
import torch
from helpers import thicken

from inktrace.data import Strokes, render_batch
from inktrace.data.curriculum import make_strokes
from inktrace.data.rng import Draws, sample_keys
from inktrace.vectorize import Stroke, TraceOptions, to_json, to_svg, trace_maps
from inktrace.vectorize.fitting import douglas_peucker, snap_corners
from inktrace.vectorize.graph import Edge, Graph, Node, _merge, _zones, prune
from inktrace.vectorize.joining import Chain
from inktrace.vectorize.maps import find_peaks
from inktrace.vectorize.thinning import _REMOVABLE, RING, thin

SIZE = 64
MAP_KEYS = ("skeleton", "keypoints", "tangent", "width", "offset")


def render(polylines, width=3.0):
    """Exact target maps (numpy, one image) and the band mask for the given polylines."""
    strokes = Strokes.from_polylines([[(np.asarray(p, float), width) for p in polylines]])
    out = render_batch(strokes, SIZE, SIZE)
    return {k: out[k][0].numpy() for k in (*MAP_KEYS, "mask")}


def maps_for(polylines, variant, width=3.0):
    maps = render(polylines, width)
    if variant == "thick":
        maps = thicken(maps)
    return {k: maps[k] for k in MAP_KEYS}


def distances(points, polylines):
    """Distance from each point to the nearest true centreline segment."""
    points = np.asarray(points, float)
    best = np.full(len(points), np.inf)
    for poly in polylines:
        poly = np.asarray(poly, float)
        for a, b in zip(poly[:-1], poly[1:]):
            ab = b - a
            t = np.clip((points - a) @ ab / max(ab @ ab, 1e-12), 0.0, 1.0)
            best = np.minimum(best, np.hypot(*(points - a - t[:, None] * ab).T))
    return best


def densify(points, step=0.25):
    out = [points[:1]]
    for a, b in zip(points[:-1], points[1:]):
        n = max(1, int(np.ceil(np.hypot(*(b - a)) / step)))
        out.append(a + (b - a) * np.linspace(0, 1, n + 1)[1:, None])
    return np.concatenate(out)


def same_ends(stroke, a, b, tol=1.0):
    """The stroke runs from a to b (either way) within tol px."""
    p, q = stroke.points[0], stroke.points[-1]
    fwd = max(np.hypot(*(p - a)), np.hypot(*(q - b)))
    back = max(np.hypot(*(p - b)), np.hypot(*(q - a)))
    return min(fwd, back) <= tol


def circle(cx, cy, r, n=64):
    t = np.linspace(0, 2 * np.pi, n + 1)
    pts = np.stack([cx + r * np.cos(t), cy + r * np.sin(t)], 1)
    pts[-1] = pts[0]
    return pts


LINE = [[10.3, 12.2], [52.6, 47.9]]
X = [[[12.2, 14.1], [51.3, 50.2]], [[50.6, 12.7], [13.4, 51.1]]]
T = [[[10.2, 15.3], [53.8, 15.9]], [[32.1, 15.6], [31.7, 54.2]]]
L = [[15.2, 10.4], [15.6, 50.3], [52.1, 49.7]]
Y = [[[32.0, 34.0], [32.0, 56.0]], [[32.0, 34.0], [13.0, 23.0]], [[32.0, 34.0], [51.0, 23.0]]]
CURVE = [[10 + t, 32 + 15 * np.sin(t / 8)] for t in np.linspace(0, 44, 40)]
CIRCLE = circle(32.2, 31.8, 18.0)
SHAPES = {"line": [LINE], "X": X, "T": T, "L": [L], "Y": Y, "curve": [CURVE], "circle": [CIRCLE]}


@pytest.mark.parametrize("variant", ["exact", "thick"])
def test_a_straight_stroke_is_one_stroke_with_its_ends(variant):
    strokes = trace_maps(maps_for([LINE], variant))
    assert len(strokes) == 1
    assert same_ends(strokes[0], np.array(LINE[0]), np.array(LINE[1]))
    assert not strokes[0].closed and strokes[0].corners == []
    assert np.allclose(strokes[0].widths, 3.0, atol=0.3)


@pytest.mark.parametrize("variant", ["exact", "thick"])
def test_an_x_is_two_strokes_through_the_crossing(variant):
    strokes = trace_maps(maps_for(X, variant))
    assert len(strokes) == 2
    for true in X:
        assert any(same_ends(s, np.array(true[0]), np.array(true[1])) for s in strokes)


@pytest.mark.parametrize("variant", ["exact", "thick"])
def test_a_t_is_the_bar_and_the_stem(variant):
    strokes = trace_maps(maps_for(T, variant))
    assert len(strokes) == 2
    bar, stem = (np.array(p) for p in T)
    assert any(same_ends(s, bar[0], bar[1]) for s in strokes)
    assert any(same_ends(s, stem[0], stem[1]) for s in strokes)


@pytest.mark.parametrize("variant", ["exact", "thick"])
def test_an_l_is_one_stroke_with_a_sharp_vertex_at_the_corner(variant):
    strokes = trace_maps(maps_for([L], variant))
    assert len(strokes) == 1
    (s,) = strokes
    assert same_ends(s, np.array(L[0]), np.array(L[2]))
    assert len(s.corners) == 1
    assert np.hypot(*(s.points[s.corners[0]] - np.array(L[1]))) <= 1.5


@pytest.mark.parametrize("variant", ["exact", "thick"])
def test_two_strokes_meeting_at_their_ends_stay_two(variant):
    """An L drawn as two strokes (a box corner of a character): the maps put a topological
    keypoint where their ends meet, not a corner, so the tracer ends both there."""
    two = [L[:2], L[1:]]
    maps = maps_for(two, variant)
    assert maps["keypoints"][0].max() > 0.9 and maps["keypoints"][1].max() < 0.1
    strokes = trace_maps(maps)
    assert len(strokes) == 2
    for true in two:
        assert any(same_ends(s, np.array(true[0]), np.array(true[1])) for s in strokes)
    # meeting end to end nearly straight on, they are read as one stroke going on
    straight = [[[10.0, 30.0], [32.0, 31.0]], [[32.0, 31.0], [54.0, 33.5]]]
    assert len(trace_maps(maps_for(straight, variant))) == 1


@pytest.mark.parametrize("variant", ["exact", "thick"])
def test_a_y_stays_three_strokes(variant):
    strokes = trace_maps(maps_for(Y, variant))
    assert len(strokes) == 3
    for true in Y:
        assert any(same_ends(s, np.array(true[0]), np.array(true[1])) for s in strokes)


@pytest.mark.parametrize("variant", ["exact", "thick"])
def test_a_circle_is_one_closed_stroke(variant):
    strokes = trace_maps(maps_for([CIRCLE], variant))
    assert len(strokes) == 1
    (s,) = strokes
    assert s.closed and np.allclose(s.points[0], s.points[-1])
    radius = np.hypot(s.points[:, 0] - 32.2, s.points[:, 1] - 31.8)
    assert np.abs(radius - 18.0).max() < 0.5
    assert s.length == pytest.approx(2 * np.pi * 18.0, rel=0.03)


@pytest.mark.parametrize("bump", [1, 2, 3])
def test_a_blob_on_a_thick_stroke_grows_no_spur(bump):
    """A bump of `bump` px sticking out of a thick predicted stroke (its offsets pointing back to
    the line, as a model's would) is neither traced nor a branch."""
    maps = maps_for([[[8.0, 32.3], [56.0, 32.7]]], "thick")
    for r in range(34, 34 + bump):
        for c in (30, 31):
            maps["skeleton"][r, c] = 0.7
            maps["offset"][:, r, c] = (0.0, 32.5 - (r + 0.5))
            maps["tangent"][:, r, c] = (1.0, 0.0)
            maps["width"][r, c] = 3.0
    strokes = trace_maps(maps)
    assert len(strokes) == 1
    assert same_ends(strokes[0], np.array([8.0, 32.3]), np.array([56.0, 32.7]))


def test_thinning_spurs_are_pruned_without_offsets():
    """With skeleton and tangent only (a structural model) the bump is removed as a spur."""
    maps = maps_for([[[8.0, 32.3], [56.0, 32.7]]], "thick")
    maps["skeleton"][34:37, 30:32] = 0.7
    maps = {k: maps[k] for k in ("skeleton", "tangent")}
    assert len(trace_maps(maps)) == 1


@pytest.mark.parametrize("variant", ["exact", "thick"])
def test_traced_points_lie_on_the_true_centreline(variant):
    """Mean distance to the true centreline of the output points and of the output polylines
    sampled every 0.25 px (exact maps: about 0.01 and 0.07 px; thick: the same)."""
    vertex, dense = [], []
    for polylines in SHAPES.values():
        strokes = trace_maps(maps_for(polylines, variant))
        for s in strokes:
            vertex.append(distances(s.points, polylines))
            dense.append(distances(densify(s.points), polylines))
        truth = np.concatenate([densify(np.asarray(p, float)) for p in polylines])
        covered = distances(truth, [s.points for s in strokes])
        assert covered.max() < 1.0, "part of the true centreline was not traced"
    assert np.concatenate(vertex).mean() < 0.1
    assert np.concatenate(dense).mean() < 0.25
    assert np.concatenate(dense).max() < 0.6


@pytest.mark.parametrize(
    "drop", [("keypoints",), ("offset",), ("keypoints", "offset", "width")], ids=str
)
def test_missing_heads_degrade_gracefully(drop):
    for name, expect in (("line", 1), ("X", 2), ("T", 2), ("circle", 1)):
        polylines = SHAPES[name]
        maps = {k: v for k, v in maps_for(polylines, "thick").items() if k not in drop}
        strokes = trace_maps(maps)
        assert len(strokes) == expect, name
        err = np.concatenate([distances(s.points, polylines) for s in strokes])
        assert err.mean() < 0.7, name
        if "width" in drop:
            assert all(np.allclose(s.widths, TraceOptions().default_width) for s in strokes)
    circle_stroke = trace_maps(
        {k: v for k, v in maps_for([CIRCLE], "thick").items() if k not in drop}
    )
    assert circle_stroke[0].closed


def test_synthetic_glyphs_trace_close_to_their_strokes():
    """Exact targets of curriculum level-4 samples (junction structures): traced points within
    0.25 px of the true centreline on average, 95 % of the true centreline within 1 px."""
    n = 16
    st = make_strokes(4, Draws(sample_keys(0, 20, 0, torch.arange(n))), SIZE)
    out = render_batch(st, SIZE, SIZE)
    err, cover = [], []
    for b in range(n):
        polylines = [
            st.points[b, s, : int(st.seg_valid[b, s].sum()) + 1].numpy()
            for s in range(st.points.shape[1])
            if st.seg_valid[b, s].any()
        ]
        strokes = trace_maps({k: out[k][b] for k in MAP_KEYS})  # tensors are accepted too
        assert strokes
        err.append(np.concatenate([distances(densify(s.points), polylines) for s in strokes]))
        truth = np.concatenate([densify(p) for p in polylines])
        truth = truth[((truth >= 0) & (truth < SIZE)).all(1)]
        cover.append(distances(truth, [np.repeat(s.points, 2, 0) for s in strokes]))
    assert np.concatenate(err).mean() < 0.25
    assert (np.concatenate(cover) < 1.0).mean() > 0.95


def test_a_64px_glyph_traces_in_milliseconds():
    maps = maps_for(X + [CURVE], "thick")
    trace_maps(maps)
    start = time.perf_counter()
    for _ in range(10):
        trace_maps(maps)
    assert (time.perf_counter() - start) / 10 < 0.05  # measured about 3 ms on one core


def test_empty_maps_and_bad_input():
    assert trace_maps({"skeleton": np.zeros((32, 32)), "tangent": np.zeros((2, 32, 32))}) == []
    with pytest.raises(ValueError, match="one image"):
        trace_maps({"skeleton": np.zeros((2, 32, 32))})
    with pytest.raises(ValueError, match="tangent"):
        trace_maps({"skeleton": np.zeros((32, 32)), "tangent": np.zeros((2, 16, 32))})
    with pytest.raises(ValueError, match="skeleton"):
        trace_maps({"tangent": np.zeros((2, 32, 32))})
    with pytest.raises(ValueError, match="threshold"):
        trace_maps({"skeleton": np.zeros((8, 8))}, threshold=1.5)
    with pytest.raises(TypeError):
        trace_maps({"skeleton": np.zeros((8, 8))}, no_such_setting=1)


def test_settings_change_the_trace():
    maps = maps_for([CURVE], "exact")
    coarse = trace_maps(maps, tolerance=2.0)
    fine = trace_maps(maps, TraceOptions(tolerance=0.1))
    assert len(coarse) == len(fine) == 1
    assert len(coarse[0]) < len(fine[0])


def _codes(mask: np.ndarray) -> np.ndarray:
    """Every pixel's ring code (bit k: ring neighbour k is set), the whole image at once."""
    h, w = mask.shape
    padded = np.pad(mask, 1).astype(np.uint8)
    code = np.zeros((h, w), np.uint8)
    for k, (dr, dc) in enumerate(RING):
        code |= padded[1 + dr : 1 + dr + h, 1 + dc : 1 + dc + w] << k
    return code


def _full_sweep_thin(mask: np.ndarray) -> np.ndarray:
    """The plain rule thin() must equal: every subfield's removable pixels, every pass, whole."""
    out = mask.astype(bool)
    rows, cols = np.indices(out.shape)
    fields = [((rows % 2) == a) & ((cols % 2) == b) for a in (0, 1) for b in (0, 1)]
    while True:
        changed = False
        for field in fields:
            drop = out & field & _REMOVABLE[_codes(out)]
            changed |= bool(drop.any())
            out &= ~drop
        if not changed:
            return out


def test_thinning_looks_only_at_changed_pixels_and_equals_the_full_sweep():
    from scipy.ndimage import binary_dilation

    rng = np.random.default_rng(3)
    for trial in range(200):
        h, w = (int(v) for v in rng.integers(1, 40, 2))
        mask = rng.random((h, w)) < rng.uniform(0.1, 0.9)
        if trial % 2:
            mask = binary_dilation(mask, iterations=int(rng.integers(1, 3)))
        np.testing.assert_array_equal(thin(mask), _full_sweep_thin(mask), err_msg=str(trial))
    ring = np.zeros((9, 9), bool)
    ring[1:8, 1:8], ring[3:6, 3:6] = True, False
    thinned = thin(ring)  # one pixel wide around a hole that stays a hole (the corners are ends)
    assert not thinned[3:6, 3:6].any() and thinned[2:7, 2:7].sum() == 4  # the four diagonals


def test_douglas_peucker_and_thinning():
    line = np.stack([np.linspace(0, 10, 11), np.zeros(11)], 1)
    assert douglas_peucker(line, 0.1).tolist() == [0, 10]
    bent = np.concatenate([line, [[10, k] for k in range(1, 6)]])
    assert douglas_peucker(bent, 0.1).tolist() == [0, 10, 15]
    bar = np.zeros((9, 20), bool)
    bar[3:6, 2:18] = True
    assert thin(bar).sum(0)[4:16].tolist() == [1] * 12
    ring = np.zeros((12, 12), bool)
    ring[2:10, 2:10] = True
    ring[4:8, 4:8] = False
    thinned = thin(ring)
    assert thinned.any() and not thinned[4:8, 4:8].any() and thinned[2:10, 2:10].sum() < 40


def strokes_example():
    return trace_maps(maps_for(T + [CIRCLE.tolist()], "exact"))


def test_json_round_trip():
    strokes = strokes_example()
    doc = json.loads(to_json(strokes, SIZE, SIZE))
    assert set(doc) == {"width", "height", "strokes"}
    assert (doc["width"], doc["height"]) == (SIZE, SIZE)
    assert len(doc["strokes"]) == len(strokes)
    for item, s in zip(doc["strokes"], strokes):
        assert set(item) == {"points", "widths"}
        assert np.allclose(item["points"], s.points, atol=1e-3)
        assert np.allclose(item["widths"], s.widths, atol=1e-3)
    extras = json.loads(to_json(strokes, SIZE, SIZE, extras=True))["strokes"]
    assert [e["closed"] for e in extras] == [s.closed for s in strokes]
    assert [e["corners"] for e in extras] == [s.corners for s in strokes]


def test_svg_is_well_formed_with_one_path_per_stroke():
    strokes = strokes_example()
    root = ET.fromstring(to_svg(strokes, SIZE, SIZE))
    ns = "{http://www.w3.org/2000/svg}"
    assert root.tag == f"{ns}svg" and root.get("viewBox") == f"0 0 {SIZE} {SIZE}"
    paths = root.findall(f".//{ns}path")
    assert len(paths) == len(strokes)
    for path, s in zip(paths, strokes):
        assert path.get("d").startswith("M ")
        assert path.get("d").endswith("Z") == s.closed
        assert float(path.get("stroke-width")) == pytest.approx(np.mean(s.widths), abs=1e-3)
    assert ET.fromstring(to_svg([], 10, 20)).get("height") == "20"


def test_stroke_is_a_plain_record():
    s = Stroke(points=np.array([[0.0, 0.0], [3.0, 4.0]]), widths=np.array([1.0, 2.0]))
    assert len(s) == 2 and s.length == pytest.approx(5.0) and not s.closed and s.corners == []


@pytest.mark.parametrize("name", ["min_length", "default_width", "tolerance", "max_turn"])
@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_trace_options_refuse_non_finite_values(name, value):
    with pytest.raises(ValueError, match=f"{name} must be a finite number"):
        TraceOptions(**{name: value})


# ---------------------------------------------------------------- page scale: the fast paths
# Each fast path (k-d trees, position lookups) against the brute force it replaced: the same
# answers, ties included, on random inputs with many near ties (points on the pixel grid).


def test_zones_equal_the_nearest_peak_brute_force():
    rng = np.random.default_rng(3)
    rows, cols = rng.integers(0, 60, 3000), rng.integers(0, 60, 3000)
    peaks = rng.integers(0, 60, (80, 2)) + 0.5  # pixel centres: exact ties happen
    peaks[:40] += rng.normal(0, 0.3, (40, 2))
    radii = rng.uniform(1.0, 6.0, 80)
    d = np.hypot(cols[:, None] + 0.5 - peaks[None, :, 0], rows[:, None] + 0.5 - peaks[None, :, 1])
    near = np.argmin(d, axis=1)
    want = np.where(d[np.arange(rows.size), near] <= radii[near], near, -1)
    got = _zones(rows, cols, peaks, radii)
    assert (got >= 0).sum() > 500  # the case is not trivial
    np.testing.assert_array_equal(got, want)


def test_peak_merging_equals_the_greedy_brute_force():
    rng = np.random.default_rng(4)
    heat = np.round(rng.uniform(0, 1, (70, 90)), 1).astype(np.float32)  # plateaus: ties
    for merge in (2.0, 3.5):
        got = find_peaks(heat, 0.3, merge)
        h, w = heat.shape
        pad = np.pad(heat, 1, constant_values=-np.inf)
        top = np.max([pad[r : r + h, c : c + w] for r in range(3) for c in range(3)], axis=0)
        rows, cols = np.nonzero((heat >= top) & (heat >= 0.3))
        order = np.argsort(-heat[rows, cols], kind="stable")
        keep = []
        for k in order:
            if all((rows[k] - rows[m]) ** 2 + (cols[k] - cols[m]) ** 2 >= merge**2 for m in keep):
                keep.append(k)
        assert len(got) == len(keep) > 50
        want = np.stack([cols[keep] + 0.5, rows[keep] + 0.5], axis=1)
        assert np.abs(got - want).max() <= 0.5  # each peak refined within its own pixel


def _snap_brute(chains, corners, radius):
    for xy in corners:
        best = (radius, -1, -1)
        for c, chain in enumerate(chains):
            n = len(chain.points)
            lo, hi = (0, n - 1) if chain.closed else (1, n - 1)
            if hi <= lo:
                continue
            d = np.hypot(*(chain.points[lo:hi] - xy).T)
            k = int(np.argmin(d))
            if d[k] <= best[0]:
                best = (float(d[k]), c, lo + k)
        _, c, k = best
        if c < 0:
            continue
        chain = chains[c]
        chain.points[k] = xy
        if chain.closed and k == 0:
            chain.points[-1] = xy
        near = np.hypot(*(chain.points[chain.sharp] - xy).T) <= radius if chain.sharp else []
        chain.sharp = [s for s, n in zip(chain.sharp, near) if not n] + [k]


def test_corner_snapping_equals_the_brute_force():
    rng = np.random.default_rng(5)

    def chains():
        out = []
        r = np.random.default_rng(6)
        for i in range(60):
            pts = np.cumsum(r.integers(-1, 2, (r.integers(2, 30), 2)), axis=0) + r.integers(
                0, 40, 2
            )
            closed = i % 5 == 0 and len(pts) > 3
            if closed:
                pts = np.concatenate([pts, pts[:1]])
            out.append(
                Chain(pts.astype(np.float64), np.ones(len(pts)), closed, [1] if i % 3 else [])
            )
        return out

    corners = rng.integers(0, 40, (300, 2)) + rng.choice([0.0, 0.5], (300, 2))
    a, b = chains(), chains()
    snap_corners(a, corners, 2.0)
    _snap_brute(b, corners, 2.0)
    moved = sum(int((x.points != y.points).any()) for x, y in zip(a, chains()))
    assert moved > 20
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x.points, y.points)
        assert x.sharp == y.sharp


def _prune_by_rescanning(graph, opts):
    """``prune``'s rule as plainly as it can be written: rescan every edge from the first after
    each merge, and again until a scan changes nothing."""

    def reach(n):
        return max(opts.spur_min, opts.spur_factor * graph.nodes[n].width)

    def length(i):
        return graph.length(graph.edge(i))

    drops = merges = 0
    changed = True
    while changed:
        changed = False
        deg = graph.degrees()
        for i in graph.alive():
            e = graph.edge(i)
            if e.a < 0:
                continue
            ends = ((e.a, e.b), (e.b, e.a))
            if e.a == e.b:
                drop = length(i) < 2.0 * reach(e.a)
            else:
                drop = any(
                    deg[x] == 1 and not graph.nodes[x].peak and deg[y] >= 3 and length(i) < reach(y)
                    for x, y in ends
                )
            if drop:
                graph.edges[i] = None
                deg[e.a] -= 1
                deg[e.b] -= 1
                drops += 1
                changed = True
            elif (
                deg[e.a] >= 3
                and deg[e.b] >= 3
                and not (graph.nodes[e.a].peak and graph.nodes[e.b].peak)
                and length(i) < max(reach(e.a), reach(e.b))
            ):
                incident = {}
                for j in graph.alive():
                    f = graph.edge(j)
                    if f.a >= 0:
                        incident.setdefault(f.a, set()).add(j)
                        incident.setdefault(f.b, set()).add(j)
                _merge(graph, i, incident)
                merges += 1
                changed = True
                break
    deg = graph.degrees()
    for i in graph.alive():
        e = graph.edge(i)
        if (e.a < 0 or (deg[e.a] == 1 and deg[e.b] == 1)) and graph.length(e) < opts.min_length:
            graph.edges[i] = None
    return drops, merges


def _random_graph(rng):
    """Hubs joined by short edges (bridges to merge) and leaves on short edges (spurs)."""
    hubs = int(rng.integers(3, 30))
    nodes = [
        Node(rng.uniform(0, 12, 2), float(rng.uniform(1, 4)), bool(rng.random() < 0.3))
        for _ in range(hubs)
    ]
    point = rng.uniform(0, 12, (400, 2))
    edges = []
    for _ in range(int(rng.integers(hubs, 3 * hubs))):
        a = int(rng.integers(hubs))
        if rng.random() < 0.4:  # a leaf
            nodes.append(Node(nodes[a].xy + rng.normal(0, 2, 2), 1.0, bool(rng.random() < 0.2)))
            b = len(nodes) - 1
        else:
            b = a if rng.random() < 0.05 else int(rng.integers(hubs))
        edges.append(Edge(a, b, rng.integers(0, 400, int(rng.integers(0, 3))).tolist()))
    edges.append(Edge(-1, -1, [1, 2, 3]))
    return Graph(nodes, edges, point, np.ones(400), None)


def test_pruning_equals_rescanning_every_edge_after_each_change():
    opts = TraceOptions(spur_factor=3.0)
    drops = merges = 0
    for seed in range(300):
        a, b = (_random_graph(np.random.default_rng(seed)) for _ in range(2))
        prune(a, opts)
        dropped, merged = _prune_by_rescanning(b, opts)
        assert [(e.a, e.b, e.path) if e else None for e in a.edges] == [
            (e.a, e.b, e.path) if e else None for e in b.edges
        ]
        for x, y in zip(a.nodes, b.nodes):
            np.testing.assert_array_equal(x.xy, y.xy)
            assert (x.width, x.peak) == (y.width, y.peak)
        drops, merges = drops + dropped, merges + merged
    assert drops > 1000 and merges > 1000  # both rules were exercised, many times
