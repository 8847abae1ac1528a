"""inktrace.inference and `inktrace predict`: image loading, the exact distance transform, the
stroke-width estimate and scale rule, tiling, the Predictor and the command line."""

import math
import struct
import tracemalloc
import zlib

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image, ImageDraw

from inktrace.checkpoint import save_checkpoint
from inktrace.cli.main import main as inktrace_main
from inktrace.inference import (
    ImageError,
    Predictor,
    choose_scale,
    estimate_stroke_width,
    glyph_size,
    load_image,
    measure_ink,
    pipeline,
    prediction_panel,
    squared_distance_transform,
    to_gray,
)
from inktrace.inference import scale as scale_module
from inktrace.inference.pipeline import PAGE_BUDGET, InputMaps, MapPredictor
from inktrace.inference.resample import ToInput, to_input, unit
from inktrace.inference.tiling import Stitcher, plan_tiles, tile_length, tile_starts
from inktrace.model import InkTraceNet
from inktrace.tracing import trace_prediction

KEYS = {"skeleton", "keypoints", "tangent", "width", "offset"}


def tiny(**kw):
    torch.manual_seed(0)
    return InkTraceNet(**{"embed_dim": 4, "num_layers": 2, **kw}).eval()


@pytest.fixture
def checkpoint(tmp_path):
    m = tiny()
    return save_checkpoint(
        {"model": m.state_dict(), "config": {"model": m.hparams}}, tmp_path / "m.ckpt"
    )


def drawing(k: int, width: float = 7.0, ss: int = 4) -> np.ndarray:
    """The same line drawing (an A, a C, a bar) at k times the resolution, antialiased by
    supersampling: 96 x 128 px at k = 1 with strokes ``width`` px wide."""
    f = k * ss
    im = Image.new("L", (128 * f, 96 * f), 255)
    d = ImageDraw.Draw(im)
    lw = int(round(width * f))
    d.line([(12 * f, 80 * f), (40 * f, 14 * f), (68 * f, 80 * f)], fill=0, width=lw, joint="curve")
    d.line([(24 * f, 56 * f), (56 * f, 56 * f)], fill=0, width=lw)
    d.arc([(76 * f, 16 * f), (118 * f, 58 * f)], 30, 320, fill=0, width=lw)
    d.line([(80 * f, 82 * f), (120 * f, 70 * f)], fill=0, width=lw)
    return np.asarray(im.reduce(ss), np.float32) / 255.0


def lines(width: float, angle: float, size: int = 160, ss: int = 8) -> np.ndarray:
    """Three parallel antialiased lines ``width`` px wide at ``angle`` radians."""
    im = Image.new("L", (size * ss, size * ss), 255)
    d = ImageDraw.Draw(im)
    c, half = size * ss / 2, size * ss * 0.4
    dx, dy = math.cos(angle), math.sin(angle)
    for off in (-40 * ss, 0, 40 * ss):
        ox, oy = -dy * off, dx * off
        ends = [(c - dx * half + ox, c - dy * half + oy), (c + dx * half + ox, c + dy * half + oy)]
        d.line(ends, fill=0, width=int(round(width * ss)))
    return np.asarray(im.reduce(ss), np.float32) / 255.0


def shrink(a: np.ndarray, k: int) -> np.ndarray:
    """Average k x k blocks of an (H, W) or (C, H, W) array."""
    t = torch.from_numpy(np.ascontiguousarray(a))
    return F.avg_pool2d(t[None] if t.dim() == 2 else t, k).squeeze(0).numpy()


# ----------------------------------------------------------------------------- distance transform
def test_distance_transform_equals_brute_force_exactly():
    rng = np.random.default_rng(0)
    masks = [rng.random(rng.integers(1, 15, 2)) < rng.random() for _ in range(200)]
    masks += [np.ones((4, 7), bool), np.zeros((3, 3), bool), np.eye(9, dtype=bool)]
    masks += [rng.random((90, 70)) < 0.97]  # a page-like mask: distances beyond 2 px
    for mask in masks:
        paper = np.argwhere(~mask)
        ii, jj = np.indices(mask.shape)
        if len(paper):
            brute = ((ii[..., None] - paper[:, 0]) ** 2 + (jj[..., None] - paper[:, 1]) ** 2).min(
                -1
            )
        else:
            brute = np.full(mask.shape, np.inf)
        assert np.array_equal(squared_distance_transform(mask), brute), mask
    assert brute.max() > 4


# ----------------------------------------------------------------------------- images
def test_images_of_every_mode_load_to_the_expected_gray(tmp_path):
    def saved(image, name):
        image.save(tmp_path / name)
        return load_image(tmp_path / name)

    rgb = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255]]], np.uint8)
    assert np.allclose(
        saved(Image.fromarray(rgb), "c.png"), [[0.299, 0.587, 0.114, 1.0]], atol=1e-6
    )
    rgba = np.array([[[0, 0, 0, 0], [0, 0, 0, 255], [0, 0, 0, 51], [255, 0, 0, 255]]], np.uint8)
    assert np.allclose(saved(Image.fromarray(rgba), "a.png"), [[1.0, 0.0, 0.8, 0.299]], atol=1e-6)
    la = Image.fromarray(np.array([[[0, 0], [0, 255], [100, 255]]], np.uint8), "LA")
    assert np.allclose(saved(la, "la.png"), [[1.0, 0.0, 100 / 255]], atol=1e-6)
    gray16 = np.array([[0, 65535, 32768, 1000]], np.uint16)
    assert np.allclose(saved(Image.fromarray(gray16), "g16.png"), gray16 / 65535, atol=1e-6)
    assert np.allclose(saved(Image.fromarray(gray16), "g16.tif"), gray16 / 65535, atol=1e-6)
    i32 = Image.fromarray(np.array([[0, 65535, 13107]], np.int32))
    assert np.allclose(saved(i32, "i32.tif"), [[0.0, 1.0, 0.2]], atol=1e-6)
    assert np.array_equal(saved(Image.fromarray(np.eye(3, dtype=bool)), "b.png"), np.eye(3))
    pal = Image.new("P", (3, 1))
    pal.putpalette([0, 0, 0, 255, 255, 255, 0, 0, 255] + [0] * 759)
    pal.putdata([0, 1, 2])
    assert np.allclose(saved(pal, "p.png"), [[0.0, 1.0, 0.114]], atol=1e-6)
    gray = Image.fromarray(np.array([[0, 100, 200]], np.uint8))
    gray.save(tmp_path / "t.png", transparency=100)  # gray 100 is transparent: paper
    assert np.allclose(load_image(tmp_path / "t.png"), [[0.0, 1.0, 200 / 255]], atol=1e-6)
    pal.info["transparency"] = 0  # palette entry 0 transparent: paper
    assert np.allclose(saved(pal, "pt.png"), [[1.0, 1.0, 0.114]], atol=1e-6)
    jpeg = saved(Image.fromarray(np.full((8, 8), 128, np.uint8)), "g.jpg")
    assert (
        jpeg.dtype == np.float32
        and jpeg.shape == (8, 8)
        and np.allclose(jpeg, 128 / 255, atol=0.01)
    )


def test_arrays_convert_like_files_and_bad_arrays_are_refused():
    assert np.allclose(to_gray(np.array([[0, 65535]], np.uint16)), [[0.0, 1.0]])
    assert np.allclose(to_gray(np.zeros((2, 2, 4), np.uint8)), 1.0)  # transparent black: paper
    assert to_gray(np.array([[True, False]])).tolist() == [[1.0, 0.0]]
    for bad, words in [
        (np.full((2, 2), 2.0), r"in \[0, 1\]"),
        (np.zeros((0, 5)), "empty image"),
        (np.zeros((2, 2, 5)), "expected"),
        (np.array([[np.nan]]), "finite"),
    ]:
        with pytest.raises(ImageError, match=words):
            to_gray(bad)


def png_of_size(width, height):
    def chunk(kind, data):
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")


def bad_files(tmp_path):
    """name -> (path, words the one-line reason holds)"""
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "text.png").write_text("not an image")
    (tmp_path / "zero.png").write_bytes(png_of_size(0, 0))
    (tmp_path / "folder.png").mkdir()
    good = tmp_path / "cut.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 40), np.uint8)).save(good)
    (tmp_path / "cut.png").write_bytes(good.read_bytes()[:200])
    return {
        "missing": (tmp_path / "missing.png", "no such file"),
        "empty": (tmp_path / "empty.png", "empty file"),
        "text": (tmp_path / "text.png", "not an image"),
        "zero": (tmp_path / "zero.png", "empty image (0x0"),
        "folder": (tmp_path / "folder.png", "is a directory"),
        "truncated": (tmp_path / "cut.png", "cannot read the image"),
    }


def test_unreadable_files_raise_one_line_naming_the_file(tmp_path):
    for path, words in bad_files(tmp_path).values():
        with pytest.raises(ImageError) as info:
            load_image(path)
        message = str(info.value)
        assert message.startswith(f"{path}: ") and words in message and "\n" not in message


# ----------------------------------------------------------------------------- scale
@pytest.mark.parametrize("width", [3, 5, 8, 14, 20])
def test_stroke_width_estimate_is_within_three_quarters_of_a_pixel(width):
    for angle in (0.0, 0.3, math.pi / 4, 1.0):
        assert abs(estimate_stroke_width(lines(width, angle)) - width) <= 0.75, angle


def test_dry_brush_and_speckled_strokes_are_measured_whole():
    # 14 px lines whose ink is cut along their length by hairline paper streaks (a dry brush) or
    # pitted by pinholes (a speckled scan): the closed ink is measured, not its 2-3 px slivers
    solid = lines(14, 0.0)
    streaked = solid.copy()
    streaked[::4, :] = 1.0  # a 1 px streak every 4 px across the horizontal lines
    pitted = solid.copy()
    holes = np.random.default_rng(0).random(solid.shape) < 0.2
    pitted[holes] = 1.0
    for img in (streaked, pitted):
        assert abs(estimate_stroke_width(img) - 14) <= 0.75
        assert measure_ink(img).textured and not measure_ink(solid).textured
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(scale_module, "CLOSING", 0)  # measured as it is: the slivers
            mp.setattr(scale_module, "POROUS", float("inf"))  # (and not denoised)
            assert estimate_stroke_width(img) < 5
    # thin strokes 3 px apart stay apart; 2 px apart they are one stroke to the measure
    two = np.ones((60, 60), np.float32)
    two[10:50, 10:13], two[10:50, 16:19] = 0.0, 0.0
    assert abs(estimate_stroke_width(two) - 3) <= 0.75
    two[10:50, 13] = 0.0  # 4 px and 3 px wide, paper at columns 14 and 15 only: 9 px closed
    assert abs(estimate_stroke_width(two) - 9) <= 0.75
    # ink already wider than the target is measured as it is: bold strokes 2 px apart stay two
    bold = np.ones((60, 60), np.float32)
    bold[10:50, 10:16], bold[10:50, 18:24] = 0.0, 0.0
    assert abs(estimate_stroke_width(bold) - 6) <= 0.75


def test_porous_speckled_ink_held_at_the_floor_is_measured_denoised():
    """14 px lines pitted by pinholes (25 %) on paper strewn with specks (2 %): as they are, and
    closed, they read at the measure's 1.5 px floor (the specks outnumber the strokes' ridges);
    a 3 x 3 median filter finds the strokes (eroding their edges a little). Thin clean lines, at
    the floor themselves, are not porous and keep their measure."""
    rng = np.random.default_rng(1)
    solid = lines(14, 0.3)
    porous = solid.copy()
    porous[(solid < 0.5) & (rng.random(solid.shape) < 0.25)] = 1.0
    porous[(solid >= 0.5) & (rng.random(solid.shape) < 0.02)] = 0.0
    found = measure_ink(porous)
    assert abs(found.width - 14) <= 2.5 and found.textured
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(scale_module, "POROUS", float("inf"))  # no denoised measure: the floor
        assert estimate_stroke_width(porous) == 1.5  # the measure's floor
    thin = lines(1.5, 0.3)
    ink = scale_module.ink_mask(thin)
    windows = [(slice(0, ink.shape[0]), slice(0, ink.shape[1]), (False,) * 4)]
    assert scale_module._porosity(ink, windows) < scale_module.POROUS
    assert measure_ink(thin) == (1.5, False)


def test_bristle_streaks_in_faint_ink_are_measured_with_it():
    # 16 px lines drawn as 2 px dark streaks with 2 px of faint (0.8) ink between them, as a dry
    # brush leaves at 256 px: the streaks read 2-3 px; with the faint ink, the brush's 16 px
    solid = lines(16, 0.0)
    streaked = solid.copy()
    gaps = ((np.arange(solid.shape[0]) // 2) % 2 == 1)[:, None] & (solid < 0.5)
    streaked[gaps] = 0.8
    # (about a pixel wide of the mark: faint ink's edge is cut nearer the paper than Otsu's)
    assert 16 <= estimate_stroke_width(streaked) <= 17.5
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(scale_module, "FAINT", 0.0)  # streaks measured alone (or closed: 2 px gaps)
        mp.setattr(scale_module, "CLOSING", 0)
        assert estimate_stroke_width(streaked) < 5
    # faint ink is measured from the paper: on a noisy scan (paper 0.85 +- 0.06) thin lines keep
    # their width, and grey noise neither widens them nor reads as ink
    noisy = np.clip(
        0.85 + 0.06 * np.random.default_rng(1).standard_normal(solid.shape), 0, 1
    ).astype(np.float32)
    thin = np.minimum(noisy, lines(3, 0.3))
    assert abs(estimate_stroke_width(thin) - 3) <= 0.75
    # a blurred scan's grey halo joining two 3 px strokes 3 px apart reads as one 9 px stroke:
    # the price of measuring dry ink wherever its faint ink covers more paper (scale.py)
    pair = np.ones((60, 60), np.float32)
    pair[10:50, 10:19] = 0.85
    pair[10:50, 10:13], pair[10:50, 16:19] = 0.0, 0.0
    assert measure_ink(pair) == (pytest.approx(9.5, abs=0.75), True)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(scale_module, "DRY_AREA", 1.6)  # the bound until December 2026: two strokes
        assert measure_ink(pair) == (pytest.approx(3, abs=0.75), False)
    # bristle streaks wider than slivers (6 px dark, 2 px faint between, on a 22 px brush) are
    # measured with their faint ink too; they were read as solid 6 px ink
    broad = lines(22, 0.0)
    streaked = broad.copy()
    rows = np.arange(broad.shape[0]) % 8 >= 6
    streaked[rows[:, None] & (broad < 0.5)] = 0.8
    assert measure_ink(streaked) == (pytest.approx(22.75, abs=0.75), True)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(scale_module, "FAINT", 0.0)
        assert measure_ink(streaked) == (pytest.approx(6, abs=1.0), False)
    # faint ink around solid strokes that is not much wider than them is not dry ink
    halo = np.minimum(lines(3, 0.0), np.where(lines(4, 0.0) < 0.5, 0.85, 1.0))
    assert abs(estimate_stroke_width(halo) - 3) <= 0.75


def test_scale_rule():
    # solid ink is shrunk to 5 px, textured ink (measured closed or with its faint ink) to 4 px
    assert choose_scale(None) == choose_scale(2.0) == choose_scale(5.0) == 1.0
    assert choose_scale(10.0) == 0.5 and choose_scale(50.0) == 0.1
    assert choose_scale(4.0, textured=True) == 1.0 and choose_scale(5.0, textured=True) == 0.8
    assert choose_scale(40.0, textured=True) == 0.1
    assert measure_ink(lines(14, 0.3)) == (pytest.approx(14, abs=0.75), False)
    assert estimate_stroke_width(np.ones((50, 50), np.float32)) is None  # no ink
    assert estimate_stroke_width(np.full((50, 50), 0.5, np.float32)) is None  # no contrast
    # clusters of ink larger than GLYPH_SIZE (62 px; textured ink 4/5 of it) are shrunk to it,
    # unless the width rule shrinks more, and never below a 1.5 px typical stroke
    assert choose_scale(3.0, size=124.0) == 0.5 and choose_scale(3.0, size=62.0) == 1.0
    assert choose_scale(3.0, size=None) == choose_scale(None, size=500.0) == 1.0
    assert choose_scale(10.0, size=100.0) == 0.5 and choose_scale(20.0, size=124.0) == 0.25
    assert choose_scale(3.0, textured=True, size=99.2) == pytest.approx(0.5)
    assert choose_scale(3.0, size=1000.0) == 0.5 and choose_scale(1.5, size=1000.0) == 1.0
    assert choose_scale(3.0, size=200.0, largest=100.0) == 0.5
    for bad in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="largest must be"):
            choose_scale(3.0, size=200.0, largest=bad)


def characters(rows: int, columns: int, side: int = 100, gap: int = 50, line: int = 4):
    """A page of ``rows`` x ``columns`` boxed crosses ``side`` px across (lines ``line`` px
    wide), ``gap`` px apart; each cross has its own piece, 6 px from the box."""
    pitch = side + gap
    page = np.ones((rows * pitch + gap, columns * pitch + gap), np.float32)
    for r in range(rows):
        for c in range(columns):
            y, x = gap + r * pitch, gap + c * pitch
            page[y : y + side, x : x + line] = page[y : y + side, x + side - line : x + side] = 0
            page[y : y + line, x : x + side] = page[y + side - line : y + side, x : x + side] = 0
            mid = side // 2
            page[y + 10 : y + side - 10, x + mid - 2 : x + mid + 2] = 0  # inside, 6 px away
    return page


def test_glyph_size_is_the_typical_size_of_the_clusters_of_ink():
    page = characters(2, 3)
    assert 100 <= glyph_size(page, 4.0) <= 108  # its pieces 6 px apart join; the boxes do not
    specked = page.copy()
    rng = np.random.default_rng(0)
    specked[rng.integers(0, page.shape[0], 300), rng.integers(0, page.shape[1], 300)] = 0.0
    assert glyph_size(specked, 4.0) == glyph_size(page, 4.0)  # specks weigh next to nothing
    # a dark rule along a row joining its characters: one cluster far longer than it is broad,
    # not counted (the other row's characters are); a rule beside the characters changes nothing
    ruled = page.copy()
    ruled[98:102, :] = 0.0
    assert glyph_size(ruled, 4.0) == glyph_size(page, 4.0)
    assert glyph_size(ruled[:160], 4.0) is None and 100 <= glyph_size(page[:160], 4.0) <= 108
    ruled = np.concatenate([page, np.ones((30, page.shape[1]), np.float32)])
    ruled[-10:-6, :] = 0.0
    assert glyph_size(ruled, 4.0) == glyph_size(page, 4.0)

    # pieces farther apart than about 2 stroke widths are clusters of their own
    def crosses(gap: int) -> np.ndarray:  # two crosses 40 px across, gap px apart
        image = np.ones((140, 200), np.float32)
        for x in (50, 90 + gap):
            image[50:90, x + 18 : x + 22] = image[68:72, x : x + 40] = 0.0
        return image

    assert 40 <= glyph_size(crosses(30), 4.0) <= 48
    assert 86 <= glyph_size(crosses(6), 4.0) <= 94
    # a dark grid (a table, manuscript paper) joins everything it touches into one cluster, far
    # wider than MAX_SPAN stroke widths: not counted, the characters clear of it are
    table = np.ones((610, 610), np.float32)
    for k in range(0, 610, 100):
        table[k : k + 3, :] = table[:, k : k + 3] = 0.0
    table[48:52, 30:70] = table[30:70, 48:52] = 0.0  # a cross touching no line ...
    for y in range(100, 600, 100):
        for x in range(100, 600, 100):  # ... and crosses in the other cells, touching them
            table[y + 48 : y + 52, x + 3 : x + 70] = table[y + 30 : y + 70, x + 48 : x + 52] = 0.0
    assert 40 <= glyph_size(table, 3.0) <= 44
    table[48:52, 30:70] = table[30:70, 48:52] = 1.0
    assert glyph_size(table, 3.0) is None
    screen = np.ones((400, 400), np.float32)  # screentone: 2 x 2 dots every 6 px
    screen[::6, ::6] = screen[1::6, ::6] = screen[::6, 1::6] = screen[1::6, 1::6] = 0.0
    assert glyph_size(screen, 2.0) is None
    assert glyph_size(np.ones((50, 50), np.float32), 2.0) is None  # no ink


def test_the_predictor_shrinks_large_characters_to_the_size_the_model_knows():
    # boxed crosses 200 px across in 6 px lines: the width rule shrinks them to 0.83, the size
    # rule to GLYPH_SIZE (0.3) or the size asked; small ones are left alone
    big, small = characters(1, 2, side=200, line=6), characters(1, 2, side=48, gap=20)
    net = tiny()
    found = Predictor(net, device="cpu").predict_many([big, small])
    width = found[0].stroke_width
    size = glyph_size(big, width)
    assert found[0].scale == pytest.approx(scale_module.GLYPH_SIZE / size) and size > 200
    assert found[1].scale == 1.0
    asked = Predictor(net, device="cpu", glyph_size=100).predict_many([big])[0]
    assert asked.scale == pytest.approx(100 / size)
    off = Predictor(net, device="cpu", glyph_size=None).predict_many([big])[0]
    assert off.scale == 5.0 / width
    # the rule as a function: one ink threshold serves both measures
    assert scale_module.image_scale(big) == (found[0].scale, width)
    assert scale_module.image_scale(big, None) == (off.scale, width)
    assert scale_module.image_scale(np.ones((40, 40), np.float32)) == (1.0, None)
    for bad in (0, -3.0, float("nan"), float("inf"), "big", True):
        with pytest.raises(ValueError, match="glyph_size must be"):
            Predictor(net, device="cpu", glyph_size=bad)


def test_the_predictor_shrinks_textured_ink_to_its_own_target():
    # the same 22 px strokes, solid and as a dry brush's streaks in faint ink: solid ink is
    # brought to TARGET_WIDTH (5 px), textured ink to TEXTURED_TARGET (4 px)
    solid = lines(22, 0.0)
    streaked = solid.copy()
    streaked[(np.arange(solid.shape[0]) % 8 >= 6)[:, None] & (solid < 0.5)] = 0.8
    predictor = Predictor(tiny(), device="cpu")
    plain, dry = predictor.predict_many([solid, streaked])
    assert plain.scale == pytest.approx(5.0 / plain.stroke_width)
    assert dry.scale == pytest.approx(4.0 / dry.stroke_width)
    # (the faint ink's edge is cut nearer the paper than Otsu's: about a pixel more)
    assert abs(plain.stroke_width - 22) <= 0.75 and 22 <= dry.stroke_width <= 24
    # thin antialiased lines read as they are, not as their grey edge (which reads 3.5 px)
    assert measure_ink(lines(2, 0.0)) == (1.5, False)


def test_large_images_are_measured_in_windows_with_exact_distances():
    img = lines(9, 0.3, size=320)
    assert abs(estimate_stroke_width(img, window=100, max_windows=6) - 9) <= 0.75
    assert estimate_stroke_width(img, window=100) == pytest.approx(
        estimate_stroke_width(img), abs=0.3
    )


class RidgeNet(InkTraceNet):
    """A stand-in network that, like the real one, works at one stroke width only: its skeleton is
    the ridge of the ink blurred with sigma 1 px (the pixels within 0.01 of the 3 x 3 maximum),
    right for strokes about 4 px wide and a thick band for wide strokes; its width map is 4 x the
    blurred ink (in its own pixels)."""

    def __init__(self):
        super().__init__(embed_dim=1, num_layers=1)

    def forward(self, image, visible=None, generator=None):
        g = torch.exp(-(torch.arange(-3.0, 4.0) ** 2) / 2)
        g = g / g.sum()
        b = F.conv2d(F.pad(1.0 - image, (3, 3, 0, 0), mode="replicate"), g.view(1, 1, 1, 7))
        b = F.conv2d(F.pad(b, (0, 0, 3, 3), mode="replicate"), g.view(1, 1, 7, 1))[:, 0]
        ridge = (b >= F.max_pool2d(b[:, None], 3, 1, 1)[:, 0] - 0.01) & (b > 0.25)
        n, h, w = b.shape
        return {
            "skeleton_logits": ridge.float() * 20 - 10,
            "keypoints_logits": torch.full((n, 2, h, w), -5.0),
            "tangent": torch.stack([torch.ones_like(b), torch.zeros_like(b)], 1),
            "width": 4.0 * b,
            "offset": torch.zeros(n, 2, h, w),
        }


def agreement(a: np.ndarray, b: np.ndarray) -> float:
    """F1 of two boolean skeletons, each pixel matched within 1 px (3 x 3) of the other's."""
    grow = [
        F.max_pool2d(torch.from_numpy(x)[None, None].float(), 3, 1, 1)[0, 0].numpy() > 0
        for x in (a, b)
    ]
    precision, recall = (a & grow[1]).sum() / a.sum(), (b & grow[0]).sum() / b.sum()
    return 2 * precision * recall / (precision + recall)


def test_the_same_drawing_at_1x_2x_3x_gives_the_same_maps_up_to_scale(monkeypatch):
    """Scales in the ratio of the resolutions, so the network sees the same image; skeletons that
    agree once brought to 1 x (and do not without the scale); widths k times larger. The target
    is set to the 4 px that the stand-in network is right for."""
    monkeypatch.setattr(scale_module, "TARGET_WIDTH", 4.0)
    width_rule = {"device": "cpu", "glyph_size": None}  # (the size rule is tested apart)
    res = {k: Predictor(tiny(), **width_rule).predict_many([drawing(k)])[0] for k in (1, 2, 3)}
    assert 6.5 <= res[1].stroke_width <= 7.5 and res[1].scale == pytest.approx(
        scale_module.TARGET_WIDTH / res[1].stroke_width
    )
    seen = res[1].model_size
    for k in (2, 3):
        assert res[k].stroke_width / res[1].stroke_width == pytest.approx(k, rel=0.05)
        assert res[k].scale * k == pytest.approx(res[1].scale, rel=0.05)
        assert res[k].model_size == pytest.approx(seen, rel=0.05)  # the network sees one size
    ridge = RidgeNet()
    auto, fixed = Predictor(ridge, **width_rule), Predictor(ridge, device="cpu", scale=1.0)
    one = auto.predict(drawing(1))
    ink = drawing(1) < 0.5
    for k in (2, 3):
        maps = auto.predict(drawing(k))
        assert agreement(shrink(maps["skeleton"], k) >= 0.5, one["skeleton"] >= 0.5) > 0.9
        unscaled = shrink(fixed.predict(drawing(k))["skeleton"], k) >= 0.5
        assert agreement(unscaled, one["skeleton"] >= 0.5) < 0.8
        width = np.median(shrink(maps["width"], k)[ink])
        assert width == pytest.approx(k * np.median(one["width"][ink]), rel=0.05)


def test_at_the_default_target_2x_and_3x_are_brought_to_the_1x_scale():
    """Strokes 7 px wide at 1 x are over the 5 px target at every k, and the drawing (about 110
    px) over GLYPH_SIZE: the network sees one size (within the estimates' errors, 0.9 px of width
    at 3 x, and rounding)."""
    res = {k: Predictor(tiny(), device="cpu").predict_many([drawing(k)])[0] for k in (1, 2, 3)}
    width = res[1].stroke_width
    assert res[1].scale == choose_scale(width, False, glyph_size(drawing(1), width))
    assert res[1].scale < 5.0 / width < 1  # the size rule: 62 / 112 px
    for k in (2, 3):
        assert res[k].scale * k == pytest.approx(res[1].scale, rel=0.05)
        assert res[k].model_size == pytest.approx(res[1].model_size, rel=0.07)


def test_a_shrunk_image_keeps_its_model_sized_maps_for_the_tracer():
    # tiled or not, the maps at the network's size are kept where the image was shrunk, and they
    # are what the input-sized maps were made from (the same numbers, to the bit)
    predictor = Predictor(tiny(), device="cpu", scale=0.5, tile=32, frame=None)
    image = drawing(1)
    for settings in ({"tile": 32}, {}):
        result = Predictor(tiny(), device="cpu", scale=0.5, **settings).predict_many([image])[0]
        assert (result.tiles > 1) == bool(settings) and result.model_size == (48, 64)
        model = result.model_maps
        assert model is not None and model["skeleton"].shape == (48, 64)
        # a tiled page's input-sized maps are made only when asked for: tracing never asks
        lazy = isinstance(result.maps, InputMaps)
        assert lazy == bool(settings) and result.size == image.shape
        trace_prediction(result)
        assert not lazy or not result.maps.ready
        assert model["tangent"].shape == (2, 48, 64)
        assert np.allclose(np.linalg.norm(model["tangent"], axis=0), 1.0, atol=1e-4)
        back = to_input(model, image.shape)
        for name in KEYS - {"tangent"}:
            assert np.array_equal(back[name], result.maps[name]), name
        assert np.abs(back["tangent"] - result.maps["tangent"]).max() < 1e-6  # (unit twice)
        if lazy:  # made a few model rows at a time: the same bits as all rows at once
            assert isinstance(result.maps, InputMaps) and result.maps.ready
            few = InputMaps(model, image.shape)
            few.BAND = 5
            for name in KEYS:
                assert np.array_equal(few[name], result.maps[name]), name
    unscaled = predictor.predict_many([image])
    assert Predictor(tiny(), device="cpu", scale=1.0).predict_many([image])[0].model_maps is None
    assert unscaled[0].model_maps is not None


def test_maps_are_brought_back_in_input_pixels():
    maps = {
        "width": torch.full((1, 50, 60), 3.0),
        "offset": torch.tensor([1.0, -2.0]).view(2, 1, 1).expand(2, 50, 60),
        "tangent": torch.tensor([0.6, 0.0]).view(2, 1, 1).expand(2, 50, 60),
        "skeleton": torch.full((1, 50, 60), 0.25),
    }
    out = to_input(maps, (100, 150))  # y twice, x 2.5 times as many pixels
    assert out["width"].shape == (100, 150) and out["offset"].shape == (2, 100, 150)
    assert np.allclose(out["width"], 3.0 * math.sqrt(2 * 2.5))
    assert np.allclose(out["offset"][0], 2.5) and np.allclose(out["offset"][1], -4.0)
    assert np.allclose(out["tangent"][0], 1.0) and np.allclose(out["skeleton"], 0.25)


# ----------------------------------------------------------------------------- tiling
def test_tiles_cover_the_image_with_the_overlap_and_weights_sum_to_one():
    assert tile_starts(100, 128, 32) == [0]
    starts = tile_starts(300, 64, 16)
    assert starts[0] == 0 and starts[-1] == 300 - 64
    assert all(16 <= a + 64 - b < 64 for a, b in zip(starts, starts[1:]))
    st = Stitcher(150, 170, 64, 16, 4)
    total = np.zeros((150, 170), np.float32)
    for t in st.tiles:
        w = st.weights(t)
        assert (w >= 0).all() and (w <= 1).all()
        total[t.slices] += w
    assert (total > 0.5).all()
    assert len(plan_tiles(150, 170, 64, 16)) == len(st.tiles) == 3 * 4
    # no longer than the overlap needs: three of 61 px cover 150 px, four of 55 px cover 170 px
    assert {(t.height, t.width) for t in st.tiles} == {(61, 55)}
    assert {(t.height, t.width) for t in plan_tiles(150, 170, 64, 16, multiple=8)} == {(64, 56)}
    assert tile_length(1760, 512, 64, 8) == 488 and tile_length(1232, 512, 64, 8) == 456
    assert tile_length(500, 512, 64, 8) == 500  # one tile: the whole axis


def test_fitted_tiles_always_cover_with_the_overlap_and_never_exceed_the_tile():
    for tile in (16, 64, 96, 512):
        for multiple in (1, 8):
            for overlap in (0, tile // 8, tile // 2):
                for length in range(1, 3 * tile + 2, 7):
                    size = tile_length(length, tile, overlap, multiple)
                    starts = tile_starts(length, tile, overlap, multiple)
                    assert size <= tile and starts[0] == 0 and starts[-1] + size == length
                    gaps = [a + size - b for a, b in zip(starts, starts[1:])]
                    assert all(g >= overlap for g in gaps), (tile, multiple, overlap, length)
                    if length > tile:  # as many tiles as square ones of ``tile`` px need
                        want = max(math.ceil((length - overlap) / (tile - overlap)), 2)
                        assert len(starts) == want, (tile, multiple, overlap, length)


def test_a_blend_taken_in_bands_is_the_whole_blend_to_the_bit():
    rng = np.random.default_rng(7)
    whole, banded = Stitcher(300, 170, 64, 16, 4), Stitcher(300, 170, 64, 16, 4)
    outputs = [{"a": rng.random((2, t.height, t.width), dtype=np.float32)} for t in whole.tiles]
    for t, maps in zip(whole.tiles, outputs):
        whole.add(t, maps)
    bands, starts = [], banded.row_starts()
    for k, y in enumerate(starts):
        for t, maps in zip(banded.tiles, outputs):
            if t.y == y:
                banded.add(t, maps)
        bands.append(banded.take(starts[k + 1] if k + 1 < len(starts) else 300)["a"])
        held = banded._weight.shape[0]
        assert held <= 64  # never more than one row of tiles
    np.testing.assert_array_equal(np.concatenate(bands, axis=1), whole.result()["a"])
    with pytest.raises(ValueError, match="after rows up to 300"):
        banded.add(banded.tiles[0], outputs[0])


def test_a_blend_taken_into_the_callers_rows_is_the_same_blend():
    rng = np.random.default_rng(9)
    given, fresh = Stitcher(300, 170, 64, 16, 4), Stitcher(300, 170, 64, 16, 4)
    outputs = [{"a": rng.random((2, t.height, t.width), dtype=np.float32)} for t in given.tiles]
    result = np.full((2, 300, 170), np.nan, np.float32)
    starts = given.row_starts()
    for k, y in enumerate(starts):
        for t, maps in zip(given.tiles, outputs):
            if t.y == y:
                given.add(t, maps)
                fresh.add(t, maps)
        below = starts[k + 1] if k + 1 < len(starts) else 300
        rows = slice(given.top, below)
        band = given.take(below, {"a": result[:, rows]})
        assert band["a"].base is result and given.channels() == {"a": 2}
        np.testing.assert_array_equal(band["a"], fresh.take(below)["a"])
    assert not np.isnan(result).any()


@pytest.mark.parametrize("scale", [1.0, 0.6])
def test_a_tiled_image_is_blended_into_its_result_to_the_bit(scale):
    """The pipeline blends a tiled image straight into its result, a row of tiles at a time: the
    same numbers as blending it whole, renormalising the tangent (the model-sized maps of a
    shrunk image) and mapping it to the input."""
    image = lines(5, 0.4, size=300)
    predictor = Predictor(tiny(), device="cpu", tile=128, scale=scale, frame=None)
    got = predictor.predict_many([image])[0]
    assert got.tiles >= 4
    job = predictor._job(image, 0)
    for y in job.stitcher.row_starts():  # the same forward passes, then the whole blend
        row = [(job, t) for t in job.stitcher.tiles if t.y == y]
        step = predictor.per_pass(row[0][1].height, row[0][1].width)
        for start in range(0, len(row), step):
            predictor._forward(row[start : start + step])
    whole = job.stitcher.result()
    whole["tangent"] = unit(whole["tangent"])
    if scale != 1.0:
        assert got.model_maps is not None and set(got.model_maps) == set(whole)
        for name, value in whole.items():
            np.testing.assert_array_equal(
                got.model_maps[name], value.reshape(got.model_maps[name].shape)
            )
    want = to_input(whole, image.shape)
    assert set(got.maps) == set(want)
    for name in want:
        np.testing.assert_array_equal(got.maps[name], want[name])


class _Counting:
    """A MapNet that counts the tiles it is shown."""

    def __init__(self, net):
        self.net, self.num_layers, self.tiles = net, net.num_layers, 0

    def __call__(self, batch):
        self.tiles += batch.shape[0]
        return self.net(batch)


def _sparse_page(noise: float = 0.0, faint: float = 0.0) -> np.ndarray:
    """A 600 x 700 page of exact white with a drawing in its top left corner (and, with
    ``faint``, a mark that much darker than the paper at the bottom right)."""
    page = np.ones((600, 700), np.float32)
    page[20:116, 30:158] = drawing(1, width=3.0)
    if faint:
        page[560:563, 600:680] -= np.float32(faint)
    if noise:
        page = np.clip(page + np.random.default_rng(0).normal(0, noise, page.shape), 0, 1)
    return page.astype(np.float32)


def test_blank_tiles_are_not_run_and_the_maps_stay_the_same_to_the_bit(monkeypatch):
    """Tiles of exact paper with no ink within BLANK_REACH px take the maps of a tile of one grey,
    computed once: the network sees a fraction of the tiles, and the maps are those of every tile
    run (one tile a pass, as on a CPU for tiles this size: a batch's other tiles move a tile's
    maps by up to 1e-3 here, through the convolutions' batch-size-dependent kernels)."""
    counting = _Counting(Predictor(tiny(), device="cpu", precision="fp32").net)
    fast = MapPredictor(counting, tile=128, scale=1.0, batch_size=1, frame=None)
    got = fast.predict_many([_sparse_page()])[0]
    assert got.tiles == 42 and got.blank >= 30
    assert counting.tiles == got.tiles - got.blank + 1  # one more: the blank grey's, once
    monkeypatch.setattr(pipeline, "SKIP_BLANK", False)
    counting.tiles = 0
    want = fast.predict_many([_sparse_page()])[0]
    assert counting.tiles == want.tiles == 42 and want.blank == 0
    assert set(got.maps) == set(want.maps)
    for name in want.maps:
        np.testing.assert_array_equal(got.maps[name], want.maps[name])


@pytest.mark.parametrize("noise, faint", [(0.01, 0.0), (0.0, 1 / 255)])
def test_noisy_paper_and_faint_marks_are_never_blank(noise, faint):
    """Paper noise (a tile's GroupNorm would lift it) and a mark 1 grey level darker than the
    paper keep their tiles, and the tiles around them, in the network."""
    predictor = Predictor(tiny(), device="cpu", tile=128, scale=1.0, frame=None)
    got = predictor.predict_many([_sparse_page(noise, faint)])[0]
    if noise:
        assert got.blank == 0
    else:
        clean = predictor.predict_many([_sparse_page()])[0]
        assert 0 < got.blank < clean.blank  # the tiles within reach of the mark are run


@pytest.mark.parametrize(
    "model, size", [((37, 23), (100, 61)), ((90, 40), (31, 17)), ((50, 9), (50, 9))]
)
def test_maps_mapped_to_the_input_in_bands_equal_the_whole_mapping_to_the_bit(model, size):
    rng = np.random.default_rng(8)
    maps = {
        name: rng.normal(0, 1, (c, *model)).astype(np.float32)
        for name, c in (("skeleton", 1), ("tangent", 2), ("width", 1), ("offset", 2))
    }
    want = to_input(maps, size)
    for cuts in ([], [1], [5, 6, 7, 30], list(range(1, model[0]))):
        mapper = ToInput(model, size)
        edges = [0, *[c for c in cuts if c < model[0]], model[0]]
        for a, b in zip(edges, edges[1:]):
            mapper.add({name: v[:, a:b] for name, v in maps.items()})
            assert all(v.shape[1] <= 2 + b - a for v in mapper.kept.values())
        got = mapper.result()
        for name in maps:
            np.testing.assert_array_equal(got[name], want[name])


def test_to_input_maps_each_map_from_its_own_size_and_takes_two_dimensional_maps():
    rng = np.random.default_rng(10)
    a, b = rng.random((1, 6, 5), dtype=np.float32), rng.random((2, 3, 3), dtype=np.float32)
    out = to_input({"a": a, "b": b, "c": a[0]}, (6, 5))
    assert out["a"].shape == out["c"].shape == (6, 5) and out["b"].shape == (2, 6, 5)
    np.testing.assert_array_equal(out["a"], a[0])
    np.testing.assert_array_equal(out["c"], a[0])
    np.testing.assert_array_equal(out["b"], to_input({"b": b}, (6, 5))["b"])
    with pytest.raises(ValueError, match="must be \\(C, h, w\\) or \\(h, w\\)"):
        to_input({"d": np.zeros(4, np.float32)}, (6, 5))


def test_a_tall_page_is_predicted_in_bounded_memory():
    """The maps of a 4096 x 128 px image through 64 px tiles: the peak of the prediction's
    allocations beyond the image stays within 1.25x the result's own size (8 float32 channels
    per pixel): 1.07x measured; holding the blend whole, as before, took 2.63x."""

    class Eight:
        num_layers = 2

        def __call__(self, batch):
            b, _, h, w = batch.shape
            full = np.broadcast_to(batch, (b, 2, h, w))
            return {
                "skeleton": batch[:, 0],
                "keypoints": full,
                "tangent": full,
                "width": batch[:, 0],
                "offset": full,
            }

    image = np.random.default_rng(9).random((4096, 128), dtype=np.float32)
    predictor = MapPredictor(Eight(), scale=1.0, tile=64, frame=None)
    tracemalloc.start()
    try:
        maps = predictor.predict(image)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    result = sum(v.nbytes for v in maps.values())
    assert result == 8 * 4 * 4096 * 128
    assert peak < 1.25 * result + image.nbytes
    np.testing.assert_allclose(maps["skeleton"], image, atol=1e-6)


def mosaic_image():
    """184 x 168 px of scattered strokes (3 x 3 tiles of 64 px with 16 px overlap)."""
    rng = np.random.default_rng(1)
    im = Image.new("L", (168, 184), 255)
    d = ImageDraw.Draw(im)
    for _ in range(14):
        d.line([tuple(rng.uniform(0, 180, 2)) for _ in range(3)], fill=0, width=3, joint="curve")
    return np.asarray(im, np.float32) / 255.0


def test_tiles_blend_without_seams():
    """With normalisation statistics that do not depend on the tile (BatchNorm in eval mode) tiled
    and untiled maps agree: all that differs is the context beyond each tile's margin."""
    img = mosaic_image()
    model = tiny(norm="batch")
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):  # statistics as after training, not the identity
            m.running_mean.uniform_(-0.2, 0.2, generator=torch.Generator().manual_seed(0))
            m.running_var.uniform_(0.5, 2.0, generator=torch.Generator().manual_seed(1))
    whole = Predictor(model, device="cpu", scale=1.0, tile=512).predict(img)
    result = Predictor(
        model, device="cpu", scale=1.0, tile=64, overlap=32, frame=None
    ).predict_many([img])[0]
    assert result.tiles == 25
    for name in KEYS:  # a seam would differ by tenths; the context beyond 8 px, by thousandths
        assert np.abs(result.maps[name] - whole[name]).max() < 3e-3, name


def test_groupnorm_tiles_differ_from_the_whole_image_only_as_measured():
    """GroupNorm normalises each tile by the tile's own statistics, so tiling changes the maps
    somewhat (docs/using.md, *Tiling*). Here, with the random tiny model on 64 px tiles, the
    skeleton probability moves by 1.5e-3 on average and at most 0.11, the keypoints by 8e-4 and
    0.08 (measured); the bounds leave 2x room. The test above shows the blend itself is seamless."""
    img = mosaic_image()
    model = tiny()
    whole = Predictor(model, device="cpu", scale=1.0, tile=512).predict(img)
    out = Predictor(model, device="cpu", scale=1.0, tile=64, overlap=32, frame=None).predict(img)
    for name in ("skeleton", "keypoints"):
        diff = np.abs(out[name] - whole[name])
        assert diff.mean() < 3e-3 and diff.max() < 0.2, name


def test_light_ink_on_dark_paper_with_invert(tmp_path, checkpoint, capsys):
    Image.fromarray((drawing(1) * 255).astype(np.uint8)).save(tmp_path / "dark.png")
    Image.fromarray(255 - (drawing(1) * 255).astype(np.uint8)).save(tmp_path / "light.png")
    argv = ["predict", "--checkpoint", str(checkpoint), "--output", str(tmp_path / "o")]
    assert inktrace_main([*argv, str(tmp_path / "dark.png")]) == 0
    assert inktrace_main([*argv, "--invert", str(tmp_path / "light.png")]) == 0
    capsys.readouterr()
    with np.load(tmp_path / "o/dark.npz") as dark, np.load(tmp_path / "o/light.npz") as light:
        for name in KEYS:
            assert np.allclose(dark[name], light[name], atol=1e-5), name


# ----------------------------------------------------------------------------- Predictor
def test_predictor_gives_maps_of_the_input_size_for_any_size_and_scale(tmp_path):
    model = tiny()
    img = np.random.default_rng(0).random((37, 53)).astype(np.float32)
    for settings in ({}, {"scale": 0.5}, {"scale": 1.7}, {"tile": 16, "overlap": 4}):
        maps = Predictor(model, device="cpu", **settings).predict(img)
        assert set(maps) == KEYS
        shapes = {name: a.shape[-2:] for name, a in maps.items()}
        assert set(shapes.values()) == {(37, 53)}
        assert maps["keypoints"].shape == (2, 37, 53) and maps["skeleton"].shape == (37, 53)
        assert np.allclose(np.linalg.norm(maps["tangent"], axis=0), 1.0, atol=1e-4)
    Image.fromarray((img * 255).astype(np.uint8)).save(tmp_path / "x.png")
    from_file = Predictor(model, device="cpu").predict(tmp_path / "x.png")
    assert from_file["skeleton"].shape == (37, 53)


def test_an_untiled_unscaled_image_gives_exactly_what_model_predict_gives():
    model = tiny()
    img = drawing(1, width=3.0)  # (about 110 px across: the size rule would shrink it)
    result = Predictor(model, device="cpu", scale=1.0).predict_many([img])[0]
    assert result.scale == 1.0 and result.tiles == 1
    reference = model.predict(img)
    for name in KEYS:
        assert np.array_equal(result.maps[name], reference[name][0]), name


def _gray(dtype: type) -> np.ndarray:
    """drawing(1) as an array of ``dtype`` (bool: ink where darker than half)."""
    img = drawing(1, width=3.0)
    if dtype is np.uint8:
        return np.round(img * 255).astype(np.uint8)
    if dtype is np.uint16:
        return np.round(img * 65535).astype(np.uint16)
    return (img >= 0.5) if dtype is bool else img.astype(dtype)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32, np.float64, bool])
def test_both_entry_points_read_every_dtype_alike_and_give_identical_maps(dtype):
    """One value rule (inktrace/pixels.py) and one prediction step (InkTraceNet.maps): the same
    array through model.predict and an untiled Predictor at scale 1 gives bit-identical maps,
    and those of the array divided as the rule says (uint8 /255, uint16 /65535, bool 0/1)."""
    model = tiny()
    img = _gray(dtype)
    scale = {np.uint8: 255.0, np.uint16: 65535.0}.get(dtype, 1.0)
    as_float = (img.astype(np.float32) / np.float32(scale)).astype(np.float32)
    predictor = Predictor(model, device="cpu", scale=1.0, tile=512)  # channels-last, in place
    tiled = predictor.predict_many([img])[0]
    direct = model.predict(img)
    assert tiled.tiles == 1 and tiled.scale == 1.0
    reference = model.predict(as_float)
    for name in KEYS:
        assert np.array_equal(tiled.maps[name], direct[name][0]), name
        assert np.array_equal(direct[name], reference[name]), name
    if dtype is np.uint16:  # the 16-bit rule, not the 8-bit one: paper stays paper
        assert np.array_equal(
            model.predict(np.full((8, 8), 65535, np.uint16))["skeleton"],
            model.predict(np.ones((8, 8), np.float32))["skeleton"],
        )


@pytest.mark.parametrize(
    "bad, words",
    [
        (np.full((8, 8), np.nan, np.float32), "values must be finite"),
        (np.full((8, 8), np.inf), "values must be finite"),
        (np.full((8, 8), 1.5), r"float values must be in \[0, 1\] \(found 1.5 to 1.5\)"),
        (np.full((8, 8), -0.25, np.float32), r"must be in \[0, 1\] \(found -0.25"),
        (np.zeros((8, 8), np.int64), "unsupported dtype int64 \\(uint8, uint16, bool or float\\)"),
        (np.zeros((8, 8), np.complex64), "unsupported dtype complex64"),
        (np.zeros((1, 1, 1, 8, 8), np.float32), "expected"),
        (np.zeros(8, np.float32), "expected"),
        (np.zeros((0, 8), np.uint8), "empty"),
    ],
)
def test_both_entry_points_refuse_the_same_arrays_with_one_line_image_errors(bad, words):
    model = tiny()
    for entry in (model.predict, Predictor(model, device="cpu", scale=1.0).predict):
        with pytest.raises(ImageError, match=words) as info:
            entry(bad)
        assert "\n" not in str(info.value) and str(info.value).startswith("images"), entry
    assert issubclass(ImageError, ValueError)  # what model.predict raised before: still caught


def test_tensors_read_as_arrays_through_both_entry_points():
    model = tiny()
    img = _gray(np.float32)
    predictor = Predictor(model, device="cpu", scale=1.0, tile=512)
    from_tensor = predictor.predict(torch.from_numpy(img).to(torch.bfloat16))
    from_array = predictor.predict(torch.from_numpy(img).to(torch.bfloat16).float().numpy())
    direct = model.predict(torch.from_numpy(img).to(torch.bfloat16))
    for name in KEYS:
        assert np.array_equal(from_tensor[name], from_array[name]), name
        assert np.array_equal(from_tensor[name], direct[name][0]), name


def test_structural_models_give_their_two_maps_and_a_panel():
    model = tiny(full_heads=False)
    img = drawing(1)
    maps = Predictor(model, device="cpu").predict(img)
    assert set(maps) == {"skeleton", "tangent"}
    panel = prediction_panel(img, maps)
    assert panel.dtype == np.uint8 and panel.shape[-1] == 3


def test_predictor_refuses_bad_settings():
    for settings, words in [
        ({"scale": 0}, "scale"),
        ({"tile": 8}, "tile"),
        ({"tile": 64, "overlap": 40}, "overlap"),
        ({"batch_size": 0}, "batch_size"),
        ({"batch_pixels": 0}, "batch_pixels"),
        ({"device": "gpu7"}, "unknown device"),
    ]:
        with pytest.raises(ValueError, match=words):
            Predictor(tiny(), **settings)


def test_forward_passes_are_capped_in_tiles_and_in_pixels():
    shapes = []

    class Counting:
        num_layers = 2

        def __call__(self, batch):
            shapes.append(batch.shape)
            return {"skeleton": batch[:, 0] * 0.5}

    cpu = Predictor(tiny(), device="cpu")
    assert (cpu.batch_size, cpu.batch_pixels) == (16, 512 * 512)
    assert [cpu.per_pass(s, s) for s in (64, 128, 256, 512, 1024)] == [16, 16, 4, 1, 1]
    assert MapPredictor(Counting(), batch_size=3, batch_pixels=None).per_pass(512, 512) == 3
    assert MapPredictor(Counting(), batch_pixels="auto").batch_pixels == 512 * 512
    for bad in ("bogus", 0, 2.5, True):
        with pytest.raises(ValueError, match="batch_pixels must be a positive integer"):
            MapPredictor(Counting(), batch_pixels=bad)
    glyphs = [np.full((64, 64), 0.9, np.float32)] * 37
    MapPredictor(Counting(), scale=1.0).predict_many(glyphs)
    assert [s[0] for s in shapes] == [16, 16, 5]
    shapes.clear()
    page = MapPredictor(Counting(), scale=1.0, tile=128, batch_pixels=2 * 128 * 128, frame=None)
    paper = np.random.default_rng(0).uniform(0.8, 1.0, (300, 300)).astype(np.float32)  # no blank
    out = page.predict_many([paper])[0]
    assert out.tiles == 9 and [s[0] for s in shapes] == [2, 1] * 3  # a row of tiles at a time
    np.testing.assert_allclose(out.maps["skeleton"], 0.5 * paper, atol=1e-6)  # the blend
    shapes.clear()
    out = page.predict_many([np.full((300, 300), 0.9, np.float32)])[0]  # blank: one grey's pass
    assert (out.tiles, out.blank) == (9, 9) and [s[0] for s in shapes] == [1]
    np.testing.assert_allclose(out.maps["skeleton"], 0.45, atol=1e-6)


def test_bf16_maps_come_back_as_float32_close_to_fp32(tmp_path, checkpoint, capsys):
    img = drawing(1)
    want = Predictor(tiny(), device="cpu").predict(img)
    got = Predictor(tiny(), device="cpu", precision="bf16").predict(img)
    for name in KEYS:
        assert got[name].dtype == np.float32
        assert not np.array_equal(got[name], want[name])  # it did run in bfloat16
    assert np.abs(got["skeleton"] - want["skeleton"]).max() < 0.05
    with pytest.raises(ValueError, match="precision must be one of auto, fp32, bf16, got 'fp16'"):
        Predictor(tiny(), device="cpu", precision="fp16")
    Image.fromarray((img * 255).astype(np.uint8)).save(tmp_path / "a.png")
    argv = ["predict", str(tmp_path / "a.png"), "--checkpoint", str(checkpoint)]
    assert inktrace_main([*argv, "--output", str(tmp_path / "o"), "--precision", "bf16"]) == 0
    assert inktrace_main([*argv, "--output", str(tmp_path / "p"), "--precision", "fp16"]) == 2
    err = capsys.readouterr().err
    assert err.strip().endswith("--precision fp16: expected auto, fp32 or bf16")
    assert not (tmp_path / "p").exists()


@pytest.mark.parametrize("major, want", [(7, "fp32"), (8, "bf16"), (9, "bf16")])
def test_auto_precision_on_cuda_is_bf16_from_ampere_on(major, want, monkeypatch):
    """A T4 or V100 (compute capability 7) only emulates bfloat16: auto is fp32 there."""
    from types import SimpleNamespace

    from inktrace.devices import inference_precision

    monkeypatch.setattr(torch.version, "hip", None, raising=False)
    props = SimpleNamespace(major=major)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda device: props)
    assert inference_precision("auto", torch.device("cuda")) == want
    assert inference_precision("fp32", torch.device("cuda")) == "fp32"


@pytest.mark.parametrize("native", [True, False])
def test_auto_precision_is_bf16_only_where_the_cpu_runs_it_natively(
    native, tmp_path, checkpoint, monkeypatch
):
    """``auto`` (the command line's default; the API's is fp32, InkTraceNet.predict's maps) is
    bf16 on a CPU with bfloat16 instructions and fp32 elsewhere, decided when the net is built."""
    import inktrace.devices

    monkeypatch.setattr(inktrace.devices, "cpu_has_bf16", lambda: native)
    img = drawing(1)
    want = {p: Predictor(tiny(), device="cpu", precision=p).predict(img) for p in ("fp32", "bf16")}
    auto = Predictor(tiny(), device="cpu", precision="auto")
    assert auto.precision == ("bf16" if native else "fp32")
    assert Predictor(tiny(), device="cpu").precision == "fp32"
    got = auto.predict(img)
    for name in KEYS:
        np.testing.assert_array_equal(got[name], want["bf16" if native else "fp32"][name])
    Image.fromarray((img * 255).astype(np.uint8)).save(tmp_path / "a.png")
    out = tmp_path / "o"
    argv = ["predict", str(tmp_path / "a.png"), "--checkpoint", str(checkpoint), "--output"]
    assert inktrace_main([*argv, str(out)]) == 0
    assert inktrace_main([*argv, str(tmp_path / "p"), "--precision", "auto"]) == 0
    assert inktrace_main([*argv, str(tmp_path / "q"), "--precision", "bf16"]) == 0
    assert inktrace_main([*argv, str(tmp_path / "r"), "--precision", "fp32"]) == 0
    default, auto_maps = np.load(out / "a.npz"), np.load(tmp_path / "p" / "a.npz")
    same = np.load(tmp_path / ("q" if native else "r") / "a.npz")
    other = np.load(tmp_path / ("r" if native else "q") / "a.npz")
    np.testing.assert_array_equal(default["skeleton"], same["skeleton"])
    np.testing.assert_array_equal(auto_maps["skeleton"], same["skeleton"])
    assert not np.array_equal(default["skeleton"], other["skeleton"])


# ----------------------------------------------------------------------------- command line
def test_predict_writes_npz_at_the_input_size_and_a_panel(tmp_path, checkpoint, capsys):
    Image.fromarray((drawing(1) * 255).astype(np.uint8)).convert("RGB").save(tmp_path / "a.png")
    Image.fromarray((drawing(1)[:37, :53] * 255).astype(np.uint8)).save(tmp_path / "b.jpg")
    out = tmp_path / "out"
    argv = ["predict", str(tmp_path / "a.png"), "--checkpoint", str(checkpoint)]
    status = inktrace_main(argv + ["--output", str(out), str(tmp_path / "b.jpg"), "--visualize"])
    stdout, stderr = capsys.readouterr()
    assert status == 0 and stderr == ""
    assert stdout.count("wrote") == 2 and "stroke width" in stdout
    with np.load(out / "a.npz") as a, np.load(out / "b.npz") as b:
        assert set(a.files) == set(b.files) == KEYS
        assert a["skeleton"].shape == (96, 128) and a["offset"].shape == (2, 96, 128)
        assert b["skeleton"].shape == (37, 53) and b["keypoints"].shape == (2, 37, 53)
        assert a["skeleton"].dtype == np.float32
    panel = Image.open(out / "a.panel.png")
    assert panel.mode == "RGB" and panel.height == 96 * 2 and panel.width > 5 * 128 * 2


def test_an_output_never_overwrites_an_input(tmp_path, checkpoint, capsys):
    Image.fromarray((drawing(1) * 255).astype(np.uint8)).save(tmp_path / "a.png")
    (tmp_path / "a.panel.png").write_bytes((tmp_path / "a.png").read_bytes())
    before = (tmp_path / "a.panel.png").read_bytes()
    argv = ["predict", "--checkpoint", str(checkpoint), "--output", str(tmp_path), "--visualize"]
    status = inktrace_main(argv + [str(tmp_path / "a.png"), str(tmp_path / "a.panel.png")])
    stderr = capsys.readouterr().err
    assert status == 2 and "a.png: its output" in stderr and "would overwrite an input" in stderr
    assert (tmp_path / "a.panel.png").read_bytes() == before  # the input is untouched
    assert (tmp_path / "a.panel.npz").is_file()  # the other image was still predicted


def test_bad_images_are_one_line_each_and_the_good_one_is_still_written(
    tmp_path, checkpoint, capsys
):
    bad = bad_files(tmp_path)
    Image.fromarray((drawing(1) * 255).astype(np.uint8)).save(tmp_path / "good.png")
    images = [str(p) for p, _ in bad.values()] + [str(tmp_path / "good.png")]
    out = tmp_path / "out"
    status = inktrace_main(
        ["predict", "--checkpoint", str(checkpoint), "--output", str(out), *images]
    )
    stdout, stderr = capsys.readouterr()
    assert status == 2
    lines_ = stderr.strip().splitlines()
    assert len(lines_) == len(bad)
    for line, (key, (path, words)) in zip(lines_, bad.items()):
        if key == "folder":  # a folder is an IMAGE argument: its images (cli/inputs.py)
            words = "a folder without images"
        assert line.startswith(f"inktrace predict: error: {path}: ") and words in line
    assert (out / "good.npz").exists() and "good.npz" in stdout


@pytest.mark.parametrize(
    "extra, words",
    [
        (["--checkpoint", "nowhere.ckpt"], "nowhere.ckpt: no such checkpoint file"),
        (["--checkpoint", "CKPT", "--scale", "big"], "--scale big: expected 'auto' or a positive"),
        (["--checkpoint", "CKPT", "--device", "cuda:99"], "device: cuda:99 requested"),
        (["--checkpoint", "CKPT", "--tile", "4"], "--tile 4: must be at least 16"),
        (["--checkpoint", "CKPT", "--tiles", "4"], "unknown option '--tiles' (did you mean"),
    ],
)
def test_bad_command_lines_exit_2_with_one_line(tmp_path, checkpoint, capsys, extra, words):
    Image.fromarray(np.full((20, 20), 255, np.uint8)).save(tmp_path / "x.png")
    extra = [str(checkpoint) if a == "CKPT" else a for a in extra]
    status = inktrace_main(["predict", str(tmp_path / "x.png"), "--output", str(tmp_path), *extra])
    _, stderr = capsys.readouterr()
    assert status == 2 and stderr.count("\n") == 1 and words in stderr
    assert not (tmp_path / "x.npz").exists()


def test_same_stem_twice_is_refused_for_the_second(tmp_path, checkpoint, capsys):
    for sub in ("p", "q"):
        (tmp_path / sub).mkdir()
        Image.fromarray(np.full((20, 20), 255, np.uint8)).save(tmp_path / sub / "x.png")
    argv = ["predict", "--checkpoint", str(checkpoint), "--output", str(tmp_path / "o")]
    status = inktrace_main(argv + [str(tmp_path / "p/x.png"), str(tmp_path / "q/x.png")])
    _, stderr = capsys.readouterr()
    assert status == 2 and "q/x.png: same output" in stderr and (tmp_path / "o/x.npz").exists()


@pytest.mark.parametrize(
    "size,to",
    [((64, 64), (40, 40)), ((300, 217), (123, 90)), ((100, 80), (100, 50)), ((37, 53), (80, 120))],
)
def test_the_numpy_resampling_is_torchs_bilinear(size, to):
    """resample.py (NumPy and Pillow, so that tracing needs no PyTorch) gives what
    torch.nn.functional.interpolate gave: antialiased when shrinking the image, plain bilinear at
    pixel centres bringing maps back."""
    from inktrace.inference.resample import bilinear, to_model

    rng = np.random.default_rng(0)
    image = rng.random(size).astype(np.float32)
    shrink = to[0] < size[0] or to[1] < size[1]
    want = torch.nn.functional.interpolate(
        torch.from_numpy(image)[None, None], size=to, mode="bilinear", antialias=shrink
    )[0].clamp(0, 1)
    assert np.abs(to_model(image, to) - want.numpy()).max() < 1e-5
    maps = rng.random((2, *size)).astype(np.float32)
    want = torch.nn.functional.interpolate(torch.from_numpy(maps)[None], size=to, mode="bilinear")
    # torch rounds the interpolation weights to float32, resample.py computes them in float64
    assert np.abs(bilinear(maps, to) - want[0].numpy()).max() < 5e-5


def test_scales_measured_elsewhere_are_used_as_given_and_checked():
    predictor = Predictor(tiny(), device="cpu")
    image = drawing(1)
    own = predictor.predict_many([image])[0]
    given = predictor.predict_many([image, image], [None, (0.5, 3.0)])
    assert (given[0].scale, given[0].stroke_width) == (own.scale, own.stroke_width)
    assert (given[1].scale, given[1].stroke_width, given[1].model_size) == (0.5, 3.0, (48, 64))
    with pytest.raises(ValueError, match="1 scales for 2 images"):
        predictor.predict_many([image, image], [None])
    with pytest.raises(ValueError, match=r"images\[0\]: scale must be a positive number"):
        predictor.predict_many([image], [(float("nan"), None)])


def _on_paper(image: np.ndarray, size: int, top: int, left: int) -> np.ndarray:
    page = np.ones((size, size), np.float32)
    page[top : top + image.shape[0], left : left + image.shape[1]] = image
    return page


def test_an_image_with_wide_margins_is_framed_around_its_ink():
    # the network sees a square frame around the ink (GroupNorm normalises over what it is
    # shown: wide margins of paper moved the maps): the maps there are the frame's own, to the
    # bit; around it the network's maps of paper; the strokes are the frame's, moved back
    from inktrace.inference.pipeline import FRAME, FRAME_PX

    glyph = drawing(1)  # 96 x 128 px of ink and its own margins
    image = _on_paper(glyph, 320, 150, 40)
    framed = Predictor(tiny(), device="cpu", scale=1.0)
    whole = Predictor(tiny(), device="cpu", scale=1.0, frame=None)
    box = framed._frame(image)
    assert box is not None
    (top, bottom), (left, right), grey = box
    assert bottom - top == right - left and grey == 1.0  # a square, as the training images are
    assert (bottom - top) % 16 == 0  # (frames of one size share forward passes)
    ink = np.argwhere(image < 0.5)
    side = int((ink.max(0) - ink.min(0)).max()) + 1
    margin = math.ceil(FRAME * side) + FRAME_PX
    assert top <= ink[:, 0].min() - margin and bottom >= ink[:, 0].max() + 1 + margin
    assert left <= ink[:, 1].min() - margin and right >= ink[:, 1].max() + 1 + margin
    got = framed.predict_many([image])[0]
    alone = whole.predict_many([image[top:bottom, left:right]])[0]
    assert got.model_size == (320, 320) and got.tiles == 1
    for name in KEYS:
        inside = got.maps[name][..., top:bottom, left:right]
        np.testing.assert_array_equal(inside, alone.maps[name])
        outside = got.maps[name].copy()
        outside[..., top:bottom, left:right] = np.nan
        values = outside.reshape(-1, 320 * 320)
        for row in values:  # one value per channel: the network's on paper
            kept = row[~np.isnan(row)]
            assert np.all(kept == kept[0]), name
    assert np.all(got.maps["skeleton"][:, :left] < 0.5)  # paper: no centreline
    shifted = [s.points + [left, top] for s in trace_prediction(alone)]
    traced = [s.points for s in trace_prediction(got)]
    assert len(traced) == len(shifted)
    for a, b in zip(traced, shifted):
        np.testing.assert_allclose(a, b, atol=1e-9)
    # not framed: frame=None, or where the frame would keep more than half of the image
    plain = whole.predict_many([image])[0]
    assert not np.array_equal(plain.maps["skeleton"], got.maps["skeleton"])
    assert framed._frame(glyph) is None and framed._frame(np.ones((200, 200), np.float32)) is None
    np.testing.assert_array_equal(
        framed.predict_many([glyph])[0].maps["skeleton"],
        whole.predict_many([glyph])[0].maps["skeleton"],
    )


@pytest.mark.parametrize("bad", [-0.1, float("nan"), float("inf"), True, "0.2"])
def test_a_bad_frame_is_a_value_error(bad):
    with pytest.raises(ValueError, match="frame must be"):
        Predictor(tiny(), device="cpu", frame=bad)


def _page_of_marks(size: int = 320) -> np.ndarray:
    """Four small crosses of 3 px strokes, far apart, on a white page."""
    im = Image.new("L", (size, size), 255)
    d = ImageDraw.Draw(im)
    for cx, cy in ((60, 60), (250, 70), (80, 240), (240, 250)):
        d.line([(cx - 15, cy), (cx + 15, cy)], fill=0, width=3)
        d.line([(cx, cy - 15), (cx, cy + 15)], fill=0, width=3)
    return np.asarray(im, np.float32) / 255.0


def test_a_page_is_framed_per_cluster_of_ink():
    # a page of several tiles, each cluster of ink (a character) in its own frame; a
    # pixel takes the maps of the frame it lies deepest in, the network's paper maps where no
    # frame reaches; the same maps as each frame run alone (one frame a pass: to the bit)
    page = _page_of_marks()
    framed = Predictor(tiny(), device="cpu", scale=1.0, tile=128, batch_size=1, frame_pages=True)
    got = framed.predict_many([page])[0]
    frames, grey = framed._page_frames(page)
    assert frames is not None and len(frames) == 4 and got.tiles == 4 and grey == 1.0
    alone = Predictor(tiny(), device="cpu", scale=1.0, frame=None)
    covered = np.zeros(page.shape, bool)
    for top, left, side, wide in frames:
        assert side == wide and side % 16 == 0 and side >= 64
        crop = page[top : top + side, left : left + side]
        assert (crop < 0.5).sum() == (page < 0.5)[top : top + side, left : left + side].sum()
        own = alone.predict_many([crop])[0].maps
        core = (
            slice(top + side // 4, top + 3 * side // 4),
            slice(left + side // 4, left + 3 * side // 4),
        )
        for name in KEYS:  # (the tangent renormalised once more: within 1e-6)
            np.testing.assert_allclose(
                got.maps[name][..., core[0], core[1]],
                own[name][..., side // 4 : 3 * side // 4, side // 4 : 3 * side // 4],
                rtol=0,
                atol=1e-6 if name == "tangent" else 0,
            )
        covered[top : top + side, left : left + side] = True
    assert (page[~covered] == 1.0).all()  # every mark is inside a frame
    skeleton = got.maps["skeleton"][~covered]
    assert np.all(skeleton == skeleton[0]) and skeleton[0] < 0.5  # paper, one value
    # shrunk: the framed maps are the model-sized ones, mapped to the input's pixels when read
    small = Predictor(tiny(), device="cpu", scale=0.8, tile=128, frame_pages=True)
    small = small.predict_many([page])[0]
    assert small.tiles == 4 and small.model_maps is not None
    assert isinstance(small.maps, InputMaps) and not small.maps.ready and small.size == (320, 320)
    back = to_input(small.model_maps, (320, 320))
    np.testing.assert_array_equal(small.maps["skeleton"], back["skeleton"])
    # in tiles instead: frame_pages=False, frame=None, or a cluster larger than a tile
    tiled = Predictor(tiny(), device="cpu", scale=1.0, tile=128, frame=None).predict_many([page])
    assert tiled[0].tiles > 4
    asked = Predictor(tiny(), device="cpu", scale=1.0, tile=128, frame_pages=False)
    np.testing.assert_array_equal(
        asked.predict_many([page])[0].maps["skeleton"], tiled[0].maps["skeleton"]
    )
    default = Predictor(tiny(), device="cpu", scale=1.0, tile=128).predict_many([page])[0]
    assert default.tiles == 4
    big = page.copy()
    big[20:300, 150:153] = 0.0  # a long stroke joins nothing but is larger than a tile
    frames, _ = framed._page_frames(big)
    assert frames is None
    assert framed.predict_many([big])[0].tiles == tiled[0].tiles


def _covered(frames, shape) -> np.ndarray:
    inside = np.zeros(shape, bool)
    for top, left, fh, fw in frames:
        inside[top : top + fh, left : left + fw] = True
    return inside


def test_frames_hold_all_the_ink_of_lines_and_faint_ink():
    # a line of characters on a strip lower than a frame: frames clipped to the strip, every
    # ink pixel inside one; a cluster longer than a tile (a line of joined writing): tiles; faint
    # ink (pencil, a hairline greyed by resampling) is framed like black ink
    predictor = Predictor(tiny(), device="cpu", scale=1.0)
    im = Image.new("L", (1400, 60), 255)
    d = ImageDraw.Draw(im)
    for k in range(20):
        cx = 35 + 68 * k
        d.line([(cx - 20, 30), (cx + 20, 30)], fill=0, width=3)
        d.line([(cx, 8), (cx, 52)], fill=96 if k % 2 else 0, width=3)
    strip = np.asarray(im, np.float32) / 255.0
    frames, _ = predictor._page_frames(strip)
    assert frames is not None and all(fh == 60 for _, _, fh, _ in frames)
    assert _covered(frames, strip.shape)[strip < 0.9].all()
    joined = strip.copy()
    joined[29:32, 10:1390] = 0.0  # one stroke joins them all: longer than a tile
    assert predictor._page_frames(joined)[0] is None
    page = np.ones((700, 1400), np.float32)
    page[100:140, 100:103] = page[120:123, 80:120] = 0.0  # black
    page[500:540, 1200:1203] = page[520:523, 1180:1220] = 0.6  # faint
    frames, grey = predictor._page_frames(page)
    assert frames is not None and len(frames) == 2 and grey == 1.0
    assert _covered(frames, page.shape)[page < 1.0].all()
    single = np.ones((400, 400), np.float32)
    single[50:90, 50:53] = 0.0
    single[300:340, 330:333] = 0.6
    box = predictor._frame(single)
    assert box is None or all(
        box[0][0] <= r < box[0][1] and box[1][0] <= c < box[1][1]
        for r, c in np.argwhere(single < 1.0)
    )


def test_a_faint_ruled_line_is_paper_to_the_frames_and_a_dark_one_sends_the_page_to_tiles():
    predictor = Predictor(tiny(), device="cpu", scale=1.0)
    page = _page_of_marks(700)
    page[380, :] = 0.8  # a notebook's ruled line: faint ink alone, long and thin
    frames, _ = predictor._page_frames(page)
    assert frames is not None and len(frames) == 4
    assert not _covered(frames, page.shape)[380].all()
    page[380, :] = 0.0  # dark: it may be a drawn line, and is longer than a tile
    assert predictor._page_frames(page)[0] is None


def test_screentone_runs_in_tiles_and_close_characters_are_framed():
    predictor = Predictor(tiny(), device="cpu", scale=1.0)
    # screentone: a dot every 24 px, each a cluster of its own; their frames would cover the
    # page many times over (PAGE_BUDGET), so it runs in tiles
    tone = np.ones((720, 720), np.float32)
    for r in range(12, 720, 24):
        for c in range(12, 720, 24):
            tone[r - 2 : r + 2, c - 2 : c + 2] = 0.0
    assert predictor._page_frames(tone)[0] is None
    # characters close together: their frames overlap, covering 1.2 times the page, and still
    # cost less than tiles would (about 1.3 times it): framed
    dense = Image.new("L", (700, 700), 255)
    d = ImageDraw.Draw(dense)
    for cy in range(28, 700, 56):
        for cx in range(28, 700, 56):
            d.line([(cx - 19, cy), (cx + 19, cy)], fill=0, width=3)
            d.line([(cx, cy - 19), (cx, cy + 19)], fill=0, width=3)
    frames, _ = predictor._page_frames(np.asarray(dense, np.float32) / 255.0)
    assert frames is not None and len(frames) == 144
    assert 1.0 < sum(fh * fw for _, _, fh, fw in frames) / 700**2 < PAGE_BUDGET
