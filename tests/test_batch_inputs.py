"""Hostile entries in a batch of images (docs/reliability.md): each is one line on stderr naming
it, the other images are still processed, the exit status is 2. Real files and real processes:
a FIFO nobody writes to, a symlink loop, a name that is not UTF-8 under PYTHONIOENCODING=utf-8,
and a 12000 x 12000 PNG refused from its header (``--max-pixels``)."""

import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from inktrace.inference import DEFAULT_MAX_PIXELS, ImageError, load_image


def _ink(path):
    a = np.full((48, 48), 255, np.uint8)
    a[10:38, 22:26] = 0
    Image.fromarray(a).save(path)
    return path


def _predict(args, tmp_path, **env):
    return subprocess.run(
        [sys.executable, "-m", "inktrace", "predict", *args, "--output", str(tmp_path / "out")],
        capture_output=True,
        timeout=120,  # a bound: a FIFO opened for reading would block for ever
        env={**os.environ, **env},
        cwd=tmp_path,
    )


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_is_one_line_and_the_rest_are_processed(tmp_path):
    os.mkfifo(tmp_path / "pipe.png")
    good = _ink(tmp_path / "good.png")
    run = _predict([str(tmp_path / "pipe.png"), str(good)], tmp_path)
    err = run.stderr.decode()
    assert run.returncode == 2, err
    assert err.count("\n") == 1 and "pipe.png: is a FIFO, not a regular file" in err
    assert (tmp_path / "out" / "good.npz").is_file()


def test_a_symlink_loop_is_one_line(tmp_path):
    os.symlink(tmp_path / "b.png", tmp_path / "a.png")
    os.symlink(tmp_path / "a.png", tmp_path / "b.png")
    with pytest.raises(ImageError, match=r"a\.png: cannot read \(Too many levels"):
        load_image(tmp_path / "a.png")
    run = _predict([str(tmp_path / "a.png"), str(_ink(tmp_path / "good.png"))], tmp_path)
    err = run.stderr.decode()
    assert run.returncode == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    assert (tmp_path / "out" / "good.npz").is_file()


def test_a_name_that_is_not_utf8_is_printed_escaped(tmp_path):
    raw = os.fsencode(tmp_path) + b"/caf\xe9.png"  # Latin-1: not valid UTF-8
    _ink(raw.decode("utf-8", "surrogateescape"))
    bad = os.fsencode(tmp_path) + b"/gone\xff.png"
    run = subprocess.run(
        [sys.executable, "-m", "inktrace", "predict", raw, bad, "--output", tmp_path / "out"],
        capture_output=True,
        timeout=120,
        env={**os.environ, "PYTHONIOENCODING": "utf-8"},
    )
    err, out = run.stderr.decode(), run.stdout.decode()
    assert run.returncode == 2, err
    assert "UnicodeEncodeError" not in err and err.count("\n") == 1
    assert "gone\\udcff.png: no such file" in err
    assert "caf\\udce9.npz" in out  # the image with the odd name was predicted and said so
    assert (tmp_path / "out" / "caf\udce9.npz").is_file()


def test_a_huge_image_is_refused_from_its_header(tmp_path):
    Image.new("1", (12000, 12000), 1).save(tmp_path / "huge.png")  # a few kB on disk
    assert os.path.getsize(tmp_path / "huge.png") < 100_000
    with pytest.raises(ImageError, match=r"huge\.png: 12000x12000 pixels is more than"):
        load_image(tmp_path / "huge.png")
    assert 12000 * 12000 > DEFAULT_MAX_PIXELS > 4961 * 7016  # A4 at 600 dpi fits
    run = _predict(
        [str(tmp_path / "huge.png"), str(_ink(tmp_path / "good.png")), "--max-pixels", "5000"],
        tmp_path,
    )
    err = run.stderr.decode()
    assert run.returncode == 2 and err.count("\n") == 1, err
    assert "huge.png: 12000x12000 pixels is more than --max-pixels 5000" in err
    assert (tmp_path / "out" / "good.npz").is_file()  # 48 x 48, counted as 64 x 64: under it
    assert load_image(tmp_path / "good.png", max_pixels=None).shape == (48, 48)


def test_a_thin_strip_counts_each_side_as_64_px():
    """The network works on at least 64 px of each side, so a 1 x 1,000,000 px strip costs what
    64 x 1,000,000 px do (a 1 x 200,000 strip took 70 s): counted so, from the header."""
    from inktrace.inference.images import _too_large

    assert _too_large("s.png", 1, 700_000, 50_000_000) is None  # 44.8 M counted
    refusal = _too_large("s.png", 1, 1_000_000, 50_000_000)
    assert refusal is not None and "counted as 64000000" in refusal
    assert _too_large("g.png", 48, 48, 4096) is None and _too_large("g.png", 48, 48, 4095)
