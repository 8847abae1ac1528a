"""The trainer's parts on their own: resume rules as plain functions, the training state, the
callbacks and the console messages (no full training loop unless a hook needs one)."""

import json
import logging
import signal
from pathlib import Path

import pytest
import torch

from inktrace.checkpoint import CheckpointError
from inktrace.config import Config, ConfigError
from inktrace.training import (
    TRAINERS,
    Callback,
    DenseTrainer,
    FinetuneTrainer,
    NonFiniteLossError,
    StructuralTrainer,
    TrainState,
    trainer_class,
)
from inktrace.training.folders import resume_folder
from inktrace.training.resume import (
    ResumePoint,
    changed_settings,
    check_architecture,
    check_epochs,
    check_position,
    plan_resume,
    resolve_init_from,
)
from inktrace.training.state import checkpoint_payload

CONFIG = {
    "experiment": {"name": "t"},
    "model": {"embed_dim": 4, "num_layers": 2},
    "training": {"epochs": 2, "batch_size": 4, "precision": "fp32", "warmup_epochs": 0.5},
    "data": {"img_size": 32, "train_size": 8, "val_size": 4},
    "logging": {"progress_bar": False, "log_every_n_steps": 1},
    "visualization": {"enabled": False},
    "pipeline": {"order": ["structural", "dense"]},
    "stages": {"structural": {}, "dense": {}},
}


def config(tmp_path, stage="dense", **overrides):
    data = {
        **CONFIG,
        "checkpoint": {"save_dir": str(tmp_path / "ck")},
        "logging": {**CONFIG["logging"], "log_dir": str(tmp_path / "runs")},
    }
    return Config.from_dict(data, stage=stage, overrides=overrides)


def point(tmp_path, position=None, stage="dense", legacy=False, **config_overrides):
    """A ResumePoint made by hand: no training needed to test the rules."""
    ckpt = {"config": config(tmp_path, stage, **config_overrides).to_dict(), "stage": stage}
    if position is not None:
        ckpt["position"] = position
    if legacy:
        ckpt["migration"] = {"layout": "B", "notes": ["layout B"]}
    return ResumePoint(tmp_path / "ck" / stage / "last.ckpt", ckpt)


# ---------------------------------------------------------------------------------- resume rules
def test_architecture_changes_are_refused_naming_the_key():
    saved = {"model.embed_dim": 4, "model.norm": "group"}
    check_architecture(Path("a.ckpt"), saved, dict(saved))
    with pytest.raises(
        ConfigError, match=r"a.ckpt: model.norm is 'group' in the checkpoint but 'batch'"
    ):
        check_architecture(Path("a.ckpt"), saved, {**saved, "model.norm": "batch"})


def test_the_data_position_may_change_only_at_an_epoch_boundary():
    saved, current = {"training.batch_size": 4}, {"training.batch_size": 8}
    check_position(Path("a.ckpt"), saved, current, {"epoch": 2, "batch": 0})
    with pytest.raises(
        ConfigError, match=r"training.batch_size changed \(4 -> 8\).*middle of an epoch"
    ):
        check_position(Path("a.ckpt"), saved, current, {"epoch": 2, "batch": 1})


@pytest.mark.parametrize(
    "epochs, position, ok",
    [
        (3, {"epoch": 3, "batch": 0}, True),
        (3, {"epoch": 2, "batch": 5}, True),
        (2, {"epoch": 3, "batch": 0}, False),
        (3, {"epoch": 3, "batch": 1}, False),
    ],
)
def test_fewer_epochs_than_started_are_refused(epochs, position, ok):
    if ok:
        check_epochs(Path("a.ckpt"), epochs, position)
    else:
        with pytest.raises(ConfigError, match=f"training.epochs {epochs} is fewer than the"):
            check_epochs(Path("a.ckpt"), epochs, position)


def test_changed_settings_are_listed_except_init_from():
    saved = {"training.lr": 0.1, "init_from": "a", "data.seed": 1}
    current = {"training.lr": 0.2, "init_from": "b", "data.seed": 1, "data.new": 3}
    assert changed_settings(saved, current) == ["data.new: None -> 3", "training.lr: 0.1 -> 0.2"]


def test_plan_resume_runs_every_rule_and_reports_what_changes(tmp_path):
    cfg = config(tmp_path, **{"training.epochs": 4, "data.val_size": 8})
    plan = plan_resume(
        point(tmp_path, {"epoch": 2, "batch": 0}), cfg, "dense", {"dense", "structural"}
    )
    assert plan.validation_changed == ["data.val_size"]
    assert "training.epochs: 2 -> 4" in plan.config_changes
    with pytest.raises(ConfigError, match="checkpoint of stage 'structural', not 'dense'"):
        plan_resume(point(tmp_path, stage="structural"), cfg, "dense", {"dense", "structural"})
    # a migrated legacy file may continue a stage that is not named after a trainer
    legacy = point(tmp_path, {"epoch": 1, "batch": 0}, stage="dense", legacy=True)
    debug = config(tmp_path, stage="dense", **{"training.epochs": 4})
    assert plan_resume(legacy, debug, "debug", {"dense", "structural"}).validation_changed == []
    with pytest.raises(ConfigError, match="model.embed_dim is 4 in the checkpoint but 8 now"):
        plan_resume(point(tmp_path), config(tmp_path, **{"model.embed_dim": 8}), "dense", {"dense"})


def test_a_resumed_run_stays_in_its_stage_named_folder(tmp_path):
    default = tmp_path / "ck" / "dense"
    moved = tmp_path / "elsewhere" / "dense" / "last.ckpt"
    assert resume_folder(moved, default, "dense", save_dir_given=False) == moved.parent
    assert resume_folder(moved, default, "dense", save_dir_given=True) == default
    assert resume_folder(tmp_path / "old" / "run.pth", default, "dense", False) == default


def test_init_from_choices(tmp_path):
    cfg = config(tmp_path, **{"init_from": "none"})
    assert resolve_init_from(cfg) == (None, "fresh weights")  # "config": the config's value
    assert resolve_init_from(cfg, None)[0] is None
    with pytest.raises(CheckpointError, match="nope.ckpt: no such checkpoint file"):
        resolve_init_from(cfg, tmp_path / "nope.ckpt")
    auto = config(tmp_path, **{"init_from": "auto"})
    with pytest.raises(CheckpointError, match="no best checkpoint of stage 'structural'"):
        resolve_init_from(auto)
    off = config(tmp_path, **{"init_from": "auto", "pipeline.auto_transfer": False})
    assert "auto_transfer is off" in resolve_init_from(off)[1]
    first = config(tmp_path, stage="structural", **{"init_from": "auto"})
    assert "no stage comes before" in resolve_init_from(first)[1]


# ---------------------------------------------------------------------------------- train state
def test_train_state_round_trips_through_a_checkpoint_dict():
    s = TrainState(
        epoch=3, batch_in_epoch=2, global_step=17, nonfinite_run=1, skipped_steps=4, last_lr=0.01
    )
    s.epoch_sums, s.epoch_count = {"total": 10.0, "grad_norm": 6.0}, 6  # as meter.py leaves them
    assert s.train_means() == {"train/loss": 10.0 / 6, "train/grad_norm": 1.0}
    s.record_epoch({"val/loss": 0.5}, level=2, is_best=True)
    s.epoch += 1
    s.record_epoch({"val/f1": 0.9}, level=3, is_best=False)  # lists stay aligned
    h = s.history
    assert h["epoch"] == [3, 4] and h["curriculum_stage"] == [2, 3] and h["lr"] == [0.01, 0.01]
    assert h["val/loss"] == [0.5, None] and h["val/f1"] == [None, 0.9] and len(h["time"]) == 2
    assert s.best_metrics == {"epoch": 3, "global_step": 17, "val/loss": 0.5}
    assert s.last_metrics == {"val/f1": 0.9}

    mid = s.state_dict(epoch_done=False, device=torch.device("cpu"))
    assert mid["position"] == {"epoch": 4, "batch": 2} and mid["epoch_partial"]["count"] == 6
    rng = torch.get_rng_state()
    torch.rand(3)
    back = TrainState()
    back.load_state_dict({**mid, "metrics": s.last_metrics}, 5, torch.device("cpu"))
    assert back == s and torch.equal(torch.get_rng_state(), rng)  # the global RNG is restored too

    done = s.state_dict(epoch_done=True, device=torch.device("cpu"))
    assert done["position"] == {"epoch": 5, "batch": 0} and done["epoch_partial"] == {
        "sums": {},
        "count": 0,
    }
    fresh = TrainState()
    fresh.load_state_dict(
        {"position": {"epoch": 2, "batch": 0}}, steps_per_epoch=5, device=torch.device("cpu")
    )
    assert (
        fresh.global_step == 10 and fresh.last_lr is None and fresh.epoch_sums == {}
    )  # legacy: derived


def test_the_payload_holds_every_contract_key():
    model = torch.nn.Linear(2, 2)
    payload = checkpoint_payload(
        {"model": model},
        TrainState(),
        {"stage": "dense"},
        {"val/loss": 1.0},
        True,
        torch.device("cpu"),
    )
    assert {
        "model",
        "stage",
        "epoch",
        "global_step",
        "metrics",
        "rng",
        "position",
        "history",
    } <= set(payload)
    assert payload["metrics"] == {"val/loss": 1.0} and torch.equal(
        payload["model"]["weight"], model.weight
    )


# ---------------------------------------------------------------------------------- callbacks
class Recorder:
    """A plain object (no base class) with some of the hooks."""

    def __init__(self):
        self.calls = []

    def before_train(self):
        self.calls.append(("before_train", self.trainer.state.epoch))

    def after_step(self, losses):
        self.calls.append(("after_step", self.trainer.state.global_step, round(losses["total"], 6)))

    def after_epoch(self, metrics):
        self.calls.append(("after_epoch", self.trainer.state.epoch, "val/loss" in metrics))

    def after_train(self):
        self.calls.append(("after_train", self.trainer.status))


def test_callbacks_see_every_step_and_epoch_in_order(tmp_path):
    rec = Recorder()
    summary = DenseTrainer(config(tmp_path), verbose=False, callbacks=[rec]).fit()
    names = [c[0] for c in rec.calls]
    assert names == ["before_train"] + (["after_step"] * 2 + ["after_epoch"]) * 2 + ["after_train"]
    assert [c[1] for c in rec.calls if c[0] == "after_step"] == [1, 2, 3, 4]
    assert [c[1:] for c in rec.calls if c[0] == "after_epoch"] == [(0, True), (1, True)]
    assert rec.calls[-1] == ("after_train", "completed") and summary["status"] == "completed"
    # the losses a callback sees are the ones logged
    log = summary["final_metrics"]
    assert log["train/loss"] == pytest.approx(sum(c[2] for c in rec.calls[4:6]) / 2, rel=1e-5)


class BadTeardown(Callback):
    def after_train(self):
        raise RuntimeError("bad teardown")


def test_after_train_runs_when_training_fails_and_never_hides_the_error(tmp_path):
    class Explode(Callback):
        def after_step(self, losses):
            raise NonFiniteLossError("boom")

    rec = Recorder()
    with pytest.raises(NonFiniteLossError, match="boom"):
        DenseTrainer(
            config(tmp_path), verbose=False, callbacks=[Explode(), BadTeardown(), rec]
        ).fit()
    assert rec.calls[-1] == ("after_train", "failed")  # ran although the one before it raised


def test_a_failing_after_train_fails_the_run_and_the_rest_is_still_restored(tmp_path):
    before = signal.getsignal(signal.SIGTERM)
    trainer = DenseTrainer(config(tmp_path), verbose=False, callbacks=[BadTeardown()])
    with pytest.raises(RuntimeError, match="bad teardown"):
        trainer.fit()
    assert signal.getsignal(signal.SIGTERM) is before  # the handlers came back all the same
    summary = json.loads((tmp_path / "runs" / "dense" / "training_summary.json").read_text())
    assert summary["status"] == "failed" and summary["error"] == "RuntimeError: bad teardown"
    assert trainer.callbacks.builtin[0].writer is None  # the TensorBoard writer is closed


def test_methods_of_the_old_hook_api_are_refused_at_class_creation():
    with pytest.raises(TypeError, match=r"Old.data_stage: .*use data_level\(epoch\) instead"):

        class Old(DenseTrainer):
            def data_stage(self, epoch):
                return 0

    with pytest.raises(TypeError, match=r"after_step: .*a callback's after_step"):

        class OldHook(DenseTrainer):
            def after_step(self, losses):
                pass


def test_the_trainer_registry_is_filled_where_it_is_defined():
    """A class statement naming its stage enters the registry (trainer.py); a variation of a
    stage trainer without one inherits the name and stays out, so trainer_class is unchanged."""
    assert TRAINERS == {
        "structural": StructuralTrainer,
        "dense": DenseTrainer,
        "finetune": FinetuneTrainer,
    }
    assert [t.name for t in TRAINERS.values()] == list(TRAINERS)

    class Variation(DenseTrainer):
        pass

    assert Variation.name == "dense" and TRAINERS["dense"] is DenseTrainer
    try:

        class Sketch(DenseTrainer, stage="sketch"):
            pass

        assert Sketch.name == "sketch" and TRAINERS["sketch"] is Sketch
        stages = {**CONFIG, "stages": {**CONFIG["stages"], "sketch": {}}}
        assert trainer_class(Config.from_dict(stages, stage="sketch")) is Sketch
    finally:
        TRAINERS.pop("sketch", None)
    assert trainer_class(Config.from_dict(stages, stage="sketch")) is DenseTrainer  # by heads


def test_an_object_without_hooks_is_refused(tmp_path):
    with pytest.raises(TypeError, match="has none of the hooks"):
        DenseTrainer(config(tmp_path), verbose=False, callbacks=[object()])


# ---------------------------------------------------------------------------------- messages
def test_messages_go_through_logging_and_can_be_silenced_or_redirected(tmp_path, capsys):
    package = logging.getLogger("inktrace")
    cfg = config(tmp_path, **{"training.epochs": 1})
    DenseTrainer(cfg).fit()
    out = capsys.readouterr().out
    assert "=== InkTrace [t] stage 'dense'" in out and "[dense] epoch 1/1 (level 0)" in out

    records = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(record)

    handlers, level = package.handlers[:], package.level
    try:
        package.handlers = [Keep()]  # redirect: the console stays quiet
        DenseTrainer(cfg, init_from=None).fit()
        assert capsys.readouterr().out == ""
        lines = [r.getMessage() for r in records]
        assert {r.name for r in records} == {"inktrace.train.dense"}
        assert any(line.startswith("[dense] epoch 1/1") for line in lines)
        records.clear()
        package.setLevel(logging.WARNING)  # silence
        DenseTrainer(cfg, init_from=None).fit()
        assert records == [] and capsys.readouterr().out == ""
    finally:
        package.handlers = handlers
        package.setLevel(level)  # setLevel, not the attribute: it clears the loggers' caches


# ---------------------------------------------------------------------------------- traced metrics
def test_validation_scores_the_traced_centreline_not_the_maps_thickness():
    from inktrace.data import validation_set
    from inktrace.metrics import InkMetrics
    from inktrace.training.validation import traced_maps

    batch = validation_set(4, 16, 64, seed=1)
    heads = ("skeleton", "keypoints", "tangent", "width", "offset")
    exact = {k: batch[k] for k in heads}
    thick = {**exact, "skeleton": 0.9 * torch.nn.functional.max_pool2d(batch["skeleton"], 3, 1, 1)}
    scores = {}
    for name, probs in (("exact", exact), ("thick", thick)):
        on_map, on_trace = InkMetrics(), InkMetrics()
        on_map.update(probs, batch)
        on_trace.update(traced_maps(probs), batch)
        scores[name] = (on_map.compute(), on_trace.compute())
    assert scores["exact"][0]["f1"] == 1.0 and scores["exact"][1]["f1"] > 0.95
    assert scores["exact"][1]["centre_error"] < 0.2
    # a 3-px band around the true centreline: the map's precision collapses, the trace's does not
    assert scores["thick"][0]["precision"] < 0.5 and scores["thick"][1]["precision"] > 0.9


def test_non_finite_maps_trace_to_nothing_instead_of_stopping_validation():
    from inktrace.training.validation import traced_maps

    probs = {
        "skeleton": torch.full((2, 16, 16), float("nan")),
        "tangent": torch.zeros(2, 2, 16, 16),
    }
    out = traced_maps(probs)
    assert out["skeleton"].shape == (2, 16, 16) and not out["skeleton"].any()


# ---------------------------------------------------------------------------------- runtime options
def test_each_epoch_logs_where_the_time_went(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    DenseTrainer(config(tmp_path), verbose=False).fit()
    history = json.loads((tmp_path / "runs" / "dense" / "training_log.json").read_text())
    h = history["training_history"]
    for epoch in range(2):
        data, step, share = (h[k][epoch] for k in ("time/data", "time/step", "time/data_share"))
        assert data > 0 and step > 0 and share == pytest.approx(data / (data + step), rel=1e-6)
    events = EventAccumulator(str(tmp_path / "runs" / "dense")).Reload()
    assert {"time/data", "time/step", "time/data_share"} <= set(events.Tags()["scalars"])


def test_channels_last_trains_the_same_model_within_rounding(tmp_path):
    plain = DenseTrainer(config(tmp_path / "a", **{"system.channels_last": False}), verbose=False)
    assert plain.model.stem[0].weight.is_contiguous()
    plain.fit()
    cl = DenseTrainer(config(tmp_path / "b", **{"system.channels_last": True}), verbose=False)
    assert cl.model.stem[0].weight.is_contiguous(memory_format=torch.channels_last)
    cl.fit()
    a, b = plain.model.state_dict(), cl.model.state_dict()
    diff = sum(float(((a[k] - b[k]) ** 2).sum()) for k in a)
    assert 0 < diff / sum(float((a[k] ** 2).sum()) for k in a) < 1e-6  # 2e-4 relative L2


def test_a_failing_torch_compile_falls_back_to_eager_with_a_note(tmp_path, monkeypatch, capsys):
    def broken(module, **kwargs):
        def run(*args, **kw):
            raise RuntimeError("no C++ compiler here\nmore detail")

        return run

    monkeypatch.setattr(torch, "compile", broken)
    cfg = config(tmp_path / "c", **{"system.compile": True})
    summary = DenseTrainer(cfg).fit()
    assert summary["status"] == "completed"
    notes = [line for line in capsys.readouterr().out.splitlines() if "torch.compile" in line]
    assert notes == ["[dense] torch.compile failed (RuntimeError: no C++ compiler here); eager"]
    eager = DenseTrainer(config(tmp_path / "d"), verbose=False)
    eager.fit()
    compiled_run = torch.load(tmp_path / "c" / "ck" / "dense" / "last.ckpt", weights_only=True)
    assert all(
        torch.equal(v, compiled_run["model"][k]) for k, v in eager.model.state_dict().items()
    )


def test_the_loop_reads_from_the_device_only_at_sync_points(tmp_path, monkeypatch):
    """Steps leave their values on the device (meter.py): with a log interval of 4 steps over 3
    epochs of 3 steps, the host reads at steps 4 and 8 and at each epoch's end, and the step
    values callbacks get are read only when a callback reads them."""
    from inktrace.training import meter

    reads = {"meter": 0, "values": 0}
    real_read, real_values = meter.StepMeter.read, meter.StepValues._read

    def counted_read(self, state):
        reads["meter"] += 1
        return real_read(self, state)

    def counted_values(self):
        if self._floats is None:
            reads["values"] += 1
        return real_values(self)

    monkeypatch.setattr(meter.StepMeter, "read", counted_read)
    monkeypatch.setattr(meter.StepValues, "_read", counted_values)
    cfg = config(
        tmp_path,
        **{
            "training.epochs": 3,
            "data.train_size": 12,
            "logging.log_every_n_steps": 4,
            "logging.grad_norm_every_n_steps": 4,
        },
    )
    summary = DenseTrainer(cfg, verbose=False).fit()
    assert summary["global_step"] == 9
    assert reads["meter"] == 2 + 3  # steps 4 and 8, and three epoch ends
    # the run log reads the values of logged steps: 4, 8 and each epoch's last (3, 6, 9)
    assert reads["values"] == 5


def test_a_non_finite_step_is_skipped_on_the_device_and_reported_at_the_sync_point(
    tmp_path, capsys
):
    class OneBadStep(DenseTrainer):
        def model_inputs(self, batch, step, train):
            if train and step == 1:
                batch["image"].fill_(float("nan"))
            return {}

    moments = []

    class Watch(Callback):
        def after_step(self, losses):
            t = self.trainer
            state = t.optimizer.state[t.model.stem[0].weight]
            moments.append((t.state.global_step, float(state["step"])))

    cfg = config(
        tmp_path,
        **{"logging.log_every_n_steps": 2, "training.epochs": 1, "data.train_size": 12},
    )
    t = OneBadStep(cfg, callbacks=[Watch()])
    before = {k: v.clone() for k, v in t.model.state_dict().items()}
    summary = t.fit()
    said = [line for line in capsys.readouterr().out.splitlines() if "skipped" in line]
    assert said == [
        "[dense] 1 step(s) up to step 1 skipped: non-finite loss or gradient (1 in a row; limit 3)"
    ]
    assert summary["status"] == "completed" and t.state.nonfinite_run == 0
    assert moments == [(1, 1.0), (2, 1.0), (3, 2.0)]  # step 1 (0-based) skipped: no count
    assert any(not torch.equal(before[k], v) for k, v in t.model.state_dict().items())
    assert all(torch.isfinite(v).all() for v in t.model.state_dict().values())


def test_a_second_ctrl_c_is_an_abort_that_says_which_checkpoint_is_left(tmp_path):
    class Abort(Callback):
        def after_step(self, losses):
            if self.trainer.state.global_step == 3:  # in the second epoch (2 steps each)
                raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        DenseTrainer(config(tmp_path), verbose=False, callbacks=[Abort()]).fit()
    summary = json.loads((tmp_path / "runs" / "dense" / "training_summary.json").read_text())
    assert summary["status"] == "aborted"
    last = tmp_path / "ck" / "dense" / "last.ckpt"
    assert summary["error"] == (
        f"aborted (second Ctrl-C) in epoch 2; {last} is from the end of epoch 1"
    )


def test_resuming_a_finished_run_touches_nothing(tmp_path, capsys):
    DenseTrainer(config(tmp_path), verbose=False).fit()
    folder = tmp_path / "runs" / "dense"
    files = sorted(folder.iterdir()) + sorted((tmp_path / "ck" / "dense").iterdir())
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in files}
    capsys.readouterr()
    again = DenseTrainer(config(tmp_path), resume=tmp_path / "ck" / "dense" / "last.ckpt").fit()
    assert again["status"] == "completed" and again["total_epochs"] == 2
    assert again == json.loads((folder / "training_summary.json").read_text())
    assert "has completed its 2 epochs; nothing to do" in capsys.readouterr().out
    after = sorted(folder.iterdir()) + sorted((tmp_path / "ck" / "dense").iterdir())
    assert after == files
    assert all((p.stat().st_mtime_ns, p.read_bytes()) == before[p] for p in files)


def test_a_copied_run_resumes_with_its_logs_beside_it_not_in_the_original(tmp_path):
    import shutil

    from inktrace.cli.train import main as train_main

    class StopAfterFirstEpoch(Callback):
        def after_epoch(self, metrics):
            self.trainer.request_stop()

    orig = tmp_path / "orig"
    cfg = Config.from_dict(
        {
            **CONFIG,
            "checkpoint": {"save_dir": str(orig / "ck")},
            "logging": {**CONFIG["logging"], "log_dir": str(orig / "runs")},
        },
        stage="dense",
    )
    DenseTrainer(cfg, verbose=False, callbacks=[StopAfterFirstEpoch()]).fit()
    shutil.copytree(orig, tmp_path / "copy")
    log = orig / "runs" / "dense" / "training_log.json"
    before = log.read_bytes()
    assert train_main(["--resume", str(tmp_path / "copy" / "ck" / "dense" / "last.ckpt")]) == 0
    assert log.read_bytes() == before  # the original's logs are untouched
    copied = json.loads((tmp_path / "copy" / "runs" / "dense" / "training_log.json").read_text())
    assert copied["training_history"]["epoch"] == [0, 1]
    summary = json.loads(
        (tmp_path / "copy" / "runs" / "dense" / "training_summary.json").read_text()
    )
    assert summary["last_checkpoint"].startswith(str(tmp_path / "copy"))


def test_a_run_starts_by_sweeping_what_killed_saves_left(tmp_path, capsys):
    import subprocess
    import sys

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    folder = tmp_path / "ck" / "dense"
    folder.mkdir(parents=True)
    litter = folder / f".last.ckpt.{dead.pid}.abcdefgh.tmp"
    litter.write_bytes(b"half a checkpoint")
    DenseTrainer(config(tmp_path))
    assert not litter.exists()
    assert "[dense] removed 1 temporary file(s) of killed saves" in capsys.readouterr().out


@pytest.mark.parametrize("damage", ["truncated", "zero", "random", "text"])
def test_a_damaged_last_ckpt_names_the_newest_intact_one(tmp_path, capsys, damage):
    import os

    from inktrace.cli.train import main as train_main

    DenseTrainer(config(tmp_path), verbose=False).fit()
    folder = tmp_path / "ck" / "dense"
    last = folder / "last.ckpt"
    content = last.read_bytes()
    last.write_bytes(
        {
            "truncated": content[: len(content) // 2],
            "zero": b"",
            "random": os.urandom(4096),
            "text": b"epoch: 3\n",
        }[damage]
    )
    capsys.readouterr()
    assert train_main(["--resume", str(last)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "weights_only" not in err
    assert f"the newest intact checkpoint beside it is {folder}/" in err
    assert "--resume " + str(folder) in err.split("): ")[-1]


def _full_disk(*args):
    import errno
    import os

    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_a_full_disk_is_one_line_exit_1_and_nothing_is_lost(tmp_path, monkeypatch, capsys):
    from inktrace import fileio
    from inktrace.cli.train import main as train_main
    from inktrace.errors import WriteError

    target = tmp_path / "keep.json"
    target.write_text("old")
    with pytest.raises(WriteError, match=f"{target}: cannot write \\(No space left on device\\)"):
        fileio.atomic_write(target, _full_disk)
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["keep.json"]

    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        "model: {embed_dim: 4, num_layers: 2}\ntraining: {epochs: 1, batch_size: 4}\n"
        "data: {img_size: 32, train_size: 8, val_size: 4}\n"
        f"checkpoint: {{save_dir: {tmp_path / 'ck'}}}\nlogging: {{log_dir: {tmp_path / 'runs'}}}\n"
        "stages: {dense: {}}\n"
    )
    monkeypatch.setattr(fileio.os, "fsync", _full_disk)
    assert train_main(["--config", str(cfg), "--stage", "dense"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot write (No space left on device)" in err
    assert not list((tmp_path / "ck").rglob("*.tmp")) and not list(
        (tmp_path / "runs").rglob("*.tmp")
    )


def test_a_failed_interrupt_save_is_a_failed_run_that_says_why(tmp_path, monkeypatch):
    from inktrace.errors import WriteError

    class Stop(Callback):
        def after_step(self, losses):
            self.trainer.request_stop()  # SIGTERM's path

    t = DenseTrainer(config(tmp_path), verbose=False, callbacks=[Stop()])

    def full(payload):
        raise WriteError(f"{t.ckpt_dir}/last.ckpt: cannot write (No space left on device)")

    monkeypatch.setattr(t.manager, "save_interrupt", full)
    with pytest.raises(WriteError):
        t.fit()
    summary = json.loads((tmp_path / "runs" / "dense" / "training_summary.json").read_text())
    assert summary["status"] == "failed"
    assert summary["error"] == (
        f"WriteError: {t.ckpt_dir}/last.ckpt: cannot write (No space left on device)"
    )


def test_the_hparams_tab_gets_each_runs_settings_metrics_and_end(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import api_pb2, plugin_data_pb2

    DenseTrainer(config(tmp_path, **{"training.lr": 0.003}), verbose=False).fit()
    events = EventAccumulator(str(tmp_path / "runs" / "dense")).Reload()
    content = events.PluginTagToContent("hparams")
    assert set(content) == {
        "_hparams_/experiment",
        "_hparams_/session_start_info",
        "_hparams_/session_end_info",
    }
    start = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"])
    hparams = start.session_start_info.hparams
    assert hparams["training.lr"].number_value == pytest.approx(0.003)
    assert hparams["stage"].string_value == "dense" and hparams["model.embed_dim"].number_value == 4
    experiment = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/experiment"])
    metrics = {m.name.tag for m in experiment.experiment.metric_infos}
    assert {"val/loss", "val/f1", "val/trace_f1", "train/loss"} <= metrics
    assert {"val/loss", "val/f1", "val/trace_f1"} <= set(events.Tags()["scalars"])
    end = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_end_info"])
    assert end.session_end_info.status == api_pb2.STATUS_SUCCESS


def test_a_term_no_step_could_sum_is_left_out_not_a_zero_mean():
    from inktrace.training.meter import StepMeter

    meter, state = StepMeter(torch.device("cpu")), TrainState()
    meter.start(state)
    nan = torch.tensor(float("nan"))
    for _ in range(2):  # two failed steps: nothing to average
        meter.add({"total": nan, "loss_skel": nan}, nan, torch.tensor(True), False, 4)
    assert meter.read(state) == (2, 2)
    assert state.epoch_sums == {} and state.epoch_count == 0 and state.nonfinite_run == 2
    one = torch.tensor(1.0)
    meter.add({"total": one, "loss_skel": one}, torch.tensor(3.0), torch.tensor(False), False, 4)
    meter.read(state)
    assert state.epoch_sums == {"total": 4.0, "loss_skel": 4.0, "grad_norm": 12.0}
    assert state.epoch_count == 4 and state.nonfinite_run == 0


def test_auto_speed_settings_are_resolved_shown_and_kept_on_resume(tmp_path, capsys):
    from inktrace import devices
    from inktrace.training import hardware
    from inktrace.training.hardware import resolve_speed

    cfg = config(tmp_path, **{"training.precision": "auto"})
    assert (cfg.system.channels_last, cfg.system.compile) == ("auto", "auto")
    cpu = torch.device("cpu")
    native = hardware.cpu_has_bf16()
    assert resolve_speed(cfg, cpu) == {
        "training.precision": "bf16" if native else "fp32",
        "system.channels_last": True,
        "system.compile": False,
    }
    # bf16 on a CPU with bfloat16 instructions only (emulated bf16 is slower than fp32)
    for has, want in ((True, "bf16"), (False, "fp32")):
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(devices, "cpu_has_bf16", lambda has=has: has)
            assert resolve_speed(cfg, cpu)["training.precision"] == want
            # a checkpoint from before the record resumes as auto meant then: fp32 on the CPU
            old = hardware.unrecorded(cpu)
            assert resolve_speed(cfg, cpu, old)["training.precision"] == "fp32"
            assert (
                resolve_speed(cfg, cpu, {"training.precision": "bf16"})["training.precision"]
                == "bf16"
            )
    assert hardware.unrecorded(torch.device("cuda")) == {}
    # oneDNN kept below its bfloat16 instructions emulates bf16 (0.41x fp32): no bf16 then
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ONEDNN_MAX_CPU_ISA", "AVX512_CORE")
        assert hardware.cpu_has_bf16() is False
        assert resolve_speed(cfg, cpu)["training.precision"] == "fp32"
    # the flags as torch reports them; a torch that cannot tell means fp32
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
        mp.setattr(torch.cpu, "get_capabilities", lambda: {"avx512_bf16": True})
        assert hardware.cpu_has_bf16() is True
        mp.setattr(torch.cpu, "get_capabilities", lambda: {"amx_tile": True, "avx2": True})
        assert hardware.cpu_has_bf16() is False
        mp.delattr(torch.cpu, "get_capabilities")
        assert hardware.cpu_has_bf16() is False
    # a resume takes what its checkpoint recorded for the keys still "auto" (an unusable value,
    # fp16 on the CPU, is decided afresh); an explicit value wins
    stored = {"training.precision": "fp16", "system.channels_last": False, "system.compile": 3}
    assert resolve_speed(cfg, cpu, stored)["system.channels_last"] is False
    assert resolve_speed(cfg, cpu, stored)["training.precision"] == ("bf16" if native else "fp32")
    assert resolve_speed(cfg, cpu, stored)["system.compile"] is False
    explicit = config(tmp_path, **{"system.channels_last": True})
    assert resolve_speed(explicit, cpu, stored)["system.channels_last"] is True

    trainer = DenseTrainer(cfg)
    assert trainer.model.stem[0].weight.is_contiguous(memory_format=torch.channels_last)
    trainer.fit()
    out = capsys.readouterr().out
    shown = "bf16" if native else "fp32"
    assert f"cpu, {shown} (auto), channels-last (auto), eager (auto);" in out
    last = tmp_path / "ck" / "dense" / "last.ckpt"
    ckpt = torch.load(last, weights_only=True)
    assert ckpt["resolved"] == resolve_speed(cfg, cpu)
    assert ckpt["config"]["system"]["channels_last"] == "auto"
    info = json.loads((tmp_path / "runs" / "dense" / "training_config.json").read_text())
    assert info["system"]["resolved"]["system.channels_last"] is True
    # a checkpoint that recorded contiguous training resumes contiguous, though auto says otherwise
    ckpt["resolved"]["system.channels_last"] = False
    torch.save(ckpt, last)
    more = config(tmp_path, **{"training.precision": "auto", "training.epochs": 3})
    resumed = DenseTrainer(more, resume=last, verbose=False)
    assert not resumed.model.stem[0].weight.is_contiguous(memory_format=torch.channels_last)
    assert resumed.speed["system.channels_last"] is False
    # one written before the record resumes in fp32 on the CPU, as auto meant then
    del ckpt["resolved"]
    torch.save(ckpt, last)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(hardware, "cpu_has_bf16", lambda: True)
        assert DenseTrainer(more, resume=last, verbose=False).precision == "fp32"
        assert DenseTrainer(more, verbose=False, overwrite=True).precision == "bf16"
