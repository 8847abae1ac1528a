"""Hypothesis-generated configs, YAML texts and checkpoint dicts: every input is either accepted
or refused with a one-line ConfigError / CheckpointError, never another exception (a traceback
for the user)."""

from __future__ import annotations

import math
import os
from pathlib import Path

import pytest
import torch

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, example, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from inktrace import Config  # noqa: E402
from inktrace.checkpoint import CheckpointError, load_checkpoint, model_from_checkpoint  # noqa: E402
from inktrace.config.schema import SECTIONS  # noqa: E402
from inktrace.errors import ConfigError  # noqa: E402
from inktrace.model.net import InkTraceNet  # noqa: E402

FAST = settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "120")),  # 1500 each passed too
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

# real names most of the time, so the values reach the checks behind the key checks
SECTION_NAMES = st.sampled_from([*SECTIONS, "stages", "stage", "init_from", "bogus"])
FIELD_NAMES = st.sampled_from(
    sorted({f for s in SECTIONS.values() for f in s.fields()}) + ["nope", "", "a.b"]
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(["1e-3", "auto", "cpu", "fp16", "cosine", "kanjivg", "-1", "nan", "inf"]),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)
SECTION = st.dictionaries(FIELD_NAMES, VALUES, max_size=4)
CONFIG = st.dictionaries(
    SECTION_NAMES,
    st.one_of(
        SECTION, VALUES, st.dictionaries(st.sampled_from(["dense", "x"]), SECTION, max_size=2)
    ),
    max_size=5,
)


def one_line(exc: Exception) -> None:
    text = str(exc)
    assert text and "\n" not in text, text


@FAST
@given(data=CONFIG, stage=st.sampled_from([None, "dense", "structural"]))
def test_any_config_dict_is_accepted_or_refused_in_one_line(data, stage):
    try:
        cfg = Config.from_dict(data, stage=stage)
    except ConfigError as exc:
        one_line(exc)
        return
    cfg.to_yaml()  # what was accepted is a usable config
    assert cfg.training.epochs >= 1 and math.isfinite(cfg.training.lr)


@FAST
@given(text=st.text(max_size=300))
def test_any_yaml_text_is_accepted_or_refused_in_one_line(tmp_path, text):
    path = tmp_path / "fuzz.yaml"
    path.write_text(text, encoding="utf-8")
    try:
        Config.from_yaml(path)
    except ConfigError as exc:
        one_line(exc)


TENSORS = st.builds(
    lambda shape, fill: torch.full(shape, fill),
    st.lists(st.integers(0, 3), max_size=3).map(tuple),
    st.floats(allow_nan=True, allow_infinity=True, width=32),
)
CKPT_VALUES = st.recursive(
    SCALARS | TENSORS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)
CKPT_KEYS = st.sampled_from(
    [
        "format",
        "format_version",
        "model",
        "config",
        "optimizer",
        "epoch",
        "position",
        "stage",
        "state_dict",
        "model_state_dict",
        "hyper_parameters",
        "metrics",
        "other",
    ]
)


@FAST
@given(data=st.dictionaries(CKPT_KEYS, CKPT_VALUES, max_size=5), fmt=st.booleans())
def test_any_checkpoint_dict_is_read_or_refused_in_one_line(tmp_path, data, fmt):
    if fmt:  # most dicts then get past the format check to the deeper ones
        data = {"format": "inktrace", "format_version": 1, **data}
    path = tmp_path / "fuzz.ckpt"
    torch.save(data, path)
    try:
        load_checkpoint(path)
        InkTraceNet.load_from_checkpoint(path, report=False)
    except CheckpointError as exc:
        one_line(exc)


# ---------------------------------------------------------------- the whole checkpoint payload
@pytest.fixture(scope="module")
def real_payload(tmp_path_factory):
    """The payload of a real tiny training checkpoint (every key a run writes)."""
    from inktrace.training.stages import DenseTrainer

    tmp = tmp_path_factory.mktemp("payload")
    cfg = Config.from_dict(
        {
            "model": {"embed_dim": 4, "num_layers": 2},
            "training": {"epochs": 1, "batch_size": 4, "warmup_epochs": 0, "precision": "fp32"},
            "data": {"img_size": 32, "train_size": 4, "val_size": 2},
            "checkpoint": {"save_dir": str(tmp / "ck")},
            "logging": {"log_dir": str(tmp / "runs"), "progress_bar": False},
            "visualization": {"enabled": False},
            "stages": {"dense": {"init_from": "none"}},
        },
        stage="dense",
    )
    DenseTrainer(cfg, verbose=False).fit()
    return torch.load(tmp / "ck" / "dense" / "last.ckpt", weights_only=True), cfg


# every key a run writes, and the nested ones its readers take apart
PAYLOAD_PATHS = st.sampled_from(
    [
        "model",
        "optimizer",
        "optimizer.state",
        "optimizer.param_groups",
        "scheduler",
        "scaler",
        "config",
        "config.model",
        "config.model.embed_dim",
        "config.experiment",
        "config.checkpoint",
        "stage",
        "trainer",
        "inktrace_version",
        "world_size",
        "run_dir",
        "metrics",
        "epoch",
        "global_step",
        "position",
        "position.epoch",
        "position.batch",
        "rng",
        "rng.torch",
        "history",
        "best_metrics",
        "nonfinite_run",
        "skipped_steps",
        "init_report",
        "last_lr",
        "epoch_partial",
        "epoch_partial.sums",
        "epoch_partial.count",
        "checkpoint_manager",
        "checkpoint_manager.top_k",
        "checkpoint_manager.best",
        "checkpoint_manager.last_file",
        "format_version",
    ]
)


def _replace(data: dict, path: str, value) -> dict:
    """``data`` with the value at the dotted ``path`` replaced (containers copied on the way)."""
    head, _, rest = path.partition(".")
    out = dict(data)
    if rest and isinstance(out.get(head), dict):
        out[head] = _replace(out[head], rest, value)
    else:
        out[head] = value
    return out


@FAST
@given(changes=st.lists(st.tuples(PAYLOAD_PATHS, CKPT_VALUES), min_size=1, max_size=3))
@example(changes=[("optimizer.state", {"": None})])  # once read as a parameter's state
def test_any_change_to_a_real_payload_is_used_or_refused_in_one_line(
    tmp_path, real_payload, changes
):
    """A real checkpoint with up to three of its values replaced by generated ones goes through
    every reader: load, the model, export (loaded back), compare, and a trainer resuming it."""
    from inktrace.checkpoint.compare import compare_text
    from inktrace.checkpoint.model_only import export_weights
    from inktrace.training.resume import ResumePoint
    from inktrace.training.stages import DenseTrainer

    payload, cfg = real_payload
    for path, value in changes:
        payload = _replace(payload, path, value)
    folder = tmp_path / "dense"  # a resumed run continues beside the file
    folder.mkdir(exist_ok=True)
    ckpt = folder / "fuzz.ckpt"
    torch.save(payload, ckpt)
    out = tmp_path / "export.ckpt"
    out.unlink(missing_ok=True)

    def verify(data, path):
        return model_from_checkpoint(data, path, InkTraceNet)

    steps = [
        lambda: InkTraceNet.load_from_checkpoint(ckpt, report=False),
        lambda: export_weights(ckpt, out, force=True, verify=verify),
        lambda: compare_text([ckpt, ckpt]),
        lambda: DenseTrainer(ResumePoint.read(ckpt).config(), resume=ckpt, verbose=False),
    ]
    for step in steps:
        try:
            step()
        except (CheckpointError, ConfigError) as exc:
            one_line(exc)


# ---------------------------------------------------------------- every CLI's paths
def _special_paths(tmp_path):
    """Files a hostile or careless user passes: a folder, devices, a FIFO, a symlink loop, an
    empty file, text, a name too long for the file system."""
    made = tmp_path / "special"
    if not made.exists():
        made.mkdir()
        os.mkfifo(made / "fifo")
        os.symlink(made / "loop_b", made / "loop_a")
        os.symlink(made / "loop_a", made / "loop_b")
        (made / "empty").write_bytes(b"")
        (made / "text.ckpt").write_text("epoch: 3\n")
        (made / "folder").mkdir()
    names = ["fifo", "loop_a", "empty", "text.ckpt", "folder", "missing/deeper/x", "n" * 300]
    return [str(made / n) for n in names] + ["/dev/zero", "/dev/null", "/", ""]


PATH_TEXT = st.text(
    st.characters(blacklist_characters="\x00", blacklist_categories=()), max_size=40
) | st.sampled_from(["\udcff\udcfe.ckpt", "\x1b[2J.ckpt", "-", "--", "~", "a\nb"])
CLI_PATHS = st.one_of(st.integers(0, 10), PATH_TEXT)  # int: a special path


def _cli_calls(path: str, out: str, image: str, good: str):
    """Each checkpoint and config CLI with ``path`` in each of its path arguments (the others
    valid). tests/test_fuzz_paths.py gives every CLI's path arguments, these and predict/trace/
    evaluate/runs/plot/preview-data's, a catalogue of hostile files."""
    from inktrace.cli.main import main

    return [
        ["train", "--config", path, "--stage", "dense"],
        ["train", "--resume", path],
        ["config", "--config", path, "--stage", "dense"],
        ["export", path, out],
        ["export", good, path],
        ["migrate", path, out],
        ["compare", path, good],
    ], main


@settings(FAST, max_examples=max(FAST.max_examples // 3, 10))  # ten CLIs an example
@given(choice=CLI_PATHS)
def test_any_path_given_to_any_cli_is_handled_or_refused_in_one_line(
    tmp_path, capsys, real_payload, choice
):
    specials = _special_paths(tmp_path)
    path = specials[choice % len(specials)] if isinstance(choice, int) else choice
    if not isinstance(choice, int) and not path.startswith("/"):
        path = str(tmp_path / "generated" / path)  # whatever it creates stays in tmp_path
    good = tmp_path / "good.ckpt"
    if not good.exists():
        torch.save(real_payload[0], good)
    image = str(Path(__file__).resolve().parents[1] / "docs" / "samples" / "level6.png")
    calls, main = _cli_calls(path, str(tmp_path / "out"), image, str(good))
    for argv in calls:
        capsys.readouterr()
        code = main(argv)
        err = capsys.readouterr().err
        assert code in (0, 1, 2), (argv, code)
        if code:
            lines = [line for line in err.splitlines() if line.strip()]
            assert len(lines) == 1 and "Traceback" not in err, (argv, err)
            assert "\x1b" not in err, (argv, err)


def test_a_path_the_file_system_cannot_encode_is_refused_in_one_line(tmp_path, capsys):
    """'\udd00' is a lone surrogate that surrogateescape cannot turn into bytes (found by the
    test above on CI): os.path.realpath raised UnicodeEncodeError out of the CLI."""
    from inktrace.cli.main import main

    path = str(tmp_path / "\udd00.yaml")
    for argv in (["train", "--config", path, "--stage", "dense"], ["config", "--config", path]):
        capsys.readouterr()
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "cannot be encoded" in err, err
