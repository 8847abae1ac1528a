"""The synthetic ink engine: exact targets on hand-made geometry, curriculum, determinism, SVG."""

import math

import numpy as np
import pytest
import torch

from inktrace.data import (
    CORNER,
    CROSSING,
    ENDPOINT,
    JUNCTION,
    LEVELS,
    Strokes,
    SyntheticInk,
    collate,
    make_loader,
    render_batch,
    sample_of,
    validation_set,
)
from inktrace.data.curriculum import make_strokes
from inktrace.data.dataset import TARGET_KEYS
from inktrace.data.rng import Draws

TARGETS = TARGET_KEYS


def draw(polylines, size=(48, 64)):
    """Render one sample made of (points, width) strokes; returns the sample dict."""
    strokes = Strokes.from_polylines([polylines])
    return sample_of(render_batch(strokes, *size), 0)


def kinds(sample, kind):
    pts = sample["points"]
    return pts[pts[:, 2] == kind, :2]


def test_straight_horizontal_stroke_has_exact_targets():
    s = draw([([[5.3, 20.25], [40.7, 20.25]], 4.0)])
    # columns whose centre x = j + .5 lies in [5.3, 40.7]; the line y = 20.25 lies in row 20
    expected = torch.zeros(48, 64)
    expected[20, 5:41] = 1
    assert torch.equal(s["skeleton"], expected)
    on = s["mask"] > 0
    assert torch.equal(
        on[:, 20], torch.tensor([i in range(18, 22) for i in range(48)])
    )  # |dy| <= 2
    assert torch.allclose(
        s["tangent"][:, on], torch.tensor([[1.0], [0.0]]).expand(2, int(on.sum()))
    )
    assert torch.allclose(s["width"][on], torch.tensor(4.0))
    rows = torch.arange(48, dtype=torch.float32)[:, None].expand(48, 64)
    assert torch.allclose(s["offset"][1][on], 20.25 - (rows[on] + 0.5), atol=1e-5)
    assert s["offset"][0][:, 10:35][on[:, 10:35]].abs().max() < 1e-5  # float32 rounding only
    # ink: full inside the stroke, a linear 1 px edge, nothing beyond
    ink = 1 - s["image"][0, :, 20]
    assert torch.allclose(ink[[19, 20, 21]], torch.ones(3)) and ink[17] == 0 and ink[23] == 0
    assert torch.allclose(ink[18], torch.tensor(0.75)) and torch.allclose(
        ink[22], torch.tensor(0.25)
    )
    ends = kinds(s, ENDPOINT)
    assert torch.allclose(ends, torch.tensor([[5.3, 20.25], [40.7, 20.25]]))
    assert s["keypoints"][1].max() == 0 and len(s["points"]) == 2


def test_keypoint_heatmap_peaks_at_the_point():
    s = draw([([[10.5, 10.5], [30.5, 10.5]], 2.0)])
    heat = s["keypoints"][0]
    assert heat[10, 10] == 1.0 and heat[10, 30] == 1.0
    assert torch.allclose(heat[10, 11], torch.tensor(math.exp(-0.5)))
    assert torch.allclose(heat[12, 10], torch.tensor(math.exp(-2.0)))


@pytest.mark.parametrize("angle", [0, 17, 30, 45, 60, 83, 90, 121, 170])
def test_skeleton_of_any_straight_line_is_one_pixel_wide_and_connected(angle):
    a = math.radians(angle)
    c = torch.tensor([32.3, 24.1])
    d = torch.tensor([math.cos(a), math.sin(a)]) * 18
    s = draw([([(c - d).tolist(), (c + d).tolist()], 3.0)])
    sk = s["skeleton"].bool()
    ys, xs = sk.nonzero(as_tuple=True)
    major = xs if abs(math.cos(a)) >= abs(math.sin(a)) else ys
    assert len(set(major.tolist())) == len(major)  # one pixel per column (or row)
    assert max(major) - min(major) + 1 == len(major)  # no gaps
    # every skeleton pixel centre is within 1/sqrt(2) px of the line, offsets point onto it
    off = s["offset"][:, sk]
    assert off.norm(dim=0).max() <= 0.5 * math.sqrt(2) + 1e-5
    n = torch.tensor([-math.sin(a), math.cos(a)])
    centre = torch.stack([xs + 0.5, ys + 0.5], 0).float()
    assert torch.allclose(
        ((centre + off - c[:, None]) * n[:, None]).sum(0), torch.zeros(len(xs)), atol=1e-4
    )
    t = torch.tensor([math.cos(2 * a), math.sin(2 * a)])
    assert torch.allclose(s["tangent"][:, sk], t[:, None].expand(2, len(xs)), atol=1e-5)


def test_circle_arc_tangent_follows_the_circle():
    t = torch.linspace(0.2, 2.8, 400)
    cx, cy, r = 32.0, 24.0, 15.0
    arc = torch.stack([cx + r * torch.cos(t), cy + r * torch.sin(t)], 1)
    s = draw([(arc, 2.5)])
    m = s["mask"] > 0
    ys, xs = m.nonzero(as_tuple=True)
    # the nearest centreline point of each pixel, and the circle's tangent there
    px, py = xs + 0.5 + s["offset"][0][m], ys + 0.5 + s["offset"][1][m]
    assert torch.allclose(torch.hypot(px - cx, py - cy), torch.tensor(r), atol=0.01)
    theta = torch.atan2(py - cy, px - cx) + math.pi / 2
    expected = torch.stack([torch.cos(2 * theta), torch.sin(2 * theta)])
    assert (s["tangent"][:, m] - expected).abs().max() < 0.03
    assert len(kinds(s, ENDPOINT)) == 2 and len(kinds(s, CORNER)) == 0


@pytest.mark.parametrize(
    "angle, crossing", [(90, True), (50, True), (36, True), (30, False), (12, False)]
)
def test_x_crossing(angle, crossing):
    a = math.radians(angle)
    c = torch.tensor([30.0, 22.0])
    d1 = torch.tensor([1.0, 0.0]) * 16
    d2 = torch.tensor([math.cos(a), math.sin(a)]) * 16
    s = draw(
        [
            ([(c - d1).tolist(), (c + d1).tolist()], 2.0),
            ([(c - d2).tolist(), (c + d2).tolist()], 2.0),
        ]
    )
    cross = kinds(s, CROSSING)
    if crossing:
        assert cross.shape == (1, 2) and torch.allclose(cross[0], c, atol=1e-4)
    else:
        assert cross.shape == (0, 2)
    assert (
        len(kinds(s, ENDPOINT)) == 4 and len(kinds(s, JUNCTION)) == 0 and len(kinds(s, CORNER)) == 0
    )
    # the tangent is masked around the crossing either way (the direction is ambiguous there)
    assert s["tangent_mask"][22, 30] == 0 and s["mask"][22, 30] == 1


def test_crossing_at_shared_vertices_is_found_once():
    """Both strokes have a vertex exactly at the crossing point (as generated X structures do)."""
    s = draw([([[10, 10], [20, 20], [30, 30]], 2.0), ([[10, 30], [20, 20], [30, 10]], 2.0)])
    cross = kinds(s, CROSSING)
    assert cross.shape == (1, 2) and torch.allclose(cross[0], torch.tensor([20.0, 20.0]))


def test_l_corner_is_one_geo_keypoint():
    s = draw([([[10, 10], [40, 10], [40, 40]], 3.0)])
    assert torch.allclose(kinds(s, CORNER), torch.tensor([[40.0, 10.0]]))
    assert len(kinds(s, ENDPOINT)) == 2 and s["keypoints"][1].max() > 0.7
    gentle = draw([([[10, 10], [25, 12], [40, 10]], 3.0)])  # turns by about 15 degrees
    assert len(kinds(gentle, CORNER)) == 0


def test_t_y_junctions_and_closed_strokes():
    t = draw([([[10, 20], [50, 20]], 3.0), ([[30, 20], [30, 45]], 3.0)])
    assert torch.allclose(kinds(t, JUNCTION), torch.tensor([[30.0, 20.0]]))
    assert len(kinds(t, ENDPOINT)) == 3
    y = draw([([[30, 20], [30, 5]], 2.0), ([[30, 20], [15, 35]], 2.0), ([[30, 20], [45, 35]], 2.0)])
    assert (
        torch.allclose(kinds(y, JUNCTION), torch.tensor([[30.0, 20.0]]))
        and len(kinds(y, ENDPOINT)) == 3
    )
    ang = torch.linspace(0, 2 * math.pi, 100)
    loop = torch.stack([30 + 10 * torch.cos(ang), 24 + 10 * torch.sin(ang)], 1)
    loop[-1] = loop[0]
    closed = draw([(loop, 2.0)])
    assert len(closed["points"]) == 0 and closed["skeleton"].sum() > 50


def test_keypoints_outside_the_image_are_not_listed():
    s = draw([([[-10, 20], [30, 20]], 2.0)])
    assert torch.allclose(s["points"], torch.tensor([[30.0, 20.0, ENDPOINT]]))
    # the skeleton runs to the pixel holding the end (x = 30.0 lies in pixel 30), no further
    assert (
        s["skeleton"][20, :31].all()
        and s["skeleton"][20, 31:].sum() == 0
        and s["skeleton"].sum() == 31
    )


def render_level(level, indices, seed=0, size=64):
    return SyntheticInk(level, 100_000, size, seed=seed).render(indices)


@pytest.mark.parametrize("level", range(10))
@pytest.mark.parametrize("seed", [0, 1, 7, 12345])
def test_every_level_renders_sane_targets(level, seed):
    b = render_level(level, range(48), seed=seed)
    for key in ("image", *TARGETS):
        assert torch.isfinite(b[key]).all(), key
    assert b["image"].min() >= 0 and b["image"].max() <= 1
    m, tm = b["mask"] > 0, b["tangent_mask"] > 0
    assert (tm <= m).all() and (b["skeleton"].bool() <= m).all()
    assert torch.allclose(b["tangent"].norm(dim=1)[m], torch.tensor(1.0), atol=1e-4)
    assert (b["width"][m] >= 0.7 - 1e-6).all() and (b["width"][~m] == 0).all()
    assert (b["offset"].norm(dim=1)[m] <= torch.clamp(b["width"][m] / 2, min=1.5) + 1e-3).all()
    assert (b["offset"][:, :][b["mask"][:, None].expand_as(b["offset"]) == 0] == 0).all()
    assert b["keypoints"].max() <= 1 and b["keypoints"].min() >= 0
    assert (
        b["skeleton"].flatten(1).sum(1) > 0
    ).float().mean() > 0.95  # (almost) every sample has ink
    pts = b["points"]
    inside = pts[..., 2] >= 0
    assert ((pts[..., 0][inside] >= 0) & (pts[..., 0][inside] < 64)).all()


def test_curriculum_content_matches_its_description():
    def junction_fraction(level):
        p = render_level(level, range(300), seed=3)["points"][..., 2]
        return ((p == JUNCTION) | (p == CROSSING)).any(1).float().mean().item()

    assert junction_fraction(0) < 0.05 and junction_fraction(1) < 0.05  # independent strokes
    for level in (4, 5, 6):
        assert junction_fraction(level) >= 0.8, level
    counts = [strokes_per_sample(level) for level in (0, 1, 3, 6)]
    assert counts[0] == 1 and counts[1] == 2 and 3 <= counts[2] <= 5 and counts[3] > counts[1]


def strokes_per_sample(level):
    keys = SyntheticInk(level, 1000, 64, seed=1).keys(range(200))
    s = make_strokes(level, Draws(keys), 64)
    return s.stroke_valid.sum(1).float().mean().round().item()


def test_degradations_change_the_image_never_the_targets():
    ds = SyntheticInk(9, 1000, 64, seed=7)
    idx = torch.arange(24)
    degraded = ds.render(idx)
    keys = ds.keys(idx)
    clean = render_batch(make_strokes(9, Draws(keys), 64), 64, 64)
    for key in TARGETS + ("points", "num_points"):
        assert torch.equal(degraded[key], clean[key]), key
    changed = (degraded["image"] - clean["image"]).abs().flatten(1).amax(1) > 0.05
    assert changed.all()


def test_a_sample_is_the_same_in_any_batch_and_any_worker():
    ds = SyntheticInk(6, 64, 48, seed=123, epoch=5)
    whole = ds.render(range(64))
    for batch_size, workers in ((7, 0), (16, 2), (64, 1)):
        seen = 0
        for batch in make_loader(ds, batch_size=batch_size, num_workers=workers):
            for b in range(batch["image"].shape[0]):
                i = int(batch["index"][b])
                one, ref = sample_of(batch, b), sample_of(whole, i)
                assert all(torch.equal(one[k], ref[k]) for k in ref), (batch_size, workers, i)
                seen += 1
        assert seen == 64
    single = ds[17]
    assert all(torch.equal(single[k], sample_of(whole, 17)[k]) for k in single)


def test_epochs_splits_and_seeds_give_different_samples():
    a = SyntheticInk(6, 10, 64, seed=1).render([0])["image"]
    assert not torch.equal(a, SyntheticInk(6, 10, 64, seed=1, epoch=1).render([0])["image"])
    assert not torch.equal(a, SyntheticInk(6, 10, 64, seed=2).render([0])["image"])
    assert not torch.equal(a, SyntheticInk(6, 10, 64, seed=1, split="val").render([0])["image"])
    val = validation_set(4, 40, 64, seed=9, chunk=16)
    again = validation_set(4, 40, 64, seed=9)
    assert all(torch.equal(val[k], again[k]) for k in val if k != "points")
    v = SyntheticInk(4, 40, 64, seed=9, split="val")
    v.set_epoch(3)  # the validation set does not change with the epoch
    assert torch.equal(v.render(range(40))["image"], val["image"])


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="curriculum level must be 0-9"):
        SyntheticInk(10, 5)
    with pytest.raises(ValueError, match="curriculum level must be 0-9"):
        SyntheticInk(0, 5).set_level(10)
    with pytest.raises(ValueError, match="split"):
        SyntheticInk(0, 5, split="test")
    with pytest.raises(IndexError):
        SyntheticInk(0, 5).render([5])
    with pytest.raises(ValueError, match="needs two"):
        Strokes.from_polylines([[([[1, 1]], 1.0)]])


def test_odd_sizes_and_empty_samples():
    strokes = Strokes.from_polylines([[([[3, 3], [30, 30]], 2.0)], []])
    b = render_batch(strokes, 37, 53)
    assert (
        b["image"].shape == (2, 1, 37, 53)
        and b["skeleton"][1].sum() == 0
        and b["num_points"].tolist() == [2, 0]
    )
    b = SyntheticInk(6, 10, 40, seed=0).render(range(4))
    assert b["tangent"].shape == (4, 2, 40, 40)


def test_level_table_is_complete():
    assert sorted(LEVELS) == list(range(10))
    with pytest.raises(ValueError, match=r"\(3,\) widths for 2 points"):
        Strokes.from_polylines([[([[0, 0], [5, 5]], [1.0, 2.0, 3.0])]])


def test_collate_of_single_samples_matches_the_batch():
    ds = SyntheticInk(6, 10, 48, seed=4)
    whole = ds.render(range(5))
    stacked = collate([ds[i] for i in range(5)])
    assert stacked.keys() == whole.keys()
    assert all(torch.equal(stacked[k], whole[k]) for k in whole)
    assert collate(whole) is whole


# ---------------------------------------------------------------- centreline SVG files

SVG = """<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 100 100">
<g transform="translate(5,0)">
  <path d="M10,20 L90,20"/>
  <path d="m50 20 c0 20 0 40 -10 60"/>
  <path d="M10,45 Q15,40 20,45 T30,45"/>
  <path d="M70,70 A10 10 0 1 1 70.01 70.0 Z"/>
</g>
<polyline points="10,90 30,95 50,90"/>
</svg>"""


def test_svg_paths_become_strokes(tmp_path):
    from inktrace.data.svg import SvgInk, read_svg

    path = tmp_path / "a.svg"
    path.write_text(SVG)
    strokes, box = read_svg(path)
    assert box == (0.0, 0.0, 100.0, 100.0) and len(strokes) == 5
    line, _ = strokes[0]
    assert np.allclose(line[0][0], (15, 20)) and np.allclose(line[0][3], (95, 20))
    hook, _ = strokes[1]
    assert np.allclose(hook[0][0], (55, 20)) and np.allclose(hook[0][3], (45, 80))
    assert strokes[3][1] is True and len(strokes[3][0]) >= 4  # a closed circle of arc pieces
    ds = SvgInk(tmp_path, img_size=64, seed=0)
    s = ds[0]
    ends = kinds(s, ENDPOINT)
    assert len(kinds(s, JUNCTION)) == 1  # the hook starts on the bar
    assert len(ends) == 2 + 1 + 2 + 2  # bar, hook end, wave, polyline; the circle has none
    again = SvgInk(tmp_path, img_size=64, seed=0).render([0, 0])
    assert torch.equal(again["image"][1], s["image"]) and torch.equal(
        again["skeleton"][0], s["skeleton"]
    )


def test_bad_svg_files_get_one_line_errors(tmp_path):
    from inktrace.data.svg import SvgError, SvgInk, read_svg

    cases = {
        "broken.svg": "<svg><path d='M1,1 L2,2'></svg",
        "notsvg.svg": "<html></html>",
        "empty.svg": "<svg viewBox='0 0 10 10'></svg>",
        "badpath.svg": "<svg viewBox='0 0 10 10'><path id='p1' d='M1,1 C2,2'/></svg>",
    }
    messages = {}
    for name, text in cases.items():
        (tmp_path / name).write_text(text)
        with pytest.raises(SvgError) as info:
            read_svg(tmp_path / name)
        messages[name] = str(info.value)
        assert str(tmp_path / name) in messages[name] and "\n" not in messages[name]
    assert "not a readable SVG" in messages["broken.svg"] and "not <svg>" in messages["notsvg.svg"]
    assert "no strokes" in messages["empty.svg"] and "'p1'" in messages["badpath.svg"]
    with pytest.raises(SvgError, match="no such file or folder"):
        SvgInk(tmp_path / "missing")


# ---------------------------------------------------------------- cases found in review


def test_every_corner_of_a_staircase_and_a_square():
    stairs = draw([([[10, 10], [20, 10], [20, 20], [30, 20], [30, 30]], 2.0)])
    assert torch.allclose(kinds(stairs, CORNER), torch.tensor([[20.0, 10], [20, 20], [30, 20]]))
    square = draw([([[10, 10], [30, 10], [30, 30], [10, 30], [10, 10]], 2.0)])
    assert len(kinds(square, CORNER)) == 4 and len(square["points"]) == 4


def test_a_tight_smooth_turn_is_a_corner_a_gentle_one_is_not():
    t = torch.linspace(0, 1, 50)[:, None]
    p0, c, p1 = torch.tensor([20.0, 45]), torch.tensor([30.0, 5]), torch.tensor([40.0, 45])
    tight = (1 - t) ** 2 * p0 + 2 * (1 - t) * t * c + t**2 * p1  # a hairpin, apex radius 2.5 px
    apex = kinds(draw([(tight, 2.0)]), CORNER)
    assert apex.shape == (1, 2) and torch.allclose(apex, torch.tensor([[30.0, 25.0]]), atol=0.5)
    ang = torch.linspace(0, 1.5, 60)
    arc = torch.stack([32 + 12 * torch.cos(ang), 24 + 12 * torch.sin(ang)], 1)  # radius 12 px
    assert len(kinds(draw([(arc, 2.0)]), CORNER)) == 0


def test_a_stroke_crossing_itself_and_a_t_that_overshoots():
    loop = draw([([[10, 40], [50, 40], [40, 55], [30, 20]], 2.0)])
    cross = kinds(loop, CROSSING)
    assert cross.shape == (1, 2) and torch.allclose(
        cross, torch.tensor([[35.7143, 40.0]]), atol=1e-3
    )
    t = draw([([[12.3, 30.6], [52.3, 30.6]], 6.0), ([[32.3, 28.6], [32.3, 50.6]], 6.0)])
    assert (
        torch.allclose(kinds(t, JUNCTION), torch.tensor([[32.3, 28.6]]))
        and len(kinds(t, CROSSING)) == 0
    )


def test_skeleton_stays_connected_where_the_major_axis_changes_and_reaches_the_ends():
    s = draw([([[27.92, 43.33], [26.42, 45.28], [24.42, 46.72]], 2.0)], size=(64, 64))
    assert s["skeleton"][45, 26] == 1 and s["skeleton"][44, 27] == 1 and s["skeleton"][45, 25] == 1
    short = draw([([[10.6, 20.5], [30.4, 20.5]], 2.0)])
    assert (
        short["skeleton"][20, 10] == 1 and short["skeleton"][20, 30] == 1
    )  # the pixels of the ends
    assert short["skeleton"].sum() == 21
    dot = draw([([[10.0, 10.0], [10.0, 10.0], [30.0, 10.0]], 3.0)])  # a repeated point
    on = dot["tangent_mask"] > 0
    assert torch.allclose(dot["tangent"].norm(dim=0)[on], torch.tensor(1.0), atol=1e-5)


def _eight_connected_parts(mask: torch.Tensor) -> int:
    """Number of 8-connected components of a small binary map (plain flood fill)."""
    todo = {tuple(p) for p in mask.nonzero().tolist()}
    parts = 0
    while todo:
        parts += 1
        stack = [todo.pop()]
        while stack:
            i, j = stack.pop()
            for di in (-1, 0, 1):
                for dj in (-1, 0, 1):
                    if (i + di, j + dj) in todo:
                        todo.remove((i + di, j + dj))
                        stack.append((i + di, j + dj))
    return parts


def test_skeleton_has_no_gap_at_the_tip_of_a_sharp_reversal():
    # both arms run mostly along x and turn back at x = 50.2: neither reaches the tip column's
    # centre
    v = draw([([[10.0, 20.0], [50.2, 24.3], [10.0, 28.0]], 2.0)], size=(64, 64))
    assert v["skeleton"][24, 50] == 1
    assert _eight_connected_parts(v["skeleton"]) == 1
    for level in (4, 6):
        batch = SyntheticInk(level, 64, 64, seed=1).render(range(32))
        for sk, n in zip(batch["skeleton"], batch["num_points"]):
            # no more pieces than one per endpoint pair could explain (loose, but catches 1-px gaps)
            assert _eight_connected_parts(sk) <= max(int(n), 1)


def test_empty_batches_render():
    b = SyntheticInk(9, 10, 64).render([])
    assert b["image"].shape == (0, 1, 64, 64) and b["points"].shape == (0, 0, 3)


def test_svg_path_syntax_edge_cases(tmp_path):
    from inktrace.data.svg import SvgInk, parse_path

    with pytest.raises(ValueError, match="numbers without a command"):
        parse_path("M0 0 L 10 0 Z 5 5")  # used to loop forever
    with pytest.raises(ValueError, match="unknown path command 'X'"):
        parse_path("M0 0 X 10 10")
    ((arc, _),) = parse_path("M0,0 A 40 40 0 0150 50")  # flags written without separators
    assert np.allclose(arc[-1][3], (50, 50))
    ((implicit, _),) = parse_path("m10 10 20 20 10 -10")  # pairs after a move are line-tos
    assert np.allclose([p[3] for p in implicit], [(30, 30), (40, 20)])
    (tmp_path / "loop.svg").write_text(
        '<svg viewBox="0 0 100 100"><path d="M 30 30 C 90 0 90 60 30 30"/></svg>'
    )
    assert SvgInk(tmp_path)[0]["skeleton"].sum() > 30  # a cubic whose ends meet is not a dot
