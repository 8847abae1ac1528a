"""The machinery of the schema's fields: ``opt`` (a documented field with bounds), value coercion
and checking, ``Section`` (a dataclass whose assignments are coerced and checked) and ``suggest``
(the "did you mean" of every unknown name). schema.py declares the sections with it.
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any, Literal

from ..errors import ConfigError, suggest
from .origin import Origin

__all__ = ["InvalidValue", "Section", "opt", "coerce_value", "suggest", "MAX_STRING"]

MAX_STRING = 10_000  # characters of one string setting (a description, a path)


class InvalidValue(Exception):
    """Raised by coercion; carries the problem text without the key (the caller adds it)."""


def opt(default: Any, help: str, **bounds: Any) -> Any:
    """A schema field: default value, one-line help, optional bounds (min, max, gt, lt)."""
    meta = {"help": help, **bounds}
    if isinstance(default, list):
        return dataclasses.field(default_factory=lambda: list(default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


_TRUE = {"true", "yes", "on"}
_FALSE = {"false", "no", "off"}


def _describe(value: Any) -> str:
    return f"{value!r} ({type(value).__name__})"


def _spelled(types: typing.Sequence[Any]) -> str:
    """The values a choice of types accepts, in words: "'auto', true or false"."""
    words = []
    for tp in types:
        if typing.get_origin(tp) is Literal:
            words += [repr(c) for c in typing.get_args(tp)]
        else:
            words += ["true", "false"] if tp is bool else [tp.__name__]
    return ", ".join(words[:-1]) + " or " + words[-1]


def coerce_value(value: Any, tp: Any) -> Any:
    """Coerce ``value`` to the annotated type ``tp`` or raise ``InvalidValue``.

    Strings that spell a number become numbers (PyYAML reads ``1e-3`` as a string because YAML 1.1
    wants a dot in a float); bools are never numbers; integral floats become ints.
    """
    origin = typing.get_origin(tp)
    if origin is typing.Union:  # Optional[X], or a choice of types tried in order ("auto" | bool)
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None and len(args) < len(typing.get_args(tp)):
            return None
        for arg in args[:-1]:
            try:
                return coerce_value(value, arg)
            except InvalidValue:
                pass
        try:
            return coerce_value(value, args[-1])
        except InvalidValue:
            if len(args) == 1:
                raise
            raise InvalidValue(f"expected {_spelled(args)}, got {_describe(value)}") from None
    if origin is Literal:
        choices = typing.get_args(tp)
        if isinstance(value, str) and value.strip().lower() in choices:
            return value.strip().lower()
        shown = ", ".join(repr(c) for c in choices)
        hint = suggest(str(value), [str(c) for c in choices])
        raise InvalidValue(f"expected one of {shown}, got {_describe(value)}{hint}")
    if origin is list:
        (item_tp,) = typing.get_args(tp)
        if not isinstance(value, (list, tuple)):
            raise InvalidValue(f"expected a list, got {_describe(value)}")
        out = []
        for i, item in enumerate(value):
            try:
                out.append(coerce_value(item, item_tp))
            except InvalidValue as exc:
                raise InvalidValue(f"item {i}: {exc}") from None
        return out
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        raise InvalidValue(f"expected true or false, got {_describe(value)}")
    if tp is int:
        if isinstance(value, bool):
            raise InvalidValue(f"expected an integer, got {_describe(value)}")
        if isinstance(value, int):
            return value
        number = _parse_number(value, "an integer")
        if number == number and abs(number) != float("inf") and float(number).is_integer():
            return int(number)
        raise InvalidValue(f"expected an integer, got {_describe(value)}")
    if tp is float:
        if isinstance(value, bool):
            raise InvalidValue(f"expected a number, got {_describe(value)}")
        number = _parse_number(value, "a number")
        try:
            number = float(number)
        except OverflowError:
            number = float("inf")
        if number != number or number in (float("inf"), float("-inf")):
            raise InvalidValue(f"expected a finite number, got {_describe(value)[:60]}")
        return number
    if tp is str:
        if isinstance(value, str):
            if len(value) > MAX_STRING:  # it would be copied into every checkpoint and log
                raise InvalidValue(
                    f"a string of {len(value):,} characters; at most {MAX_STRING:,} are allowed"
                )
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        raise InvalidValue(f"expected a string, got {_describe(value)}")
    raise TypeError(f"unsupported schema type {tp!r}")  # a bug in the schema, not in the input


def _parse_number(value: Any, what: str) -> float | int:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        text = value.strip().replace("_", "")
        try:
            return int(text)
        except ValueError:
            pass
        try:
            return float(text)
        except ValueError:
            pass
    raise InvalidValue(f"expected {what}, got {_describe(value)}")


def _check_bounds(value: Any, meta: typing.Mapping[str, Any]) -> None:
    if value is None:
        return
    items = value if isinstance(value, list) else [value]
    for v in items:
        if "min" in meta and v < meta["min"]:
            raise InvalidValue(f"must be >= {meta['min']}, got {v!r}")
        if "max" in meta and v > meta["max"]:
            raise InvalidValue(f"must be <= {meta['max']}, got {v!r}")
        if "gt" in meta and not v > meta["gt"]:
            raise InvalidValue(f"must be > {meta['gt']}, got {v!r}")
        if "lt" in meta and not v < meta["lt"]:
            raise InvalidValue(f"must be < {meta['lt']}, got {v!r}")
    if "length" in meta and len(items) != meta["length"]:
        raise InvalidValue(f"expected {meta['length']} items, got {len(items)}")
    if meta.get("nonempty") and not items:
        raise InvalidValue("must not be empty")


class Section:
    """Base of every config section: validated assignment, plain-dict export.

    Lists are stored as tuples so that they cannot be changed behind the validation's back.
    Once constructed, an assignment is also checked against the other fields (``check``), and
    recorded in the owning Config's origins as assigned in Python.
    """

    SECTION: typing.ClassVar[str] = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "_ready", True)

    def __setattr__(self, key: str, value: Any) -> None:
        fields = self.fields()
        if key not in fields:
            raise ConfigError(f"{self.SECTION}.{key}: unknown key{suggest(key, fields)}")
        value = self.coerce(key, value)
        if isinstance(value, list):
            value = tuple(value)
        if not self.__dict__.get("_ready"):
            object.__setattr__(self, key, value)
            return
        old = getattr(self, key)
        object.__setattr__(self, key, value)
        problems = self.check()
        if problems:
            object.__setattr__(self, key, old)
            raise ConfigError(f"{self.SECTION}.{key}: {problems[0][1]}")
        origins = self.__dict__.get("_origins")
        if origins is not None:
            origins[f"{self.SECTION}.{key}"] = Origin("override", "assigned in Python")

    @classmethod
    def fields(cls) -> dict[str, dataclasses.Field]:
        return {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]

    @classmethod
    def check_value(cls, key: str, value: Any) -> Any:
        """The coerced value for ``key``, or ``InvalidValue`` saying what is wrong with it."""
        value = coerce_value(value, typing.get_type_hints(cls)[key])
        _check_bounds(value, cls.fields()[key].metadata)
        return value

    @classmethod
    def coerce(cls, key: str, value: Any) -> Any:
        """The checked value for ``key``; ConfigError names the dotted key."""
        try:
            return cls.check_value(key, value)
        except InvalidValue as exc:
            raise ConfigError(f"{cls.SECTION}.{key}: {exc}") from None

    def check(self) -> list[tuple[tuple[str, ...], str]]:
        """Cross-field problems as (keys involved, message); empty when consistent. Errors blame
        whichever of the keys was set with the highest precedence."""
        return []

    def to_dict(self) -> dict[str, Any]:
        out = {}
        for key in self.fields():
            value = getattr(self, key)
            out[key] = list(value) if isinstance(value, tuple) else value
        return out
