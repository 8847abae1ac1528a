"""`inktrace export` (weights and a model card only) and the shipped pretrained model."""

from __future__ import annotations

import hashlib

import pytest
import torch

from inktrace.checkpoint import CheckpointError, load_checkpoint
from inktrace.checkpoint.export import export_weights
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
