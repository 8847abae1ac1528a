"""The YAML Config system: inheritance, precedence, coercion, errors, round-trips, provenance."""

import io
import json
import textwrap
from pathlib import Path

import pytest
import torch
import yaml

from inktrace import Config, ConfigError

REPO = Path(__file__).resolve().parents[1]


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


@pytest.fixture
def chain(tmp_path):
    """Three levels: base.yaml <- mid/mid.yaml <- top.yaml, each setting one layer of values."""
    write(
        tmp_path / "base.yaml",
        """
        model:
          embed_dim: 32
          num_layers: 3
        training:
          lr: 1e-3
          epochs: 10
          batch_size: 8
          betas: [0.8, 0.9]
        stages:
          dense:
            training:
              lr: 5e-4
              epochs: 20
            init_from: auto
        """,
    )
    write(
        tmp_path / "mid" / "mid.yaml",
        """
        extends: ../base.yaml
        model:
          num_layers: 2
        training:
          epochs: 11
          betas: [0.5, 0.6]
        stages:
          dense:
            training:
              epochs: 21
        """,
    )
    return write(
        tmp_path / "top.yaml",
        """
        extends: mid/mid.yaml
        training:
          batch_size: 9
        """,
    )


def test_three_level_inheritance_deep_merges_mappings_and_replaces_lists(chain):
    cfg = Config.from_yaml(chain)
    assert cfg.model.embed_dim == 32  # only in base
    assert cfg.model.num_layers == 2  # mid overrides base
    assert cfg.training.epochs == 11
    assert cfg.training.batch_size == 9  # top overrides
    assert cfg.training.lr == 0.001
    assert cfg.training.betas == (0.5, 0.6)  # lists are replaced, not merged
    assert cfg.training.seed == 42  # schema default
    assert cfg.stage is None and cfg.stages == ("dense",)


def test_every_layer_has_its_precedence(chain):
    cfg = Config.from_yaml(chain, stage="dense", overrides={"training.batch_size": 3})
    assert cfg.training.lr == 0.0005  # stage beats base file
    assert cfg.training.epochs == 21  # mid's stage block merged into base's stage block
    assert cfg.training.batch_size == 3  # overrides beat the file
    assert cfg.init_from == "auto"
    base = Path(chain).parent
    origins = {
        k: str(cfg.origin(k))
        for k in (
            "training.lr",
            "training.epochs",
            "training.batch_size",
            "model.num_layers",
            "model.embed_dim",
            "training.seed",
        )
    }
    assert origins["training.seed"] == "default"
    assert origins["model.embed_dim"].endswith("base.yaml:2")
    assert origins["model.num_layers"].endswith("mid.yaml:3")
    assert (
        origins["training.lr"].startswith("stage 'dense' (")
        and "base.yaml:12" in origins["training.lr"]
    )
    assert (
        origins["training.epochs"].startswith("stage 'dense' (")
        and "mid.yaml:10" in origins["training.epochs"]
    )
    assert origins["training.batch_size"] == "overrides="
    assert Path(origins["model.embed_dim"].rsplit(":", 1)[0]).resolve() == base / "base.yaml"


def test_stage_beats_child_file_and_command_line_beats_stage(tmp_path):
    write(
        tmp_path / "base.yaml",
        """
        stages:
          s:
            training: {lr: 0.3}
        """,
    )
    child = write(
        tmp_path / "child.yaml",
        """
        extends: base.yaml
        training: {lr: 0.2}
        """,
    )
    assert Config.from_yaml(child).training.lr == 0.2
    assert Config.from_yaml(child, stage="s").training.lr == 0.3
    assert Config.from_yaml(child, stage="s", overrides={"training.lr": "4e-1"}).training.lr == 0.4


def test_extends_list_merges_in_order(tmp_path):
    write(tmp_path / "a.yaml", "training: {lr: 0.1, epochs: 2}\n")
    write(tmp_path / "b.yaml", "training: {lr: 0.2}\n")
    top = write(tmp_path / "top.yaml", "extends: [a.yaml, b.yaml]\n")
    cfg = Config.from_yaml(top)
    assert (cfg.training.lr, cfg.training.epochs) == (0.2, 2)


@pytest.mark.parametrize(
    "text, key, expected",
    [
        ("lr: 1e-3", "lr", 0.001),
        ("lr: 5E-4", "lr", 0.0005),
        ("lr: '2.5e-2'", "lr", 0.025),
        ("weight_decay: 1e-4", "weight_decay", 0.0001),
        ("epochs: 1e2", "epochs", 100),
        ("epochs: '12'", "epochs", 12),
        ("epochs: 3.0", "epochs", 3),
        ("grad_clip: null", "grad_clip", None),
        ("precision: FP16", "precision", "fp16"),
    ],
)
def test_values_are_coerced(tmp_path, text, key, expected):
    cfg = Config.from_yaml(write(tmp_path / "c.yaml", f"training:\n  {text}\n"))
    value = getattr(cfg.training, key)
    assert value == expected and type(value) is type(expected)


def test_scientific_notation_is_a_string_to_pyyaml_but_a_float_to_config(tmp_path):
    path = write(tmp_path / "c.yaml", "training:\n  lr: 1e-3\n")
    assert yaml.safe_load(path.read_text())["training"]["lr"] == "1e-3"
    assert Config.from_yaml(path).training.lr == 0.001


def error_of(tmp_path, text, **kw) -> str:
    path = write(tmp_path / "bad.yaml", text)
    with pytest.raises(ConfigError) as info:
        Config.from_yaml(path, **kw)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_wrong_type_names_file_line_and_key(tmp_path):
    msg = error_of(tmp_path, "model:\n  embed_dim: 64\ntraining:\n  lr: fast\n")
    assert msg.endswith("bad.yaml:4: training.lr: expected a number, got 'fast' (str)")


def test_bool_is_not_a_number(tmp_path):
    msg = error_of(tmp_path, "training:\n  epochs: true\n")
    assert "bad.yaml:2: training.epochs: expected an integer, got True (bool)" in msg


def test_non_integral_int_and_out_of_range(tmp_path):
    assert "training.epochs: expected an integer, got 2.5" in error_of(
        tmp_path, "training: {epochs: 2.5}\n"
    )
    assert "model.mask_ratio: must be < 1.0, got 1.5" in error_of(
        tmp_path, "model: {mask_ratio: 1.5}\n"
    )
    assert "training.lr: must be > 0.0, got 0.0" in error_of(tmp_path, "training: {lr: 0}\n")


def test_unknown_key_suggests_the_right_one(tmp_path):
    msg = error_of(tmp_path, "training:\n  lr: 1e-3\n  bacth_size: 4\n")
    assert msg.endswith("bad.yaml:3: training.bacth_size: unknown key (did you mean 'batch_size'?)")
    msg = error_of(tmp_path, "training:\n  img_size: 32\n")
    assert msg.endswith("training.img_size: unknown key (did you mean 'data.img_size'?)")
    msg = error_of(tmp_path, "trainig:\n  lr: 1\n")
    assert msg.endswith("bad.yaml:1: trainig: unknown key (did you mean 'training'?)")


def test_unknown_key_in_a_stage_block_is_found_even_when_another_stage_runs(tmp_path):
    text = "stages:\n  a: {}\n  b:\n    model:\n      embd_dim: 4\n"
    msg = error_of(tmp_path, text, stage="a")
    assert msg.endswith(
        "bad.yaml:5: stages.b.model.embd_dim: unknown key (did you mean 'embed_dim'?)"
    )


def test_unknown_stage(tmp_path):
    msg = error_of(tmp_path, "stages:\n  dense: {}\n  structural: {}\n", stage="dnese")
    assert msg.endswith(
        "bad.yaml: unknown stage 'dnese' (did you mean 'dense'?); stages defined: dense, structural"
    )


def test_missing_extends_names_the_extending_file_and_line(tmp_path):
    msg = error_of(tmp_path, "# comment\nextends: nowhere.yaml\n")
    assert "bad.yaml:2: extends: " in msg and msg.endswith("nowhere.yaml: config file not found")


def test_circular_extends_shows_the_chain(tmp_path):
    write(tmp_path / "a.yaml", "extends: b.yaml\n")
    write(tmp_path / "b.yaml", "extends: c.yaml\n")
    write(tmp_path / "c.yaml", "extends: a.yaml\n")
    with pytest.raises(ConfigError) as info:
        Config.from_yaml(tmp_path / "a.yaml")
    msg = str(info.value)
    assert "c.yaml:1: extends: circular chain" in msg
    assert [Path(p).name for p in msg.split("circular chain ")[1].split(" -> ")] == [
        "a.yaml",
        "b.yaml",
        "c.yaml",
        "a.yaml",
    ]


def test_self_extends_is_circular(tmp_path):
    assert "circular chain" in error_of(tmp_path, "extends: bad.yaml\n")


def test_malformed_yaml_names_line_and_column(tmp_path):
    msg = error_of(tmp_path, "training:\n  lr: 1\n  epochs: [1, 2\nmodel: {}\n")
    assert "bad.yaml:4:" in msg and "malformed YAML" in msg


def test_duplicate_key_is_an_error(tmp_path):
    msg = error_of(tmp_path, "training:\n  lr: 1\n  lr: 2\n")
    assert msg.endswith("bad.yaml:3: training.lr: key given twice (first on line 2)")


def test_top_level_must_be_a_mapping_and_sections_mappings(tmp_path):
    assert "top level must be a mapping" in error_of(tmp_path, "- a\n- b\n")
    assert "bad.yaml:1: training: expected a mapping" in error_of(tmp_path, "training: 3\n")


def test_cross_field_check(tmp_path):
    msg = error_of(tmp_path, "curriculum:\n  start_stage: 5\n  end_stage: 2\n")
    assert msg.endswith("bad.yaml:2: curriculum.start_stage: start_stage 5 is after end_stage 2")


def test_pipeline_order_must_name_defined_stages(tmp_path):
    msg = error_of(
        tmp_path, "pipeline:\n  order: [structural, dens]\nstages:\n  structural: {}\n  dense: {}\n"
    )
    assert msg.endswith("bad.yaml:2: pipeline.order: unknown stage 'dens' (did you mean 'dense'?)")


def test_not_a_yaml_file(tmp_path):
    path = tmp_path / "weights.yaml"
    path.write_bytes(b"\x80\x02\x00\xff binary")
    with pytest.raises(ConfigError, match="weights.yaml: not UTF-8 text"):
        Config.from_yaml(path)
    with pytest.raises(ConfigError, match="is a directory"):
        Config.from_yaml(tmp_path)


def test_yaml_loading_never_constructs_python_objects(tmp_path):
    msg = error_of(tmp_path, "training: !!python/object/apply:os.system ['echo hacked']\n")
    assert "malformed YAML" in msg and "python/object/apply" in msg


def test_to_dict_is_plain_and_round_trips_exactly():
    cfg = Config.from_yaml(
        REPO / "configs/default.yaml", stage="dense", overrides={"training.lr": "3e-4"}
    )
    d = cfg.to_dict()
    assert json.loads(json.dumps(d)) == d
    again = Config.from_dict(d)
    assert again == cfg and again.to_dict() == d and again.stage == "dense"
    buf = io.BytesIO()
    torch.save({"config": d}, buf)
    buf.seek(0)
    assert torch.load(buf, weights_only=True)["config"] == d
    assert Config.from_dict(yaml.safe_load(cfg.to_yaml())) == cfg


def test_printed_config_reloads_as_a_file(tmp_path):
    cfg = Config.from_yaml(REPO / "configs/quickstart.yaml", stage="structural")
    path = write(tmp_path / "printed.yaml", cfg.to_yaml())
    assert Config.from_yaml(path) == cfg
    assert Config.from_yaml(path, stage="structural") == cfg


def test_from_dict_validates_like_a_file():
    with pytest.raises(ConfigError, match=r"^<dict>: training.lr: expected a number"):
        Config.from_dict({"training": {"lr": "x"}})
    cfg = Config.from_dict({"stages": {"s": {"model": {"embed_dim": 8}}}}, stage="s")
    assert cfg.model.embed_dim == 8


def test_overrides_nested_dotted_and_errors(tmp_path):
    cfg = Config.from_dict({}, overrides={"model": {"embed_dim": 16}, "training.epochs": "7"})
    assert (cfg.model.embed_dim, cfg.training.epochs) == (16, 7)
    with pytest.raises(
        ConfigError, match=r"^overrides=: training.epoch: unknown key \(did you mean 'epochs'\?\)"
    ):
        Config.from_dict({}, overrides={"training.epoch": 1})
    with pytest.raises(ConfigError, match="stages.dense.training.lr: cannot be overridden"):
        Config.from_dict({}, overrides={"stages.dense.training.lr": 1})


def test_assignment_is_validated():
    cfg = Config()
    cfg.training.lr = "1e-3"
    assert cfg.training.lr == 0.001
    with pytest.raises(ConfigError, match=r"^training.lr: expected a number, got 'abc'"):
        cfg.training.lr = "abc"
    with pytest.raises(ConfigError, match=r"training.lrr: unknown key \(did you mean 'lr'\?\)"):
        cfg.training.lrr = 1


def test_diff_lists_changed_keys():
    a = Config.from_yaml(REPO / "configs/default.yaml", stage="structural")
    b = Config.from_yaml(REPO / "configs/default.yaml", stage="dense")
    changed = {k: (x, y) for k, x, y in a.diff(b)}
    assert changed["training.lr"] == (0.001, 0.0005)
    assert changed["model.full_heads"] == (False, True)
    assert "model.embed_dim" not in changed


def test_default_yaml_has_the_seed_values():
    base = Config.from_yaml(REPO / "configs/default.yaml")
    assert (base.model.embed_dim, base.model.num_layers) == (128, 4)
    assert (base.training.lr, base.training.batch_size, base.training.epochs) == (0.001, 128, 50)
    assert base.data.img_size == 64
    assert base.pipeline.order == ("structural", "dense") and base.pipeline.auto_transfer
    s = Config.from_yaml(REPO / "configs/default.yaml", stage="structural")
    assert (s.model.full_heads, s.model.skip_connections, s.model.mask_ratio) == (False, False, 0.6)
    assert (s.training.epochs, s.training.lr, s.data.curriculum_stage) == (30, 0.001, 2)
    d = Config.from_yaml(REPO / "configs/default.yaml", stage="dense")
    assert (d.init_from, d.training.epochs, d.training.lr) == ("auto", 80, 0.0005)
    c = d.curriculum
    assert (c.enabled, c.start_stage, c.end_stage, c.epochs_per_stage) == (True, 0, 6, 10)
    lw = d.loss_weights
    assert (lw.skeleton, lw.keypoints, lw.tangent, lw.width, lw.offset) == (10, 5, 2, 1, 1)
    f = Config.from_yaml(REPO / "configs/default.yaml", stage="finetune")
    assert (f.training.epochs, f.training.lr, f.data.curriculum_stage) == (20, 0.0001, 6)
    assert f.model.freeze_encoder is False


@pytest.mark.parametrize("name", ["default", "structural", "dense", "quickstart"])
def test_every_shipped_config_resolves_every_stage(name):
    base = Config.from_yaml(REPO / f"configs/{name}.yaml")
    for stage in base.stages:
        assert Config.from_yaml(REPO / f"configs/{name}.yaml", stage=stage).stage == stage


def test_example_configs_use_extends():
    s = Config.from_yaml(REPO / "configs/structural.yaml", stage="structural")
    assert (
        s.training.epochs == 40 and s.model.mask_ratio == 0.75 and s.model.skip_connections is False
    )
    origin = s.origin("model.skip_connections")
    assert (origin.kind, origin.stage, Path(origin.source).name) == (
        "stage",
        "structural",
        "default.yaml",
    )
    assert s.origin("training.epochs").source.endswith("structural.yaml")
    q = Config.from_yaml(REPO / "configs/quickstart.yaml", stage="dense")
    assert q.model.embed_dim < 128 and q.init_from == "auto"


def test_explain_lists_every_value_with_its_origin(chain):
    cfg = Config.from_yaml(chain, stage="dense", overrides={"training.batch_size": 3})
    text = cfg.explain()
    lines = text.splitlines()
    assert lines[0].startswith("# resolved config for stage 'dense' from ")
    assert len(lines) == 1 + len(cfg.flat())
    row = next(line for line in lines if line.startswith("training.batch_size "))
    assert row.split("=", 1)[1].split("#")[0].strip() == "3" and row.endswith("# overrides=")
    row = next(line for line in lines if line.startswith("stage "))
    assert row.endswith("# selected stage")


def test_the_guides_settings_reference_matches_the_schema():
    from inktrace.config.reference import reference_markdown

    guide = (REPO / "docs" / "training.md").read_text(encoding="utf-8")
    assert reference_markdown() in guide, (
        "regenerate the settings reference of docs/training.md from the schema"
    )


# ---------------------------------------------------------------- edge cases found in review


def test_an_empty_section_or_stage_block_changes_nothing(tmp_path):
    write(
        tmp_path / "base.yaml",
        "model: {embed_dim: 64}\nstages:\n  dense: {model: {embed_dim: 32}}\n",
    )
    child = write(
        tmp_path / "child.yaml", "extends: base.yaml\nmodel:\n  # embed_dim: 16\nstages:\n"
    )
    assert Config.from_yaml(child).model.embed_dim == 64
    assert Config.from_yaml(child, stage="dense").model.embed_dim == 32
    own = write(tmp_path / "own.yaml", "model: {embed_dim: 64}\nstages:\n  dense:\n    model:\n")
    assert Config.from_yaml(own, stage="dense").model.embed_dim == 64


def test_a_files_own_stage_key_selects_its_block(tmp_path):
    path = write(tmp_path / "c.yaml", "stage: dense\nstages:\n  dense: {training: {epochs: 7}}\n")
    cfg = Config.from_yaml(path)
    assert (cfg.stage, cfg.training.epochs) == ("dense", 7)
    assert "unknown stage 'nosuch'" in error_of(tmp_path, "stage: nosuch\nstages:\n  dense: {}\n")


def test_hostile_yaml_gets_one_line_errors_quickly(tmp_path):
    assert "refers to itself" in error_of(tmp_path, "training: &a\n  x: *a\n")
    bomb = ["a: &a [x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        bomb.append(f"{chr(97 + i)}: &{chr(97 + i)} [" + ", ".join([f"*{chr(96 + i)}"] * 9) + "]")
    assert "more than 100000 values" in error_of(tmp_path, "\n".join(bomb) + "\n")
    assert "nested too deeply" in error_of(tmp_path, "[" * 5000 + "\n")
    assert "expected a finite number" in error_of(tmp_path, f"training: {{lr: {'9' * 400}}}\n")
    assert "training.epochs: expected an integer" in error_of(
        tmp_path, "training: {epochs: 1e400}\n"
    )


def test_from_dict_refuses_non_string_keys():
    with pytest.raises(ConfigError, match="keys must be strings"):
        Config.from_dict({"training": {1: 2}})
    with pytest.raises(ConfigError, match="keys must be strings"):
        Config.from_dict({"stages": {1: {}}})


def test_extends_is_relative_to_the_file_reached_through_a_symlink(tmp_path):
    (tmp_path / "real" / "sub").mkdir(parents=True)
    write(tmp_path / "real" / "p.yaml", "training: {epochs: 3}\n")
    write(tmp_path / "p.yaml", "training: {epochs: 99}\n")
    write(tmp_path / "real" / "sub" / "c.yaml", "extends: ../p.yaml\n")
    (tmp_path / "link").symlink_to(tmp_path / "real" / "sub")
    (tmp_path / "q.yaml").symlink_to(tmp_path / "real" / "sub" / "c.yaml")
    assert Config.from_yaml(tmp_path / "link" / "c.yaml").training.epochs == 3
    assert Config.from_yaml(tmp_path / "q.yaml").training.epochs == 3


def test_overrides_blame_the_flag_and_refuse_whole_sections(chain):
    from inktrace.config import Overrides

    def fails(key, value, match):
        o = Overrides()
        o.add(key, value, f"--set {key}=...")
        with pytest.raises(ConfigError, match=match):
            Config.from_yaml(chain, overrides=o)

    fails(
        "Training.lr",
        1,
        r"^command line \(--set Training.lr=...\): "
        r"Training: unknown key \(did you mean 'training'\?\)",
    )
    fails(
        "training.lr.x",
        1,
        r"^command line \(--set training.lr.x=...\): training.lr: expected a number",
    )
    fails("training", {}, r"training: is a section")
    fails("model", None, r"model: is a section")
    o = Overrides()
    o.add("training.lr", 1, "--lr")
    with pytest.raises(ConfigError, match=r"training.lr: already set by --lr"):
        o.add("training", {"lr": 2}, "--set training={lr: 2}")


def test_cross_field_error_blames_the_later_setting(tmp_path):
    path = write(tmp_path / "cf.yaml", "curriculum:\n  start_stage: 5\n")
    with pytest.raises(
        ConfigError, match=r"^overrides=: curriculum.end_stage: start_stage 5 is after end_stage 1"
    ):
        Config.from_yaml(path, overrides={"curriculum.end_stage": 1})


def test_config_objects_cannot_be_put_in_an_invalid_state():
    cfg = Config.from_yaml(REPO / "configs/default.yaml", stage="dense")
    with pytest.raises(
        ConfigError, match=r"trainig: unknown config attribute \(did you mean 'training'\?\)"
    ):
        cfg.trainig = 1
    with pytest.raises(AttributeError):
        cfg.training.betas.append(5)
    with pytest.raises(
        ConfigError, match="curriculum.start_stage: start_stage 9 is after end_stage 6"
    ):
        cfg.curriculum.start_stage = 9
    assert cfg.curriculum.start_stage == 0
    assert Config.from_dict(cfg.to_dict()) == cfg
    copy = cfg.copy()
    copy.training.lr = 0.5
    assert str(copy.origin("training.lr")) == "assigned in Python"
    assert str(cfg.origin("training.lr")).startswith("stage 'dense'")


def test_small_file_mistakes_are_named(tmp_path):
    assert "write 'lr' under 'training:'" in error_of(tmp_path, "training.lr: 1\n")
    assert "stages: expected a mapping" in error_of(tmp_path, "stages: []\n")
    assert "extends: expected a file path" in error_of(tmp_path, "extends: ''\n")
    assert "pipeline.order: stage 'a' listed twice" in error_of(
        tmp_path, "pipeline: {order: [a, a]}\n"
    )
    (tmp_path / "adir").mkdir()
    assert "bad.yaml:1: extends: adir: is a directory" in error_of(
        tmp_path, "extends: adir\n"
    ).replace(str(tmp_path) + "/", "")


def test_devices_huge_files_and_huge_values_are_refused_early(tmp_path):
    """/dev/zero read until the OOM killer came; a 10 MB config was parsed for a minute; a huge
    description was copied into every checkpoint."""
    import os
    import time

    cases = {"/dev/zero": "not a regular file"}
    extends = tmp_path / "extends_zero.yaml"
    extends.write_text("extends: /dev/zero\n")
    cases[str(extends)] = "extends: /dev/zero: not a regular file"
    big = tmp_path / "big.yaml"
    big.write_text("a: " + "x" * (2 << 20) + "\n")
    cases[str(big)] = "larger than 1024 KiB"
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    cases[str(fifo)] = "not a regular file"
    long_value = tmp_path / "long.yaml"
    base = Path("configs/default.yaml").resolve()
    long_value.write_text(f"extends: {base}\nexperiment:\n  description: {'y' * 20_000}\n")
    cases[str(long_value)] = "experiment.description: a string of 20,000 characters"
    for path, words in cases.items():
        start = time.perf_counter()
        with pytest.raises(ConfigError) as info:
            Config.from_yaml(path, stage="dense")
        assert words in str(info.value) and "\n" not in str(info.value), str(info.value)
        assert time.perf_counter() - start < 5  # refused at once (generous: shared machines)


def test_a_bad_value_is_refused_even_when_every_stage_overrides_it(tmp_path):
    base = Path("configs/default.yaml").resolve()
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"extends: {base}\ntraining:\n  epochs: fast\n")  # every stage sets epochs
    for stage in ("structural", "dense", "finetune"):
        with pytest.raises(ConfigError, match=r"bad.yaml:3: training.epochs: expected an integer"):
            Config.from_yaml(bad, stage=stage)
