"""Training: the loop (base.py), the stage trainers (stages.py), the pipeline (pipeline.py)."""

from .base import BaseTrainer, NonFiniteLossError
from .stages import TRAINERS, DenseTrainer, FinetuneTrainer, StructuralTrainer, trainer_class

__all__ = ["BaseTrainer", "NonFiniteLossError", "StructuralTrainer", "DenseTrainer", "FinetuneTrainer",
           "TRAINERS", "trainer_class"]
