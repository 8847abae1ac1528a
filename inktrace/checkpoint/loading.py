"""A model out of a checkpoint: read the file (any supported format), check that its weights fit
the architecture it stores before anything is allocated, build the model, fill it, and say what
a legacy file could not recover.

Nothing here prints: :func:`load_model` returns the report and its caller shows it (the command
line on stderr, ``InkTraceNet.load_from_checkpoint`` as a warning). The model class is the
caller's, a :class:`ModelClass`: this package sits below ``inktrace.model``, which imports it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Protocol, TypeVar

import torch

from ..errors import CheckpointError
from .format import load_checkpoint, migration_report
from .weights import check_fits

__all__ = ["ModelClass", "check_model_fits", "model_from_checkpoint", "load_model"]

M = TypeVar("M", bound=torch.nn.Module)
M_co = TypeVar("M_co", bound=torch.nn.Module, covariant=True)


class ModelClass(Protocol[M_co]):
    """What a model class offers the loader (``InkTraceNet`` does)."""

    def from_config(self, model_cfg: Any) -> M_co: ...

    def weight_shapes(self, model_cfg: Any) -> dict[str, tuple[int, ...]]: ...


def check_model_fits(
    ckpt: Mapping[str, Any], path: str | os.PathLike, model_class: ModelClass[Any]
) -> None:
    """CheckpointError (one line) unless the weights of a checkpoint read by
    :func:`load_checkpoint` fit its stored model configuration, names, count and shapes: checked
    before anything is allocated (the model is described on the meta device)."""
    try:
        shapes = model_class.weight_shapes(ckpt["config"]["model"])
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: bad model configuration ({exc})") from None
    check_fits(shapes, ckpt["model"], str(path))


def model_from_checkpoint(
    ckpt: dict[str, Any], path: str | os.PathLike, model_class: ModelClass[M]
) -> tuple[M, str]:
    """The model of a checkpoint already read by :func:`load_checkpoint` (``path`` for messages)
    in eval mode, and the report of what a legacy file could not recover ("" for a current one)."""
    check_model_fits(ckpt, path, model_class)  # before building: a config cannot make us allocate
    model = model_class.from_config(ckpt["config"]["model"])
    try:
        model.load_state_dict(ckpt["model"])
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()
        raise CheckpointError(
            f"{path}: weights do not fit the stored model configuration "
            f"({' '.join(s.strip() for s in first[:2])[:200]})"
        ) from None
    return model.eval(), migration_report(path, ckpt)


def load_model(
    path: str | os.PathLike, model_class: ModelClass[M], map_location: Any = "cpu"
) -> tuple[M, str]:
    """The model stored in ``path``, any supported format (the current one and the legacy layouts
    A-D, whose architecture is inferred from the tensor shapes), in eval mode, and its report
    (see :func:`model_from_checkpoint`); CheckpointError, one line naming the file, otherwise."""
    return model_from_checkpoint(load_checkpoint(path, map_location), path, model_class)
