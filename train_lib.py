"""The ``train_lib`` facade kept for users' scripts and notebooks:
``from train_lib import Config, CheckpointManager, BaseTrainer``.

It re-exports the public training API from the ``inktrace`` package and holds no code of its own.
"""

from inktrace.checkpoint import CheckpointError
from inktrace.checkpoint.manager import CheckpointManager
from inktrace.config import Config, ConfigError
from inktrace.losses import InkLoss
from inktrace.model import InkTraceNet
from inktrace.training import (
    BaseTrainer,
    DenseTrainer,
    FinetuneTrainer,
    NonFiniteLossError,
    StructuralTrainer,
    trainer_class,
)

__all__ = [
    "Config",
    "ConfigError",
    "CheckpointManager",
    "CheckpointError",
    "BaseTrainer",
    "StructuralTrainer",
    "DenseTrainer",
    "FinetuneTrainer",
    "NonFiniteLossError",
    "InkTraceNet",
    "InkLoss",
    "trainer_class",
]
