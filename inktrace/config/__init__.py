"""Configuration: YAML files with ``extends:``, per-stage overrides, typed and validated values."""

from .config import Config, Overrides
from .loader import Origin
from .schema import SECTIONS, ConfigError

__all__ = ["Config", "ConfigError", "Origin", "Overrides", "SECTIONS"]
