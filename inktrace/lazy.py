"""Names a package exports but imports only when first used (PEP 562), so that importing
``inktrace`` or tracing with an ONNX model does not import PyTorch.

A package lists them in a module-level ``_LAZY`` dict (name -> relative module) and sets
``__getattr__ = lazy_exports(__name__, _LAZY)``; tests/test_architecture.py reads those dicts as
imports, so the import graph (no cycles) still covers them.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(package: str, table: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` that imports ``table[name]`` (relative to ``package``) on first
    access of ``name`` and keeps the value in the package's namespace."""

    def __getattr__(name: str) -> Any:
        if name not in table:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(table[name], package), name)
        setattr(sys.modules[package], name, value)
        return value

    return __getattr__
