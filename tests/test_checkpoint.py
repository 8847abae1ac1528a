"""Checkpoint manager (top-k / best / last, bookkeeping, atomic writes) and weight loading."""

import io
import math
import os
from collections import OrderedDict

import pytest
import torch
from torch import nn

import inktrace.checkpoint.manager as manager_mod
from inktrace.checkpoint import (
    CheckpointError,
    CheckpointManager,
    WeightsReport,
    load_weights,
    strip_prefixes,
)
from inktrace.fileio import atomic_link, atomic_write

NAME = CheckpointManager.filename


def payload(epoch):
    return {
        "model": {"w": torch.full((2,), float(epoch))},
        "epoch": epoch,
        "config": {"stage": "dense"},
    }


def load(path):
    return torch.load(path, map_location="cpu", weights_only=True)


def files(directory):
    return sorted(os.listdir(directory))


def run(manager, values, start=0, monitor="val/loss"):
    """Save one epoch per value; return the list of save() results."""
    out = []
    for i, v in enumerate(values):
        metrics = {} if v is None else {monitor: v}
        out.append(manager.save(payload(start + i), start + i, metrics))
    return out


# ------------------------------------------------------------------------------ naming
def test_filename_replaces_path_unsafe_characters():
    assert NAME(3, "val/loss", 0.12344) == "epoch3-val_loss0.1234.ckpt"
    assert NAME(12, "val/f1 score:x", 0.5) == "epoch12-val_f1_score_x0.5000.ckpt"
    assert NAME(0, "val\\loss", -1.0) == "epoch0-val_loss-1.0000.ckpt"


def test_bad_mode_and_top_k_are_one_line_value_errors(tmp_path):
    with pytest.raises(ValueError, match="'min' or 'max'") as e:
        CheckpointManager(tmp_path, mode="lowest")
    assert "\n" not in str(e.value)
    with pytest.raises(ValueError):
        CheckpointManager(tmp_path, keep_top_k=-1)
    CheckpointManager(tmp_path / "not-yet")
    assert not (tmp_path / "not-yet").exists()  # nothing written before the first save


# ------------------------------------------------------------------------------ top-k
def test_top_k_min_mode_exact_files_after_every_save(tmp_path):
    m = CheckpointManager(tmp_path, monitor="val/loss", mode="min", keep_top_k=2)
    values = [0.5, 0.4, 0.6, 0.3, 0.45, 0.2]
    expected_top = [[0], [1, 0], [1, 0], [3, 1], [3, 1], [5, 3]]
    expected_best = [True, True, False, True, False, True]
    expected_removed = [[], [], [], [0], [], [1]]
    for e, v in enumerate(values):
        r = m.save(payload(e), e, {"val/loss": v, "train/loss": 9.0})
        top_names = [NAME(t, "val/loss", values[t]) for t in expected_top[e]]
        assert files(tmp_path) == sorted(["best.ckpt", "last.ckpt"] + top_names)
        assert [t["epoch"] for t in m.top_k] == expected_top[e]
        assert r["is_best"] is expected_best[e]
        assert r["removed"] == [
            str(tmp_path / NAME(t, "val/loss", values[t])) for t in expected_removed[e]
        ]
        written = (
            ([str(tmp_path / NAME(e, "val/loss", v))] if e in expected_top[e] else [])
            + ([str(tmp_path / "best.ckpt")] if expected_best[e] else [])
            + [str(tmp_path / "last.ckpt")]
        )
        assert r["paths"] == written
        assert load(tmp_path / "last.ckpt")["epoch"] == e
    assert m.best_value == 0.2 and m.best_epoch == 5 and m.best_path == str(tmp_path / "best.ckpt")
    assert m.top_k == [
        {"epoch": 5, "value": 0.2, "path": str(tmp_path / NAME(5, "val/loss", 0.2))},
        {"epoch": 3, "value": 0.3, "path": str(tmp_path / NAME(3, "val/loss", 0.3))},
    ]
    assert m.last_path == str(tmp_path / "last.ckpt")


def test_top_k_max_mode_and_ties_keep_the_earlier(tmp_path):
    m = CheckpointManager(tmp_path, monitor="val/f1", mode="max", keep_top_k=2)
    values = [0.1, 0.3, 0.3, 0.2, 0.5]
    expected_top = [[0], [1, 0], [1, 2], [1, 2], [4, 1]]
    results = run(m, values, monitor="val/f1")
    assert [r["is_best"] for r in results] == [True, True, False, False, True]
    assert [t["epoch"] for t in m.top_k] == expected_top[-1]
    assert files(tmp_path) == sorted(
        ["best.ckpt", "last.ckpt", NAME(4, "val/f1", 0.5), NAME(1, "val/f1", 0.3)]
    )
    assert load(tmp_path / "best.ckpt")["epoch"] == 4
    # a tie never displaces the earlier checkpoint: epoch 2 (0.3) entered behind epoch 1 and left
    # first
    assert results[4]["removed"] == [str(tmp_path / NAME(2, "val/f1", 0.3))]


def test_best_holds_the_best_epoch_payload_and_last_the_latest(tmp_path):
    m = CheckpointManager(tmp_path, keep_top_k=1)
    run(m, [0.9, 0.2, 0.5, 0.7])
    best, last = load(tmp_path / "best.ckpt"), load(tmp_path / "last.ckpt")
    assert best["epoch"] == 1 and torch.equal(best["model"]["w"], payload(1)["model"]["w"])
    assert last["epoch"] == 3 and torch.equal(last["model"]["w"], payload(3)["model"]["w"])
    assert (
        best["format"] == "inktrace"
        and best["format_version"] == 1
        and best["config"] == {"stage": "dense"}
    )
    # the top-k file and best.ckpt are byte-identical copies (one serialisation), not links
    top = tmp_path / NAME(1, "val/loss", 0.2)
    assert top.read_bytes() == (tmp_path / "best.ckpt").read_bytes()
    assert not any(os.path.islink(tmp_path / f) for f in files(tmp_path))
    for f in files(tmp_path):
        assert isinstance(load(tmp_path / f)["checkpoint_manager"], dict)


def test_keep_top_k_zero_is_best_only(tmp_path):
    m = CheckpointManager(tmp_path, keep_top_k=0)
    run(m, [0.5, 0.3, 0.4])
    assert files(tmp_path) == ["best.ckpt", "last.ckpt"]
    assert m.top_k == [] and load(tmp_path / "best.ckpt")["epoch"] == 1
    only = tmp_path / "only"
    m2 = CheckpointManager(only, keep_top_k=0, save_last=False)
    run(m2, [0.5, 0.3, 0.4])
    assert files(only) == ["best.ckpt"] and m2.last_path is None


def test_save_best_false_best_path_is_the_top_k_file(tmp_path):
    m = CheckpointManager(tmp_path, keep_top_k=2, save_best=False)
    run(m, [0.5, 0.3])
    assert "best.ckpt" not in files(tmp_path)
    assert m.best_path == str(tmp_path / NAME(1, "val/loss", 0.3))


def test_nan_inf_and_missing_metric_are_never_best_nor_top_k(tmp_path):
    m = CheckpointManager(tmp_path, keep_top_k=3)
    results = run(
        m, [float("nan"), None, float("inf"), 0.5, float("-inf"), torch.tensor(float("nan"))]
    )
    assert [r["is_best"] for r in results] == [False, False, False, True, False, False]
    assert results[0]["paths"] == [str(tmp_path / "last.ckpt")]
    assert files(tmp_path) == sorted(["best.ckpt", "last.ckpt", NAME(3, "val/loss", 0.5)])
    assert m.best_value == 0.5 and m.best_epoch == 3
    assert load(tmp_path / "last.ckpt")["epoch"] == 5


def test_tensor_metric_values_are_accepted(tmp_path):
    m = CheckpointManager(tmp_path, keep_top_k=1)
    assert m.save(payload(0), 0, {"val/loss": torch.tensor(0.25)})["is_best"]
    assert files(tmp_path) == sorted(["best.ckpt", "last.ckpt", "epoch0-val_loss0.2500.ckpt"])


def test_slash_in_monitor_creates_no_folder(tmp_path):
    m = CheckpointManager(tmp_path, monitor="val/metrics/iou", mode="max", keep_top_k=2)
    run(m, [0.1, 0.2, 0.3], monitor="val/metrics/iou")
    assert all((tmp_path / f).is_file() for f in files(tmp_path))
    assert "epoch2-val_metrics_iou0.3000.ckpt" in files(tmp_path)


def test_foreign_checkpoints_in_the_folder_are_never_deleted(tmp_path):
    foreign = [NAME(0, "val/loss", 0.8), NAME(7, "val/loss", 0.05), "other.ckpt"]
    for f in foreign:
        (tmp_path / f).write_bytes(b"someone else's")
    m = CheckpointManager(tmp_path, keep_top_k=1)
    run(
        m, [0.8, 0.7, 0.6]
    )  # epoch 0 overwrites the same-named foreign file, which then becomes ours
    assert files(tmp_path) == sorted(
        ["best.ckpt", "last.ckpt", NAME(2, "val/loss", 0.6), foreign[1], foreign[2]]
    )
    assert (tmp_path / foreign[1]).read_bytes() == b"someone else's"


def test_same_epoch_saved_again_replaces_its_entry(tmp_path):
    m = CheckpointManager(tmp_path, keep_top_k=3)
    run(m, [0.5, 0.4])
    r = m.save(payload(1), 1, {"val/loss": 0.45})
    assert [(t["epoch"], t["value"]) for t in m.top_k] == [(1, 0.45), (0, 0.5)]
    assert r["removed"] == [str(tmp_path / NAME(1, "val/loss", 0.4))]
    assert m.best_value == 0.4  # the record of the best stays


# ------------------------------------------------------------------------------ bookkeeping
def test_state_dict_is_plain_and_survives_weights_only(tmp_path):
    m = CheckpointManager(tmp_path, keep_top_k=2)
    run(m, [0.5, 0.4, 0.6])
    m.protect(tmp_path / NAME(0, "val/loss", 0.5))
    state = m.state_dict()
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    assert torch.load(buffer, weights_only=True) == state
    assert state["top_k"] == [
        {"epoch": 1, "value": 0.4, "file": NAME(1, "val/loss", 0.4)},
        {"epoch": 0, "value": 0.5, "file": NAME(0, "val/loss", 0.5)},
    ]
    assert state["best"] == {"epoch": 1, "value": 0.4, "file": "best.ckpt"}
    assert state["protected"] == [NAME(0, "val/loss", 0.5)]
    # the embedded state is the state after that save
    assert load(tmp_path / "last.ckpt")["checkpoint_manager"] == state | {"protected": []}


def uninterrupted(directory, values, k):
    m = CheckpointManager(directory, keep_top_k=k)
    run(m, values)
    return m


@pytest.mark.parametrize(
    "values",
    [
        [0.5, 0.4, 0.6, 0.3, 0.45, 0.2],
        [0.1, 0.2, 0.3, 0.4, 0.5, 0.6],
        [0.6, 0.5, 0.4, 0.3, 0.2, 0.1],
    ],
)
def test_resume_from_last_matches_an_uninterrupted_run(tmp_path, values):
    ref = uninterrupted(tmp_path / "ref", values, k=3)
    a = CheckpointManager(tmp_path / "run", keep_top_k=3)
    run(a, values[:3])
    state = load(tmp_path / "run" / "last.ckpt")["checkpoint_manager"]
    b = CheckpointManager(tmp_path / "run", keep_top_k=3)
    assert b.load_state_dict(state) == []
    run(b, values[3:], start=3)
    assert files(tmp_path / "run") == files(tmp_path / "ref")
    assert (b.best_value, b.best_epoch) == (ref.best_value, ref.best_epoch)
    assert [(t["epoch"], t["value"]) for t in b.top_k] == [
        (t["epoch"], t["value"]) for t in ref.top_k
    ]
    assert load(tmp_path / "run" / "best.ckpt")["epoch"] == ref.best_epoch


def test_protect_keeps_the_resume_source(tmp_path):
    a = CheckpointManager(tmp_path, keep_top_k=2)
    run(a, [0.5, 0.4])
    source = tmp_path / NAME(1, "val/loss", 0.4)  # resume from the epoch-1 top-k file
    b = CheckpointManager(tmp_path, keep_top_k=2)
    assert b.load_state_dict(load(source)["checkpoint_manager"]) == []
    b.protect(source)
    results = run(b, [0.3, 0.2], start=2)
    assert results[0]["removed"] == [str(tmp_path / NAME(0, "val/loss", 0.5))]
    assert results[1]["removed"] == []  # epoch 1 fell out of the top-k but is protected
    assert files(tmp_path) == sorted(
        ["best.ckpt", "last.ckpt", source.name, NAME(2, "val/loss", 0.3), NAME(3, "val/loss", 0.2)]
    )
    assert [t["epoch"] for t in b.top_k] == [3, 2]
    # protection is carried in the bookkeeping of later saves
    assert load(tmp_path / "last.ckpt")["checkpoint_manager"]["protected"] == [source.name]


def test_files_deleted_between_runs_are_dropped_with_warnings(tmp_path):
    a = CheckpointManager(tmp_path, keep_top_k=3)
    run(a, [0.5, 0.3, 0.4])
    state = a.state_dict()
    os.remove(tmp_path / NAME(2, "val/loss", 0.4))
    os.remove(tmp_path / "best.ckpt")
    b = CheckpointManager(tmp_path, keep_top_k=3)
    warnings = b.load_state_dict(state)
    assert len(warnings) == 2 and all("\n" not in w for w in warnings)
    assert "epoch 2" in warnings[0] and "gone" in warnings[0]
    assert "best" in warnings[1] and "best value kept" in warnings[1]
    assert [t["epoch"] for t in b.top_k] == [1, 0]
    # the best value is kept; the best path falls back to the best epoch's top-k file
    assert b.best_value == 0.3 and b.best_path == str(tmp_path / NAME(1, "val/loss", 0.3))
    r = b.save(payload(3), 3, {"val/loss": 0.35})  # worse than the kept best: no best.ckpt
    assert r["is_best"] is False and "best.ckpt" not in files(tmp_path)


def test_state_with_another_monitor_is_not_carried_over(tmp_path):
    a = CheckpointManager(tmp_path, keep_top_k=1)
    run(a, [0.5])
    b = CheckpointManager(tmp_path, monitor="val/iou", mode="max", keep_top_k=1)
    warnings = b.load_state_dict(a.state_dict())
    assert len(warnings) == 1 and "'val/loss'" in warnings[0]
    assert b.best_value is None and b.top_k == []
    run(b, [0.7, 0.8], monitor="val/iou")
    assert NAME(0, "val/loss", 0.5) in files(tmp_path)  # another ranking's file: kept


def test_smaller_keep_top_k_deletes_surplus_after_the_next_save(tmp_path):
    a = CheckpointManager(tmp_path, keep_top_k=3)
    run(a, [0.5, 0.3, 0.4])
    b = CheckpointManager(tmp_path, keep_top_k=1)
    warnings = b.load_state_dict(a.state_dict())
    assert len(warnings) == 1 and "keep_top_k" in warnings[0]
    assert len(files(tmp_path)) == 5  # nothing deleted on load
    b.save(payload(3), 3, {"val/loss": 0.9})
    assert files(tmp_path) == sorted(["best.ckpt", "last.ckpt", NAME(1, "val/loss", 0.3)])


def test_bad_state_raises_checkpoint_error(tmp_path):
    m = CheckpointManager(tmp_path)
    with pytest.raises(CheckpointError):
        m.load_state_dict([1, 2])
    assert (
        len(m.load_state_dict({})) == 1 and m.top_k == []
    )  # no bookkeeping: a note, nothing restored
    with pytest.raises(CheckpointError, match="newer"):
        m.load_state_dict({"version": 99})
    # a tampered entry never makes the manager reach outside its folder
    warnings = m.load_state_dict(
        {
            "version": 1,
            "monitor": "val/loss",
            "mode": "min",
            "top_k": [{"epoch": 0, "value": 0.1, "file": "../x.ckpt"}],
            "pending_delete": ["../victim"],
        }
    )
    assert len(warnings) == 1 and m.top_k == [] and m.state_dict()["pending_delete"] == []


# ------------------------------------------------------------------------------ file decisions
def test_best_in_names_a_finished_runs_best_file(tmp_path):
    assert CheckpointManager.best_in(tmp_path) is None  # nothing there
    m = CheckpointManager(tmp_path, keep_top_k=2, save_best=False)
    run(m, [3.0, 1.0, 2.0])
    best_file = tmp_path / NAME(1, "val/loss", 1.0)
    assert CheckpointManager.best_in(tmp_path) == best_file  # named by last.ckpt's bookkeeping
    (tmp_path / "best.ckpt").write_bytes((tmp_path / "last.ckpt").read_bytes())
    assert CheckpointManager.best_in(tmp_path) == tmp_path / "best.ckpt"  # best.ckpt wins
    (tmp_path / "best.ckpt").unlink()
    (tmp_path / "last.ckpt").write_text("torn")
    assert CheckpointManager.best_in(tmp_path) is None  # an unreadable last.ckpt names nothing


def test_the_interrupt_last_ckpt_is_written_even_without_save_last(tmp_path):
    m = CheckpointManager(tmp_path, keep_top_k=1, save_last=False)
    run(m, [2.0])
    assert "last.ckpt" not in files(tmp_path) and m.last_path is None
    path = m.save_interrupt({**payload(1), "position": {"epoch": 1, "batch": 3}})
    held = load(path)
    assert path == tmp_path / "last.ckpt" and m.last_path is None  # the bookkeeping is unchanged
    assert held["format"] == "inktrace" and held["position"] == {"epoch": 1, "batch": 3}
    assert held["checkpoint_manager"]["best"]["epoch"] == 0  # the ranking travels with it
    assert m.best_epoch == 0 and len(m.top_k) == 1  # and is unchanged


def test_repair_best_after_an_abandoned_continuation(tmp_path):
    m = CheckpointManager(tmp_path, keep_top_k=3)
    run(m, [3.0, 1.0])  # epoch 1 is best
    first = NAME(0, "val/loss", 3.0)
    state = load(tmp_path / first)["checkpoint_manager"]  # as of epoch 0
    later = dict(load(tmp_path / "best.ckpt"), global_step=20)
    # resumed from epoch 0: best.ckpt holds epoch 1 of the abandoned continuation
    again = CheckpointManager(tmp_path, keep_top_k=3)
    again.load_state_dict(state)
    notes = again.repair_best(global_step=5)
    assert notes == [
        f"best.ckpt held epoch 1 of an abandoned continuation; restored epoch 0 from {first}"
    ]
    assert load(tmp_path / "best.ckpt")["epoch"] == 0
    assert again.repair_best(global_step=5) == []  # consistent now: nothing to do
    # without a top-k file of the best epoch, the stray best.ckpt is moved aside, not deleted
    (tmp_path / first).unlink()
    torch.save(later, tmp_path / "best.ckpt")
    assert "moved to best.abandoned.ckpt" in again.repair_best(global_step=5)[0]
    assert load(tmp_path / "best.abandoned.ckpt")["global_step"] == 20
    assert "best.ckpt" not in files(tmp_path)


# ------------------------------------------------------------------------------ atomic saves
def no_temp_files(directory):
    return not [f for f in files(directory) if f.endswith(".tmp")]


def test_crash_while_writing_leaves_the_previous_files_intact(tmp_path, monkeypatch):
    m = CheckpointManager(tmp_path, keep_top_k=2)
    run(m, [0.5, 0.4])
    before = {f: (tmp_path / f).read_bytes() for f in files(tmp_path)}
    state = m.state_dict()

    def torn(path, write):  # writes part of the bytes, then the "disk fills up"
        def partial(f):
            buffer = io.BytesIO()
            write(buffer)
            f.write(buffer.getvalue()[:50])
            raise OSError("No space left on device")

        return atomic_write(path, partial)

    monkeypatch.setattr(manager_mod, "atomic_write", torn)
    with pytest.raises(OSError, match="No space"):
        m.save(payload(2), 2, {"val/loss": 0.1})
    assert {f: (tmp_path / f).read_bytes() for f in files(tmp_path)} == before
    assert no_temp_files(tmp_path) and m.state_dict() == state
    assert load(tmp_path / "last.ckpt")["epoch"] == 1


@pytest.mark.parametrize("links", [True, False], ids=["hard-links", "copies"])
def test_crash_on_last_ckpt_rolls_back_the_new_top_k_file(tmp_path, monkeypatch, links):
    m = CheckpointManager(tmp_path, keep_top_k=2)
    run(m, [0.5, 0.4])

    def fail_on_last(path, write):
        if os.path.basename(path) == "last.ckpt":

            def partial(f):
                f.write(b"PK\x03\x04 torn")
                raise KeyboardInterrupt

            return atomic_write(path, partial)
        return atomic_write(path, write)

    def link_fails_on_last(source, path):
        if os.path.basename(path) == "last.ckpt":
            raise KeyboardInterrupt
        return atomic_link(source, path)

    monkeypatch.setattr(manager_mod, "atomic_write", fail_on_last)
    if links:
        monkeypatch.setattr(manager_mod, "atomic_link", link_fails_on_last)
    else:  # a file system without hard links: every file is a full write
        monkeypatch.setattr(manager_mod, "atomic_link", lambda source, path: False)
    with pytest.raises(KeyboardInterrupt):
        m.save(payload(2), 2, {"val/loss": 0.45})
    assert files(tmp_path) == sorted(
        ["best.ckpt", "last.ckpt", NAME(0, "val/loss", 0.5), NAME(1, "val/loss", 0.4)]
    )
    assert load(tmp_path / "last.ckpt")["epoch"] == 1 and no_temp_files(tmp_path)
    # nothing was deleted before the new files were safely written
    monkeypatch.undo()
    r = m.save(payload(2), 2, {"val/loss": 0.45})
    assert r["removed"] == [str(tmp_path / NAME(0, "val/loss", 0.5))]


def test_crash_in_torch_save_writes_nothing(tmp_path, monkeypatch):
    m = CheckpointManager(tmp_path, keep_top_k=1)
    run(m, [0.5])
    before = {f: (tmp_path / f).read_bytes() for f in files(tmp_path)}

    def boom(obj, f, *a, **k):
        f.write(b"partial")
        raise RuntimeError("serialisation failed")

    monkeypatch.setattr(torch, "save", boom)
    with pytest.raises(RuntimeError):
        m.save(payload(1), 1, {"val/loss": 0.1})
    monkeypatch.undo()
    assert {f: (tmp_path / f).read_bytes() for f in files(tmp_path)} == before and no_temp_files(
        tmp_path
    )


def test_crash_between_writing_and_deleting_is_cleaned_up_on_resume(tmp_path, monkeypatch):
    a = CheckpointManager(tmp_path, keep_top_k=1)
    run(a, [0.5])
    monkeypatch.setattr(
        manager_mod.Path, "unlink", lambda self, *args, **kw: (_ for _ in ()).throw(SystemExit)
    )
    with pytest.raises(SystemExit):
        a.save(payload(1), 1, {"val/loss": 0.4})  # "killed" right after writing
    monkeypatch.undo()
    assert NAME(0, "val/loss", 0.5) in files(tmp_path)
    b = CheckpointManager(tmp_path, keep_top_k=1)
    assert b.load_state_dict(load(tmp_path / "last.ckpt")["checkpoint_manager"]) == []
    r = b.save(payload(2), 2, {"val/loss": 0.9})
    assert r["removed"] == [str(tmp_path / NAME(0, "val/loss", 0.5))]
    assert files(tmp_path) == sorted(["best.ckpt", "last.ckpt", NAME(1, "val/loss", 0.4)])


# ------------------------------------------------------------------------------ weights
class Net(nn.Module):
    def __init__(self, skeleton_out=1, with_width=True):
        super().__init__()
        self.encoder = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4))
        heads = {
            "skeleton": nn.Sequential(nn.Conv2d(4, 8, 1), nn.ReLU(), nn.Conv2d(8, skeleton_out, 1))
        }
        if with_width:
            heads["width"] = nn.Sequential(nn.Conv2d(4, 8, 1), nn.ReLU(), nn.Conv2d(8, 1, 1))
        self.heads = nn.ModuleDict(heads)


def prefixed(sd, prefix):
    return OrderedDict((prefix + k, v) for k, v in sd.items())


@pytest.mark.parametrize(
    "prefix",
    [
        "module.",
        "_orig_mod.",
        "model.",
        "module._orig_mod.",
        "_orig_mod.module.",
        "module._orig_mod.model.",
        "model.module.",
        "_orig_mod.model._orig_mod.module.",
    ],
)
def test_strip_prefixes_in_any_order(prefix):
    sd = Net().state_dict()
    assert list(strip_prefixes(prefixed(sd, prefix))) == list(sd)
    assert list(strip_prefixes(sd)) == list(sd)


def test_strip_prefixes_only_when_on_all_keys():
    sd = {"model.conv.weight": torch.zeros(1), "head.weight": torch.zeros(1)}
    assert list(strip_prefixes(sd)) == ["model.conv.weight", "head.weight"]
    sd = {"module.model.conv.weight": torch.zeros(1), "module.head.weight": torch.zeros(1)}
    assert list(strip_prefixes(sd)) == ["model.conv.weight", "head.weight"]
    # a compiled submodule: _orig_mod is dropped wherever it appears
    sd = {"encoder._orig_mod.conv.weight": torch.zeros(1), "head.weight": torch.zeros(1)}
    assert list(strip_prefixes(sd)) == ["encoder.conv.weight", "head.weight"]


def test_load_weights_prefers_the_renaming_that_fits_the_module():
    class Wrapper(nn.Module):  # a real child called "model" as the only top-level module
        def __init__(self):
            super().__init__()
            self.model = nn.Linear(2, 2)

    src, dst = Wrapper(), Wrapper()
    report = load_weights(dst, prefixed(src.state_dict(), "module."))
    assert report.ok and report.loaded == ["model.weight", "model.bias"]
    assert torch.equal(dst.model.weight, src.model.weight)


def test_load_weights_strict_fits_and_loads():
    src, dst = Net(), Net()
    with torch.no_grad():
        src.encoder[1].running_mean.fill_(3.0)
    report = load_weights(dst, prefixed(src.state_dict(), "module._orig_mod."))
    assert report.ok and len(report.loaded) == len(src.state_dict())
    assert (
        report.summary()
        == f"loaded {len(src.state_dict())} tensors; 0 missing, 0 unexpected, 0 with another shape"
    )
    for k, v in src.state_dict().items():
        assert torch.equal(dst.state_dict()[k], v)


def test_load_weights_strict_raises_one_line_and_leaves_the_module_unchanged():
    src, dst = Net(skeleton_out=2, with_width=False), Net()
    sd = src.state_dict()
    sd["extra.scale"] = torch.ones(1)
    sd["note"] = "not a tensor"
    before = {k: v.clone() for k, v in dst.state_dict().items()}
    with pytest.raises(CheckpointError) as e:
        load_weights(dst, sd)
    msg = str(e.value)
    assert "\n" not in msg
    assert msg == (
        "weights do not fit the model: loaded 9 tensors; 4 missing (heads.width), "
        "2 unexpected (extra.scale, note), 2 with another shape (heads.skeleton.2.weight, "
        "heads.skeleton.2.bias)"
    )
    assert all(torch.equal(before[k], v) for k, v in dst.state_dict().items())


def test_load_weights_non_strict_loads_what_fits_and_reports_the_rest():
    src, dst = Net(skeleton_out=2, with_width=False), Net()
    before = {k: v.clone() for k, v in dst.state_dict().items()}
    report = load_weights(dst, src.state_dict(), strict=False)
    assert not report.ok
    assert report.mismatched == [
        ("heads.skeleton.2.weight", (2, 8, 1, 1), (1, 8, 1, 1)),
        ("heads.skeleton.2.bias", (2,), (1,)),
    ]
    assert report.missing == [
        "heads.width.0.weight",
        "heads.width.0.bias",
        "heads.width.2.weight",
        "heads.width.2.bias",
    ]
    assert report.unexpected == []
    state = dst.state_dict()
    for k in report.loaded:
        assert torch.equal(state[k], src.state_dict()[k])
    for k in report.missing + [m[0] for m in report.mismatched]:
        assert torch.equal(state[k], before[k])
    assert report.format() == "\n".join(
        [
            "loaded 9 tensors; 4 missing (heads.width), 0 unexpected, 2 with another shape "
            "(heads.skeleton.2.weight, heads.skeleton.2.bias)",
            "missing in checkpoint: heads.width.{0.weight, 0.bias, 2.weight, 2.bias}",
            "shape mismatch: heads.skeleton.2.weight checkpoint (2, 8, 1, 1) vs model (1, 8, 1, 1)",
            "shape mismatch: heads.skeleton.2.bias checkpoint (2,) vs model (1,)",
        ]
    )


def test_report_format_groups_keys_like_fvcore():
    model_keys = [
        "enc.0.weight",
        "enc.0.bias",
        "enc.1.weight",
        "enc.1.running_mean",
        "enc.1.num_batches_tracked",
        "heads.a.0.weight",
        "heads.a.0.bias",
        "heads.b.0.weight",
        "heads.b.0.bias",
        "heads.b.2.weight",
        "scale",
    ]
    report = WeightsReport(
        loaded=["enc.0.weight", "enc.0.bias", "enc.1.weight", "heads.a.0.weight", "heads.a.0.bias"],
        missing=[
            "enc.1.running_mean",
            "enc.1.num_batches_tracked",
            "heads.b.0.weight",
            "heads.b.0.bias",
            "heads.b.2.weight",
            "scale",
        ],
        unexpected=["old.fc.weight", "old.fc.bias", "temperature"],
        mismatched=[],
        model_keys=model_keys,
        checkpoint_keys=[
            "enc.0.weight",
            "enc.0.bias",
            "enc.1.weight",
            "heads.a.0.weight",
            "heads.a.0.bias",
            "old.fc.weight",
            "old.fc.bias",
            "temperature",
        ],
    )
    assert report.format() == "\n".join(
        [
            "loaded 5 tensors; 6 missing (enc.1, heads.b, scale), "
            "3 unexpected (old, temperature), 0 with another shape",
            "missing in checkpoint: enc.1.{running_mean, num_batches_tracked}",
            "missing in checkpoint: heads.b.{0.weight, 0.bias, 2.weight}",
            "missing in checkpoint: scale",
            "unexpected in checkpoint: old.{fc.weight, fc.bias}",
            "unexpected in checkpoint: temperature",
        ]
    )
    # without the key universes: plain parent-module grouping
    bare = WeightsReport(missing=["heads.b.0.weight", "heads.b.0.bias", "heads.b.2.weight"])
    assert bare.format().splitlines()[1:] == [
        "missing in checkpoint: heads.b.0.{weight, bias}",
        "missing in checkpoint: heads.b.2.weight",
    ]


def test_load_weights_rejects_non_mappings():
    with pytest.raises(CheckpointError):
        load_weights(Net(), [torch.zeros(1)])


def test_every_manager_file_loads_as_a_checkpoint(tmp_path):
    m = CheckpointManager(tmp_path, keep_top_k=2)
    run(m, [0.3, 0.2, math.pi])
    for f in files(tmp_path):
        data = load(tmp_path / f)
        assert data["format"] == "inktrace" and "checkpoint_manager" in data


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_atomic_writes_honour_the_umask_like_open(tmp_path, umask):
    from inktrace.fileio import atomic_write_json

    old = os.umask(umask)
    try:
        plain = tmp_path / "plain.txt"
        plain.write_text("x")
        atomic = atomic_write_json(tmp_path / "log.json", {"a": 1})
        saved = atomic_write(tmp_path / "w.ckpt", lambda f: f.write(b"w"))
    finally:
        os.umask(old)
    want = plain.stat().st_mode & 0o777
    assert want == 0o666 & ~umask
    assert atomic.stat().st_mode & 0o777 == want == saved.stat().st_mode & 0o777


def test_garbage_files_never_repeat_torchs_unsafe_advice(tmp_path):
    from inktrace.checkpoint import load_checkpoint

    cases = {
        "random.ckpt": bytes(range(256)) * 20,
        "empty.ckpt": b"",
        "text.ckpt": b"hello world",
    }
    for name, content in cases.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(CheckpointError) as info:
            load_checkpoint(tmp_path / name)
        message = str(info.value)
        assert message.startswith(f"{tmp_path / name}: not a readable checkpoint (")
        assert "weights_only" not in message and "\n" not in message
    with pytest.raises(CheckpointError, match="empty or cut short"):
        load_checkpoint(tmp_path / "empty.ckpt")


def test_temporary_files_of_killed_saves_are_swept_and_live_ones_kept(tmp_path):
    import subprocess
    import sys
    import time

    from inktrace.fileio import sweep_stale_temps

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f".last.ckpt.{dead.pid}.ab12cd34.tmp"
    live = tmp_path / f".last.ckpt.{os.getpid()}.zz99yy88.tmp"
    old = tmp_path / ".training_log.json.q1w2e3r4.tmp"  # written before pids were in the name
    fresh_old = tmp_path / ".training_log.json.a1s2d3f4.tmp"
    keep = tmp_path / "notes.tmp"
    for p in (stale, live, old, fresh_old, keep):
        p.write_bytes(b"x")
    hour_ago = time.time() - 7200
    os.utime(old, (hour_ago, hour_ago))
    assert sweep_stale_temps(tmp_path) and not stale.exists() and not old.exists()
    assert live.exists() and fresh_old.exists() and keep.exists()
    # a real save names its temporary file with its pid, and leaves none behind
    atomic_write(tmp_path / "x.ckpt", lambda f: f.write(b"1"))
    assert sorted(p.name for p in tmp_path.glob(".x.ckpt.*")) == []


def test_json_logs_write_non_finite_tensors_as_null(tmp_path):
    import json

    import torch

    from inktrace.fileio import atomic_write_json

    path = atomic_write_json(tmp_path / "log.json", {"a": torch.tensor(float("nan")), "b": 1.5})
    assert json.loads(path.read_text()) == {"a": None, "b": 1.5}
