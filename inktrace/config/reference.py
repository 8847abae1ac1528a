"""The settings reference of docs/training.md, from the schema (a test keeps them equal)."""

from __future__ import annotations

import dataclasses
import json
import typing
from typing import Any, Literal

from .schema import SECTIONS, PipelineConfig, Section

__all__ = ["reference_markdown"]


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is typing.Union:
        args = typing.get_args(tp)
        names = " \\| ".join(_type_name(a) for a in args if a is not type(None))
        return names + (" or null" if type(None) in args else "")
    if origin is Literal:
        return " \\| ".join(typing.get_args(tp))
    if origin is list:
        return f"list of {_type_name(typing.get_args(tp)[0])}"
    return tp.__name__


def reference_markdown() -> str:
    """The settings reference of docs/training.md, from the schema (a test keeps them equal)."""
    out = []
    sections: list[type[Section]] = [*SECTIONS.values(), PipelineConfig]
    for cls in sections:
        out.append(f"**`{cls.SECTION}`**\n\n| key | type | default | meaning |\n|---|---|---|---|")
        hints = typing.get_type_hints(cls)
        for key, f in cls.fields().items():
            default = (
                f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
            )
            bounds = [
                f"{sym} {f.metadata[k]}"
                for k, sym in (("min", ">="), ("gt", ">"), ("max", "<="), ("lt", "<"))
                if k in f.metadata
            ]
            meaning = f.metadata["help"] + (f" ({', '.join(bounds)})" if bounds else "")
            out.append(
                f"| `{key}` | {_type_name(hints[key])} | `{json.dumps(default)}` | {meaning} |"
            )
        out.append("")
    return "\n".join(out)
