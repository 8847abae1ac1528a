"""``Config``: the resolved configuration of one training stage.

Resolution, lowest precedence first: schema defaults < the ``extends:`` chain < the file itself <
the chosen stage's block under ``stages:`` < overrides (command line or ``overrides=``).
Every value is type-checked and coerced, and remembers where it came from (``explain()``).
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Mapping
from typing import Any, Optional

import yaml

from ..errors import ConfigError
from .loader import (
    check_plain,
    check_string_keys,
    display_path,
    load_file_tree,
    merge_tree,
    origin_of,
    walk_keys,
)
from .origin import DEFAULT, Origin
from .packaged import locate
from .schema import (
    SECTIONS,
    CheckpointConfig,
    CurriculumConfig,
    DataConfig,
    ExperimentConfig,
    InvalidValue,
    LoggingConfig,
    LossWeightsConfig,
    ModelConfig,
    PipelineConfig,
    Section,
    SystemConfig,
    TrainingConfig,
    VisualizationConfig,
    coerce_value,
    suggest,
)

__all__ = ["Config", "Overrides"]

_ROOT_SCALARS = ("stage", "init_from")
_ROOT_KEYS = (*_ROOT_SCALARS, *SECTIONS, "pipeline", "stages")
_STAGE_KEYS = ("init_from", *SECTIONS)
_ALL_SECTIONS: dict[str, type[Section]] = {**SECTIONS, "pipeline": PipelineConfig}
_OTHER_ATTRS = ("source", "stages", "_origins")


class _Dumper(yaml.SafeDumper):
    """Block mappings, but short lists on one line (``betas: [0.9, 0.999]``)."""


_Dumper.add_representer(
    list, lambda d, v: d.represent_sequence("tag:yaml.org,2002:seq", v, flow_style=True)
)


class Overrides(dict):
    """Dotted key -> value, plus the flag each came from (for messages and ``--explain``)."""

    def __init__(self) -> None:
        super().__init__()
        self.origins: dict[str, Origin] = {}

    def add(self, key: str, value: Any, flag: str) -> None:
        leaves = (
            [(k, v) for k, v in walk_keys(value, key + ".") if not isinstance(v, dict)]
            if isinstance(value, dict) and value
            else [(key, value)]
        )
        for k, v in leaves:
            if k in self:
                raise ConfigError(
                    f"command line ({flag}): {k}: already set by {self.origins[k].source}"
                )
            self[k] = v
            self.origins[k] = Origin("override", flag)


def _did_you_mean(key: str, candidates: tuple[str, ...] | list[str]) -> str:
    """Suggest a close name at this level, or the section that owns a field of this name."""
    hint = suggest(key, candidates)
    if hint:
        return hint
    owners = [f"{name}.{key}" for name, cls in _ALL_SECTIONS.items() if key in cls.fields()]
    return f" (did you mean '{owners[0]}'?)" if owners else ""


def _fail(origins: Mapping[str, Origin], dotted: str, problem: str) -> ConfigError:
    return ConfigError(f"{origin_of(origins, dotted).where()}: {dotted}: {problem}")


def _coerce_root(origins: Mapping[str, Origin], dotted: str, value: Any) -> str | None:
    try:
        return coerce_value(value, Optional[str])
    except InvalidValue as exc:
        raise _fail(origins, dotted, str(exc)) from None


def _check_section(
    cls: type[Section], sub: Any, prefix: str, origins: Mapping[str, Origin]
) -> dict:
    """Coerce one section's raw mapping; unknown keys and bad values raise with their location."""
    if sub is None:
        return {}
    if not isinstance(sub, dict):
        raise _fail(origins, prefix, f"expected a mapping of {cls.SECTION} settings, got {sub!r}")
    fields = cls.fields()
    out = {}
    for key, value in sub.items():
        dotted = f"{prefix}.{key}"
        if key not in fields:
            raise _fail(origins, dotted, f"unknown key{_did_you_mean(key, tuple(fields))}")
        try:
            out[key] = cls.check_value(key, value)
        except InvalidValue as exc:
            raise _fail(origins, dotted, str(exc)) from None
    return out


def _check_keys(
    tree: Mapping, allowed: tuple[str, ...], prefix: str, origins: Mapping[str, Origin]
) -> None:
    for key in tree:
        if key not in allowed:
            dotted = f"{prefix}{key}"
            head, dot, rest = key.partition(".")
            if key == "extends":
                extra = " (extends: is only read at the top of a file)"
            elif dot and head in allowed:
                extra = f" (dotted keys are not expanded in files: write '{rest}' under '{head}:')"
            else:
                extra = _did_you_mean(key, allowed)
            raise _fail(origins, dotted, f"unknown key{extra}")


def _flatten_overrides(overrides: Mapping[str, Any] | None) -> list[tuple[str, Any, Origin]]:
    if overrides is None:
        return []
    if not isinstance(overrides, Mapping):
        raise ConfigError(
            "overrides: expected a mapping of dotted keys to values, "
            f"got {type(overrides).__name__}"
        )
    known = getattr(overrides, "origins", {})
    flat: list[tuple[str, Any, Origin]] = []
    for key, value in overrides.items():
        origin = known.get(key, Origin("override", "overrides="))
        if not isinstance(key, str) or not key:
            raise ConfigError(f"{origin.where()}: {key!r}: override keys must be dotted strings")
        if key in _ALL_SECTIONS and not (isinstance(value, dict) and value):
            raise ConfigError(
                f"{origin.where()}: {key}: is a section: set its keys (e.g. {key}.<key>=...)"
            )
        if isinstance(value, dict) and value:
            for sub, v in walk_keys(value, key + "."):
                if not isinstance(v, dict):
                    flat.append((sub, v, origin))
        else:
            flat.append((key, value, origin))
    return flat


_RANK = {"default": 0, "dict": 1, "file": 1, "stage": 2, "override": 3}


def _blame(origins: Mapping[str, Origin], keys: list[str]) -> str:
    """Of the keys behind a cross-field problem, the one set with the highest precedence."""
    return max(keys, key=lambda k: _RANK[origin_of(origins, k).kind])


class Config:
    """The resolved configuration of one stage: typed sections plus where every value came from.

    ``cfg.training.lr``, ``cfg.model.embed_dim`` ...; assignment to a field is validated.
    """

    experiment: ExperimentConfig
    model: ModelConfig
    training: TrainingConfig
    data: DataConfig
    curriculum: CurriculumConfig
    loss_weights: LossWeightsConfig
    checkpoint: CheckpointConfig
    visualization: VisualizationConfig
    logging: LoggingConfig
    system: SystemConfig
    pipeline: PipelineConfig

    def __init__(self) -> None:
        self._origins: dict[str, Origin] = {}
        for name, cls in _ALL_SECTIONS.items():
            setattr(self, name, cls())
        self.stage: str | None = None
        self.init_from: str | None = None
        self.source: str | None = None
        self.stages: tuple[str, ...] = ()

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_yaml(
        cls,
        path: str | os.PathLike,
        stage: str | None = None,
        overrides: Mapping[str, Any] | None = None,
    ) -> Config:
        """Load ``path`` (and its ``extends:`` chain), apply ``stage`` and ``overrides``.
        ``path`` may name a packaged config (``"quickstart"``) when no such file exists."""
        path, _ = locate(path)
        tree, origins = load_file_tree(path)
        return cls._resolve(tree, origins, stage, overrides, source=display_path(os.fspath(path)))

    @classmethod
    def from_dict(
        cls,
        data: Mapping[str, Any],
        stage: str | None = None,
        overrides: Mapping[str, Any] | None = None,
        source: str = "<dict>",
    ) -> Config:
        """Build from a plain dict: ``to_dict()`` output, or a whole file's content as a dict."""
        if not isinstance(data, Mapping):
            raise ConfigError(
                f"{source}: expected a mapping of sections, got {type(data).__name__}"
            )
        check_plain(data, source)
        check_string_keys(data, source, {})
        tree = copy.deepcopy(dict(data))
        origins = {k: Origin("dict", source) for k, _ in walk_keys(tree)}
        return cls._resolve(tree, origins, stage, overrides, source)

    @classmethod
    def _resolve(
        cls, tree: dict, origins: dict, stage: str | None, overrides, source: str
    ) -> Config:
        _check_keys(tree, _ROOT_KEYS, "", origins)
        stages = tree.pop("stages", None)
        stages = {} if stages is None else stages
        if not isinstance(stages, dict):
            raise _fail(
                origins, "stages", f"expected a mapping of stage name to settings, got {stages!r}"
            )
        for name, block in stages.items():
            prefix = f"stages.{name}"
            if block is None:
                stages[name] = block = {}
            if not isinstance(block, dict):
                raise _fail(origins, prefix, f"expected a mapping of settings, got {block!r}")
            _check_keys(block, _STAGE_KEYS, prefix + ".", origins)
            for section, sub in block.items():
                if section == "init_from":
                    _coerce_root(origins, f"{prefix}.init_from", sub)
                else:
                    _check_section(SECTIONS[section], sub, f"{prefix}.{section}", origins)

        # every value is checked where it is written, also one a stage block overrides later
        for section, sub in tree.items():
            if section in SECTIONS:
                _check_section(SECTIONS[section], sub, section, origins)
        label = _coerce_root(origins, "stage", tree.pop("stage", None))
        selected = stage is not None
        stage = label if stage is None else stage  # a file's own `stage:` picks its default stage
        if stage is not None:
            if stage in stages:
                block = stages[stage]
                block_origins = {
                    k[len(f"stages.{stage}.") :]: o.as_stage(stage)
                    for k, o in origins.items()
                    if k.startswith(f"stages.{stage}.")
                }
                merge_tree(tree, origins, block, block_origins)
            elif stages or stage != label:
                known = ", ".join(stages) or "none"
                raise ConfigError(
                    f"{source}: unknown stage '{stage}'{suggest(stage, stages)}; "
                    f"stages defined: {known}"
                )
            label = stage
            if selected:
                origins["stage"] = Origin("override", "selected stage")
        tree["stage"] = label

        for dotted, value, origin in _flatten_overrides(overrides):
            head, _, rest = dotted.partition(".")
            if head in ("stages", "extends", "stage"):
                raise ConfigError(
                    f"{origin.where()}: {dotted}: cannot be overridden "
                    "(override the resolved keys instead)"
                )
            origins[dotted] = origin
            node = tree
            parts = dotted.split(".")
            for i, part in enumerate(parts[:-1]):
                if not isinstance(node.get(part), dict):
                    node[part] = {}
                    origins[".".join(parts[: i + 1])] = (
                        origin  # an unknown or misused key is this flag's
                    )
                node = node[part]
            node[parts[-1]] = value
        _check_keys(tree, _ROOT_KEYS, "", origins)

        cfg = cls()
        cfg.source = source
        cfg.stage = label
        cfg.stages = tuple(stages)
        cfg.init_from = _coerce_root(origins, "init_from", tree.get("init_from"))
        for name, section_cls in _ALL_SECTIONS.items():
            values = _check_section(section_cls, tree.get(name), name, origins)
            section = section_cls(**values)
            for keys, problem in section.check():
                raise _fail(origins, _blame(origins, [f"{name}.{k}" for k in keys]), problem)
            setattr(cfg, name, section)
        cfg._origins.update({key: cls._leaf_origin(tree, origins, key) for key in cfg.flat()})
        unknown = [s for s in cfg.pipeline.order if s not in stages]
        if stages and unknown and cfg._origins["pipeline.order"] is not DEFAULT:
            raise _fail(
                origins,
                "pipeline.order",
                f"unknown stage '{unknown[0]}'{suggest(unknown[0], stages)}",
            )
        return cfg

    @staticmethod
    def _leaf_origin(tree: Mapping, origins: Mapping[str, Origin], dotted: str) -> Origin:
        node: Any = tree
        for part in dotted.split("."):
            if not isinstance(node, dict) or part not in node:
                return DEFAULT
            node = node[part]
        return origin_of(origins, dotted)

    # ------------------------------------------------------------------ export
    def to_dict(self) -> dict[str, Any]:
        """Plain Python types only: fit for JSON logs and ``torch.load(weights_only=True)``."""
        out: dict[str, Any] = {"stage": self.stage, "init_from": self.init_from}
        for name in _ALL_SECTIONS:
            out[name] = getattr(self, name).to_dict()
        return out

    def to_yaml(self) -> str:
        """YAML that ``from_yaml`` reads back to an equal config (sections in block style)."""
        return yaml.dump(self.to_dict(), Dumper=_Dumper, sort_keys=False, allow_unicode=True)

    def flat(self) -> dict[str, Any]:
        """Dotted key -> value for every setting."""
        return {k: v for k, v in walk_keys(self.to_dict()) if not isinstance(v, dict)}

    def get(self, dotted: str) -> Any:
        flat = self.flat()
        if dotted not in flat:
            raise KeyError(f"{dotted}: unknown key{suggest(dotted, flat)}")
        return flat[dotted]

    def origin(self, dotted: str) -> Origin:
        """Where ``dotted`` got its value (a default, a file line, a stage, an override)."""
        self.get(dotted)
        return self._origins.get(dotted, DEFAULT)

    def explain(self) -> str:
        """One line per setting: ``key = value  # origin``."""
        rows = [
            (k, json.dumps(v, ensure_ascii=False), str(self.origin(k)))
            for k, v in self.flat().items()
        ]
        kw = max(len(k) for k, _, _ in rows)
        vw = min(
            max(len(v) for _, v, _ in rows), 30
        )  # a long value overflows its column, not all rows
        source = self.source or "defaults"
        head = (
            f"# resolved config for stage {self.stage!r} from {source}"
            if self.stage
            else f"# resolved config from {source}"
        )
        return "\n".join([head] + [f"{k:<{kw}} = {v:<{vw}}  # {o}" for k, v, o in rows]) + "\n"

    def diff(self, other: Config) -> list[tuple[str, Any, Any]]:
        """(dotted key, self's value, other's value) for every setting that differs."""
        a, b = self.flat(), other.flat()
        return [(k, a.get(k), b.get(k)) for k in {**a, **b} if a.get(k) != b.get(k)]

    def copy(self) -> Config:
        return copy.deepcopy(self)

    # ------------------------------------------------------------------ dunder
    def __setattr__(self, key: str, value: Any) -> None:
        if key in _ALL_SECTIONS:
            if not isinstance(value, _ALL_SECTIONS[key]):
                raise ConfigError(
                    f"{key}: expected a {_ALL_SECTIONS[key].__name__}, got {type(value).__name__}"
                )
            object.__setattr__(value, "_origins", self._origins)  # assignments are recorded
        elif key in _ROOT_SCALARS:
            try:
                value = coerce_value(value, Optional[str])
            except InvalidValue as exc:
                raise ConfigError(f"{key}: {exc}") from None
        elif key not in _OTHER_ATTRS:
            raise ConfigError(
                f"{key}: unknown config attribute{suggest(key, [*_ALL_SECTIONS, *_ROOT_SCALARS])}"
            )
        object.__setattr__(self, key, value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Config) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        return f"Config(stage={self.stage!r}, source={self.source!r})"
