"""``inktrace predict --maps-format npz16|png`` (inktrace/inference/mapfiles.py): the same maps as
the float32 npz, within each format's stated precision."""

import numpy as np
import pytest
from PIL import Image

from inktrace.cli.main import main as inktrace_main
from inktrace.inference.mapfiles import PNG_RANGES, map_suffixes, read_png_map, save_maps

STROKE_HEADS = ("ends", "identity")
DENSE = sorted(n for n in PNG_RANGES if n not in STROKE_HEADS)


def _glyph(path):
    a = np.full((160, 120), 255, np.uint8)
    a[20:140, 30:34] = 0
    a[80:84, 10:110] = 0
    for i in range(20, 140):
        a[i, 60 + i // 3 : 63 + i // 3] = 0
    Image.fromarray(a).save(path)


def _predict(tmp_path, capsys, formats, *extra):
    _glyph(tmp_path / "g.png")
    out = {}
    for fmt in formats:
        status = inktrace_main(
            ["predict", str(tmp_path / "g.png"), "--output", str(tmp_path / fmt),
             "--maps-format", fmt, *extra]
        )  # fmt: skip
        assert status == 0, capsys.readouterr().err
        out[fmt] = tmp_path / fmt
    return out


@pytest.fixture
def maps(tmp_path, capsys):
    return _predict(tmp_path, capsys, ("npz", "npz16", "png"))


def _assert_pngs_hold(folder, full, names):
    for name in names:
        channels, lo, hi = PNG_RANGES[name]
        values = full[name][None] if channels == 1 else full[name]
        assert len(values) == channels
        for c in range(channels):
            label = name if channels == 1 else f"{name}-{c}"
            with Image.open(folder / f"g.{label}.png") as image:
                assert image.mode.startswith("I") and image.size == (120, 160)
            stored = read_png_map(folder / f"g.{label}.png")
            expected = np.clip(values[c], lo, hi)
            assert np.abs(stored - expected).max() <= (hi - lo) / 65535 * 0.51 + 1e-6


def test_npz16_is_float16_smaller_and_within_its_precision(maps):
    full, half = np.load(maps["npz"] / "g.npz"), np.load(maps["npz16"] / "g.npz")
    assert sorted(full.files) == sorted(half.files) == DENSE
    for name in full.files:
        assert half[name].dtype == np.float16 and half[name].shape == full[name].shape
        np.testing.assert_allclose(half[name], full[name], rtol=1e-3, atol=1e-4)
    assert (maps["npz16"] / "g.npz").stat().st_size < 0.5 * (maps["npz"] / "g.npz").stat().st_size


def test_png_is_one_16_bit_file_per_channel_within_a_step(maps):
    full = np.load(maps["npz"] / "g.npz")
    names = sorted(p.name for p in maps["png"].iterdir())
    assert names == sorted("g" + s for s in map_suffixes("png")) and len(names) == 8
    _assert_pngs_hold(maps["png"], full, DENSE)


def test_the_stroke_heads_maps_are_written_as_png_too(tmp_path, capsys):
    """A model with the stroke heads adds ``ends`` and the 8 identity channels (it stopped on
    them with a traceback, leaving a few PNGs behind)."""
    out = _predict(tmp_path, capsys, ("npz", "png"), "--checkpoint", "inktrace-strokes")
    full = np.load(out["npz"] / "g.npz")
    assert sorted(full.files) == sorted(PNG_RANGES)
    assert len(list(out["png"].iterdir())) == 8 + 1 + 8
    _assert_pngs_hold(out["png"], full, sorted(PNG_RANGES))


def test_a_map_without_a_png_range_is_refused_before_any_file(tmp_path):
    with pytest.raises(ValueError, match="halo"):
        save_maps(tmp_path / "g", {"skeleton": np.zeros((4, 4)), "halo": np.zeros((4, 4))}, "png")
    assert not list(tmp_path.iterdir())


def test_an_unknown_maps_format_is_one_line(tmp_path, capsys):
    status = inktrace_main(["predict", "x.png", "--output", str(tmp_path), "--maps-format", "tif"])
    err = capsys.readouterr().err
    assert status == 2 and err.count("\n") == 1 and "--maps-format" in err and "tif" in err


def test_map_pngs_in_an_input_folder_are_not_taken_as_images(tmp_path, capsys):
    """The maps written as PNGs beside their image are outputs, not inputs: a rerun over the
    folder with --skip-existing skips the image and reads none of them (it traced the 8 maps
    as images, writing 64 files, and refused the image)."""
    folder = tmp_path / "scans"
    folder.mkdir()
    _glyph(folder / "g.png")
    args = ["predict", str(folder), "--output", str(folder), "--maps-format", "png"]
    assert inktrace_main(args) == 0
    before = sorted(p.name for p in folder.iterdir())
    assert len(before) == 1 + 8
    capsys.readouterr()
    assert inktrace_main([*args, "--skip-existing"]) == 0, capsys.readouterr().err
    assert sorted(p.name for p in folder.iterdir()) == before
