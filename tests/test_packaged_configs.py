"""Configs as package data: names resolve to the packaged files when no such file exists, a path
always wins (and the run says which), extends: among packaged configs, and `inktrace config`
(list, print, --explain, --save)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from inktrace import Config, ConfigError
from inktrace.cli.main import main as inktrace_main
from inktrace.config.packaged import PACKAGED_DIR, is_packaged, locate, packaged_names

REPO = Path(__file__).resolve().parents[1]


def run(argv, capsys):
    status = inktrace_main(argv)
    out, err = capsys.readouterr()
    return status, out, err


def test_the_clone_configs_folder_is_the_packaged_one():
    # one set of files: configs/ links to inktrace/configs/, so README commands and the wheel agree
    assert (REPO / "configs").resolve() == PACKAGED_DIR
    assert {"default", "quickstart", "pretrained", "structural", "dense"} <= set(packaged_names())


def test_a_name_resolves_to_the_packaged_config_from_any_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for spec in ("quickstart", "quickstart.yaml"):
        path, note = locate(spec)
        assert Path(path) == PACKAGED_DIR / "quickstart.yaml" and "packaged" in note
    cfg = Config.from_yaml("quickstart", stage="dense")
    assert cfg.model.embed_dim == 16 and cfg.experiment.name == "quickstart"
    assert is_packaged(cfg.source)
    # extends: inside the packaged files resolves among them (quickstart extends default.yaml)
    assert cfg.origin("training.weight_decay").source.endswith("default.yaml")


def test_a_path_always_wins_over_a_packaged_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("quickstart").write_text("experiment:\n  name: mine\n")
    path, note = locate("quickstart")
    assert path == "quickstart" and "a path wins" in note
    assert Config.from_yaml("quickstart").experiment.name == "mine"
    # the clone's configs/quickstart.yaml is the user's path (no note), though the same file
    assert locate(str(REPO / "configs" / "quickstart.yaml"))[1] is None


def test_unknown_names_and_paths_fail_in_one_line_listing_the_packaged_ones(tmp_path):
    with pytest.raises(
        ConfigError, match=r"quickstrat: config file not found \(packaged configs: "
    ):
        Config.from_yaml("quickstrat")
    with pytest.raises(ConfigError, match="config file not found"):
        Config.from_yaml(tmp_path / "quickstart.yaml")  # a path is never taken for a name


def test_a_copied_out_config_finds_its_packaged_parents(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    status, out, err = run(["config", "quickstart", "--save", "my.yaml"], capsys)
    assert status == 0 and err == "" and "written: my.yaml" in out
    assert Path("my.yaml").read_bytes() == (PACKAGED_DIR / "quickstart.yaml").read_bytes()
    # extends: default.yaml is no file here: the packaged default.yaml is used
    mine = Config.from_yaml("my.yaml", stage="dense")
    assert mine.to_dict() == Config.from_yaml("quickstart", stage="dense").to_dict()
    assert mine.origin("experiment.name").source == "my.yaml"
    assert Path(mine.origin("training.weight_decay").source).parent == PACKAGED_DIR
    # a local default.yaml beside it wins (a path always wins, extends: too)
    Path("default.yaml").write_text("training:\n  weight_decay: 0.125\n")
    assert Config.from_yaml("my.yaml").training.weight_decay == 0.125


def test_config_save_refuses_to_overwrite_folders_and_overrides(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    Path("my.yaml").write_text("keep: me\n")
    status, _, err = run(["config", "quickstart", "--save", "my.yaml"], capsys)
    assert status == 2 and "exists; pass --force" in err and err.count("\n") == 1
    assert Path("my.yaml").read_text() == "keep: me\n"
    assert run(["config", "quickstart", "--save", "my.yaml", "--force"], capsys)[0] == 0
    assert "extends: default.yaml" in Path("my.yaml").read_text()
    os.mkdir("folder")
    status, _, err = run(["config", "default", "--save", "folder"], capsys)
    assert status == 2 and "is a folder" in err
    status, _, err = run(["config", "default", "--save", "x.yaml", "--lr", "1"], capsys)
    assert status == 2 and "edit the copy" in err and not Path("x.yaml").exists()
    status, _, err = run(["config", "nope", "--save", "x.yaml"], capsys)
    assert status == 2 and "nope: config file not found" in err and not Path("x.yaml").exists()


def test_config_lists_prints_and_explains(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    for argv in (["config"], ["config", "--list"]):
        status, out, _ = run(argv, capsys)
        assert status == 0
        names = [line.split()[0] for line in out.splitlines()[1:] if line.startswith("  ")]
        assert names == packaged_names()
    status, out, _ = run(["config", "quickstart", "--stage", "dense", "--epochs", "2"], capsys)
    printed = yaml.safe_load(out)
    assert status == 0 and printed["stage"] == "dense" and printed["training"]["epochs"] == 2
    status, out, _ = run(
        ["config", "--config", "pretrained", "--stage", "dense", "--explain"], capsys
    )
    rows = {line.split()[0]: line for line in out.splitlines() if not line.startswith("#")}
    assert status == 0 and "pretrained.yaml:" in rows["experiment.name"]
    status, _, err = run(["config", "quickstart", "--config", "default"], capsys)
    assert status == 2 and "give the config once" in err
