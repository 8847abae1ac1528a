"""Configuration: YAML files with ``extends:``, per-stage overrides, typed and validated values.

Layers, bottom first (each imports only those above it): ``inktrace.errors`` (ConfigError),
``origin`` (Origin), ``schema`` (the typed sections) and ``loader`` (reading files), ``config``.
"""

from ..errors import ConfigError
from .config import Config, Overrides
from .origin import Origin
from .schema import SECTIONS

__all__ = ["Config", "ConfigError", "Origin", "Overrides", "SECTIONS"]
