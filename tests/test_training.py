"""Trainers: the loop, exact resume, checkpoints and logs, the pipeline and train.py (CPU, tiny)."""

import json
import os
import signal

import pytest
import torch
from helpers import StopAt

from inktrace.checkpoint import CheckpointError
from inktrace.cli.train import main as train_main
from inktrace.config import Config
from inktrace.training import Callback, DenseTrainer, NonFiniteLossError, StructuralTrainer
from inktrace.training.folders import release
from inktrace.training.optim import WarmupCosine
from inktrace.training.pipeline import run_stages


def tiny(tmp_path, stage="dense", overrides=None, sub="run"):
    data = {
        "experiment": {"name": "t"},
        "model": {"embed_dim": 4, "num_layers": 2, "dropout": 0.1},
        "training": {
            "epochs": 4,
            "batch_size": 4,
            "warmup_epochs": 0.5,
            "precision": "fp32",
            "lr": 3e-3,
        },
        "data": {"img_size": 32, "train_size": 10, "val_size": 4},
        "checkpoint": {"save_dir": str(tmp_path / sub / "ck"), "keep_top_k": 2},
        "logging": {
            "log_dir": str(tmp_path / sub / "runs"),
            "log_every_n_steps": 1,
            "grad_norm_every_n_steps": 2,
            "progress_bar": False,
        },
        "visualization": {"num_samples": 2},
        "pipeline": {"order": ["structural", "dense"]},
        "stages": {
            "structural": {"model": {"mask_ratio": 0.5, "mask_patch_size": 4}},
            "dense": {
                "init_from": "none",
                "curriculum": {
                    "enabled": True,
                    "start_stage": 0,
                    "end_stage": 4,
                    "epochs_per_stage": 1,
                },
            },
        },
    }
    return Config.from_dict(data, stage=stage, overrides=overrides or {})


def weights(path):
    return torch.load(path, weights_only=True)["model"]


def same_weights(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("cls, stage", [(DenseTrainer, "dense"), (StructuralTrainer, "structural")])
def test_interrupted_and_resumed_run_ends_bit_identical(tmp_path, cls, stage):
    full = cls(tiny(tmp_path, stage, sub="full"), verbose=False).fit()
    assert full["status"] == "completed" and full["total_epochs"] == 4 and full["global_step"] == 12

    # step 5 is in the middle of epoch 1 (3 steps per epoch)
    part = cls(tiny(tmp_path, stage, sub="part"), verbose=False, callbacks=[StopAt(5)]).fit()
    assert part["status"] == "interrupted" and part["global_step"] == 5
    last = tmp_path / "part" / "ck" / stage / "last.ckpt"
    ckpt = torch.load(last, weights_only=True)
    assert ckpt["position"] == {"epoch": 1, "batch": 2}
    resumed = cls(tiny(tmp_path, stage, sub="part"), resume=last, verbose=False).fit()
    assert resumed["status"] == "completed" and resumed["global_step"] == 12

    a, b = tmp_path / "full" / "ck" / stage, tmp_path / "part" / "ck" / stage
    assert same_weights(weights(a / "last.ckpt"), weights(b / "last.ckpt"))
    full_opt = torch.load(a / "last.ckpt", weights_only=True)["optimizer"]["state"]
    part_opt = torch.load(b / "last.ckpt", weights_only=True)["optimizer"]["state"]
    assert all(torch.equal(full_opt[k]["exp_avg_sq"], part_opt[k]["exp_avg_sq"]) for k in full_opt)
    # the checkpoint bookkeeping came through the resume: same top-k files, same best
    assert sorted(p.name for p in a.glob("*.ckpt")) == sorted(p.name for p in b.glob("*.ckpt"))
    assert (
        resumed["best_value"] == full["best_value"] and resumed["best_epoch"] == full["best_epoch"]
    )
    # the JSON history is continuous (no repeated or missing epoch) and equal
    log_a = json.loads((tmp_path / "full" / "runs" / stage / "training_log.json").read_text())
    log_b = json.loads((tmp_path / "part" / "runs" / stage / "training_log.json").read_text())
    assert log_b["training_history"]["epoch"] == [0, 1, 2, 3]
    assert log_a["training_history"]["val/loss"] == log_b["training_history"]["val/loss"]


def test_stop_at_an_epoch_end_and_resume_with_more_epochs(tmp_path):
    class StopAfterEpoch:  # any object with some of the hooks is a callback
        def after_epoch(self, metrics):
            if self.trainer.state.epoch == 1:
                self.trainer.request_stop()

    cfg = tiny(tmp_path, overrides={"training.epochs": 2})
    s = DenseTrainer(cfg, verbose=False, callbacks=[StopAfterEpoch()]).fit()
    # the stop came after the last planned epoch: nothing left, so the run completed
    assert s["status"] == "completed" and s["total_epochs"] == 2
    last = tmp_path / "run" / "ck" / "dense" / "last.ckpt"
    more = DenseTrainer(
        tiny(tmp_path, overrides={"training.epochs": 3}), resume=last, verbose=False
    )
    assert any(c.startswith("training.epochs: 2 -> 3") for c in more.config_changes)
    s = more.fit()
    assert s["status"] == "completed" and s["total_epochs"] == 3 and s["global_step"] == 9


def test_resume_refuses_architecture_changes_and_keeps_its_source(tmp_path):
    DenseTrainer(tiny(tmp_path, overrides={"training.epochs": 1}), verbose=False).fit()
    last = tmp_path / "run" / "ck" / "dense" / "last.ckpt"
    with pytest.raises(Exception, match="model.embed_dim is 4 in the checkpoint but 8 now"):
        DenseTrainer(tiny(tmp_path, overrides={"model.embed_dim": 8}), resume=last, verbose=False)
    with pytest.raises(Exception, match="stage 'dense', not 'structural'"):
        StructuralTrainer(tiny(tmp_path, "structural"), resume=last, verbose=False)
    t = DenseTrainer(tiny(tmp_path, overrides={"training.lr": 1e-4}), resume=last, verbose=False)
    assert "training.lr: 0.003 -> 0.0001" in t.config_changes
    assert t.scheduler.base_lrs == [1e-4]  # a changed LR applies on resume
    saved = torch.load(last, weights_only=True)
    assert t.scheduler.step_count == saved["scheduler"]["step_count"] == saved["global_step"]


def test_resume_loads_the_schedule_from_its_own_key(tmp_path):
    """The schedule is a checkpointable like the others: its saved position is what a resume
    reads (the global step, the same number in every file a run writes); a file without one
    starts it at the train state's step, and a malformed one is refused in one line."""
    DenseTrainer(tiny(tmp_path, overrides={"training.epochs": 1}), verbose=False).fit()
    last = tmp_path / "run" / "ck" / "dense" / "last.ckpt"
    data = torch.load(last, weights_only=True)
    step = data["global_step"]
    cfg = tiny(tmp_path, overrides={"training.epochs": 2})
    for stored, expected in [({**data["scheduler"], "step_count": step - 1}, step - 1), ({}, step)]:
        torch.save({**data, "scheduler": stored}, last)
        t = DenseTrainer(cfg, resume=last, verbose=False)
        assert t.scheduler.step_count == expected and t.state.global_step == step
        assert t.scheduler.total_steps == expected + t.steps_per_epoch  # one epoch left
        assert t.scheduler.get_last_lr()[0] == pytest.approx(
            cfg.training.lr * t.scheduler.factor(expected)
        )
        release(t.locks)  # the next trainer takes the same folders
    torch.save({**data, "scheduler": {"kind": "cosine"}}, last)
    with pytest.raises(CheckpointError, match="'scheduler' has no 'step_count'"):
        DenseTrainer(cfg, resume=last, verbose=False)


def test_checkpoints_json_logs_and_tensorboard_tags(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    summary = DenseTrainer(tiny(tmp_path), verbose=False).fit()
    ck, run = tmp_path / "run" / "ck" / "dense", tmp_path / "run" / "runs" / "dense"
    names = sorted(p.name for p in ck.iterdir())
    assert "last.ckpt" in names and "best.ckpt" in names
    topk = [n for n in names if n.startswith("epoch")]
    assert len(topk) == 2 and all(n.startswith("epoch") and "-val_loss" in n for n in topk)
    assert not [p for p in ck.rglob("*") if p.is_dir()]  # '/' in the metric made no folder
    for p in ck.iterdir():
        ckpt = torch.load(p, weights_only=True)
        assert ckpt["format"] == "inktrace" and ckpt["stage"] == "dense"
        assert {
            "model",
            "optimizer",
            "scheduler",
            "scaler",
            "config",
            "epoch",
            "global_step",
            "metrics",
            "rng",
            "checkpoint_manager",
            "position",
        } <= set(ckpt)
    best = torch.load(ck / "best.ckpt", weights_only=True)
    assert best["metrics"]["val/loss"] == summary["best_value"]

    config = json.loads((run / "training_config.json").read_text())
    assert {"experiment", "data", "model", "training", "loss", "system"} <= set(config)
    assert (
        config["model"]["total_parameters"] > 0 and config["system"]["torch"] == torch.__version__
    )
    log = json.loads((run / "training_log.json").read_text())
    hist = log["training_history"]
    assert hist["epoch"] == [0, 1, 2, 3] and hist["curriculum_stage"] == [0, 1, 2, 3]
    assert len(hist["val/f1"]) == 4 and {"last_update", "best_metrics"} <= set(log)
    done = json.loads((run / "training_summary.json").read_text())
    assert done["status"] == "completed" and done["total_epochs"] == 4
    assert done["best_checkpoint"] == str(ck / "best.ckpt") and {"completion_time"} <= set(done)

    acc = EventAccumulator(str(run), size_guidance={"scalars": 0, "images": 0})
    acc.Reload()
    tags = set(acc.Tags()["scalars"])
    want = {
        "train/loss",
        "train/loss_skel",
        "train/loss_keys",
        "train/loss_tangent",
        "train/loss_width",
        "train/loss_offset",
        "val/loss",
        "val/iou",
        "val/precision",
        "val/recall",
        "val/f1",
        "val/kp_topo_recall",
        "val/kp_geo_recall",
        "curriculum/stage",
        "train/grad_norm",
        "train/lr",
    }
    assert want <= tags, want - tags
    assert [e.value for e in acc.Scalars("curriculum/stage")] == [0, 1, 2, 3]
    assert len(acc.Scalars("train/loss")) >= 12
    assert "val/panels" in acc.Tags()["images"]


def test_non_finite_losses_stop_with_a_clear_error_and_keep_the_last_good_checkpoint(tmp_path):
    class Exploding(DenseTrainer):
        def model_inputs(self, batch, step, train):
            if train and self.state.epoch == 1:
                batch["image"].fill_(float("nan"))
            return {}

    t = Exploding(tiny(tmp_path), verbose=False)
    with pytest.raises(NonFiniteLossError, match="3 consecutive non-finite losses"):
        t.fit()
    run, ck = tmp_path / "run" / "runs" / "dense", tmp_path / "run" / "ck" / "dense"
    done = json.loads((run / "training_summary.json").read_text())
    assert done["status"] == "failed" and "non-finite" in done["error"]
    last = torch.load(ck / "last.ckpt", weights_only=True)
    assert last["epoch"] == 0 and all(
        torch.isfinite(v).all() for v in last["model"].values() if v.is_floating_point()
    )
    assert isinstance(NonFiniteLossError("x"), FloatingPointError)


def test_sigterm_saves_a_resumable_checkpoint(tmp_path):
    class Terminate(Callback):
        def after_step(self, losses):
            if self.trainer.state.global_step == 4:
                os.kill(os.getpid(), signal.SIGTERM)

    before = signal.getsignal(signal.SIGTERM)
    s = DenseTrainer(tiny(tmp_path), verbose=False, callbacks=[Terminate()]).fit()
    assert signal.getsignal(signal.SIGTERM) is before  # handler restored
    assert s["status"] == "interrupted"
    ckpt = torch.load(tmp_path / "run" / "ck" / "dense" / "last.ckpt", weights_only=True)
    assert ckpt["global_step"] == 4 and ckpt["position"] == {"epoch": 1, "batch": 1}
    done = json.loads((tmp_path / "run" / "runs" / "dense" / "training_summary.json").read_text())
    assert done["status"] == "interrupted"


def test_pipeline_hands_the_best_structural_weights_to_dense(tmp_path):
    configs = [
        tiny(tmp_path, "structural", {"training.epochs": 1}),
        tiny(tmp_path, "dense", {"training.epochs": 1, "init_from": "auto"}),
    ]
    s1, s2 = run_stages(configs, verbose=False)
    assert s1["status"] == s2["status"] == "completed"
    best = tmp_path / "run" / "ck" / "structural" / "best.ckpt"
    info = json.loads((tmp_path / "run" / "runs" / "dense" / "training_config.json").read_text())[
        "init_from"
    ]
    assert info["source"] == str(best) and info["loaded"] > 0 and not info["mismatched"]
    assert info["missing"] and all(
        k.startswith(("heads.keypoints", "heads.width", "heads.offset")) for k in info["missing"]
    )
    structural = weights(best)
    fresh = DenseTrainer(
        tiny(tmp_path, "dense", {"init_from": str(best)}, sub="again"), verbose=False
    )
    own = fresh.model.state_dict()
    assert all(torch.equal(own[k], v) for k, v in structural.items())
    # auto without a previous best is a clear error
    with pytest.raises(CheckpointError, match="no best checkpoint of stage 'structural'"):
        DenseTrainer(tiny(tmp_path, "dense", {"init_from": "auto"}, sub="other"), verbose=False)


def test_train_py_runs_resumes_from_the_checkpoint_alone_and_reports_bad_input(
    tmp_path, capsys, monkeypatch
):
    cfg_file = tmp_path / "cfg.yaml"
    cfg_file.write_text(tiny(tmp_path, "dense", {"training.epochs": 1}).to_yaml())
    assert train_main(["--config", str(cfg_file), "--stage", "dense"]) == 0
    last = tmp_path / "run" / "ck" / "dense" / "last.ckpt"
    reads, torch_load = [], torch.load

    def counting_load(f, *args, **kwargs):
        reads.append(os.fspath(f))
        return torch_load(f, *args, **kwargs)

    monkeypatch.setattr(torch, "load", counting_load)
    assert train_main(["--resume", str(last), "--epochs", "2"]) == 0
    assert reads.count(str(last)) == 1  # config, stage and state all from one read
    monkeypatch.undo()
    assert torch.load(last, weights_only=True)["epoch"] == 1
    capsys.readouterr()
    assert train_main(["--resume", str(tmp_path / "nope.ckpt")]) == 2
    err = capsys.readouterr().err
    assert "nope.ckpt: no such checkpoint file" in err and err.count("\n") == 1
    assert train_main(["--resume", str(last), "--set", "model.num_layers=3"]) == 2
    assert "architecture cannot change" in capsys.readouterr().err


def test_schedule_is_a_function_of_the_step_and_survives_skipped_steps():
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.AdamW([p], lr=1.0)
    s = WarmupCosine(opt, total_steps=10, warmup_steps=2, min_lr_ratio=0.1)
    lrs = [s.get_last_lr()[0]]
    for _ in range(10):
        s.step()
        lrs.append(s.get_last_lr()[0])
    assert (
        lrs[0] == pytest.approx(1 / 3)
        and lrs[1] == pytest.approx(2 / 3)
        and lrs[2] == pytest.approx(1.0)
    )
    assert lrs[10] == pytest.approx(0.1)
    assert all(a >= b for a, b in zip(lrs[2:], lrs[3:]))  # cosine: never increasing after warmup
    t = WarmupCosine(
        torch.optim.AdamW([p], lr=1.0), total_steps=10, warmup_steps=2, min_lr_ratio=0.1
    )
    t.seek(6)
    assert t.get_last_lr()[0] == pytest.approx(lrs[6])
    # saved and loaded back: the position comes from the file, the curve from the schedule
    u = WarmupCosine(torch.optim.AdamW([p], lr=0.5), total_steps=10, warmup_steps=2)
    u.load_state_dict(t.state_dict())
    assert u.step_count == 6 and u.get_last_lr()[0] == pytest.approx(0.5 * u.factor(6))
    u.stretch(8)  # a resume with 8 steps left: the cosine now ends at step 14
    assert u.total_steps == 14 and u.get_last_lr()[0] == pytest.approx(0.5 * u.factor(6))
    assert u.factor(14) == 0.0 and u.factor(10) > 0.0


def test_dataloader_workers_and_bf16_autocast(tmp_path):
    base = {"training.epochs": 1}
    a = DenseTrainer(tiny(tmp_path, overrides=base, sub="w0"), verbose=False)
    a.fit()
    b = DenseTrainer(
        tiny(tmp_path, overrides={**base, "data.num_workers": 2}, sub="w2"), verbose=False
    )
    b.fit()
    # the samples are a pure function of their index: workers change nothing
    assert same_weights(a.model.state_dict(), b.model.state_dict())
    c = DenseTrainer(
        tiny(tmp_path, overrides={**base, "training.precision": "bf16"}, sub="bf16"), verbose=False
    )
    assert c.precision == "bf16" and not c.scaler.is_enabled()
    s = c.fit()
    assert s["status"] == "completed" and all(
        torch.isfinite(torch.tensor(v)) for k, v in s["final_metrics"].items() if k.endswith("loss")
    )
    with pytest.raises(Exception, match="fp16 needs a CUDA device"):
        DenseTrainer(
            tiny(tmp_path, overrides={"training.precision": "fp16"}, sub="fp16"), verbose=False
        )


def test_resume_from_an_older_checkpoint_keeps_logs_means_and_best_consistent(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    over = {"training.epochs": 3, "checkpoint.keep_top_k": 3}
    full = DenseTrainer(tiny(tmp_path, overrides=over, sub="full"), verbose=False).fit()
    DenseTrainer(
        tiny(tmp_path, overrides=over, sub="part"), verbose=False, callbacks=[StopAt(4)]
    ).fit()  # mid-epoch 1
    ck = tmp_path / "part" / "ck" / "dense"
    DenseTrainer(
        tiny(tmp_path, overrides=over, sub="part"), resume=ck / "last.ckpt", verbose=False
    ).fit()

    def hist(sub):
        log = tmp_path / sub / "runs" / "dense" / "training_log.json"
        return json.loads(log.read_text())["training_history"]

    # epoch means survive the mid-epoch interrupt exactly
    assert hist("full")["train/loss"] == hist("part")["train/loss"]
    # the epoch-end checkpoints carry their own epoch in history and best_metrics
    best = torch.load(ck / "best.ckpt", weights_only=True)
    assert (
        best["best_metrics"]["epoch"] == best["epoch"]
        and best["history"]["epoch"][-1] == best["epoch"]
    )
    # resume again from the epoch-0 file: the history continues from there, TensorBoard keeps
    # epoch 0
    (first,) = ck.glob("epoch0-*.ckpt")
    again = DenseTrainer(
        tiny(tmp_path, overrides={**over, "training.lr": 0.5}, sub="part"),
        resume=first,
        verbose=False,
    )
    s = again.fit()
    assert hist("part")["epoch"] == [0, 1, 2]
    # best.ckpt never holds the abandoned continuation's model
    held = torch.load(ck / "best.ckpt", weights_only=True)
    assert held["epoch"] == s["best_epoch"] and held["global_step"] <= s["global_step"]
    acc = EventAccumulator(str(tmp_path / "part" / "runs" / "dense"))
    acc.Reload()
    assert [e.step for e in acc.Scalars("val/loss")] == [3, 6, 9]
    assert full["global_step"] == 9


def test_resume_applies_optimizer_settings_and_refuses_too_few_epochs(tmp_path):
    DenseTrainer(tiny(tmp_path, overrides={"training.epochs": 2}), verbose=False).fit()
    last = tmp_path / "run" / "ck" / "dense" / "last.ckpt"
    t = DenseTrainer(
        tiny(
            tmp_path,
            overrides={
                "training.epochs": 3,
                "training.weight_decay": 0.5,
                "training.betas": [0.5, 0.6],
            },
        ),
        resume=last,
        verbose=False,
    )
    group = t.optimizer.param_groups[0]
    assert group["weight_decay"] == 0.5 and tuple(group["betas"]) == (0.5, 0.6)
    with pytest.raises(Exception, match="training.epochs 1 is fewer than the 2 epochs"):
        DenseTrainer(tiny(tmp_path, overrides={"training.epochs": 1}), resume=last, verbose=False)


def test_fit_again_after_an_interrupt_continues(tmp_path):
    stop = StopAt(2)
    t = DenseTrainer(tiny(tmp_path), verbose=False, callbacks=[stop])
    assert t.fit()["status"] == "interrupted"
    stop.step = None
    s = t.fit()
    assert s["status"] == "completed" and s["global_step"] == 12
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(tmp_path / "run" / "runs" / "dense"))
    acc.Reload()
    assert [e.step for e in acc.Scalars("train/loss")] == list(
        range(1, 13)
    )  # the first fit's steps are kept


def test_non_finite_gradients_never_reach_the_weights(tmp_path):
    class BadGrad(DenseTrainer):
        def model_inputs(self, batch, step, train):
            if (
                train and step == 4
            ):  # from step 4 on, one gradient is NaN while the loss stays finite
                self.model.stem[0].weight.register_hook(lambda g: g * float("nan"))
            return {}

    t = BadGrad(tiny(tmp_path), verbose=False)
    with pytest.raises(NonFiniteLossError, match="non-finite losses or gradients"):
        t.fit()
    assert all(torch.isfinite(p).all() for p in t.model.parameters())
    last = torch.load(tmp_path / "run" / "ck" / "dense" / "last.ckpt", weights_only=True)
    assert all(torch.isfinite(v).all() for v in last["model"].values() if v.is_floating_point())


def test_init_from_rules(tmp_path):
    # None means fresh weights, whatever the config says (the notebook contract)
    t = DenseTrainer(tiny(tmp_path, overrides={"init_from": "auto"}), init_from=None, verbose=False)
    assert t.state.init_report is None
    # a stage outside pipeline.order (finetune) takes the best of the order's last stage
    DenseTrainer(
        tiny(tmp_path, overrides={"training.epochs": 1, "checkpoint.save_best": False}),
        verbose=False,
    ).fit()
    from inktrace.checkpoint import CheckpointManager
    from inktrace.training import FinetuneTrainer
    from inktrace.training.resume import previous_stage

    cfg = Config.from_dict({**tiny(tmp_path).to_dict(), "stage": "finetune", "init_from": "auto"})
    assert previous_stage(cfg) == "dense"
    found = CheckpointManager.best_in(tmp_path / "run" / "ck" / "dense")
    assert found is not None and found.name.startswith(
        "epoch0-"
    )  # no best.ckpt: the best top-k file
    f = FinetuneTrainer(cfg, verbose=False)
    assert f.state.init_report["source"] == str(found) and not f.state.init_report["missing"]
    # a whole multiple of the channels is widened (model/widen.py): the same maps
    wide = DenseTrainer(
        tiny(tmp_path, overrides={"model.embed_dim": 12, "init_from": str(found)}), verbose=False
    )
    assert wide.model.hparams["embed_dim"] == 12 and not wide.state.init_report["mismatched"]
    narrow = f.model.eval()
    x = torch.rand(2, 1, 32, 32)
    with torch.no_grad():
        a, b = narrow(x), wide.model.eval()(x)
    assert all(torch.allclose(a[k], b[k], atol=1e-4) for k in a)
    # other shape mismatches are an error, not a silent partial load
    with pytest.raises(CheckpointError, match="another shape.*cannot be widened"):
        DenseTrainer(
            tiny(tmp_path, overrides={"model.embed_dim": 6, "init_from": str(found)}), verbose=False
        )


def test_bad_settings_fail_early_with_one_line(tmp_path, capsys):
    from inktrace.config import ConfigError

    with pytest.raises(
        ConfigError, match=r"checkpoint.monitor: 'val/f1x' is not a metric .*did you mean 'val/f1'"
    ):
        DenseTrainer(tiny(tmp_path, overrides={"checkpoint.monitor": "val/f1x"}), verbose=False)
    with pytest.raises(ConfigError, match="kp_topo_recall"):
        StructuralTrainer(
            tiny(tmp_path, "structural", overrides={"checkpoint.monitor": "val/kp_topo_recall"}),
            verbose=False,
        )
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ConfigError, match="checkpoint.save_dir: cannot create"):
        DenseTrainer(tiny(tmp_path, overrides={"checkpoint.save_dir": str(blocker)}), verbose=False)
    junk = tmp_path / "junk.ckpt"
    junk.write_text("hi")
    assert train_main(["--resume", str(junk)]) == 2
    assert "junk.ckpt: not a readable checkpoint" in capsys.readouterr().err
    assert train_main(["--resume", str(junk), "--init_from", str(junk)]) == 2
    assert "exclude each other" in capsys.readouterr().err
    t = StructuralTrainer(tiny(tmp_path, "structural", overrides={"model.skip_connections": True}))
    assert (
        "model.skip_connections: True -> False" in capsys.readouterr().out
        and not t.cfg.model.skip_connections
    )


def test_a_moved_run_folder_resumes_in_place(tmp_path):
    import shutil

    DenseTrainer(tiny(tmp_path, overrides={"training.epochs": 1}), verbose=False).fit()
    moved = tmp_path / "moved" / "dense"
    shutil.copytree(tmp_path / "run" / "ck" / "dense", moved)
    shutil.rmtree(tmp_path / "run" / "ck" / "dense")
    t = DenseTrainer(
        tiny(tmp_path, overrides={"training.epochs": 2}), resume=moved / "last.ckpt", verbose=False
    )
    assert t.ckpt_dir == moved and t.manager.best_path is not None
    t.fit()
    assert not (tmp_path / "run" / "ck" / "dense").exists()
    assert len(list(moved.glob("epoch*.ckpt"))) == 2
