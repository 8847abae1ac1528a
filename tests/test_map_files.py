"""``inktrace predict --maps-format npz16|png`` (inktrace/inference/mapfiles.py): the same maps as
the float32 npz, within each format's stated precision."""

import numpy as np
import pytest
from PIL import Image

from inktrace.cli.main import main as inktrace_main
from inktrace.inference.mapfiles import PNG_RANGES, map_suffixes, read_png_map


@pytest.fixture
def maps(tmp_path, capsys):
    a = np.full((160, 120), 255, np.uint8)
    a[20:140, 30:34] = 0
    a[80:84, 10:110] = 0
    for i in range(20, 140):
        a[i, 60 + i // 3 : 63 + i // 3] = 0
    Image.fromarray(a).save(tmp_path / "g.png")
    out = {}
    for fmt in ("npz", "npz16", "png"):
        status = inktrace_main(
            ["predict", str(tmp_path / "g.png"), "--output", str(tmp_path / fmt),
             "--maps-format", fmt]
        )  # fmt: skip
        assert status == 0, capsys.readouterr().err
        out[fmt] = tmp_path / fmt
    return out


def test_npz16_is_float16_smaller_and_within_its_precision(maps):
    full, half = np.load(maps["npz"] / "g.npz"), np.load(maps["npz16"] / "g.npz")
    assert sorted(full.files) == sorted(half.files) == sorted(PNG_RANGES)
    for name in full.files:
        assert half[name].dtype == np.float16 and half[name].shape == full[name].shape
        np.testing.assert_allclose(half[name], full[name], rtol=1e-3, atol=1e-4)
    assert (maps["npz16"] / "g.npz").stat().st_size < 0.5 * (maps["npz"] / "g.npz").stat().st_size


def test_png_is_one_16_bit_file_per_channel_within_a_step(maps):
    full = np.load(maps["npz"] / "g.npz")
    names = sorted(p.name for p in maps["png"].iterdir())
    assert names == sorted("g" + s for s in map_suffixes("png")) and len(names) == 8
    for name, (channels, lo, hi) in PNG_RANGES.items():
        values = full[name][None] if channels == 1 else full[name]
        for c in range(channels):
            label = name if channels == 1 else f"{name}-{c}"
            with Image.open(maps["png"] / f"g.{label}.png") as image:
                assert image.mode.startswith("I") and image.size == (120, 160)
            stored = read_png_map(maps["png"] / f"g.{label}.png")
            expected = np.clip(values[c], lo, hi)
            assert np.abs(stored - expected).max() <= (hi - lo) / 65535 * 0.51 + 1e-6


def test_an_unknown_maps_format_is_one_line(tmp_path, capsys):
    status = inktrace_main(["predict", "x.png", "--output", str(tmp_path), "--maps-format", "tif"])
    err = capsys.readouterr().err
    assert status == 2 and err.count("\n") == 1 and "--maps-format" in err and "tif" in err
