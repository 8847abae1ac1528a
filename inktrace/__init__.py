"""InkTrace: train and use a network that traces ink (skeleton, keypoints, tangent, width, offset).

Importing the package has no side effects: nothing is read, written, seeded or printed.
"""

from .checkpoint import CheckpointError
from .config import Config, ConfigError
from .model import InkTraceNet
from .tracing import trace
from .training import BaseTrainer, Callback, DenseTrainer, FinetuneTrainer, StructuralTrainer
from .version import __version__

__all__ = [
    "Config",
    "ConfigError",
    "CheckpointError",
    "InkTraceNet",
    "BaseTrainer",
    "StructuralTrainer",
    "DenseTrainer",
    "FinetuneTrainer",
    "Callback",
    "trace",
    "__version__",
]
