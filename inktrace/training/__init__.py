"""Training: the loop (trainer.py) and the stage trainers (stages.py); what the helpers see of a
trainer (interface.py); the training state (state.py), the resume and init rules (resume.py),
the side concerns as callbacks (callbacks.py, runlog.py), and running whole pipelines
(pipeline.py). README's Layout lists every module."""

from ..errors import NonFiniteLossError
from .callbacks import Callback
from .pipeline import pipeline_configs, run_stages
from .resume import ResumePoint
from .stages import DenseTrainer, FinetuneTrainer, StructuralTrainer, trainer_class
from .state import TrainState
from .trainer import TRAINERS, BaseTrainer

__all__ = [
    "BaseTrainer",
    "NonFiniteLossError",
    "StructuralTrainer",
    "DenseTrainer",
    "FinetuneTrainer",
    "TRAINERS",
    "trainer_class",
    "Callback",
    "TrainState",
    "ResumePoint",
    "pipeline_configs",
    "run_stages",
]
