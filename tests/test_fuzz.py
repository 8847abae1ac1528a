"""Hypothesis-generated configs, YAML texts and checkpoint dicts: every input is either accepted
or refused with a one-line ConfigError / CheckpointError, never another exception (a traceback
for the user)."""

from __future__ import annotations

import math
import os

import pytest
import torch

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from inktrace import Config  # noqa: E402
from inktrace.checkpoint import CheckpointError, load_checkpoint  # noqa: E402
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
