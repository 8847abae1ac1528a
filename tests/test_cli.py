"""train.py and the `inktrace` command: overrides, provenance output, one-line errors, exit
codes."""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from inktrace import Config
from inktrace.cli.main import main as inktrace_main
from inktrace.cli.train import main as train_main

REPO = Path(__file__).resolve().parents[1]
DEFAULT = str(REPO / "configs/default.yaml")


def run(main, argv, capsys):
    status = main(argv)
    out, err = capsys.readouterr()
    return status, out, err


def test_print_config_applies_command_line_overrides(capsys):
    status, out, err = run(
        train_main,
        [
            "--config",
            DEFAULT,
            "--stage",
            "dense",
            "--print-config",
            "--lr",
            "1e-4",
            "--epochs",
            "3",
            "--batch-size",
            "16",
            "--save_dir",
            "sweeps/a",
            "--set",
            "model.embed_dim=64",
            "--set",
            "training.betas=[0.5, 0.6]",
            "--init_from",
            "x.ckpt",
        ],
        capsys,
    )
    assert status == 0 and err == ""
    printed = yaml.safe_load(out)
    assert printed["stage"] == "dense" and printed["init_from"] == "x.ckpt"
    assert printed["training"]["lr"] == 0.0001 and printed["training"]["epochs"] == 3
    assert printed["training"]["batch_size"] == 16 and printed["training"]["betas"] == [0.5, 0.6]
    assert printed["checkpoint"]["save_dir"] == "sweeps/a" and printed["model"]["embed_dim"] == 64
    assert Config.from_dict(printed).to_dict() == printed


def test_explain_shows_the_origin_of_every_value(capsys):
    status, out, _ = run(
        train_main,
        [
            "--config",
            DEFAULT,
            "--stage",
            "dense",
            "--explain",
            "--epochs",
            "2",
            "--set",
            "data.img_size=32",
        ],
        capsys,
    )
    assert status == 0
    rows = {line.split()[0]: line for line in out.splitlines() if not line.startswith("#")}
    assert rows["training.epochs"].endswith("# command line (--epochs)")
    assert rows["data.img_size"].endswith("# command line (--set data.img_size=32)")
    assert (
        rows["training.lr"].endswith("default.yaml:90)")
        and "# stage 'dense' (" in rows["training.lr"]
    )
    assert rows["model.embed_dim"].endswith("default.yaml:11")
    assert rows["training.seed"].endswith("default.yaml:25")
    assert rows["stage"].endswith("# selected stage")
    assert rows["training.max_nonfinite_steps"].endswith("# default")


def test_run_all_stages_prints_each_stage(capsys):
    status, out, _ = run(
        train_main,
        ["--config", str(REPO / "configs/quickstart.yaml"), "--run-all-stages", "--print-config"],
        capsys,
    )
    docs = list(yaml.safe_load_all(out))
    assert status == 0 and [d["stage"] for d in docs] == ["structural", "dense"]
    status, out, _ = run(
        train_main,
        ["--config", DEFAULT, "--run-all-stages", "--start-from", "dense", "--print-config"],
        capsys,
    )
    assert [d["stage"] for d in yaml.safe_load_all(out)] == ["dense"]


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["--stage", "dense"], "--config FILE is required"),
        (["--config", DEFAULT], "choose --stage NAME or --run-all-stages"),
        (["--config", DEFAULT, "--stage", "dens"], "unknown stage 'dens' (did you mean 'dense'?)"),
        (
            ["--config", DEFAULT, "--stage", "dense", "--lrr", "1"],
            "unknown option '--lrr' (did you mean '--lr'?)",
        ),
        (["--config", DEFAULT, "--stage", "dense", "--ep", "1"], "unknown option '--ep'"),
        (
            ["--config", DEFAULT, "--stage", "dense", "--lr", "fast"],
            "command line (--lr): training.lr: expected a number, got 'fast' (str)",
        ),
        (
            ["--config", DEFAULT, "--stage", "dense", "--set", "training.lr"],
            "--set expects KEY=VALUE",
        ),
        (
            ["--config", DEFAULT, "--stage", "dense", "--set", "training.betas=[1,"],
            "malformed value",
        ),
        (
            ["--config", DEFAULT, "--stage", "dense", "--set", "model.embed=3"],
            "command line (--set model.embed=3): "
            "model.embed: unknown key (did you mean 'embed_dim'?)",
        ),
        (
            [
                "--config",
                DEFAULT,
                "--stage",
                "dense",
                "--epochs",
                "2",
                "--set",
                "training.epochs=3",
            ],
            "training.epochs: already set by --epochs",
        ),
        (
            ["--config", DEFAULT, "--stage", "dense", "--run-all-stages"],
            "not allowed with argument",
        ),
        (
            ["--config", DEFAULT, "--stage", "dense", "--start-from", "dense"],
            "--start-from needs --run-all-stages",
        ),
        (
            ["--config", DEFAULT, "--run-all-stages", "--start-from", "x"],
            "--start-from x: not in pipeline.order",
        ),
        (["--config", "missing.yaml", "--stage", "dense"], "missing.yaml: config file not found"),
    ],
)
def test_bad_command_lines_exit_2_with_one_line(capsys, argv, expected):
    status, out, err = run(train_main, argv, capsys)
    assert status == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("train.py: error: ")
    assert expected in err


def test_resume_usage_errors(capsys):
    status, _, err = run(train_main, ["--config", DEFAULT, "--resume", "x.ckpt"], capsys)
    assert status == 2 and "--resume with --config needs --stage NAME or --run-all-stages" in err
    status, _, err = run(train_main, ["--stage", "dense", "--resume", "x.ckpt"], capsys)
    assert status == 2 and "need --config FILE" in err


def test_inktrace_command_dispatch(capsys):
    status, out, _ = run(
        inktrace_main, ["config", "--config", DEFAULT, "--stage", "structural"], capsys
    )
    assert status == 0 and yaml.safe_load(out)["model"]["mask_ratio"] == 0.6
    status, _, err = run(inktrace_main, ["trian"], capsys)
    assert status == 2 and "unknown command 'trian' (did you mean 'train'?)" in err
    assert run(inktrace_main, ["--help"], capsys)[0] == 0


def test_root_script_and_facade_in_a_fresh_process(tmp_path):
    """train.py runs as a script, exits 2 on bad input, and importing the package has no side
    effects."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("training:\n  lr: [\n")
    proc = subprocess.run(
        [sys.executable, str(REPO / "train.py"), "--config", str(bad), "--stage", "x"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "malformed YAML" in proc.stderr
    code = (
        "import inktrace, train_lib; from train_lib import Config; assert Config is inktrace.Config"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"PYTHONPATH": str(REPO), "PATH": ""},
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "" and proc.stderr == "" and list(tmp_path.iterdir()) == [bad]


def test_repeated_flags_and_run_all_stages_init_from(capsys):
    status, _, err = run(
        train_main, ["--config", DEFAULT, "--stage", "dense", "--lr", "1", "--lr", "2"], capsys
    )
    assert status == 2 and "--lr given twice" in err
    status, out, _ = run(
        train_main,
        ["--config", DEFAULT, "--run-all-stages", "--init_from", "x.ckpt", "--print-config"],
        capsys,
    )
    docs = list(yaml.safe_load_all(out))
    assert [(d["stage"], d["init_from"]) for d in docs] == [
        ("structural", "x.ckpt"),
        ("dense", "auto"),
    ]


def test_config_subcommand_needs_no_stage_and_pipeline_must_be_defined(tmp_path, capsys):
    status, out, _ = run(inktrace_main, ["config", "--config", DEFAULT], capsys)
    assert status == 0 and yaml.safe_load(out)["stage"] is None
    only_debug = tmp_path / "d.yaml"
    only_debug.write_text("stages:\n  debug: {}\n")
    status, _, err = run(train_main, ["--config", str(only_debug), "--run-all-stages"], capsys)
    assert status == 2 and "pipeline.order names stage 'structural', which is not defined" in err
    assert run(inktrace_main, [], capsys)[0] == 2


def test_preview_data_writes_a_grid(tmp_path, capsys):
    from PIL import Image

    out = tmp_path / "grid.png"
    status, text, err = run(
        inktrace_main,
        [
            "preview-data",
            "--stage",
            "4",
            "--samples",
            "3",
            "--zoom",
            "2",
            "--img-size",
            "32",
            "--output",
            str(out),
        ],
        capsys,
    )
    assert status == 0 and err == "" and "3 samples of level 4" in text
    with Image.open(out) as im:  # 5 tiles of 64 px with 2 px gaps, 3 rows
        assert im.size == (5 * 64 + 4 * 2, 3 * 64 + 2 * 2) and im.mode == "RGB"

    longest = tmp_path / ("n" * 251 + ".png")  # 255 bytes: name + ".tmp" would not fit
    argv = ["preview-data", "--stage", "0", "--samples", "1", "--img-size", "32"]
    assert run(inktrace_main, [*argv, "--output", str(longest)], capsys)[0] == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["grid.png", longest.name]


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["--stage", "10"], "curriculum levels are 0-9"),
        ([], "give --stage N, --svg DIR, or both (the training mix)"),
        (["--stage", "1", "--svg", "/nonexistent/dir"], "/nonexistent/dir: no such file or folder"),
        (["--stage", "1", "--samples", "0"], "--samples 0: must be at least 1"),
        (["--svg", "/nonexistent/dir"], "/nonexistent/dir: no such file or folder"),
    ],
)
def test_preview_data_bad_arguments(tmp_path, capsys, argv, expected):
    status, out, err = run(
        inktrace_main, ["preview-data", *argv, "--output", str(tmp_path / "g.png")], capsys
    )
    assert status == 2 and out == "" and err.count("\n") == 1 and expected in err
    assert not (tmp_path / "g.png").exists()
