"""Checkpoints: the InkTrace format (format.py), which files a run keeps (manager.py) and loading
weights from other wrappers' state dicts with a report (weights.py), and checkpoints of earlier
versions (legacy.py: safe loading, layout detection, the migration registry, the layout-B writer).

Layers, bottom first (each imports only those above it, all at module top): ``inktrace.errors``
(CheckpointError), ``weights``, ``legacy`` (also ``inktrace.config``), ``format``, then
``manager`` and ``compare``."""

from ..errors import CheckpointError
from .format import (
    FORMAT,
    FORMAT_VERSION,
    load_checkpoint,
    migration_report,
    read_checkpoint,
    save_checkpoint,
)
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
    "WeightsReport",
    "load_weights",
    "check_fits",
    "strip_prefixes",
    "migration_report",
]
