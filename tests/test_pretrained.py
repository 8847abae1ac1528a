"""`inktrace export` (weights and a model card only) and the shipped pretrained model."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch

from inktrace.checkpoint import CheckpointError, load_checkpoint
from inktrace.checkpoint.format import save_checkpoint
from inktrace.checkpoint.model_only import export_weights
from inktrace.cli.main import main as inktrace_main
from inktrace.config import Config
from inktrace.model.net import InkTraceNet
from inktrace.training import DenseTrainer


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """best.ckpt of a tiny two-epoch dense run."""
    root = tmp_path_factory.mktemp("run")
    settings = {
        "experiment": {"name": "tiny"},
        "model": {"embed_dim": 4, "num_layers": 2},
        "training": {"epochs": 2, "batch_size": 4, "warmup_epochs": 0, "precision": "fp32"},
        "data": {"img_size": 32, "train_size": 8, "val_size": 4},
        "checkpoint": {"save_dir": str(root / "ck"), "monitor": "val/f1", "mode": "max"},
        "logging": {"log_dir": str(root / "runs"), "progress_bar": False},
        "stages": {"dense": {}},
    }
    DenseTrainer(Config.from_dict(settings, stage="dense"), verbose=False).fit()
    return root / "ck" / "dense" / "best.ckpt"


def test_export_keeps_the_weights_and_a_card_and_nothing_to_resume(trained, tmp_path, capsys):
    out = tmp_path / "small.ckpt"
    assert inktrace_main(["export", str(trained), str(out), "--note", "2-core CPU, 1 s"]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith(f"written: {out} (") and "tiny dense, epochs" in printed
    source, exported = load_checkpoint(trained), load_checkpoint(out)
    assert set(exported) == {"format", "format_version", "model", "config", "card"}
    assert exported["config"] == {"model": source["config"]["model"]}
    assert exported["model"].keys() == source["model"].keys()
    assert all(torch.equal(exported["model"][k], v) for k, v in source["model"].items())
    assert out.stat().st_size < trained.stat().st_size / 2  # no optimizer state
    card = exported["card"]
    assert (
        card["experiment"] == "tiny" and card["stage"] == "dense" and card["note"].startswith("2")
    )
    assert card["monitor"] == "val/f1" and card["monitored_value"] == source["metrics"]["val/f1"]
    assert card["epochs"] == source["epoch"] + 1 and card["global_step"] == source["global_step"]
    assert card["data"]["img_size"] == 32 and card["data"]["svg_dir"] is None
    assert card["source"]["sha256"] == hashlib.sha256(trained.read_bytes()).hexdigest()
    # it is a model file like any other: predict, trace and init_from read it
    a, b = InkTraceNet.load_from_checkpoint(trained), InkTraceNet.load_from_checkpoint(out)
    x = torch.rand(2, 1, 32, 32)
    with torch.no_grad():
        assert torch.equal(a(x)["skeleton_logits"], b(x)["skeleton_logits"])


def test_export_refuses_to_overwrite_and_bad_sources_in_one_line(trained, tmp_path, capsys):
    out = tmp_path / "small.ckpt"
    out.write_bytes(b"keep me")
    not_ckpt = tmp_path / "notes.txt"
    not_ckpt.write_text("hello")
    cases = [
        ([str(trained), str(out)], f"{out}: exists; pass --force"),
        ([str(trained), str(trained), "--force"], "the same file as the source"),
        ([str(not_ckpt), str(tmp_path / "n.ckpt")], "notes.txt: not a readable checkpoint"),
        ([str(tmp_path / "none.ckpt"), str(tmp_path / "n.ckpt")], "no such checkpoint file"),
        ([str(trained), str(tmp_path)], "is a folder"),
    ]
    for argv, words in cases:
        assert inktrace_main(["export", *argv]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and words in err, err
    assert out.read_bytes() == b"keep me" and not (tmp_path / "n.ckpt").exists()
    export_weights(trained, out, force=True)
    assert load_checkpoint(out)["card"]["experiment"] == "tiny"
    with pytest.raises(CheckpointError):
        export_weights(trained, out)


def test_export_average_writes_the_weighted_mean_of_two_models(trained, tmp_path, capsys):
    other = tmp_path / "other.ckpt"
    data = load_checkpoint(trained)
    torch.manual_seed(0)
    moved = {
        k: v + torch.randn_like(v) if v.is_floating_point() else v for k, v in data["model"].items()
    }
    torch.save({**data, "model": moved}, other)
    out = tmp_path / "mean.ckpt"
    argv = ["export", str(trained), str(out), "--average", str(other), "--weight", "0.7"]
    assert inktrace_main(argv) == 0
    printed = capsys.readouterr().out
    assert "averaged, 0.7 of it with other.ckpt" in printed
    mean = load_checkpoint(out)
    for k, v in data["model"].items():
        want = (0.7 * v.double() + (1 - 0.7) * moved[k].double()).to(v.dtype)
        assert torch.equal(mean["model"][k], want), k
    card = mean["card"]
    assert card["experiment"] == "tiny" and card["metrics"] == {}
    assert card["monitored_value"] is None  # the source's validation did not measure the mean
    assert card["averaged"] == {
        "with": "other.ckpt",
        "sha256": hashlib.sha256(other.read_bytes()).hexdigest(),
        "weight": 0.7,
    }
    # an export of the export keeps the card's averaged section
    again = tmp_path / "again.ckpt"
    assert inktrace_main(["export", str(out), str(again)]) == 0
    assert load_checkpoint(again)["card"]["averaged"] == card["averaged"]
    # the default weight is an even mean; a weight of 1 gives the source's own weights
    assert (
        inktrace_main(["export", str(trained), str(out), "--average", str(other), "--force"]) == 0
    )
    k = next(iter(data["model"]))
    assert torch.allclose(load_checkpoint(out)["model"][k], 0.5 * (data["model"][k] + moved[k]))
    argv = ["export", str(trained), str(out), "--average", str(other), "--weight", "1", "--force"]
    assert inktrace_main(argv) == 0
    assert all(torch.equal(load_checkpoint(out)["model"][k], v) for k, v in data["model"].items())


def test_export_average_refuses_another_architecture_in_one_line(trained, tmp_path, capsys):
    data = load_checkpoint(trained)
    wider = tmp_path / "wider.ckpt"
    model = {k: torch.cat([v, v]) if k.endswith(".bias") else v for k, v in data["model"].items()}
    torch.save({**data, "model": model}, wider)
    fewer = tmp_path / "fewer.ckpt"
    model = dict(data["model"])
    gone = model.popitem()[0]
    torch.save({**data, "model": model}, fewer)
    deeper = tmp_path / "deeper.ckpt"
    config = {**data["config"], "model": {**data["config"]["model"], "num_layers": 3}}
    torch.save({**data, "config": config}, deeper)
    out = tmp_path / "mean.ckpt"
    cases = [
        (["--average", str(wider)], "wider.ckpt: stem.1.bias is (8,) torch.float32"),
        (["--average", str(fewer)], f"1 tensors in one only, e.g. {gone}"),
        (["--average", str(deeper)], "model.num_layers is 3"),
        (["--average", str(tmp_path / "none.ckpt")], "no such checkpoint file"),
        (["--average", str(wider), "--weight", "1.5"], "--weight 1.5: must be between 0 and 1"),
        (["--average", str(wider), "--weight", "nan"], "must be between 0 and 1"),
        (["--weight", "0.5"], "--weight goes with --average"),
        (["--average", str(wider), "--format", "onnx"], "--average writes a .ckpt"),
    ]
    for extra, words in cases:
        assert inktrace_main(["export", str(trained), str(out), *extra]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and words in err, err
        assert not out.exists()
    # the file to write may not be the one averaged with, --force or not, and is left as it was
    before = wider.read_bytes()
    for force in ([], ["--force"]):
        assert (
            inktrace_main(["export", str(trained), str(wider), "--average", str(wider), *force])
            == 2
        )
        assert "the file to write is the one averaged with" in capsys.readouterr().err
    assert wider.read_bytes() == before
    with pytest.raises(CheckpointError, match="between 0 and 1, got True"):
        export_weights(trained, out, average=(wider, True))


def _saved(path, **settings):
    model = InkTraceNet(embed_dim=4, num_layers=2, **settings)
    save_checkpoint({"model": model.state_dict(), "config": {"model": model.hparams}}, path)
    return model


def test_export_average_keeps_counts_and_ignores_training_only_settings(tmp_path):
    torch.manual_seed(1)
    a = _saved(tmp_path / "a.ckpt", norm="batch")
    b = InkTraceNet(embed_dim=4, num_layers=2, norm="batch", dropout=0.1)
    b.train()
    b(torch.rand(2, 1, 32, 32))  # BatchNorm counts batches: its integer tensors now differ
    save_checkpoint({"model": b.state_dict(), "config": {"model": b.hparams}}, tmp_path / "b.ckpt")
    card = export_weights(
        tmp_path / "a.ckpt", tmp_path / "m.ckpt", average=(tmp_path / "b.ckpt", np.float32(0.25))
    )
    assert card["averaged"]["weight"] == 0.25
    mean = load_checkpoint(tmp_path / "m.ckpt")["model"]
    sa, sb = a.state_dict(), b.state_dict()
    counts = [k for k, v in sa.items() if not v.is_floating_point()]
    assert counts and all(torch.equal(mean[k], sa[k]) for k in counts)  # the source's counts
    assert any(not torch.equal(sa[k], sb[k]) for k in counts)
    w = next(k for k in sa if k.endswith("running_mean"))
    assert torch.allclose(mean[w], 0.25 * sa[w] + 0.75 * sb[w])
    _saved(tmp_path / "g.ckpt", norm="instance")  # the same tensors as group norm, another model
    _saved(tmp_path / "h.ckpt", norm="group")
    with pytest.raises(CheckpointError, match="model.norm is 'group'"):
        export_weights(tmp_path / "g.ckpt", tmp_path / "n.ckpt", average=(tmp_path / "h.ckpt", 0.5))


# ----------------------------------------------------------------------------- the shipped model
SHIPPED_SIZE = 64
LINE = [[10.3, 12.2], [52.6, 47.9]]
X = [[[12.2, 14.1], [51.3, 50.2]], [[50.6, 12.7], [13.4, 51.1]]]
T = [[[10.2, 15.3], [53.8, 15.9]], [[32.1, 15.6], [31.7, 54.2]]]
L = [[[15.2, 10.4], [15.6, 50.3], [52.1, 49.7]]]
BOX_CORNER = [[[15.2, 10.4], [15.6, 50.3]], [[15.6, 50.3], [52.1, 49.7]]]  # two strokes


def drawn(polylines, width=3.0):
    from inktrace.data import Strokes, render_batch

    strokes = Strokes.from_polylines([[(np.asarray(p, float), width) for p in polylines]])
    return render_batch(strokes, SHIPPED_SIZE, SHIPPED_SIZE)["image"][0, 0].numpy()


def near(stroke, polyline, tol):
    """Every point of the traced stroke within ``tol`` px of the true polyline, and both ends of
    the true one within ``2 tol`` of the stroke's ends."""
    p = np.asarray(polyline, float)
    seg_a, seg_b = p[:-1], p[1:]

    def dist(q):
        ab = seg_b - seg_a
        t = np.clip(((q - seg_a) * ab).sum(1) / (ab * ab).sum(1), 0, 1)
        return np.hypot(*(q - seg_a - t[:, None] * ab).T).min()

    ends = stroke.points[[0, -1]]
    end_ok = min(
        np.hypot(*(ends[0] - p[0])) + np.hypot(*(ends[1] - p[-1])),
        np.hypot(*(ends[0] - p[-1])) + np.hypot(*(ends[1] - p[0])),
    )
    return max(dist(q) for q in stroke.points) <= tol and end_ok <= 4 * tol


def test_the_shipped_model_is_a_small_weights_only_file_with_its_card():
    from inktrace.pretrained import pretrained_card, pretrained_path

    path = pretrained_path()
    assert path.stat().st_size < 10_000_000  # 7.7 MB, 1.91 M parameters (the issue allows 40 MB)
    data = load_checkpoint(path)
    assert set(data) == {"format", "format_version", "model", "config", "card"}
    card = pretrained_card()
    assert card["experiment"] == "pretrained" and card["stage"] == "dense"
    assert card["data"] == {
        "img_size": 64,
        "svg_dir": "kanjivg",
        "svg_fraction": 0.5,
        "svg_holdout": 1000,
        "svg_holdout_seed": 0,
    }
    assert card["curriculum"]["end_stage"] == 9


def circle(cx=32.2, cy=31.8, r=18.0, n=64):
    t = np.linspace(0, 2 * np.pi, n + 1)
    pts = np.stack([cx + r * np.cos(t), cy + r * np.sin(t)], 1)
    pts[-1] = pts[0]
    return pts


@pytest.mark.parametrize("shape, strokes", [("line", [LINE]), ("X", X), ("T", T)])
def test_the_shipped_model_traces_rendered_shapes(shape, strokes):
    import inktrace

    traced = inktrace.trace(drawn(strokes), device="cpu")
    assert len(traced) == len(strokes), (shape, [s.points.round(1).tolist() for s in traced])
    for true in strokes:
        assert any(near(s, true, 1.5) for s in traced), shape


def test_the_shipped_model_traces_a_circle_and_an_l():
    """A circle is one closed stroke. An L is either one stroke with a corner or two strokes
    meeting there: the image cannot tell (KanjiVG draws both), so either, at the corner."""
    import inktrace

    (ring,) = inktrace.trace(drawn([circle()]), device="cpu")
    assert ring.closed and np.abs(np.hypot(*(ring.points - [32.2, 31.8]).T) - 18.0).max() < 1.0
    traced = inktrace.trace(drawn(L), device="cpu")
    corner = np.array(L[0][1])
    if len(traced) == 1:
        assert near(traced[0], L[0], 1.5) and len(traced[0].corners) == 1
        assert np.hypot(*(traced[0].points[traced[0].corners[0]] - corner)) <= 2.0
    else:
        assert len(traced) == 2
        for true in BOX_CORNER:
            assert any(near(s, true, 1.5) for s in traced)


def test_the_commands_use_the_shipped_model_by_default(tmp_path, capsys):
    import json

    from PIL import Image

    image = tmp_path / "x.png"
    Image.fromarray((drawn(X) * 255).astype(np.uint8)).save(image)
    assert inktrace_main(["trace", str(image), "--output", str(tmp_path / "out")]) == 0
    traced = json.loads((tmp_path / "out" / "x.json").read_text())
    assert traced["width"] == traced["height"] == 64 and len(traced["strokes"]) == 2
    assert inktrace_main(["predict", str(image), "--output", str(tmp_path / "maps")]) == 0
    maps = np.load(tmp_path / "maps" / "x.npz")
    assert maps["skeleton"].shape == (64, 64) and maps["keypoints"].shape == (2, 64, 64)
    capsys.readouterr()


def test_the_stroke_model_is_packaged_and_chosen_by_name(tmp_path, monkeypatch, capsys):
    """``inktrace-strokes`` names the packaged stroke model wherever a checkpoint is taken (the
    commands, ``inktrace.trace(model=...)``, evaluate's loader); a file of that name in the working
    folder wins; a missing packaged file is one line and exit 2."""
    import json

    from PIL import Image

    import inktrace
    from inktrace.pretrained import STROKES_NAME, load_with_card, packaged_model
    from inktrace.pretrained import files as packaged
    from inktrace.tracing import as_predictor

    path = packaged_model(STROKES_NAME)
    assert path is not None and path.name == "inktrace-strokes.ckpt"
    assert path.stat().st_size < 10_000_000  # 7.7 MB, 1.91 M parameters (the issue allows 40 MB)
    assert set(load_checkpoint(path)) == {"format", "format_version", "model", "config", "card"}
    assert packaged_model("inktrace-small") == packaged.pretrained_path()
    assert packaged_model("not-a-model") is None
    model, card, report = load_with_card(STROKES_NAME)
    assert report == "" and model.stroke_heads and card["experiment"] == "pretrained-strokes"
    assert InkTraceNet.load_from_checkpoint(STROKES_NAME).stroke_heads  # benchmarks, notebooks
    (result,) = as_predictor(STROKES_NAME, device="cpu").predict_many([drawn(T)])
    assert {"ends", "identity"} <= set(result.maps)  # the heads the tracer reads
    assert len(inktrace.trace(drawn(X), model=STROKES_NAME, device="cpu")) == len(X)

    image = tmp_path / "t.png"
    Image.fromarray((drawn(T) * 255).astype(np.uint8)).save(image)
    args = ["trace", str(image), "--checkpoint", STROKES_NAME, "--output", str(tmp_path / "out")]
    assert inktrace_main(args) == 0
    traced = json.loads((tmp_path / "out" / "t.json").read_text())
    assert len(traced["strokes"]) == len(T)
    assert as_predictor(STROKES_NAME, device="cpu") is as_predictor(STROKES_NAME, device="cpu")

    from inktrace.training.resume import resolve_init_from

    assert resolve_init_from(Config.from_dict({}), STROKES_NAME)[0] == path
    small = tmp_path / "small.ckpt"
    assert inktrace_main(["export", "inktrace-small", str(small)]) == 0  # the name as the source
    assert load_checkpoint(small)["card"] == load_checkpoint(packaged.pretrained_path())["card"]
    capsys.readouterr()
    assert inktrace_main(["compare", "--all", "inktrace-small", STROKES_NAME]) == 0
    out = capsys.readouterr().out
    assert "ends" in out  # the stroke heads: layers only one side has
    assert "model.embed_dim     16     32" in out  # the stroke model: widened (model/widen.py)

    from inktrace.deploy.runtime import OnnxPredictor
    from inktrace.inference import loading

    shipped = loading.open_predictor("inktrace-small", device="cpu")  # the name: as no checkpoint
    assert not shipped.model.stroke_heads and not isinstance(shipped, OnnxPredictor)
    monkeypatch.setattr(loading, "torch_available", lambda: False)
    assert isinstance(loading.open_predictor("inktrace-small"), OnnxPredictor)  # its ONNX export
    monkeypatch.undo()

    monkeypatch.chdir(tmp_path)  # a local file of that name is a path, as any other
    (tmp_path / STROKES_NAME).write_bytes(b"not a checkpoint")
    assert packaged_model(STROKES_NAME) is None
    capsys.readouterr()
    assert inktrace_main(args) == 2
    assert f"{STROKES_NAME}:" in capsys.readouterr().err
    (tmp_path / STROKES_NAME).unlink()

    monkeypatch.setitem(packaged._PACKAGED, STROKES_NAME, tmp_path / "gone.ckpt")
    with pytest.raises(CheckpointError, match="inktrace-strokes: the packaged model gone.ckpt"):
        packaged_model(STROKES_NAME)
    assert inktrace_main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is missing from this installation" in err[0]
