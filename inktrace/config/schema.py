"""The typed configuration schema: one dataclass per section, one documented field per value.

Every field carries a one-line ``help`` and, where it matters, bounds (``min``/``max``: inclusive,
``gt``/``lt``: exclusive). Assigning to a field coerces and checks the value, so a section can
never hold ``"1e-3"`` (a string) where a float belongs, whether it came from YAML, the command
line or a notebook.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass
from typing import Literal, Optional, Union

from ..data.pens import HELD_OUT, TRAINING_PENS, check_pens
from ..errors import ConfigError
from .values import InvalidValue, Section, coerce_value, opt, suggest

_SEED = 2**63 - 1  # torch.manual_seed's range
MAX_VAL_PIXELS = 2**28  # val_size x img_size^2: the validation set is held in memory

__all__ = [
    "ConfigError",
    "InvalidValue",
    "Section",
    "SECTIONS",
    "PipelineConfig",
    "MAX_VAL_PIXELS",
    "coerce_value",
    "suggest",
]


@dataclass(repr=True, eq=True)
class ExperimentConfig(Section):
    SECTION: typing.ClassVar[str] = "experiment"
    name: str = opt("inktrace", "experiment name: names the run directory and the banners")
    description: str = opt("", "free text stored with the run")


@dataclass(repr=True, eq=True)
class ModelConfig(Section):
    SECTION: typing.ClassVar[str] = "model"
    embed_dim: int = opt(
        128,
        "channels of the first encoder level (doubled at each level, capped at 4x); at most "
        "256: 404 M weights (1.5 GiB) with 8 levels",
        min=1,
        max=256,
    )
    num_layers: int = opt(
        4, "resolution levels of the U-Net (input is padded to 2**num_layers)", min=1, max=8
    )
    full_heads: bool = opt(True, "all five heads (true) or skeleton + tangent only (structural)")
    stroke_heads: bool = opt(
        False,
        "with full_heads: also the stroke heads, stroke ends and a stroke-identity embedding, "
        "that tell the tracer where a stroke ends and which branches at a junction continue",
    )
    skip_connections: bool = opt(True, "U-Net skips; off forces everything through the bottleneck")
    mask_ratio: float = opt(
        0.0, "fraction of input patches hidden (MAE-style); 0 disables masking", min=0.0, lt=1.0
    )
    mask_patch_size: int = opt(8, "side in pixels of a masked patch", min=1, max=1024)
    norm: Literal["group", "batch", "instance"] = opt("group", "normalisation layer")
    dropout: float = opt(0.0, "dropout before the heads", min=0.0, lt=1.0)
    freeze_encoder: bool = opt(False, "keep encoder weights fixed (finetune unfreezes)")


@dataclass(repr=True, eq=True)
class TrainingConfig(Section):
    SECTION: typing.ClassVar[str] = "training"
    lr: float = opt(1e-3, "peak learning rate of AdamW", gt=0.0)
    batch_size: int = opt(128, "samples per optimizer step", min=1, max=65_536)
    epochs: int = opt(50, "epochs of this stage", min=1, max=1_000_000)
    weight_decay: float = opt(1e-4, "AdamW decoupled weight decay", min=0.0)
    betas: list[float] = opt([0.9, 0.999], "AdamW betas", min=0.0, lt=1.0, length=2)
    scheduler: Literal["cosine", "constant"] = opt("cosine", "LR schedule after warmup")
    warmup_epochs: float = opt(
        1.0, "linear warmup length in epochs (fractions allowed)", min=0.0, max=1_000_000.0
    )
    min_lr_ratio: float = opt(
        0.01, "final LR of the cosine schedule as a fraction of lr", min=0.0, max=1.0
    )
    grad_clip: Optional[float] = opt(
        1.0, "max global grad norm, after unscaling; null disables", gt=0.0
    )
    precision: Literal["auto", "fp32", "fp16", "bf16"] = opt(
        "auto",
        "autocast precision; auto = bf16 on CUDA when supported else fp16; on the CPU bf16 "
        "where it has bfloat16 instructions (AMX, AVX512-BF16), else fp32",
    )
    seed: int = opt(42, "seed of weights, data order and synthetic samples", min=0, max=_SEED)
    max_nonfinite_steps: int = opt(
        3, "consecutive non-finite losses tolerated before stopping", min=1, max=1_000_000
    )


@dataclass(repr=True, eq=True)
class DataConfig(Section):
    SECTION: typing.ClassVar[str] = "data"
    img_size: int = opt(64, "side in pixels of the synthetic training images", min=16, max=1024)
    curriculum_stage: int = opt(0, "difficulty 0-9 used when the curriculum is off", min=0, max=9)
    train_size: int = opt(20000, "synthetic samples per training epoch", min=1, max=10_000_000)
    val_size: int = opt(
        1000,
        "fixed, seeded validation samples (kept in memory: val_size x img_size^2 at most "
        "2^28 pixels, about 11 GiB)",
        min=1,
        max=1_000_000,
    )
    num_workers: int = opt(
        0, "DataLoader worker processes (0 = in the main process)", min=0, max=256
    )
    prefetch: int = opt(
        0,
        "batches rendered ahead in a background thread while the step runs, without worker "
        "processes (0 = none; not with num_workers); the same batches in the same order",
        min=0,
        max=16,
    )
    render_on: Literal["cpu", "device"] = opt(
        "cpu",
        "where samples are rasterised: cpu (workers and pinned memory possible) or device (the "
        "training device itself, e.g. the GPU: no workers needed)",
    )
    svg_dir: Optional[str] = opt(
        None,
        "centreline SVG files to train on (a folder, or kanjivg for the installed package)",
    )
    svg_fraction: float = opt(
        1.0,
        "share of training samples drawn from svg_dir; below 1 the rest are the curriculum's "
        "synthetic ink (glyphs get its degradations from level 7)",
        min=0.0,
        max=1.0,
    )
    svg_holdout: int = opt(
        0,
        "SVG files left out of training: the first N that inktrace evaluate --seed "
        "svg_holdout_seed chooses",
        min=0,
        max=10_000_000,
    )
    svg_holdout_seed: int = opt(
        0, "seed of the evaluation's choice that svg_holdout leaves out", min=0, max=_SEED
    )

    pens: list[str] = opt(
        ["classic"],
        "pen models drawn per sample, equally likely, for the curriculum and the SVG glyphs: "
        + ", ".join(TRAINING_PENS)
        + " (classic = the engine before pens; "
        + ", ".join(HELD_OUT)
        + " is held out of training for the evaluation)",
        nonempty=True,
    )
    cursive_fraction: float = opt(
        0.0,
        "share of curriculum samples at levels 4 and up replaced by a cursive word (joined "
        "letters, loops, retraced up-strokes, i-dots and t-bars as later strokes)",
        min=0.0,
        max=1.0,
    )

    def check(self) -> list[tuple[tuple[str, ...], str]]:
        try:
            check_pens(self.pens, training=True)
        except ValueError as exc:
            return [(("pens",), str(exc))]
        pixels = self.val_size * self.img_size**2
        if pixels > MAX_VAL_PIXELS:
            return [
                (
                    ("val_size", "img_size"),
                    f"val_size {self.val_size} x img_size {self.img_size}^2 = {pixels:,} pixels; "
                    f"the validation set is kept in memory (44 bytes a pixel, "
                    f"{pixels * 44 / 2**30:.0f} GiB): at most {MAX_VAL_PIXELS:,}",
                )
            ]
        return []


@dataclass(repr=True, eq=True)
class CurriculumConfig(Section):
    SECTION: typing.ClassVar[str] = "curriculum"
    enabled: bool = opt(False, "step the data difficulty from start_stage to end_stage")
    start_stage: int = opt(0, "first curriculum stage", min=0, max=9)
    end_stage: int = opt(6, "last curriculum stage (kept until the end)", min=0, max=9)
    epochs_per_stage: int = opt(10, "epochs spent at each stage", min=1, max=1_000_000)

    def check(self) -> list[tuple[tuple[str, ...], str]]:
        if self.start_stage > self.end_stage:
            return [
                (
                    ("start_stage", "end_stage"),
                    f"start_stage {self.start_stage} is after end_stage {self.end_stage}",
                )
            ]
        return []


@dataclass(repr=True, eq=True)
class LossWeightsConfig(Section):
    SECTION: typing.ClassVar[str] = "loss_weights"
    skeleton: float = opt(10.0, "weight of the skeleton loss", min=0.0)
    keypoints: float = opt(5.0, "weight of the keypoint heatmap loss", min=0.0)
    tangent: float = opt(2.0, "weight of the tangent loss", min=0.0)
    width: float = opt(1.0, "weight of the width loss", min=0.0)
    offset: float = opt(1.0, "weight of the sub-pixel offset loss", min=0.0)
    ends: float = opt(2.0, "weight of the stroke-end heatmap loss (stroke heads)", min=0.0)
    identity: float = opt(
        1.0, "weight of the stroke-identity embedding loss (stroke heads)", min=0.0
    )


@dataclass(repr=True, eq=True)
class CheckpointConfig(Section):
    SECTION: typing.ClassVar[str] = "checkpoint"
    save_dir: str = opt("checkpoints", "root folder; each stage writes to <save_dir>/<stage>/")
    keep_top_k: int = opt(
        3, "best checkpoints kept by the monitored metric (0 = none)", min=0, max=1000
    )
    save_last: bool = opt(True, "write last.ckpt every epoch")
    save_best: bool = opt(True, "write best.ckpt whenever the monitored metric improves")
    monitor: str = opt("val/loss", "metric that ranks checkpoints")
    mode: Literal["min", "max"] = opt(
        "min", "whether a lower or a higher monitored value is better"
    )


@dataclass(repr=True, eq=True)
class VisualizationConfig(Section):
    SECTION: typing.ClassVar[str] = "visualization"
    enabled: bool = opt(True, "log input | ground truth | prediction panels to TensorBoard")
    num_samples: int = opt(4, "validation samples per panel", min=1, max=64)
    log_interval: int = opt(1, "epochs between panels", min=1, max=1_000_000)


@dataclass(repr=True, eq=True)
class LoggingConfig(Section):
    SECTION: typing.ClassVar[str] = "logging"
    log_dir: str = opt("runs", "root of run directories (TensorBoard events and JSON logs)")
    log_every_n_steps: int = opt(10, "steps between scalar logs", min=1, max=10**9)
    grad_norm_every_n_steps: int = opt(100, "steps between train/grad_norm logs", min=1, max=10**9)
    progress_bar: Optional[bool] = opt(None, "tqdm bars; null = only when output is a terminal")


@dataclass(repr=True, eq=True)
class SystemConfig(Section):
    SECTION: typing.ClassVar[str] = "system"
    device: str = opt("auto", "auto, cpu, cuda or cuda:N")
    num_threads: int = opt(0, "torch CPU threads (0 = torch's default)", min=0, max=4096)
    deterministic: bool = opt(False, "ask torch for deterministic kernels (slower on GPU)")
    channels_last: Union[Literal["auto"], bool] = opt(
        "auto",
        "train in channels-last memory order; auto = on the CPU (measured 1.4x faster there), off "
        "on GPUs (unmeasured)",
    )
    compile: Union[Literal["auto"], bool] = opt(
        "auto",
        "torch.compile the training forward (eager again, with a note, if it fails); auto = off "
        "(on a 2-core CPU compiling takes minutes, most of a short run; GPUs unmeasured)",
    )
    dist_timeout: float = opt(
        600.0,
        "seconds a rank waits for the others in a collective (DDP) before giving up",
        gt=0,
        max=604_800.0,
    )


@dataclass(repr=True, eq=True)
class PipelineConfig(Section):
    SECTION: typing.ClassVar[str] = "pipeline"
    order: list[str] = opt(
        ["structural", "dense"], "stages run by --run-all-stages, in order", nonempty=True
    )
    auto_transfer: bool = opt(
        True, "init_from: auto takes the best checkpoint of the previous stage"
    )

    def check(self) -> list[tuple[tuple[str, ...], str]]:
        twice = sorted({s for s in self.order if self.order.count(s) > 1})
        return [(("order",), f"stage '{twice[0]}' listed twice")] if twice else []


# Sections a stage may override, in the order they are printed.
SECTIONS: dict[str, type[Section]] = {
    cls.SECTION: cls
    for cls in (
        ExperimentConfig,
        ModelConfig,
        TrainingConfig,
        DataConfig,
        CurriculumConfig,
        LossWeightsConfig,
        CheckpointConfig,
        VisualizationConfig,
        LoggingConfig,
        SystemConfig,
    )
}
