"""InkTrace: train and use a network that traces ink (skeleton, keypoints, tangent, width, offset).

Importing the package has no side effects: nothing is read, written, seeded or printed.
"""

__version__ = "0.1.0"  # first: submodules read it

from .checkpoint import CheckpointError
from .config import Config, ConfigError
from .model import InkTraceNet
from .training import BaseTrainer, Callback, DenseTrainer, FinetuneTrainer, StructuralTrainer

__all__ = ["Config", "ConfigError", "CheckpointError", "InkTraceNet", "BaseTrainer", "StructuralTrainer",
           "DenseTrainer", "FinetuneTrainer", "Callback", "__version__"]
