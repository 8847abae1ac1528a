"""Synthetic ink mixed with real stroke geometry (data/mixed.py) and its configuration."""

from __future__ import annotations

import pytest
import torch
from helpers import StopAt

from inktrace.config import Config
from inktrace.data import SyntheticInk, render_batch
from inktrace.data.degrade import degrade_samples
from inktrace.data.mixed import CLEAN_SHARE, MixedInk
from inktrace.data.svg import SvgInk, choose_files
from inktrace.errors import ConfigError
from inktrace.training import DenseTrainer
from inktrace.training.batches import train_set


def _glyph_files(folder, n=12):
    """n small centreline SVGs: an L, a T, a cross ... shifted so each file differs."""
    for i in range(n):
        d = i * 3
        (folder / f"g{i:02d}.svg").write_text(
            '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 100 100">'
            f'<path d="M {10 + d} 10 L {10 + d} 90"/>'
            f'<path d="M 10 {50 + d} L 90 {50 - d}"/>'
            f'<path d="M 20 {20 + d} C 40 0 60 40 {80 - d} 20"/></svg>'
        )
    return folder


def _mixed(tmp_path, level=4, fraction=0.5, size=64):
    synthetic = SyntheticInk(level, 200, 32, seed=3)
    glyphs = SvgInk(_glyph_files(tmp_path), 32, seed=3, width=(0.8, 8.0))
    return MixedInk(synthetic, glyphs, fraction)


def test_each_sample_is_synthetic_or_a_glyph_in_any_batch(tmp_path):
    mixed = _mixed(tmp_path)
    idx = [17, 3, 150, 8, 99, 42, 0, 61, 5, 120]
    batch = mixed.render(idx)
    assert batch["index"].tolist() == idx
    is_glyph, file = mixed.choose(idx)
    assert 0 < int(is_glyph.sum()) < len(idx)
    for i, k in enumerate(idx):
        alone = mixed.render([k])
        for name in ("image", "skeleton", "keypoints", "width", "offset", "tangent"):
            assert torch.equal(alone[name][0], batch[name][i]), (k, name)
        n = int(batch["num_points"][i])
        assert torch.equal(alone["points"][0, :n], batch["points"][i, :n])
        if is_glyph[i]:
            strokes, _ = mixed.glyphs.geometry([k], files=file[i : i + 1])
            expected = render_batch(strokes, 32, 32)
        else:
            expected = mixed.synthetic.render([k])
        assert torch.equal(expected["image"][0], batch["image"][i])
        assert torch.equal(expected["skeleton"][0], batch["skeleton"][i])


def test_the_fraction_and_the_files_chosen(tmp_path):
    mixed = _mixed(tmp_path, fraction=0.3)
    is_glyph, file = mixed.choose(range(200))
    assert 40 <= int(is_glyph.sum()) <= 80  # 0.3 of 200 = 60, binomial sd 6.5
    assert set(file[is_glyph].tolist()) == set(range(12))  # every file gets drawn
    mixed.set_epoch(1)  # another epoch: other samples become glyphs, other files
    again, file1 = mixed.choose(range(200))
    assert not torch.equal(again, is_glyph) and not torch.equal(file1, file)
    assert not _mixed(tmp_path, fraction=0.0).choose(range(200))[0].any()
    assert _mixed(tmp_path, fraction=1.0).choose(range(200))[0].all()
    with pytest.raises(ValueError, match="fraction"):
        _mixed(tmp_path, fraction=1.5)


def test_glyphs_are_degraded_from_level_7_except_a_clean_share(tmp_path):
    def glyphs(mixed):
        is_glyph, file = mixed.choose(range(200))
        idx = is_glyph.nonzero()[:, 0][:60]
        strokes, keys = mixed.glyphs.geometry(idx, files=file[idx])
        return mixed.render(idx), render_batch(strokes, 32, 32), keys

    a, clean6, _ = glyphs(_mixed(tmp_path, level=6))
    assert torch.equal(a["image"], clean6["image"])  # level 6: clean glyphs
    b, clean9, keys = glyphs(_mixed(tmp_path, level=9))
    for name in ("skeleton", "keypoints", "width", "offset"):
        assert torch.equal(b[name], clean9[name])  # degradations never change the targets
    clean = clean9["image"]
    same = (b["image"] == clean).flatten(1).all(1)
    assert 0.2 < float(same.float().mean()) < 0.6  # CLEAN_SHARE = 0.4 of them kept clean
    assert CLEAN_SHARE == 0.4
    dirty = (~same).nonzero()[:, 0]
    expected = degrade_samples(1.0 - clean[dirty, 0], 9, keys[dirty])
    assert torch.equal(b["image"][dirty], expected)


def _config(tmp_path, sub="run", **data):
    """A tiny dense run (curriculum 6 -> 7: clean, then degraded) with glyphs from tmp_path."""
    folder = tmp_path / "svg"
    if not folder.exists():
        folder.mkdir()
        _glyph_files(folder)
    settings = {
        "model": {"embed_dim": 4, "num_layers": 2},
        "training": {"epochs": 2, "batch_size": 4, "warmup_epochs": 0, "precision": "fp32"},
        "data": {"img_size": 32, "train_size": 16, "val_size": 4, "svg_dir": str(folder), **data},
        "curriculum": {"enabled": True, "start_stage": 6, "end_stage": 7, "epochs_per_stage": 1},
        "checkpoint": {"save_dir": str(tmp_path / sub / "ck")},
        "logging": {"log_dir": str(tmp_path / sub / "runs"), "progress_bar": False},
    }
    return Config.from_dict({**settings, "stages": {"dense": {}}}, stage="dense")


def test_train_set_follows_the_svg_settings(tmp_path):
    assert type(train_set(_config(tmp_path, svg_fraction=0.0), 3)) is SyntheticInk
    only = train_set(_config(tmp_path), 3)
    assert type(only) is SvgInk and only.size == 12  # svg_fraction 1: the files themselves
    mixed = train_set(_config(tmp_path, svg_fraction=0.5), 3)
    assert type(mixed) is MixedInk and mixed.level == 3 and len(mixed) == 16
    mixed.set_level(8)
    assert mixed.level == mixed.synthetic.level == 8
    assert mixed.glyphs.width == (0.8, 8.0)


def test_the_evaluation_characters_are_held_out(tmp_path):
    cfg = _config(tmp_path, svg_fraction=0.5, svg_holdout=5, svg_holdout_seed=7)
    held = choose_files(cfg.data.svg_dir, 5, seed=7)
    trained = train_set(cfg, 3).glyphs.files
    assert len(trained) == 7 and not set(held) & set(trained)
    # any smaller evaluation with that seed is inside the held-out set
    assert set(choose_files(cfg.data.svg_dir, 3, seed=7)) <= set(held)
    with pytest.raises(ConfigError, match="svg_holdout: 12 leaves no file"):
        train_set(_config(tmp_path, svg_holdout=12), 3)


def test_a_mixed_run_resumes_bit_identical(tmp_path):
    full = DenseTrainer(_config(tmp_path, "full", svg_fraction=0.5), verbose=False).fit()
    part = _config(tmp_path, "part", svg_fraction=0.5)
    assert DenseTrainer(part, verbose=False, callbacks=[StopAt(6)]).fit()["status"] == "interrupted"
    last = tmp_path / "part" / "ck" / "dense" / "last.ckpt"
    resumed = DenseTrainer(part, resume=last, verbose=False).fit()
    assert full["status"] == resumed["status"] == "completed" and resumed["global_step"] == 8
    a = torch.load(tmp_path / "full" / "ck" / "dense" / "last.ckpt", weights_only=True)["model"]
    b = torch.load(last, weights_only=True)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_preview_data_draws_the_training_mix(tmp_path, capsys):
    from PIL import Image

    from inktrace.cli.main import main as inktrace_main

    folder = tmp_path / "svg"
    folder.mkdir()
    _glyph_files(folder)
    out = tmp_path / "mix.png"
    argv = ["preview-data", "--stage", "8", "--svg", str(folder), "--samples", "6"]
    assert inktrace_main([*argv, "--svg-fraction", "0.5", "--output", str(out)]) == 0
    assert "6 samples of level 8, a share 0.5 SVG glyphs" in capsys.readouterr().out
    assert Image.open(out).size[1] > 6 * 64 * 3  # six rows at zoom 3, and gaps
    for extra, words in (
        (["--svg-fraction", "2"], "--svg-fraction 2.0: must be within 0-1"),
        (["--svg", str(folder), "--svg-fraction", "0.5"], "needs both --stage N and --svg DIR"),
    ):
        args = argv + extra if extra[0] == "--svg-fraction" else ["preview-data", *extra]
        assert inktrace_main([*args, "--output", str(out)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and words in err


def test_evaluate_says_when_its_characters_were_trained_on(tmp_path):
    from inktrace.evaluation import seen_in_training

    folder = tmp_path / "svg"
    folder.mkdir()
    _glyph_files(folder)
    data = {"svg_dir": str(folder), "svg_fraction": 0.5, "svg_holdout": 5, "svg_holdout_seed": 7}
    assert seen_in_training(choose_files(folder, 5, seed=7), data) == 0  # all held out
    assert seen_in_training(choose_files(folder, 8, seed=7), data) == 3  # 3 beyond the holdout
    assert seen_in_training(choose_files(folder, 12, seed=1), data) == 7  # another seed: 12 - 5
    assert seen_in_training(choose_files(folder, 12, seed=1), {**data, "svg_fraction": 0}) == 0
    assert seen_in_training(choose_files(folder, 12, seed=1), {"svg_dir": None}) == 0
    assert seen_in_training(choose_files(folder, 12, seed=1), None) == 0


def test_samples_render_on_the_training_device_when_asked(tmp_path):
    cfg = _config(tmp_path, svg_fraction=0.5, render_on="device")
    mixed = train_set(cfg, 3, torch.device("cpu"))
    assert mixed.synthetic.device == torch.device("cpu") == mixed.glyphs.device
    cfg = _config(tmp_path, svg_fraction=0.0, render_on="device", num_workers=2)
    with pytest.raises(ConfigError, match="data.num_workers: worker processes cannot render"):
        train_set(cfg, 3, torch.device("cuda"))  # refused before anything touches the GPU
    assert (
        train_set(_config(tmp_path, svg_fraction=0.0), 3, torch.device("cuda")).device.type == "cpu"
    )
