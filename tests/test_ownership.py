"""A run owns its folders (training/folders.py), tried with real processes: two runs at once
into one checkpoint folder, a sweep into one log folder, parallel runs sharing a log folder, and a
killed run whose folders the next run takes over."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def config(tmp_path, name="c", train_size=8, epochs=1):
    settings = {
        "model": {"embed_dim": 4, "num_layers": 2},
        "training": {"epochs": epochs, "batch_size": 4, "warmup_epochs": 0, "precision": "fp32"},
        "data": {"img_size": 32, "train_size": train_size, "val_size": 4},
        "checkpoint": {"save_dir": str(tmp_path / "ck")},
        "logging": {"log_dir": str(tmp_path / "runs"), "progress_bar": False},
        "system": {"num_threads": 1},
        "stages": {"dense": {"init_from": "none"}},
    }
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(settings))
    return path


def train(cfg, *extra, wait=True):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    argv = [sys.executable, str(ROOT / "train.py"), "--config", str(cfg), "--stage", "dense"]
    proc = subprocess.Popen(
        [*argv, *extra],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    if wait:
        proc.out, proc.err = proc.communicate(timeout=180)
    return proc


def wait_for(path: Path, timeout=60.0):
    end = time.time() + timeout
    while time.time() < end and not path.exists():
        time.sleep(0.05)
    assert path.exists(), path


def test_a_second_run_into_a_running_runs_folder_is_refused_naming_it(tmp_path):
    cfg = config(tmp_path, train_size=400, epochs=3)
    first = train(cfg, wait=False)
    wait_for(tmp_path / "ck" / ".dense.inktrace.lock")
    wait_for(tmp_path / "runs" / "dense" / "training_config.json")
    second = train(cfg, "--lr", "0.003")
    assert second.returncode == 2
    assert second.err.count("\n") == 1
    assert (
        f"{tmp_path / 'ck' / 'dense'} is in use by a running training (pid {first.pid}"
        in second.err
    )
    first.out, first.err = first.communicate(timeout=180)
    assert first.returncode == 0, first.err[-2000:]
    summary = json.loads((tmp_path / "runs" / "dense" / "training_summary.json").read_text())
    assert summary["status"] == "completed" and summary["total_epochs"] == 3
    assert not (tmp_path / "runs" / "dense" / "version_1").exists()
    # the first run's lock went with it: the same command now runs (its logs in version_1)
    again = train(cfg, "--lr", "0.003")
    assert again.returncode == 0, again.err[-2000:]
    assert (tmp_path / "runs" / "dense" / "version_1" / "training_summary.json").exists()


def test_a_sweep_keeps_every_runs_logs_and_tensorboard_sees_each(tmp_path):
    from tensorboard.backend.event_processing.event_multiplexer import EventMultiplexer

    cfg = config(tmp_path)
    for lr in ("1e-3", "5e-4", "1e-4"):
        done = train(cfg, "--lr", lr, "--save_dir", str(tmp_path / "sweeps" / f"lr_{lr}"))
        assert done.returncode == 0, done.err[-2000:]
    folders = [
        tmp_path / "runs" / "dense",
        *(tmp_path / "runs" / "dense" / f"version_{n}" for n in (1, 2)),
    ]
    lrs = []
    for folder in folders:
        info = json.loads((folder / "training_config.json").read_text())
        lrs.append(info["training"]["lr"])
        summary = json.loads((folder / "training_summary.json").read_text())
        assert summary["status"] == "completed" and summary["run_dir"] == str(folder)
    assert lrs == [1e-3, 5e-4, 1e-4]
    runs = EventMultiplexer().AddRunsFromDirectory(str(tmp_path / "runs")).Reload().Runs()
    assert len(runs) == 3


def test_parallel_runs_sharing_a_log_folder_each_get_their_own(tmp_path):
    cfg = config(tmp_path, train_size=200)
    procs = [
        train(cfg, "--lr", lr, "--save_dir", str(tmp_path / f"ck_{i}"), wait=False)
        for i, lr in enumerate(("1e-3", "3e-3"))
    ]
    for p in procs:
        p.out, p.err = p.communicate(timeout=180)
        assert p.returncode == 0, p.err[-2000:]
    found = sorted(
        json.loads(f.read_text())["training"]["lr"]
        for f in (tmp_path / "runs").rglob("training_config.json")
    )
    assert found == [1e-3, 3e-3]
    bests = [
        json.loads(f.read_text())["best_checkpoint"]
        for f in (tmp_path / "runs").rglob("training_summary.json")
    ]
    assert sorted(Path(b).parent.parent.name for b in bests) == ["ck_0", "ck_1"]


def test_a_killed_runs_folders_are_taken_over_by_the_next(tmp_path):
    cfg = config(tmp_path, train_size=4000, epochs=2)
    first = train(cfg, wait=False)
    wait_for(tmp_path / "runs" / "dense" / "training_config.json")
    os.kill(first.pid, signal.SIGKILL)
    first.communicate(timeout=60)
    quick = config(tmp_path, name="quick")
    after = train(quick)
    assert after.returncode == 0, after.err[-2000:]
    assert "in use" not in after.err


def test_a_symlink_to_a_locked_folder_is_the_same_lock(tmp_path):
    from inktrace.training.folders import FolderBusy, lock_folder

    real = tmp_path / "ck" / "dense"
    real.mkdir(parents=True)
    (tmp_path / "alias").symlink_to(tmp_path / "ck")
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; "
            "from inktrace.training.folders import lock_folder; "
            f"lock_folder(Path({str(real)!r})); print('held', flush=True); time.sleep(60)",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        for spelling in (tmp_path / "alias" / "dense", tmp_path / "ck" / "." / "dense"):
            try:
                lock_folder(spelling)
            except FolderBusy as exc:
                assert f"pid {holder.pid}" in str(exc)
            else:
                raise AssertionError(f"{spelling} was locked a second time")
    finally:
        holder.kill()
        holder.wait()
