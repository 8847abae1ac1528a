"""InkTrace: train and use a network that traces ink (skeleton, keypoints, tangent, width, offset).

Importing the package has no side effects: nothing is read, written, seeded or printed.
"""

from .checkpoint import CheckpointError
from .config import Config, ConfigError
from .model import InkTraceNet

__version__ = "0.1.0"

__all__ = ["Config", "ConfigError", "CheckpointError", "InkTraceNet", "__version__"]
