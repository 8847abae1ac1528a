"""The stage trainers: they differ in what they compute, not in how they loop (BaseTrainer).
Each names its stage in its class statement, which enters it in ``TRAINERS`` (trainer.py).

- ``StructuralTrainer``: MAE-style masked reconstruction: skips off, skeleton + tangent heads,
  ``model.mask_ratio`` of the input patches hidden (a fresh mask every step, seeded by the step;
  validation uses fixed masks, so its loss measures the same task every epoch).
- ``DenseTrainer``: all five heads; with ``curriculum.enabled`` the training data steps from
  ``start_stage`` to ``end_stage`` every ``epochs_per_stage`` epochs and validation uses the
  ``end_stage`` set throughout (so the best checkpoint is chosen on the target difficulty);
  ``model.freeze_encoder`` keeps the encoder fixed.
- ``FinetuneTrainer``: a DenseTrainer with the encoder unfrozen and no curriculum (the stage's
  config brings the low LR and the hardest data).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from ..config import Config
from ..data.rng import seed_hash
from ..model.net import random_visibility
from .trainer import TRAINERS, BaseTrainer

__all__ = ["StructuralTrainer", "DenseTrainer", "FinetuneTrainer", "trainer_class", "TRAINERS"]


class StructuralTrainer(BaseTrainer, stage="structural"):
    def configure(self, cfg: Config) -> None:
        cfg.model.full_heads = False
        cfg.model.skip_connections = False
        cfg.curriculum.enabled = False

    def model_inputs(
        self, batch: Mapping[str, torch.Tensor], step: int, train: bool
    ) -> dict[str, Any]:
        ratio = self.cfg.model.mask_ratio
        if ratio <= 0:
            return {}
        image = batch["image"]
        B, _, H, W = image.shape
        # training: a new mask every step; validation: batch i always gets the same mask
        g = torch.Generator().manual_seed(
            seed_hash(self.cfg.training.seed, step, 1 if train else 2)
        )
        return {
            "visible": random_visibility(
                B, H, W, ratio, self.cfg.model.mask_patch_size, g, image.device
            )
        }


class DenseTrainer(BaseTrainer, stage="dense"):
    def configure(self, cfg: Config) -> None:
        cfg.model.full_heads = True

    def data_level(self, epoch: int) -> int:
        cur = self.cfg.curriculum
        if not cur.enabled:
            return self.cfg.data.curriculum_stage
        return min(cur.start_stage + epoch // cur.epochs_per_stage, cur.end_stage)

    def val_level(self) -> int:
        cur = self.cfg.curriculum
        return cur.end_stage if cur.enabled else self.cfg.data.curriculum_stage


class FinetuneTrainer(DenseTrainer, stage="finetune"):
    def configure(self, cfg: Config) -> None:
        super().configure(cfg)
        cfg.model.freeze_encoder = False
        cfg.curriculum.enabled = False


def trainer_class(cfg: Config) -> type[BaseTrainer]:
    """The trainer of a stage: by name (structural, dense, finetune), else by its heads
    (``model.full_heads: false`` is structural, true is dense)."""
    if cfg.stage in TRAINERS:
        return TRAINERS[cfg.stage]
    return DenseTrainer if cfg.model.full_heads else StructuralTrainer
