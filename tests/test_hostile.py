"""The second round of hostile inputs (docs/reliability.md): experiments that never overwrite each
other, checkpoints whose config would allocate gigabytes, settings too large to run, payload
fields of the wrong type, terminal escape codes in stored names, exports that must load back,
and --resume suggestions of another run. Each case is injected for real: train.py and inktrace
processes, crafted files, a held lock."""

from __future__ import annotations

import hashlib
import math
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import torch
import yaml

from inktrace import Config
from inktrace.checkpoint import load_checkpoint
from inktrace.cli.checkpoints import compare_main, export_main
from inktrace.cli.train import main as train_main
from inktrace.model.net import InkTraceNet

ROOT = Path(__file__).resolve().parents[1]
HOLD = """import sys, time
from pathlib import Path
from inktrace.training.folders import lock_folder
lock = lock_folder(Path(sys.argv[1]))
print("locked", flush=True)
time.sleep(120)
"""
ESCAPES = "\x1b]0;pwned\x07\x1b[2J"  # set the window title, clear the screen


def write_config(tmp_path, name, experiment, save_dir=None, **sections):
    settings = {
        "experiment": {"name": experiment},
        "model": {"embed_dim": 4, "num_layers": 2},
        "training": {"epochs": 1, "batch_size": 4, "warmup_epochs": 0, "precision": "fp32"},
        "data": {"img_size": 32, "train_size": 4, "val_size": 2},
        "checkpoint": {"save_dir": str(save_dir or tmp_path / "checkpoints")},
        "logging": {"log_dir": str(tmp_path / "runs"), "progress_bar": False},
        "visualization": {"enabled": False},
        "system": {"num_threads": 1},
        "stages": {"dense": {"init_from": "none"}, "structural": {"init_from": "none"}},
        **sections,
    }
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(settings))
    return path


def run(*argv, env=None):
    """A real process of the package (``train.py`` or ``-m inktrace``), finished; ``maxrss``:
    its peak resident memory in KiB (its own, from wait4)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen([sys.executable, *argv], cwd=ROOT, env=env, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0), err.seek(0)
        proc.stdout, proc.stderr, proc.maxrss = out.read(), err.read(), usage.ru_maxrss
    return proc


def digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def one_line(stderr: bytes | str) -> str:
    text = stderr.decode() if isinstance(stderr, bytes) else stderr
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in text, text
    return lines[0]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One finished tiny dense run of experiment 'exp_a': its checkpoint folder."""
    tmp = tmp_path_factory.mktemp("trained")
    cfg = write_config(tmp, "exp_a", "exp_a")
    assert train_main(["--config", str(cfg), "--stage", "dense"]) == 0
    return tmp / "checkpoints" / "dense"


def crafted(tmp_path, source: Path, name="crafted.ckpt", **changes) -> Path:
    """``source``'s payload with ``changes`` applied (None is stored as None), written to
    ``tmp_path/dense/name``: a run resumed from it continues there, never in ``source``'s
    folder."""
    data = torch.load(source, weights_only=True)
    for key, value in changes.items():
        node, *path = key.split(".")
        if path:
            data[node] = dict(data[node])
            data[node][path[0]] = value
        else:
            data[node] = value
    out = tmp_path / "dense" / name
    out.parent.mkdir(exist_ok=True)
    torch.save(data, out)
    return out


# ------------------------------------------------------------------ experiments never overwrite
def test_a_second_experiment_into_the_same_folder_is_refused_in_one_line(tmp_path):
    a = write_config(tmp_path, "exp_a", "exp_a")
    b = write_config(tmp_path, "exp_b", "exp_b")
    first = run("train.py", "--config", str(a), "--stage", "dense")
    assert first.returncode == 0, first.stderr[-2000:]
    folder = tmp_path / "checkpoints" / "dense"
    before = digests(folder)
    assert len(before) == 3  # last, best, one top-k file
    second = run("train.py", "--config", str(b), "--stage", "dense")
    assert second.returncode == 2
    line = one_line(second.stderr)
    assert f"{folder} holds 3 checkpoint(s) of experiment 'exp_a'" in line
    for way_out in (f"--resume {folder / 'last.ckpt'}", "--save_dir DIR", "--overwrite"):
        assert way_out in line
    assert b"will be overwritten" not in second.stdout + second.stderr
    assert digests(folder) == before  # not a byte changed
    # the ways out: --overwrite replaces them, saying so
    third = run("train.py", "--config", str(b), "--stage", "dense", "--overwrite")
    assert third.returncode == 0, third.stderr[-2000:]
    assert b"of experiment 'exp_a' (--overwrite); last/best will be overwritten" in third.stdout
    assert load_checkpoint(folder / "best.ckpt")["config"]["experiment"]["name"] == "exp_b"


def test_the_same_experiment_again_and_legacy_files_only_get_a_note(tmp_path, capsys):
    a = write_config(tmp_path, "exp_a", "exp_a")
    assert train_main(["--config", str(a), "--stage", "dense"]) == 0
    capsys.readouterr()
    assert train_main(["--config", str(a), "--stage", "dense"]) == 0
    assert "of this experiment; last/best will be overwritten" in capsys.readouterr().out
    # a folder of an old layout (no experiment stored) is not refused
    folder = tmp_path / "legacy" / "dense"
    folder.mkdir(parents=True)
    model = InkTraceNet(embed_dim=4, num_layers=2)
    torch.save({"model_state_dict": model.state_dict(), "epoch": 3}, folder / "old.ckpt")
    b = write_config(tmp_path, "exp_b", "exp_b", save_dir=tmp_path / "legacy")
    assert train_main(["--config", str(b), "--stage", "dense"]) == 0
    assert "holds 1 checkpoint(s) of an earlier run" in capsys.readouterr().out
    # and it still resumes, in the layout it has
    assert (
        train_main(
            ["--resume", str(folder / "old.ckpt"), "--config", str(b)]
            + ["--stage", "dense", "--epochs", "5"]
        )
        == 0
    )


def test_a_pipeline_is_refused_before_its_first_stage_trains(tmp_path, capsys):
    a = write_config(tmp_path, "exp_a", "exp_a")
    assert train_main(["--config", str(a), "--stage", "dense"]) == 0
    order = {"pipeline": {"order": ["structural", "dense"]}}
    b = write_config(tmp_path, "exp_b", "exp_b", **order)
    capsys.readouterr()
    assert train_main(["--config", str(b), "--run-all-stages"]) == 2
    out, err = capsys.readouterr()
    assert "of experiment 'exp_a'" in one_line(err) and "dense" in err
    assert not (tmp_path / "checkpoints" / "structural").exists()  # nothing trained
    assert "will be overwritten" not in out


def test_a_refusal_for_a_busy_folder_says_no_overwrite_first(tmp_path, capsys):
    a = write_config(tmp_path, "exp_a", "exp_a")
    assert train_main(["--config", str(a), "--stage", "dense"]) == 0
    folder = tmp_path / "checkpoints" / "dense"
    holder = subprocess.Popen(  # another process holds the folder, as a running training would
        [sys.executable, "-c", HOLD, str(folder)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        capsys.readouterr()
        assert train_main(["--config", str(a), "--stage", "dense"]) == 2
    finally:
        holder.kill()
        holder.wait()
    out, err = capsys.readouterr()
    assert "is in use by a running training" in one_line(err)
    assert "will be overwritten" not in out + err


# ------------------------------------------------------------------ memory from a few bytes
@pytest.mark.parametrize("embed_dim, levels", [(256, 8), (1024, 6)])
def test_a_small_checkpoint_claiming_a_huge_model_allocates_nothing(tmp_path, embed_dim, levels):
    small = InkTraceNet(embed_dim=4, num_layers=2)
    cfg = Config.from_dict({}).to_dict()
    cfg["model"].update(embed_dim=embed_dim, num_layers=levels)
    path = tmp_path / "huge.ckpt"
    torch.save(
        {"format": "inktrace", "format_version": 1, "model": small.state_dict(), "config": cfg},
        path,
    )
    assert path.stat().st_size < 300_000
    image = ROOT / "docs" / "samples" / "level6.png"
    trace = run("-m", "inktrace", "trace", "--checkpoint", str(path), str(image),
                "--output", str(tmp_path / "out"))  # fmt: skip
    resume = run("train.py", "--resume", str(path))
    for proc in (trace, resume):
        assert proc.returncode == 2
        line = one_line(proc.stderr)
        if embed_dim <= 256:  # in bounds: the weights are checked against it, nothing built
            assert "weights do not fit the stored model configuration (71 tensors" in line
        else:
            assert "model.embed_dim: must be <= 256, got 1024" in line
        # far below the 1.5 GiB of weights that embed_dim 256 with 8 levels would take
        assert proc.maxrss < 1_000_000, proc.maxrss  # KiB
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


@pytest.mark.parametrize(
    "setting, words",
    [
        ("model.embed_dim=100000", "model.embed_dim: must be <= 256"),
        ("data.img_size=100000", "data.img_size: must be <= 1024"),
        ("data.train_size=1e20", "data.train_size: must be <= 10000000"),
        ("data.val_size=100000", "the validation set is kept in memory"),
        ("training.seed=1e30", "training.seed: must be <="),
        ("training.batch_size=1e9", "training.batch_size: must be <= 65536"),
        ("model.mask_patch_size=1e9", "model.mask_patch_size: must be <= 1024"),
    ],
)
def test_settings_too_large_to_run_are_one_line(tmp_path, capsys, setting, words):
    cfg = write_config(tmp_path, "big", "big", data={"img_size": 1024, "val_size": 2})
    argv = ["--config", str(cfg), "--stage", "dense", "--set", setting]
    assert train_main(argv) == 2
    assert words in one_line(capsys.readouterr().err)
    assert not (tmp_path / "checkpoints").exists()


# ------------------------------------------------------------------ the payload's schema
BAD_FIELDS = {
    "history": "a string",
    "global_step": [1, 2],
    "metrics": [1.0, 2.0],
    "optimizer": "adam",
    "epoch": "three",
    "epoch_nan": math.nan,
    "position": {"epoch": "x", "batch": 0},
    "best_metrics": {"val/loss": "low"},
    "world_size": 0,
    "rng": {"torch": "not bytes"},
    "last_lr": math.inf,
    "stage": 5,
}


@pytest.mark.parametrize("field", sorted(BAD_FIELDS))
def test_a_payload_field_of_the_wrong_type_is_one_line_everywhere(tmp_path, capsys, trained, field):
    key = field.removesuffix("_nan")
    path = crafted(tmp_path, trained / "last.ckpt", **{key: BAD_FIELDS[field]})
    for main, argv in (
        (train_main, ["--resume", str(path)]),
        (export_main, [str(path), str(tmp_path / "out.ckpt")]),
        (compare_main, [str(path), str(trained / "best.ckpt")]),
    ):
        capsys.readouterr()
        assert main(argv) == 2, (main, field)
        line = one_line(capsys.readouterr().err)
        assert f"not a usable checkpoint: '{key}'" in line, line
    assert not (tmp_path / "out.ckpt").exists()


@pytest.mark.parametrize("key", ["rng", "history", "best_metrics", "metrics", "optimizer"])
def test_a_payload_field_stored_as_none_resumes_as_if_absent(tmp_path, capsys, trained, key):
    path = crafted(tmp_path, trained / "last.ckpt", **{key: None})
    assert train_main(["--resume", str(path), "--epochs", "2"]) == 0
    assert "epoch 2/2" in capsys.readouterr().out


# ------------------------------------------------------------------ escapes
def test_escape_codes_in_stored_names_never_reach_the_terminal(tmp_path, trained):
    path = crafted(tmp_path, trained / "last.ckpt", stage=ESCAPES, **{"config.experiment": {
        "name": ESCAPES}})  # fmt: skip
    exported = run("-m", "inktrace", "export", str(path), str(tmp_path / "out.ckpt"))
    assert exported.returncode == 0, exported.stderr
    assert b"\x1b" not in exported.stdout and b"\\x1b]0;pwned\\x07" in exported.stdout
    card = torch.load(tmp_path / "out.ckpt", weights_only=True)["card"]
    assert card["experiment"] == card["stage"] == "\\x1b]0;pwned\\x07\\x1b[2J"
    compared = run("-m", "inktrace", "compare", str(path), str(trained / "best.ckpt"))
    assert compared.returncode == 0, compared.stderr
    assert b"\x1b" not in compared.stdout and b"\\x1b[2J" in compared.stdout
    cfg = write_config(tmp_path, "c", "c")
    resumed = run("train.py", "--resume", str(path), "--config", str(cfg), "--stage", "dense")
    assert resumed.returncode == 2
    line = one_line(resumed.stderr)
    assert "\x1b" not in line and "checkpoint of stage '\\x1b]0;pwned\\x07\\x1b[2J'" in line


# ------------------------------------------------------------------ export
def test_an_export_that_would_not_load_back_is_not_written(tmp_path, capsys, trained):
    wrong = InkTraceNet(embed_dim=8, num_layers=2).state_dict()  # the config says embed_dim 4
    path = crafted(tmp_path, trained / "best.ckpt", model=wrong)
    target = tmp_path / "out.ckpt"
    assert export_main([str(path), str(target)]) == 2
    line = one_line(capsys.readouterr().err)
    assert f"{path}: not exported: {target}: weights do not fit" in line
    assert not target.exists() and not list(tmp_path.glob(".out.ckpt.*"))
    # an existing target is kept as it was
    target.write_bytes(b"keep me")
    assert export_main([str(path), str(target), "--force"]) == 2
    assert target.read_bytes() == b"keep me"


def test_an_export_carries_only_a_bounded_card(tmp_path, capsys, trained):
    huge_metric = crafted(tmp_path, trained / "best.ckpt", "m.ckpt",
                          **{"metrics": {"val/loss": torch.zeros(1_000_000)}})  # fmt: skip
    assert export_main([str(huge_metric), str(tmp_path / "m_out.ckpt")]) == 2
    assert "'metrics' ['val/loss'] is a tensor of shape (1000000,)" in one_line(
        capsys.readouterr().err
    )
    many = {f"val/m{i}": float(i) for i in range(500)}
    long_name = crafted(tmp_path, trained / "best.ckpt", "n.ckpt", metrics=many,
                        **{"config.experiment": {"name": "x" * 5_000_000}})  # fmt: skip
    target = tmp_path / "n_out.ckpt"
    capsys.readouterr()
    assert export_main([str(long_name), str(target), "--note", "y" * 100_000]) == 0
    out = capsys.readouterr().out
    assert len(out) < 400
    card = torch.load(target, weights_only=True)["card"]
    assert len(card["experiment"]) == 200 and len(card["note"]) == 1000
    assert len(card["metrics"]) == 64
    assert target.stat().st_size < 2 * (trained / "best.ckpt").stat().st_size
    InkTraceNet.load_from_checkpoint(target)  # it loads back


# ------------------------------------------------------------------ --resume suggestions
def test_a_refused_resume_suggests_only_a_checkpoint_of_the_same_run(tmp_path, capsys, trained):
    folder = tmp_path / "dense"
    folder.mkdir()
    for name in ("best.ckpt", "last.ckpt"):
        (folder / name).write_bytes((trained / name).read_bytes())
    (folder / "last.ckpt").write_bytes(b"damaged")
    # newer, readable, but not of this run: a legacy file and a model-only export
    model = InkTraceNet(embed_dim=4, num_layers=2)
    torch.save({"model_state_dict": model.state_dict(), "epoch": 9}, folder / "old.ckpt")
    assert export_main([str(folder / "best.ckpt"), str(folder / "exported.ckpt")]) == 0
    capsys.readouterr()
    assert train_main(["--resume", str(folder / "last.ckpt")]) == 2
    line = one_line(capsys.readouterr().err)
    assert line.endswith(f"--resume {folder / 'best.ckpt'}"), line
    # with no checkpoint of its run beside it, nothing is suggested
    (folder / "best.ckpt").unlink()
    assert train_main(["--resume", str(folder / "last.ckpt")]) == 2
    line = one_line(capsys.readouterr().err)
    assert "newest intact" not in line and "old.ckpt" not in line and "exported" not in line
