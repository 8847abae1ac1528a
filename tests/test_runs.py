"""The runs table (``inktrace runs``, ``inktrace.experiments.find_runs``) over a real sweep."""

from __future__ import annotations

import csv
import io
import json

import pytest

from inktrace.cli.main import main as inktrace_main
from inktrace.config import Config
from inktrace.experiments import find_runs, format_rows
from inktrace.training import DenseTrainer
from inktrace.training.folders import lock_folder


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """Three dense runs with lr 1e-3, 5e-4, 1e-4 into one log folder (the old guide's sweep)."""
    root = tmp_path_factory.mktemp("sweep")
    for lr in (1e-3, 5e-4, 1e-4):
        settings = {
            "model": {"embed_dim": 4, "num_layers": 2},
            "training": {"epochs": 2, "batch_size": 4, "lr": lr, "precision": "fp32"},
            "data": {"img_size": 32, "train_size": 8, "val_size": 4},
            "checkpoint": {"save_dir": str(root / f"lr_{lr}")},
            "logging": {"log_dir": str(root / "runs"), "progress_bar": False},
            "stages": {"dense": {}},
        }
        DenseTrainer(Config.from_dict(settings, stage="dense"), verbose=False).fit()
    return root


def test_find_runs_gives_one_row_per_run_and_what_was_swept(sweep):
    rows = find_runs([sweep / "runs"])
    assert len(rows) == 3
    assert [r["settings"] for r in rows] == [
        {"training.lr": 0.001},
        {"training.lr": 0.0005},
        {"training.lr": 0.0001},
    ]
    for row in rows:
        summary = json.loads((sweep / row["run_dir"] / "training_summary.json").read_text())
        assert row["status"] == "completed" and row["epochs"] == row["planned"] == 2
        assert row["best"] == summary["best_value"] and row["monitor"] == "val/loss"
        assert row["best_epoch"] == summary["best_epoch"] + 1 and row["parameters"] > 0


def test_the_formats_hold_the_same_rows(sweep):
    rows = find_runs([sweep / "runs"])
    parsed = list(csv.DictReader(io.StringIO(format_rows(rows, "csv"))))
    assert [float(r["training.lr"]) for r in parsed] == [1e-3, 5e-4, 1e-4]
    assert [r["epochs"] for r in parsed] == ["2/2"] * 3
    assert json.loads(format_rows(rows, "json")) == rows
    markdown = format_rows(rows, "markdown").splitlines()
    assert len(markdown) == 5 and markdown[1].startswith("|---|")
    table = format_rows(rows, "table").splitlines()
    assert len(table) == 4 and table[0].split()[:3] == ["experiment", "stage", "status"]


def test_a_run_without_summary_is_running_while_locked_else_stopped(tmp_path, sweep):
    run = tmp_path / "runs" / "dense"
    run.mkdir(parents=True)
    (run / "training_config.json").write_text(json.dumps({"stage": "dense"}))
    lock = lock_folder(run)
    assert find_runs([tmp_path])[0]["status"] == "running"
    lock.release()
    assert find_runs([tmp_path])[0]["status"] == "stopped"


def test_the_command(sweep, tmp_path, capsys):
    assert inktrace_main(["runs", str(sweep / "runs"), "--format", "csv"]) == 0
    assert capsys.readouterr().out.count("\n") == 4
    for argv, words in (
        ([str(tmp_path / "nowhere")], "no such folder"),
        ([str(tmp_path)], "no runs under"),
        ([str(sweep), "--format", "xml"], "invalid choice"),
    ):
        assert inktrace_main(["runs", *argv]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and words in err


def test_plot_draws_every_run_into_one_image(sweep, tmp_path, capsys, monkeypatch):
    pytest.importorskip("matplotlib")
    from PIL import Image

    runs = sorted(str(p.parent) for p in (sweep / "runs").rglob("training_log.json"))
    out = tmp_path / "curves.png"
    assert inktrace_main(["plot", *runs, "-o", str(out)]) == 0
    assert capsys.readouterr().out == f"wrote {out} (3 run(s))\n"
    with Image.open(out) as image:
        assert image.size[0] > 2 * image.size[1] > 500  # five panels side by side
        colours = {c for _, c in image.convert("RGB").getcolors(1 << 20)}
    # one colour per run (matplotlib's C0, C1, C2) is drawn
    for rgb in ((31, 119, 180), (255, 127, 14), (44, 160, 44)):
        assert rgb in colours
    assert inktrace_main(["plot", str(tmp_path), "-o", str(out)]) == 2
    assert "no training_log.json" in capsys.readouterr().err
    import builtins

    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name.startswith("matplotlib"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    assert inktrace_main(["plot", *runs, "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pip install 'inktrace[plot]'" in err
