"""Legacy compatibility: old checkpoint layouts A-D, safe loading, migration, comparison, old
scripts."""

import pickle
import sys
import types

import numpy as np
import pytest
import torch
import yaml
from test_training import tiny

from inktrace.checkpoint import (
    CheckpointError,
    load_checkpoint,
    load_model,
    read_checkpoint,
    save_checkpoint,
)
from inktrace.checkpoint.legacy import MIGRATIONS, detect_layout, infer_model_config, to_layout_b
from inktrace.cli.checkpoints import compare_main, migrate_main
from inktrace.cli.old_scripts import dense_main, structural_main
from inktrace.cli.train import main as train_main
from inktrace.config import Config
from inktrace.errors import LegacyCheckpointWarning
from inktrace.model import InkTraceNet
from inktrace.training import DenseTrainer


def trained(full=True):
    """A tiny model and AdamW after two steps, as the old scripts would have saved them."""
    torch.manual_seed(1)
    model = InkTraceNet(embed_dim=4, num_layers=2, full_heads=full, skip_connections=full)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    for _ in range(2):
        opt.zero_grad()
        out = model(torch.rand(2, 1, 16, 16))
        sum(v.float().mean() for v in out.values()).backward()
        opt.step()
    return model, opt


def write_layout(path, layout, full=True, prefix=""):
    model, opt = trained(full)
    sd = model.state_dict()
    if layout == "A":
        obj = {prefix + k: v for k, v in sd.items()}
    elif layout == "B":
        obj = {
            "epoch": 2,
            "model_state_dict": sd,
            "optimizer_state_dict": opt.state_dict(),
            "loss": np.float64(0.5),
            "config": {
                "embed_dim": 4,
                "num_layers": 2,
                "lr": np.float32(1e-3),
                "batch_size": 4,
                "epochs": 5,
                "stage": 2,
            },
        }
    elif layout == "C":
        obj = {
            "model": sd,
            "optimizer": opt.state_dict(),
            "scheduler": {"last_epoch": 9, "base_lrs": [1e-3]},
            "config": {
                "model": {"embed_dim": 4, "num_layers": 2, "legacy_knob": 1},
                "training": {"lr": 2e-3, "batch_size": 4},
                "data": {"img_size": 32},
            },
            "epoch": 3,
            "best_loss": np.float32(0.25),
        }
    else:  # D: Lightning; hyper_parameters pickled as lightning's AttributeDict
        # (not installed here)
        mod = types.ModuleType("lightning_fabric.utilities.data")

        class AttributeDict(dict):
            pass

        AttributeDict.__module__, AttributeDict.__qualname__ = mod.__name__, "AttributeDict"
        mod.AttributeDict = AttributeDict
        names = [
            "lightning_fabric",
            "lightning_fabric.utilities",
            "lightning_fabric.utilities.data",
        ]
        for n in names:
            sys.modules[n] = sys.modules.get(n) or types.ModuleType(n)
        sys.modules["lightning_fabric.utilities.data"] = mod
        try:
            obj = {
                "state_dict": {"model." + k: v for k, v in sd.items()},
                "optimizer_states": [opt.state_dict()],
                "lr_schedulers": [{"last_epoch": 6}],
                "epoch": 1,
                "global_step": 6,
                "hyper_parameters": AttributeDict(
                    config={"model": {"embed_dim": 4, "num_layers": 2}, "training": {"lr": 1e-3}}
                ),
                "pytorch-lightning_version": "2.1.0",
            }
            torch.save(obj, path)
        finally:
            for n in names:
                sys.modules.pop(n, None)
        return model, opt
    torch.save(obj, path)
    return model, opt


def same(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize(
    "layout, prefix", [("A", ""), ("A", "module._orig_mod."), ("B", ""), ("C", ""), ("D", "")]
)
def test_every_layout_loads_with_exact_weights_and_a_report(tmp_path, layout, prefix, capsys):
    path = tmp_path / "old.pth"
    model, _ = write_layout(path, layout, prefix=prefix)
    with pytest.warns(LegacyCheckpointWarning) as warned:
        loaded = InkTraceNet.load_from_checkpoint(path)
    assert same(loaded.state_dict(), model.state_dict())
    assert loaded.hparams["embed_dim"] == 4 and loaded.hparams["num_layers"] == 2
    report = loaded.load_report
    assert f"layout {layout}" in report and "embed_dim=4, num_layers=2" in report
    assert [str(w.message) for w in warned] == [report]
    assert capsys.readouterr().err == ""  # the model never prints: the warning carries it
    same_model, same_report = load_model(path, InkTraceNet)
    assert same(same_model.state_dict(), model.state_dict()) and same_report == report
    data = load_checkpoint(path)
    assert data["migration"]["layout"] == layout and detect_layout(read_checkpoint(path)) == layout
    if layout in ("B", "C", "D"):
        assert "optimizer state" in " ".join(data["migration"]["notes"]) and data["optimizer"]
    else:
        assert "optimizer state (a fresh optimizer)" in " ".join(data["migration"]["notes"])


@pytest.mark.parametrize("layout", ["A", "B", "C", "D"])
def test_migrate_writes_the_current_format(tmp_path, layout, capsys):
    old, new = tmp_path / "old.pth", tmp_path / "new.ckpt"
    model, _ = write_layout(old, layout)
    assert migrate_main([str(old), str(new)]) == 0
    out = capsys.readouterr().out
    assert f"layout {layout}" in out and "written:" in out
    ckpt = torch.load(new, weights_only=True)  # plain values only: NumPy scalars became numbers
    assert (
        ckpt["format"] == "inktrace"
        and ckpt["format_version"] == 1
        and ckpt["migrated_from"]["layout"] == layout
    )
    assert same(ckpt["model"], model.state_dict())
    assert "migration" not in load_checkpoint(new)
    assert migrate_main([str(old), str(new)]) == 2  # never overwrites without --force
    assert "exists; pass --force" in capsys.readouterr().err
    assert migrate_main([str(old), str(new), "--force"]) == 0


@pytest.mark.parametrize("layout, epoch, step", [("B", 3, None), ("C", 4, None), ("D", 2, 6)])
def test_resume_continues_the_epoch_count_and_optimizer_state(tmp_path, layout, epoch, step):
    path = tmp_path / "old" / "ckpt.pth"
    path.parent.mkdir()
    model, opt = write_layout(path, layout)
    t = DenseTrainer(
        tiny(tmp_path, overrides={"training.epochs": 6, "model.dropout": 0.0}),
        resume=path,
        verbose=False,
    )
    assert t.state.epoch == epoch and t.state.batch_in_epoch == 0
    assert t.state.global_step == (step if step is not None else epoch * t.steps_per_epoch)
    assert same(t.model.state_dict(), model.state_dict())
    saved = opt.state_dict()["state"]
    mine = t.optimizer.state_dict()["state"]
    assert all(torch.equal(saved[k]["exp_avg"], mine[k]["exp_avg"]) for k in saved)
    s = t.fit()
    assert s["status"] == "completed" and s["total_epochs"] == 6
    assert path.exists()  # the resume source is never deleted


def test_init_from_a_structural_layout_b_file_transfers_and_reports(tmp_path, capsys):
    path = tmp_path / "best_structural.pth"
    structural, _ = write_layout(path, "B", full=False)
    t = DenseTrainer(tiny(tmp_path, overrides={"init_from": str(path)}))
    out = capsys.readouterr().out
    assert "layout B" in out and "missing in checkpoint" in out
    own = t.model.state_dict()
    assert all(torch.equal(own[k], v) for k, v in structural.state_dict().items())
    assert t.state.init_report["missing"] and all(
        k.startswith(("heads.keypoints", "heads.width", "heads.offset"))
        for k in t.state.init_report["missing"]
    )


def test_layout_b_writer_round_trips_through_the_reader(tmp_path):
    model, opt = trained(full=True)
    cfg = Config.from_dict(
        {
            "stage": "dense",
            "model": {"embed_dim": 4, "num_layers": 2},
            "training": {"lr": 2e-3, "batch_size": 4, "epochs": 7},
            "data": {"curriculum_stage": 3},
        }
    )
    save_checkpoint(
        {
            "model": model.state_dict(),
            "optimizer": opt.state_dict(),
            "config": cfg.to_dict(),
            "stage": "dense",
            "epoch": 5,
        },
        tmp_path / "new.ckpt",
    )
    old = to_layout_b(load_checkpoint(tmp_path / "new.ckpt"), 0.25)
    assert set(old) == {"epoch", "model_state_dict", "optimizer_state_dict", "loss", "config"}
    assert old["config"] == {
        "embed_dim": 4,
        "num_layers": 2,
        "lr": 2e-3,
        "batch_size": 4,
        "epochs": 7,
        "stage": 3,
    }
    torch.save(old, tmp_path / "best_dense_model.pth")
    back = load_checkpoint(tmp_path / "best_dense_model.pth")
    assert back["migration"]["layout"] == "B" and back["stage"] == "dense"
    assert same(back["model"], model.state_dict())
    assert back["config"]["model"]["embed_dim"] == 4 and back["config"]["model"]["num_layers"] == 2
    assert back["epoch"] == 5 and back["config"]["data"]["curriculum_stage"] == 3
    assert back["config"]["training"]["lr"] == 2e-3 and back["metrics"] == {"loss": 0.25}
    assert back["optimizer"]["param_groups"][0]["lr"] == opt.state_dict()["param_groups"][0]["lr"]


def test_a_pickle_that_would_run_code_is_refused_without_running(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            import os

            return (os.system, (f"touch {marker}",))

    path = tmp_path / "evil.pth"
    with open(path, "wb") as f:
        torch.save({"model": Evil()}, f)
    for load in (load_checkpoint, InkTraceNet.load_from_checkpoint):
        with pytest.raises(
            CheckpointError,
            match=(
                r"evil.pth: not a readable checkpoint \(refused: it needs posix.system, "
                r"which is not on the allow-list"
            ),
        ):
            load(path)
    assert not marker.exists()
    truncated = tmp_path / "cut.pth"
    truncated.write_bytes((tmp_path / "evil.pth").read_bytes()[:50])
    with pytest.raises(CheckpointError, match="cut.pth: not a readable checkpoint"):
        load_checkpoint(truncated)
    plain = tmp_path / "plain.pkl"
    plain.write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(CheckpointError, match="plain.pkl"):
        load_checkpoint(plain)


def test_architecture_inference_and_registry():
    model = InkTraceNet(embed_dim=8, num_layers=3, full_heads=False, norm="batch")
    assert infer_model_config(model.state_dict()) == {
        "embed_dim": 8,
        "num_layers": 3,
        "full_heads": False,
        "stroke_heads": False,
        "norm": "batch",
    }
    strokes = InkTraceNet(embed_dim=8, num_layers=2, stroke_heads=True)
    assert infer_model_config(strokes.state_dict())["stroke_heads"] is True
    assert sorted(MIGRATIONS) == [0]  # version 0 (layouts A-D) -> 1; a new format adds one entry


def test_compare_across_formats(tmp_path, capsys):
    old = tmp_path / "old.pth"
    write_layout(old, "B")
    DenseTrainer(
        tiny(tmp_path, overrides={"training.epochs": 1, "model.embed_dim": 4}), verbose=False
    ).fit()
    new = tmp_path / "run" / "ck" / "dense" / "last.ckpt"
    assert compare_main([str(old), str(new), "--all"]) == 0
    out = capsys.readouterr().out
    assert "legacy B (old train_structural.py / train_dense.py)" in out and "inktrace v1" in out
    assert "settings that differ:" in out and "training.epochs" in out
    assert "heads.skeleton.2" in out and "weight distance" in out
    assert (
        f"{InkTraceNet(embed_dim=4, num_layers=2).get_num_params():,}" in out
    )  # parameters, not buffers
    assert compare_main([str(old)]) == 2


def test_old_two_script_chain_runs_unchanged(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    cfg = tiny(tmp_path).to_dict()
    cfg["checkpoint"]["save_dir"] = "checkpoints"
    cfg["logging"]["log_dir"] = "runs"
    cfg["stages"] = {
        "structural": {"model": {"mask_ratio": 0.5, "mask_patch_size": 4}},
        "dense": {},
    }
    cfg.pop("stage"), cfg.pop("init_from")
    (tmp_path / "old.yaml").write_text(yaml.safe_dump(cfg))
    common = ["--config", "old.yaml"]
    assert (
        structural_main(
            [
                "--from-scratch",
                "--embed-dim",
                "4",
                "--num-layers",
                "2",
                "--lr",
                "1e-3",
                "--epochs",
                "1",
                *common,
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert (
        "python train.py --config old.yaml --stage structural --init_from none "
        "--lr 0.001 --epochs 1" in out
    )
    best_structural = tmp_path / "checkpoints" / "best_structural.pth"
    b = torch.load(best_structural, weights_only=True)
    assert {"epoch", "model_state_dict", "optimizer_state_dict", "loss", "config"} <= set(b)
    assert b["config"]["embed_dim"] == 4
    assert (
        dense_main(
            [
                "--init_from",
                "checkpoints/best_structural.pth",
                "--embed_dim",
                "4",
                "--num_layers",
                "2",
                "--lr",
                "5e-4",
                "--epochs",
                "1",
                "--stage",
                "2",
                *common,
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert (
        "--set data.curriculum_stage=2 --set curriculum.enabled=false" in out and "layout B" in out
    )
    d = torch.load(tmp_path / "checkpoints" / "best_dense_model.pth", weights_only=True)
    assert d["config"]["stage"] == 2 and "heads.width.2.bias" in d["model_state_dict"]
    log = (tmp_path / "runs" / "dense" / "training_config.json").read_text()
    assert '"curriculum_stage": 2' in log
    # unknown old flag: the same clear error as train.py
    assert dense_main(["--stgae", "2", *common]) == 2
    assert "unknown option '--stgae' (did you mean '--stage'?)" in capsys.readouterr().err
    assert dense_main(["--resume", "x.pth", "--from-scratch", *common]) == 2
    assert "--resume excludes --init_from and --from-scratch" in capsys.readouterr().err
    # the old guide's train_pl.py command line is train.py's
    assert (
        train_main(
            ["--config", "old.yaml", "--stage", "dense", "--print-config"], prog="train_pl.py"
        )
        == 0
    )


def test_resume_from_bare_weights_starts_at_epoch_zero_with_a_fresh_optimizer(tmp_path, capsys):
    path = tmp_path / "w" / "model.pth"
    path.parent.mkdir()
    model, _ = write_layout(path, "A", prefix="module.")
    trainer = DenseTrainer(tiny(tmp_path, overrides={"training.epochs": 1}), resume=path)
    assert trainer.state.epoch == 0 and same(trainer.model.state_dict(), model.state_dict())
    assert "optimizer state (a fresh optimizer)" in capsys.readouterr().out


def test_compare_counts_parameters_not_batch_norm_statistics(tmp_path):
    from inktrace.checkpoint.compare import describe

    model = InkTraceNet(embed_dim=4, num_layers=2, norm="batch")
    torch.save(model.state_dict(), tmp_path / "bn.pth")
    assert describe(tmp_path / "bn.pth")["parameters"] == model.get_num_params()


def test_resuming_bare_weights_needs_a_config_instead_of_starting_a_default_run(
    tmp_path, capsys, monkeypatch
):
    from inktrace.cli.train import main as train_main
    from inktrace.model.net import InkTraceNet

    bare = tmp_path / "bare_weights.pth"
    torch.save(InkTraceNet(embed_dim=8, num_layers=2).state_dict(), bare)
    monkeypatch.chdir(tmp_path)
    assert train_main(["--resume", str(bare)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "holds no training configuration (weights only)" in err
    assert not (tmp_path / "checkpoints").exists()  # nothing started
