"""Pens and brushes (data/pens.py) and cursive words (data/cursive.py) in the data engine."""

from __future__ import annotations

import math

import pytest
import torch

from inktrace.cli.main import main as inktrace_main
from inktrace.config import Config
from inktrace.data import SyntheticInk, make_strokes, render_batch
from inktrace.data.curriculum import cursive_samples
from inktrace.data.cursive import LETTERS, MAX_LETTERS, make_cursive
from inktrace.data.geometry import Strokes
from inktrace.data.keypoints import CROSSING, SHALLOW, find_keypoints
from inktrace.data.pens import (
    CLASSIC,
    HELD_OUT,
    PEN_NAMES,
    TRAINING_PENS,
    apply_texture,
    choose_pens,
    densify,
    pen_widths,
)
from inktrace.data.render import render
from inktrace.data.rng import Draws, sample_keys
from inktrace.data.svg import SvgInk, render_glyphs
from inktrace.errors import ConfigError
from inktrace.training.batches import train_set

TARGETS = ("skeleton", "keypoints", "tangent", "width", "offset", "mask", "tangent_mask")


def _draws(n: int, seed: int = 0) -> Draws:
    return Draws(sample_keys(seed, 5, 0, torch.arange(n)))


def _one_stroke(pts, n: int):
    """``n`` copies of one polyline as a (n, 1, P, 2) batch and its segment mask."""
    p = torch.tensor(pts, dtype=torch.float64)[None, None].expand(n, 1, -1, 2).clone()
    return p, torch.ones(n, 1, p.shape[2] - 1, dtype=torch.bool)


def _profile(pen: str, pts, n: int = 16, base: float = 4.0):
    points, valid = _one_stroke(pts, n)
    points, valid = densify(points, valid, torch.full((n, 1), 0.6 * base))
    ids = torch.full((n,), PEN_NAMES.index(pen))
    w = pen_widths(ids, _draws(n), points, valid, torch.full((n, 1), base), 100.0)
    seg = (points[:, 0, 1:] - points[:, 0, :-1]).norm(dim=-1)
    s = torch.cat([torch.zeros(n, 1, dtype=seg.dtype), seg.cumsum(-1)], -1)
    return points[:, 0], w[:, 0], s


def test_densify_keeps_the_centreline_and_bounds_the_segments():
    points, valid = _one_stroke([(0, 0), (10, 0), (10, 3), (10, 3)], 2)
    valid[1, 0, 1:] = False  # sample 1: one segment only
    dense, dv = densify(points, valid, torch.tensor([[2.0], [math.inf]]))
    n0 = int(dv[0, 0].sum())
    assert n0 == 5 + 2 + 1  # 10 px in five parts, 3 px in two, a zero-length one stays one
    p = dense[0, 0, : n0 + 1]
    assert (p[:, 1] == 0).sum() == 6 and torch.equal(p[5], torch.tensor([10.0, 0.0]).double())
    assert torch.equal(p[-1], torch.tensor([10.0, 3.0]).double())
    assert ((p[1:] - p[:-1]).norm(dim=-1) <= 2.0 + 1e-12).all()
    # an inf spacing leaves the stroke as it was; the padding repeats its last point
    assert int(dv[1, 0].sum()) == 1 and torch.equal(dense[1, 0, :2], points[1, 0, :2])
    assert (dense[1, 0, 2:] == points[1, 0, 1]).all()


def test_a_brush_stroke_starts_pressed_and_ends_tapered():
    _, w, s = _profile("brush", [(5, 30), (60, 30)])
    L = s[:, -1:]
    start = torch.where(s < 6.0, w, 0).amax(-1)  # within 1.5 widths of the start
    middle = torch.where((s > 0.4 * L) & (s < 0.6 * L), w, float("nan")).nanmedian(-1).values
    assert (start > 1.08 * middle).all(), (start, middle)
    assert (w[:, -1] < 0.45 * middle).all()  # the end tip
    assert (w[:, 0] > 0.7 * middle).all()  # a pressed start is blunt, not a taper


def test_a_shoulder_at_a_corner_and_ink_pooling_at_a_sharp_turn():
    for pen, low, high in (("brush", 0.2, 0.45), ("ballpoint", 0.3, 0.8)):
        _, straight, s1 = _profile(pen, [(5, 30), (35, 30), (65, 30)])
        corner_pts, bent, s2 = _profile(pen, [(5, 30), (35, 30), (35, 60)])
        assert torch.allclose(s1, s2)  # same arc length: only the turn differs
        ratio = bent / straight
        at = (corner_pts - torch.tensor([35.0, 30.0]).double()).norm(dim=-1).argmin(-1)
        peak = ratio.gather(1, at[:, None])[:, 0]
        assert (peak > 1 + low - 1e-9).all() and (peak < 1 + high + 1e-9).all(), (pen, peak)
        far = (s2 - 30.0).abs() > 12.0  # three body widths from the corner
        assert torch.allclose(ratio[far], torch.ones_like(ratio[far]), atol=1e-3)


def test_felt_and_ballpoint_are_nearly_constant_and_thinner_than_a_brush():
    for pen, hi in (("ballpoint", 2.2), ("felt", 4.5)):
        ds = SyntheticInk(0, 64, 64, seed=1, pens=(pen,))
        strokes = make_strokes(0, Draws(ds.keys(range(32))), 64, (pen,))
        w = strokes.widths[strokes.seg_valid.any(-1)]
        assert w.max() <= hi * 1.25 * 1.4 and w.min() >= 0.7


def test_textures_change_the_image_never_the_targets():
    for pen in ("ballpoint", "felt", "pencil", "drybrush", "charcoal"):
        ds = SyntheticInk(5, 64, 48, seed=2, pens=(pen,))
        got = ds.render(range(6))
        keys = ds.keys(range(6))
        strokes = make_strokes(5, Draws(keys), 48, (pen,))
        plain = render_batch(strokes, 48, 48, 5, Draws(keys), keys)  # no pen texture
        for k in TARGETS + ("points", "num_points"):
            assert torch.equal(got[k], plain[k]), (pen, k)
        ink = got["image"] < 0.99
        assert not torch.equal(got["image"], plain["image"])
        # the texture only lightens the ink: never darker, never ink off the strokes
        assert (got["image"] >= plain["image"] - 1e-6).all()
        assert torch.equal(ink, ink & (plain["image"] < 0.99)), pen


def test_pencil_is_grey_and_a_dry_brush_breaks_its_strokes():
    pencil = SyntheticInk(0, 16, 64, seed=3, pens=("pencil",)).render(range(16))["image"]
    classic = SyntheticInk(0, 16, 64, seed=3).render(range(16))["image"]
    assert classic.min() == 0.0 and pencil.min() > 0.15  # graphite never reaches black
    dry = SyntheticInk(6, 16, 64, seed=3, pens=("drybrush",)).render(range(16))
    solid = dry["mask"] * (dry["width"] >= 4.0)  # broad strokes
    light = ((dry["image"][:, 0] > 0.6) & (solid > 0)).sum() / solid.sum()
    assert 0.05 < light < 0.6  # streaks and breaks: a real share of the body stays unpainted


def _texture_of(pen: str, vertical: bool, n: int = 4, size: int = 48):
    """``apply_texture`` of ``pen`` on ink covering the whole image: the maps of one broad stroke
    through its middle, horizontal or vertical."""
    ones = torch.ones(n, size, size)
    c, s = (-1.0, 0.0) if vertical else (1.0, 0.0)  # tangent as (cos 2a, sin 2a)
    to_mid = size / 2 - (torch.arange(size) + 0.5)
    offset = torch.zeros(n, 2, size, size)
    offset[:, 0 if vertical else 1] = to_mid[None, :] if vertical else to_mid[:, None]
    maps = {
        "offset": offset,
        "tangent": torch.stack([ones * c, ones * s], 1),
        "width": ones * 8.0,
        "mask": ones,
    }
    keys = sample_keys(7, 6, 0, torch.arange(n))
    return apply_texture(ones, maps, torch.full((n,), PEN_NAMES.index(pen)), keys)


def test_charcoal_streaks_follow_the_paper_not_the_strokes():
    along, across = _texture_of("charcoal", False), _texture_of("charcoal", True)
    assert torch.equal(along, across)  # the stroke's direction does not move the grain
    dry = _texture_of("drybrush", False)
    assert not torch.equal(dry, _texture_of("drybrush", True))  # the brush's bristles do
    bare = along < 0.3
    assert 0.1 < bare.float().mean() < 0.8
    # the bare lines run one way per sample: shifted 2 px along the grain the pattern agrees far
    # more than shifted the other ways
    for b in bare:
        agree = [
            (b == torch.roll(b, (round(2 * math.sin(a)), round(2 * math.cos(a))), (0, 1)))
            .float()
            .mean()
            for a in torch.linspace(0, math.pi, 9)[:-1].tolist()
        ]
        assert max(agree) > 0.7 and min(agree) < max(agree) - 0.3, agree


def test_pen_samples_are_the_same_in_any_batch_and_any_instance():
    pens = ("ballpoint", "brush", "pencil")
    a = SyntheticInk(8, 100, 48, seed=4, pens=pens, cursive=0.3).render([3, 40, 7])
    b = SyntheticInk(8, 100, 48, seed=4, pens=pens, cursive=0.3).render([7, 99, 3, 12])
    for k in ("image",) + TARGETS:
        assert torch.equal(a[k][0], b[k][2]) and torch.equal(a[k][2], b[k][0]), k
    c = SyntheticInk(8, 100, 48, seed=4, pens=pens, cursive=0.3)
    c.set_epoch(1)
    assert not torch.equal(c.render([3])["image"][0], a["image"][0])


def test_classic_samples_among_other_pens_are_the_engine_before_pens():
    keys = SyntheticInk(6, 64, 48, seed=5).keys(range(40))
    ids = choose_pens(keys, ("classic", "brush"))
    assert 8 < int((ids == CLASSIC).sum()) < 32
    before = make_strokes(6, Draws(keys), 48)
    mixed = make_strokes(6, Draws(keys), 48, ("classic", "brush"))
    for b in (ids == CLASSIC).nonzero()[:, 0].tolist():
        n = before.points.shape[2]
        assert torch.equal(mixed.points[b, :, :n], before.points[b])
        assert torch.equal(mixed.widths[b, :, :n], before.widths[b])
        assert torch.equal(mixed.seg_valid[b, :, : n - 1], before.seg_valid[b])
        assert not mixed.seg_valid[b, :, n - 1 :].any()


def test_the_default_pens_draw_nothing_new():
    """pens [classic] and no cursive: the curriculum's streams as before (test_data pins them),
    i.e. exactly what make_strokes gives without the new arguments."""
    keys = SyntheticInk(9, 64, 48, seed=6).keys(range(12))
    a = make_strokes(9, Draws(keys), 48)
    b = make_strokes(9, Draws(keys), 48, ("classic",), 0.0)
    assert torch.equal(a.points, b.points) and torch.equal(a.widths, b.widths)


def test_cursive_words_are_joined_with_loops_retraces_and_later_dots_and_bars():
    d = Draws(sample_keys(7, 0, 0, torch.arange(200)))
    word = make_cursive(d, 64)
    B = 200
    letters = word.letters
    n = (letters >= 0).sum(-1)
    assert n.min() >= 2 and n.max() == MAX_LETTERS
    # the word is ONE stroke: every letter's points joined
    assert word.seg_valid[:, 0].sum(-1).min() > 10 * 2
    # dots and bars: strokes 1.. exactly where a letter is i or t, short, after the word
    i_t = torch.tensor([LETTERS.index("i"), LETTERS.index("t")])
    has = (letters[..., None] == i_t).any(-1)
    assert torch.equal(word.seg_valid[:, 1:].any(-1), has) and has.any()
    length = (word.points[:, 1:, 1] - word.points[:, 1:, 0]).norm(dim=-1)
    xh = word.points[:, 0, :, 1].amax(-1) - word.points[:, 0, :, 1].amin(-1)  # word height
    dots = letters == LETTERS.index("i")
    assert (length[dots] < 0.15 * xh[:, None].expand_as(length)[dots]).all()
    # inside the image
    live = torch.cat([word.seg_valid, word.seg_valid[..., -1:]], -1)
    assert ((word.points >= 0) & (word.points <= 64))[live].all()
    # loops: a word with an e, l or h crosses itself (narrow loops at a shallow angle); t-bars
    # cross the t's stem
    kp = find_keypoints(make_strokes_from(word))
    crossings = ((kp.kind == CROSSING) | (kp.kind == SHALLOW)).sum(-1).tolist()
    loopy = (letters[..., None] == torch.tensor([LETTERS.index(c) for c in "elh"])).any(-1)
    for b in range(B):
        need = int(loopy[b].sum()) + int((letters[b] == LETTERS.index("t")).sum())
        assert crossings[b] >= min(need, 1), (b, letters[b])
    # retraced up-strokes: in an n, m, h or u a segment comes back exactly over the previous one
    retraced = 0
    for b in range(40):
        k = int(word.seg_valid[b, 0].sum())
        p = word.points[b, 0, : k + 1]
        seg = p[1:] - p[:-1]
        a, c = seg[:-1], seg[1:]
        cross = (a[:, 0] * c[:, 1] - a[:, 1] * c[:, 0]).abs()
        # a segment going back over its predecessor: the same line, the other way
        back = (cross < 1e-9 * a.norm(dim=-1) * c.norm(dim=-1)) & ((a * c).sum(-1) < 0)
        if (letters[b, :, None] == torch.tensor([LETTERS.index(c) for c in "nmhu"])).any():
            assert back.any(), letters[b]
            retraced += 1
    assert retraced >= 5


def make_strokes_from(word) -> Strokes:
    """The words of ``make_cursive`` as Strokes of constant width."""
    widths = word.base[..., None].expand_as(word.points[..., 0]).clone()
    return Strokes(word.points, widths, word.seg_valid, word.closed)


def test_cursive_replaces_its_share_from_level_4_with_exact_targets():
    ds = SyntheticInk(5, 400, 64, seed=8, cursive=0.25, pens=("brush",))
    keys = ds.keys(range(400))
    pick = cursive_samples(Draws(keys), 0.25, 5)
    assert 70 < int(pick.sum()) < 130
    assert not cursive_samples(Draws(keys), 0.25, 3).any()
    idx = pick.nonzero()[:, 0][:4].tolist() + (~pick).nonzero()[:, 0][:2].tolist()
    out = ds.render(idx)
    plain = SyntheticInk(5, 400, 64, seed=8, pens=("brush",)).render(idx)
    assert not torch.equal(out["skeleton"][:4], plain["skeleton"][:4])
    assert torch.equal(out["image"][4:], plain["image"][4:])  # the others as before
    # the targets are the engine's on the word's own geometry
    strokes = make_strokes(5, Draws(keys[idx]), 64, ("brush",), 0.25)
    maps = render(strokes, find_keypoints(strokes), 64, 64)
    for k in TARGETS:
        assert torch.equal(out[k], maps[k]), k


def test_the_held_out_pen_is_never_drawn_in_training(tmp_path):
    assert HELD_OUT == ("drybrush",) and "drybrush" not in TRAINING_PENS
    for pens in (["drybrush"], ["brush", "drybrush"]):
        with pytest.raises(ConfigError, match="data.pens: pen 'drybrush' is the held-out style"):
            Config.from_dict({"data": {"pens": pens}})
    with pytest.raises(ConfigError, match="data.pens: pen 'quill': unknown"):
        Config.from_dict({"data": {"pens": ["quill"]}})
    with pytest.raises(ConfigError, match="data.pens"):
        Config.from_dict({"data": {"pens": []}})
    with pytest.raises(ConfigError, match="data.cursive_fraction"):
        Config.from_dict({"data": {"cursive_fraction": 1.5}})
    cfg = Config.from_dict({"data": {"pens": list(TRAINING_PENS), "cursive_fraction": 0.2}})
    ds = train_set(cfg, 6)
    assert ds.pens == TRAINING_PENS and ds.cursive == 0.2
    ids = choose_pens(ds.keys(range(5000)), ds.pens)
    counts = torch.bincount(ids, minlength=len(PEN_NAMES))
    assert counts[PEN_NAMES.index("drybrush")] == 0
    assert (counts[[PEN_NAMES.index(p) for p in TRAINING_PENS]] > 700).all()  # 833 each


def _glyphs(folder):
    for i in range(4):
        (folder / f"g{i}.svg").write_text(
            '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 100 100">'
            f'<path d="M {10 + i} 10 L {10 + i} 90"/><path d="M 10 50 L 90 {50 - 5 * i}"/>'
            '<path d="M 20 20 L 70 20 L 70 60"/></svg>'
        )
    return folder


def test_glyphs_render_with_the_held_out_pen(tmp_path):
    folder = _glyphs(tmp_path)
    out = render_glyphs(folder, 48, pen="drybrush", seed=1)
    engine = SvgInk(folder, 48, seed=1, width=(1.0, 8.0), pens="drybrush")
    strokes, keys = engine.geometry(range(4))
    plain = render_batch(strokes, 48, 48, keys=keys)  # the same geometry without texture
    for k in TARGETS:
        assert torch.equal(out[k], plain[k]), k
    assert not torch.equal(out["image"], plain["image"])
    classic = SvgInk(folder, 48, seed=1, width=(1.0, 8.0)).render(range(4))
    # the centrelines are the same glyphs (skeletons agree), the widths are the brush's
    assert torch.equal(classic["skeleton"], out["skeleton"]) or (
        (classic["skeleton"] != out["skeleton"]).float().mean() < 0.002
    )
    assert not torch.equal(classic["width"], out["width"])


def test_preview_data_draws_pens_and_cursive(tmp_path, capsys):
    from PIL import Image

    out = tmp_path / "p.png"
    argv = ["preview-data", "--stage", "5", "--pens", "brush,drybrush", "--cursive-fraction",
            "0.5", "--samples", "2", "--img-size", "32", "--output", str(out)]  # fmt: skip
    assert inktrace_main(argv) == 0
    text = capsys.readouterr().out
    assert "pens brush, drybrush" in text and "a share 0.5 cursive" in text
    with Image.open(out) as im:
        assert im.size[1] == 2 * 96 + 2
    for bad, msg in (
        (["--stage", "5", "--pens", "quill"], "--pens quill: pen 'quill': unknown"),
        (["--stage", "2", "--cursive-fraction", "0.5"], "--cursive-fraction needs --stage 4-9"),
        (["--stage", "5", "--cursive-fraction", "2"], "--cursive-fraction 2.0: must be within"),
    ):
        assert inktrace_main(["preview-data", *bad, "--output", str(tmp_path / "q.png")]) == 2
        err = capsys.readouterr().err
        assert msg in err and err.count("\n") == 1
    assert not (tmp_path / "q.png").exists()
