"""Checkpoints: the InkTrace format (format.py), which files a run keeps (manager.py), loading
weights from other wrappers' state dicts with a report (weights.py), a model out of a file
(loading.py: ``load_model``, for the model class its caller names), and checkpoints of earlier
versions (legacy.py: safe loading, layout detection, the migration registry, the layout-B writer).

Layers, bottom first (each imports only those above it, all at module top): ``inktrace.errors``
(CheckpointError), ``weights``, ``legacy`` (also ``inktrace.config``), ``format``, then
``manager``, ``loading`` and ``compare``. Nothing here imports ``inktrace.model``."""

from ..errors import CheckpointError
from .format import (
    FORMAT,
    FORMAT_VERSION,
    load_checkpoint,
    migration_report,
    read_checkpoint,
    save_checkpoint,
)
from .loading import check_model_fits, load_model, model_from_checkpoint
from .manager import CheckpointManager
from .weights import WeightsReport, check_fits, load_weights, strip_prefixes

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "CheckpointError",
    "load_checkpoint",
    "read_checkpoint",
    "save_checkpoint",
    "CheckpointManager",
    "load_model",
    "model_from_checkpoint",
    "check_model_fits",
    "WeightsReport",
    "load_weights",
    "check_fits",
    "strip_prefixes",
    "migration_report",
]
