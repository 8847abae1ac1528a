"""How the checkpoint manager writes an epoch's files: one full write, the other names hard links
of it (copies where the file system refuses links), every file complete and carrying the
bookkeeping, also when the writing process is killed."""

from __future__ import annotations

import errno
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import inktrace.checkpoint.manager as manager_mod
from inktrace.checkpoint import CheckpointManager
from inktrace.fileio import atomic_link, atomic_write, sweep_stale_temps

ROOT = Path(__file__).resolve().parents[1]
NAME = CheckpointManager.filename
STATE = "checkpoint_manager"


def payload(epoch, save=0):
    return {"model": {"w": torch.full((3,), float(epoch))}, "epoch": epoch, "save": save}


def load(path):
    return torch.load(path, map_location="cpu", weights_only=True)


def links_work(folder: Path) -> bool:
    (folder / "probe").write_bytes(b"x")
    try:
        os.link(folder / "probe", folder / "probe2")
    except OSError:
        return False
    finally:
        for name in ("probe", "probe2"):
            (folder / name).unlink(missing_ok=True)
    return True


def count_full_writes(monkeypatch):
    calls: list[str] = []

    def counting(path, write, check=None):
        calls.append(os.path.basename(path))
        return atomic_write(path, write, check)

    monkeypatch.setattr(manager_mod, "atomic_write", counting)
    return calls


def refuse_links(monkeypatch, how):
    """A file system without hard links, as each kind of refusal looks."""
    if how == "no os.link":  # platforms without it
        monkeypatch.delattr(os, "link")
    else:
        code = {"EPERM": errno.EPERM, "EXDEV": errno.EXDEV, "EMLINK": errno.EMLINK}[how]

        def refused(*args, **kwargs):
            raise OSError(code, os.strerror(code))

        monkeypatch.setattr(os, "link", refused)


# ------------------------------------------------------------------------------ one write
def test_each_epoch_end_is_one_full_write_and_the_other_names_are_links(tmp_path, monkeypatch):
    if not links_work(tmp_path):
        pytest.skip("this file system has no hard links")
    calls = count_full_writes(monkeypatch)
    m = CheckpointManager(tmp_path, keep_top_k=2)
    for epoch, value in enumerate([0.5, 0.4, 0.3, 0.45, None]):
        before = len(calls)
        r = m.save(payload(epoch), epoch, {} if value is None else {"val/loss": value})
        assert len(calls) - before == 1, calls[before:]  # one write, whatever it names
        inodes = {os.stat(p).st_ino for p in r["paths"]}
        assert len(inodes) == 1, r["paths"]  # the rest are the same file
    # the top-k files of epochs 0-2 (each also best and last), then last.ckpt alone (epoch 3
    # is neither best nor in the top 2, epoch 4 has no metric)
    tops = [NAME(e, "val/loss", v) for e, v in enumerate([0.5, 0.4, 0.3])]
    assert calls == tops + ["last.ckpt", "last.ckpt"]
    best, top = tmp_path / "best.ckpt", tmp_path / NAME(2, "val/loss", 0.3)
    assert os.stat(best).st_ino == os.stat(top).st_ino and os.stat(best).st_nlink == 2
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".tmp")]


@pytest.mark.parametrize("how", ["EPERM", "EXDEV", "EMLINK", "no os.link"])
def test_without_hard_links_every_file_is_a_full_copy(tmp_path, monkeypatch, how):
    refuse_links(monkeypatch, how)
    calls = count_full_writes(monkeypatch)
    m = CheckpointManager(tmp_path, keep_top_k=2)
    r = m.save(payload(0), 0, {"val/loss": 0.5})
    assert calls == [NAME(0, "val/loss", 0.5), "best.ckpt", "last.ckpt"]
    data = [Path(p).read_bytes() for p in r["paths"]]
    assert data[0] == data[1] == data[2]
    assert len({os.stat(p).st_ino for p in r["paths"]}) == 3
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".tmp")]


def test_atomic_link_replaces_the_target_and_leaves_no_temporary_name(tmp_path):
    if not links_work(tmp_path):
        pytest.skip("this file system has no hard links")
    (tmp_path / "a").write_bytes(b"new")
    (tmp_path / "b").write_bytes(b"old")
    assert atomic_link(tmp_path / "a", tmp_path / "b")
    assert (tmp_path / "b").read_bytes() == b"new"
    # linking a name to the file it already is (rename() then does nothing): no stray name
    assert atomic_link(tmp_path / "a", tmp_path / "b")
    assert sorted(os.listdir(tmp_path)) == ["a", "b"]
    # replacing one name never changes the other
    atomic_write(tmp_path / "a", lambda f: f.write(b"newer"))
    assert (tmp_path / "b").read_bytes() == b"new"


# ------------------------------------------------------------------------------ contents
@pytest.mark.parametrize("links", [True, False], ids=["hard-links", "copies"])
@pytest.mark.parametrize("seed", range(4))
def test_every_name_holds_its_own_save_with_the_bookkeeping_of_that_save(
    tmp_path, monkeypatch, links, seed
):
    """Random runs (improvements, ties, NaN, missing metrics, an epoch saved again, pruning):
    after every save each file on disk holds exactly the save that last wrote its name, complete,
    and the files of one save carry the manager's state after it (with the names it was about to
    delete, which a successor deletes if the process died first). Deleting a top-k name that
    best.ckpt or last.ckpt share never touches them."""
    if not links:
        refuse_links(monkeypatch, "EPERM")
    rng = random.Random(seed)
    m = CheckpointManager(tmp_path, keep_top_k=rng.choice([0, 1, 2, 3]))
    expected: dict[str, int] = {}  # file name -> the save that wrote it
    epoch = 0
    for save in range(14):
        if save and rng.random() < 0.2:
            epoch = max(0, epoch - 1)  # the same epoch saved again (its entry is replaced)
        value = rng.choice([0.1, 0.2, 0.3, 0.4, 0.5, 0.3, float("nan"), None])
        metrics = {} if value is None else {"val/loss": value}
        r = m.save(payload(epoch, save), epoch, metrics)
        for p in r["removed"]:
            expected.pop(Path(p).name, None)
        for p in r["paths"]:
            expected[Path(p).name] = save
        state = m.state_dict()
        on_disk = {f for f in os.listdir(tmp_path) if f.endswith(".ckpt")}
        assert on_disk == set(expected)
        for name, wrote in expected.items():
            held = load(tmp_path / name)
            assert held["save"] == wrote, name
            if wrote == save:  # the state after this save, and what it was about to delete
                stored = held[STATE]
                assert stored["pending_delete"] == [Path(p).name for p in r["removed"]]
                assert {**stored, "pending_delete": []} == state, name
        if m.best_epoch is not None and m.save_best:
            assert load(tmp_path / "best.ckpt")["epoch"] == m.best_epoch
        assert load(tmp_path / "last.ckpt")["epoch"] == epoch
        for entry in m.top_k:
            assert load(entry["path"])["epoch"] == entry["epoch"]
        epoch += 1


def test_a_pruned_top_k_name_leaves_the_best_it_shared(tmp_path):
    m = CheckpointManager(tmp_path, keep_top_k=2)
    m.save(payload(0, save=0), 0, {"val/loss": 0.5})  # epoch0-0.5 = best = last
    r = m.save(payload(0, save=1), 0, {"val/loss": 0.9})  # epoch 0 again, worse: its entry goes
    assert r["removed"] == [str(tmp_path / NAME(0, "val/loss", 0.5))]
    best = load(tmp_path / "best.ckpt")
    assert best["save"] == 0 and best["model"]["w"].tolist() == [0.0] * 3
    assert load(tmp_path / "last.ckpt")["save"] == 1
    assert load(tmp_path / NAME(0, "val/loss", 0.9))["save"] == 1


def test_repair_best_links_the_top_k_file_back(tmp_path):
    if not links_work(tmp_path):
        pytest.skip("this file system has no hard links")
    m = CheckpointManager(tmp_path, keep_top_k=2)
    m.save(payload(0), 0, {"val/loss": 0.5})
    state = m.state_dict()
    m.save(payload(1), 1, {"val/loss": 0.1})  # the abandoned continuation's best
    older = CheckpointManager(tmp_path, keep_top_k=2)
    older.load_state_dict(state)
    lines = older.repair_best(global_step=0)
    assert lines and "restored epoch 0" in lines[0]
    top = tmp_path / NAME(0, "val/loss", 0.5)
    assert os.stat(tmp_path / "best.ckpt").st_ino == os.stat(top).st_ino
    assert load(tmp_path / "best.ckpt")["epoch"] == 0


# ------------------------------------------------------------------------------ killed saves
CHILD = """
import sys, torch
from pathlib import Path
from inktrace.checkpoint import CheckpointManager
from inktrace.fileio import sweep_stale_temps

folder = Path(sys.argv[1])
sweep_stale_temps(folder)
m = CheckpointManager(folder, keep_top_k=2)
start = 0
if (folder / "last.ckpt").exists():
    held = torch.load(folder / "last.ckpt", weights_only=True)
    m.load_state_dict(held["checkpoint_manager"])
    m.repair_best(global_step=0)  # as a resume does (training/resume.py)
    start = held["epoch"] + 1
for epoch in range(start, start + 100000):
    w = torch.full((1 << 20,), float(epoch))  # 4 MiB: a save takes a while
    value = 1.0 / (epoch + 1) if epoch % 3 else 2.0  # mostly improving: top-k + best + last
    m.save({"model": {"w": w}, "epoch": epoch}, epoch, {"val/loss": value})
    print(epoch, flush=True)
"""


def check_folder(folder: Path) -> None:
    """Every name is a complete checkpoint of the epoch it claims; last.ckpt's bookkeeping names
    files that exist and hold what it says, once a resume has put best.ckpt back in line with it
    (a kill after best.ckpt was linked and before last.ckpt was leaves the best of an epoch that
    last.ckpt does not know: the abandoned continuation repair_best is for)."""
    last = load(folder / "last.ckpt")
    w = last["model"]["w"]
    assert torch.equal(w, torch.full_like(w, float(last["epoch"])))
    for name in os.listdir(folder):
        if name.endswith(".ckpt"):
            held = load(folder / name)
            w = held["model"]["w"]
            assert torch.equal(w, torch.full_like(w, float(held["epoch"]))), name
    state = last[STATE]
    m = CheckpointManager(folder, keep_top_k=2)
    assert m.load_state_dict(state) == []  # every file it names is there
    for line in m.repair_best(global_step=0):
        assert "abandoned continuation" in line and f"restored epoch {m.best_epoch}" in line
    best = load(folder / "best.ckpt")
    assert best["epoch"] == m.best_epoch
    for entry in m.top_k:
        assert load(entry["path"])["epoch"] == entry["epoch"]


def test_a_process_killed_while_saving_leaves_loadable_files(tmp_path):
    folder = tmp_path / "ck"
    folder.mkdir()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    rng = random.Random(0)
    for _ in range(4):
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(folder)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            for _ in range(2):  # a few saves done, then killed somewhere inside one
                assert child.stdout.readline(), child.stderr.read()
            time.sleep(rng.uniform(0.0, 0.15))
            os.kill(child.pid, signal.SIGKILL)
        finally:
            child.kill()
            child.communicate(timeout=60)
        check_folder(folder)
    sweep_stale_temps(folder)
    assert not [f for f in os.listdir(folder) if f.endswith(".tmp")]


# ------------------------------------------------------------------------------ a real run
def tiny_run(folder: Path, epochs: int = 3):
    from inktrace.config import Config

    data = {
        "experiment": {"name": "links"},
        "model": {"embed_dim": 4, "num_layers": 2},
        "training": {"epochs": epochs, "batch_size": 4, "warmup_epochs": 0, "precision": "fp32"},
        "data": {"img_size": 32, "train_size": 8, "val_size": 4},
        "checkpoint": {"save_dir": str(folder / "ck"), "keep_top_k": 2},
        "logging": {"log_dir": str(folder / "runs"), "progress_bar": False},
        "stages": {"dense": {"init_from": "none"}},
    }
    return Config.from_dict(data, stage="dense")


def test_a_run_with_links_matches_one_with_copies(tmp_path, monkeypatch):
    from inktrace.training import DenseTrainer

    DenseTrainer(tiny_run(tmp_path / "links"), verbose=False).fit()
    with monkeypatch.context() as patch:
        refuse_links(patch, "EPERM")
        DenseTrainer(tiny_run(tmp_path / "copies"), verbose=False).fit()
    a, b = tmp_path / "links" / "ck" / "dense", tmp_path / "copies" / "ck" / "dense"
    assert sorted(os.listdir(a)) == sorted(os.listdir(b))
    for name in os.listdir(a):
        if name.endswith(".ckpt"):
            x, y = load(a / name), load(b / name)
            assert x[STATE] == y[STATE] and x["epoch"] == y["epoch"], name
            assert all(torch.equal(x["model"][k], y["model"][k]) for k in x["model"]), name
    if links_work(tmp_path):
        assert os.stat(a / "last.ckpt").st_nlink >= 2  # shares the last epoch's top-k file
        assert all(os.stat(b / n).st_nlink == 1 for n in os.listdir(b))


@pytest.mark.parametrize("source", ["best.ckpt", "epoch0"])
def test_resuming_from_a_hard_linked_name_ends_bit_identical(tmp_path, source):
    from helpers import StopAt

    from inktrace.training import DenseTrainer

    full = DenseTrainer(tiny_run(tmp_path / "full"), verbose=False).fit()
    DenseTrainer(tiny_run(tmp_path / "part"), verbose=False, callbacks=[StopAt(3)]).fit()
    ck = tmp_path / "part" / "ck" / "dense"
    (top,) = ck.glob("epoch0-*.ckpt")  # the end of epoch 0: its top-k file, best.ckpt
    path = ck / "best.ckpt" if source == "best.ckpt" else top
    assert load(path)["epoch"] == 0
    if links_work(tmp_path):
        assert os.stat(ck / "best.ckpt").st_ino == os.stat(top).st_ino
    resumed = DenseTrainer(tiny_run(tmp_path / "part"), resume=path, verbose=False).fit()
    assert resumed["global_step"] == full["global_step"]
    w1 = load(ck / "last.ckpt")["model"]
    w2 = load(tmp_path / "full" / "ck" / "dense" / "last.ckpt")["model"]
    assert all(torch.equal(w1[k], w2[k]) for k in w1)


def test_a_name_of_255_bytes_is_written_and_linked_atomically(tmp_path):
    """The temporary name adds a pid, random characters and .tmp: a name that is itself at the
    file system's limit must still be written (the generated-paths test found it refused)."""
    from inktrace.fileio import atomic_link, atomic_write, sweep_stale_temps

    for name in ("n" * 250 + ".ckpt", "é" * 125 + ".x"):  # 255 and 252 bytes
        target = tmp_path / name
        atomic_write(target, lambda f: f.write(b"weights"))
        assert target.read_bytes() == b"weights"
        other = tmp_path / ("L" + name[1:])
        assert atomic_link(target, other) and os.path.samefile(target, other)
    assert sweep_stale_temps(tmp_path) == []  # nothing left behind
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [n for s in ("n" * 250 + ".ckpt", "é" * 125 + ".x") for n in (s, "L" + s[1:])]
    )
