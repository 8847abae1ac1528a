"""--resume of a run folder (its last.ckpt) and --resume last with --config (the newest run of the
stages it runs); the run says which file and why; bad folders are one-line errors."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from inktrace.cli.train import main as train_main

TINY = [
    "--set",
    "model.embed_dim=4",
    "--set",
    "model.num_layers=2",
    "--set",
    "data.img_size=32",
    "--set",
    "data.train_size=8",
    "--set",
    "data.val_size=4",
    "--set",
    "training.warmup_epochs=0",
    "--batch-size",
    "4",
]


def train(tmp_path, *argv):
    return train_main(
        [
            "--config",
            "quickstart",
            *TINY,
            "--save_dir",
            str(tmp_path / "ck"),
            "--set",
            f"logging.log_dir={tmp_path / 'runs'}",
            *argv,
        ]
    )


def epochs_of(path: Path) -> int:
    return torch.load(path, weights_only=True)["epoch"] + 1


@pytest.fixture
def two_stages(tmp_path, capsys):
    """A structural and a dense run of the quickstart, one epoch each (dense written last)."""
    assert train(tmp_path, "--run-all-stages", "--epochs", "1") == 0
    capsys.readouterr()
    return tmp_path / "ck"


def test_resume_a_run_folder_continues_its_last_checkpoint(tmp_path, capsys, two_stages):
    folder = two_stages / "dense"
    assert train_main(["--resume", str(folder), "--epochs", "2"]) == 0
    out = capsys.readouterr().out
    assert f"--resume {folder}: a run folder, continuing its last.ckpt" in out
    assert f"resuming from {folder / 'last.ckpt'}" in out
    assert epochs_of(folder / "last.ckpt") == 2
    assert epochs_of(two_stages / "structural" / "last.ckpt") == 1


def test_resume_last_continues_the_newest_run_of_the_config(tmp_path, capsys, two_stages):
    dense, structural = two_stages / "dense" / "last.ckpt", two_stages / "structural" / "last.ckpt"
    # with --stage: that stage's run
    assert train(tmp_path, "--stage", "structural", "--resume", "last", "--epochs", "2") == 0
    out = capsys.readouterr().out
    assert f"--resume last: {structural}, the last.ckpt of experiment 'quickstart' stage " in out
    # the packaged config by name: the run says which file (banner) and why
    assert "config 'quickstart': the packaged config " in out
    assert "quickstart.yaml (packaged)\n" in out
    assert epochs_of(structural) == 2 and epochs_of(dense) == 1
    # with --run-all-stages: the newest of the stages' runs (structural now), then dense after it
    os.utime(dense, (1, 1))
    assert train(tmp_path, "--run-all-stages", "--resume", "last", "--epochs", "3") == 0
    out = capsys.readouterr().out
    assert f"--resume last: {structural}" in out and "(the newest of 2 stages' runs)" in out
    assert epochs_of(structural) == 3


def test_resume_targets_that_name_nothing_are_one_line_errors(tmp_path, capsys, two_stages):
    cases = [
        (["--resume", str(two_stages)], "a folder of stages, not a run; name one: "),
        (["--resume", str(tmp_path / "runs")], "no last.ckpt in this folder"),
        (["--resume", "last"], "--resume last needs --config"),
    ]
    for argv, message in cases:
        assert train_main(argv) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err
    empty = tmp_path / "elsewhere"
    assert (
        train_main(
            [
                "--config",
                "quickstart",
                "--stage",
                "dense",
                "--save_dir",
                str(empty),
                "--resume",
                "last",
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert f"--resume last: no last.ckpt in {empty / 'dense'}; nothing to continue" in err


def test_a_file_named_last_is_that_file(tmp_path, capsys, two_stages, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("last").write_bytes((two_stages / "dense" / "last.ckpt").read_bytes())
    assert train_main(["--resume", "last", "--epochs", "2"]) == 0
    assert "resuming from last" in capsys.readouterr().out
