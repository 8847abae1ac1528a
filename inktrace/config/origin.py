"""Where a configuration value came from (the bottom of the config package: imports nothing from
it).

``loader`` records an ``Origin`` for every key it reads, ``schema`` records one when a field is
assigned in Python, ``config`` uses them for error messages and ``--explain``.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Origin", "DEFAULT"]


@dataclass(frozen=True)
class Origin:
    """Where a value came from: a default, a file line, a stage block, or an override."""

    kind: str  # "default" | "file" | "stage" | "override" | "dict"
    source: str = ""  # file path, command-line flag or label
    line: int | None = None
    stage: str | None = None

    def where(self) -> str:
        """The location prefix of an error message."""
        if self.kind == "default":
            return "defaults"
        loc = f"{self.source}:{self.line}" if self.line else self.source
        if self.kind == "override":
            return f"command line ({self.source})" if self.source.startswith("-") else self.source
        return loc

    def __str__(self) -> str:
        if self.kind == "stage":
            return f"stage '{self.stage}' ({self.where()})"
        return self.where() if self.kind != "default" else "default"

    def as_stage(self, stage: str) -> Origin:
        return Origin("stage", self.source, self.line, stage)


DEFAULT = Origin("default")
