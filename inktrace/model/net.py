"""InkTraceNet: a U-Net-style encoder-decoder with switchable skips and heads.

Input: images (B, 1, H, W), dark ink on light paper in [0, 1], any H and W (padded inside to a
multiple of 2**num_layers, and to at least twice that, with paper; outputs cropped back). The
network sees two channels: the ink (1 - image) with hidden pixels zeroed, and the visibility mask
(1 where the pixel is seen), so the same weights serve masked (structural) and unmasked (dense)
training.

Encoder: a stem at full resolution, then ``num_layers`` times a residual block and a stride-2
convolution (channels ``embed_dim * 2**level``, capped at 4x), then two bottleneck blocks.
Decoder: per level, nearest-neighbour upsampling and a 3x3 convolution, plus the encoder feature
of that level when skips are on (additive skips, so a model with skips off has exactly the same
weights as one with skips on and transfers between stages), and a residual block.
Normalisation: GroupNorm (default; batch-size independent, fine for small CPU batches and large
AMP batches alike), BatchNorm or per-channel (instance) GroupNorm; activation SiLU.

Heads (3x3 conv, SiLU, 1x1 conv), all at full resolution; ``forward`` returns:

- ``skeleton_logits`` (B, H, W) and, with ``full_heads``, ``keypoints_logits`` (B, 2, H, W),
- ``tangent`` (B, 2, H, W), unit length (cos 2θ, sin 2θ),
- with ``full_heads``: ``width`` (B, H, W) >= 0 (softplus, pixels), ``offset`` (B, 2, H, W) pixels,
- with ``full_heads`` and ``stroke_heads``: ``ends_logits`` (B, H, W), where a drawn stroke starts
  or ends (also where it ends on another stroke), and ``identity`` (B, IDENTITY_DIM, H, W), an
  embedding that is alike along one stroke and apart between strokes that meet,
- ``visible`` (B, 1, H, W) when input patches were masked (MAE-style, in training).

``probabilities`` turns those outputs into the maps of docs/contracts.md, ``maps`` runs a batch
through both, and ``predict`` takes image arrays (batch.py) and returns the maps as numpy arrays.
Checkpoint files are read by ``inktrace.checkpoint.load_model``; ``load_from_checkpoint`` is its
thin delegate.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..checkpoint.loading import load_model
from ..config.schema import ModelConfig
from ..errors import LegacyCheckpointWarning
from ..pretrained.files import packaged_model
from .batch import image_batch

__all__ = ["InkTraceNet", "random_visibility", "MODEL_KEYS", "HEAD_CHANNELS", "IDENTITY_DIM"]

# constructor arguments: the keys of the config's ``model`` section
MODEL_KEYS = tuple(ModelConfig.fields())
IDENTITY_DIM = 8  # channels of the stroke-identity embedding
HEAD_CHANNELS = {
    "skeleton": 1,
    "keypoints": 2,
    "tangent": 2,
    "width": 1,
    "offset": 2,
    "ends": 1,
    "identity": IDENTITY_DIM,
}
STRUCTURAL_HEADS = ("skeleton", "tangent")
DENSE_HEADS = ("skeleton", "keypoints", "tangent", "width", "offset")
STROKE_HEADS = ("ends", "identity")
_MAX_WIDTH_FACTOR = 4


def group_count(kind: str, channels: int) -> int:
    """How many groups of channels normalisation ``kind`` computes its statistics over: one per
    channel for batch and instance norm, ``gcd(channels, 8)`` for group norm."""
    if kind in ("batch", "instance"):
        return channels
    if kind != "group":
        raise ValueError(f"model.norm: unknown normalisation {kind!r} (group, batch or instance)")
    return math.gcd(channels, 8)


class GroupNorm(nn.GroupNorm):
    """nn.GroupNorm, exact in channels-last memory too (see ``ConvNormAct``, which explains the
    failure): there each image's groups are first shifted by their mean over one pixel in
    ``CENTRE_STRIDE`` x ``CENTRE_STRIDE`` (GroupNorm is the same after any shift of a whole
    group), so the statistics are taken near zero; in place only where the caller says its input
    is a fresh convolution output nobody else sees (``fresh``: no hooks on that convolution,
    nothing recording gradients), else in a new tensor. Only features larger than
    ``CENTRE_PIXELS`` are shifted: up to 128 x 128 px the stem's shift alone leaves at most
    0.001 in the skeleton (64 px: 0.0002), and the few small operations per layer cost a glyph
    traced alone about 1 ms. On larger features it costs nothing measurable in float32 and
    10-25 % of the network's time in bfloat16 (4 tiles of 512 px; without it inktrace-strokes'
    bfloat16 skeleton was 0.34 from float32's there, against 0.09 in the contiguous layout and
    0.12 with it: ``benchmarks/bench_channels_last.py``). The same weights and state as
    nn.GroupNorm."""

    def forward(self, x: torch.Tensor, fresh: bool = False) -> torch.Tensor:
        if (
            x.dtype in (torch.float32, torch.bfloat16)
            and x.dim() == 4
            and x.shape[2] * x.shape[3] > CENTRE_PIXELS
            and _is_channels_last(x)
        ):
            n, c = x.shape[:2]
            groups = self.num_groups
            mean = x[:, :, ::CENTRE_STRIDE, ::CENTRE_STRIDE].float().mean(dim=(2, 3))
            mean = mean.view(n, groups, c // groups).mean(2, keepdim=True)
            shift = mean.expand(n, groups, c // groups).reshape(n, c, 1, 1).to(x.dtype).detach()
            x = x.sub_(shift) if fresh and not torch.is_grad_enabled() else x - shift
        return F.group_norm(x, self.num_groups, self.weight, self.bias, self.eps)


CENTRE_STRIDE = 8  # GroupNorm's shift is the mean over one pixel in 8 x 8 ...
CENTRE_PIXELS = 128 * 128  # ... of features larger than this (see GroupNorm)


def _unhooked(conv: nn.Module) -> bool:
    """Whether ``conv`` is a plain convolution that nothing watches (no forward hooks): its output
    may be changed in place, and it may be run as F.conv2d with another bias."""
    return (
        type(conv) is nn.Conv2d
        and conv.padding_mode == "zeros"
        and not conv._forward_hooks
        and not conv._forward_pre_hooks
    )


def _normed(norm: nn.Module, y: torch.Tensor, conv: nn.Module) -> torch.Tensor:
    """``norm(y)``, ``y`` being ``conv``'s output (GroupNorm may shift it in place then)."""
    return norm(y, fresh=_unhooked(conv)) if isinstance(norm, GroupNorm) else norm(y)


def _norm(kind: str, channels: int) -> nn.Module:
    groups = group_count(kind, channels)
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    return GroupNorm(groups, channels)


def _is_channels_last(t: torch.Tensor) -> bool:
    """Whether a 4-d tensor is in channels-last memory (and not also contiguous, as one of a
    single channel or pixel is)."""
    return (
        t.dim() == 4
        and not t.is_contiguous()
        and t.is_contiguous(memory_format=torch.channels_last)
    )


def _channels_last(conv: nn.Conv2d, x: torch.Tensor) -> bool:
    """Whether ``conv(x)`` comes out in channels-last memory: its input or its weights are."""
    return _is_channels_last(x) or _is_channels_last(conv.weight)


class ConvNormAct(nn.Sequential):
    """Convolution, normalisation, SiLU. ``paper``: the input's value on paper, per channel,
    where the layer sees the image itself (the stem), so that channels-last GroupNorm stays
    exact there.

    PyTorch's channels-last GroupNorm on the CPU (float32 and bfloat16, torch 2.13) takes a
    group's variance as its mean square less its squared mean, which cancels where the mean is
    large beside the spread. The stem sees paper as a constant (no ink, seen), so over a page's
    paper its features carry a large constant: on 400 px images of a few lines that put up to
    0.89 of error into inktrace-small's skeleton probabilities (0.02 into inktrace-strokes'),
    against 1e-5 in the contiguous layout. GroupNorm gives the same result when all the channels
    of a group shift by one constant, so in channels-last memory the stem's convolution takes as
    its bias minus the mean over each group of what it gives on paper: the constant is gone
    before the statistics are taken, in the same passes, and the shift depends on the weights
    alone (an image's maps do not depend on its batch). Deeper layers see paper as a constant
    too; ``GroupNorm`` shifts each image by its own mean there. Together the maps
    agree with the contiguous layout's within 0.02 in float32 (one line on 400 px of paper:
    0.07 with the stem's shift alone) and about as well as it in bfloat16
    (tests/test_model.py, benchmarks/bench_channels_last.py)."""

    def __init__(
        self,
        cin: int,
        cout: int,
        norm: str,
        stride: int = 1,
        paper: tuple[float, ...] | None = None,
    ) -> None:
        super().__init__(
            nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False),
            _norm(norm, cout),
            nn.SiLU(),
        )
        self.paper = paper

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        conv, norm, act = self
        assert isinstance(conv, nn.Conv2d)
        if (
            self.paper is None
            or not isinstance(norm, nn.GroupNorm)
            or not _unhooked(conv)
            or not _channels_last(conv, x)
        ):
            return act(_normed(norm, conv(x), conv))
        with torch.no_grad():
            paper = torch.tensor(self.paper, dtype=torch.float32, device=conv.weight.device)
            mean = conv.weight.float().sum(dim=(2, 3)) @ paper  # the output on paper
            if conv.bias is not None:
                mean = mean + conv.bias.float()
            per_group = mean.view(norm.num_groups, -1)
            shift = per_group.mean(1, keepdim=True).expand_as(per_group).reshape(-1)
        bias = -shift if conv.bias is None else conv.bias - shift
        y = F.conv2d(
            x, conv.weight, bias.to(conv.weight.dtype), conv.stride, conv.padding, conv.dilation
        )
        return act(_normed(norm, y, conv))


class ResBlock(nn.Module):
    def __init__(self, channels: int, norm: str) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.norm1 = _norm(norm, channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.norm2 = _norm(norm, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.silu(_normed(self.norm1, self.conv1(x), self.conv1))
        return F.silu(x + _normed(self.norm2, self.conv2(y), self.conv2))


class Head(nn.Sequential):
    def __init__(self, channels: int, out: int) -> None:
        super().__init__(
            nn.Conv2d(channels, channels, 3, padding=1), nn.SiLU(), nn.Conv2d(channels, out, 1)
        )


def random_visibility(
    batch: int,
    height: int,
    width: int,
    ratio: float,
    patch: int,
    generator: torch.Generator | None = None,
    device: Any = "cpu",
) -> torch.Tensor:
    """(B, 1, H, W) float mask, 0 on hidden patches: exactly ``round(ratio * patches)`` of the
    ``ceil(H/patch) * ceil(W/patch)`` patches of each image are hidden, chosen uniformly."""
    gh, gw = -(-height // patch), -(-width // patch)
    n = gh * gw
    hidden = int(round(ratio * n))
    noise = torch.rand(
        batch, n, generator=generator, device="cpu" if generator is None else generator.device
    )
    rank = noise.argsort(1).argsort(1)
    grid = (rank >= hidden).to(torch.float32).view(batch, 1, gh, gw).to(device)
    vis = grid.repeat_interleave(patch, 2).repeat_interleave(patch, 3)
    return vis[:, :, :height, :width].contiguous()


class InkTraceNet(nn.Module):
    load_report: str  # set by load_from_checkpoint: what a legacy file could not recover

    def __init__(self, **settings: Any) -> None:
        """``settings`` are the keys of the config's ``model`` section, which holds their names,
        defaults and bounds (``ModelConfig``), e.g. ``InkTraceNet(embed_dim=16, num_layers=3)``;
        a value out of bounds is a ConfigError naming the key."""
        super().__init__()
        unknown = sorted(set(settings) - set(ModelConfig.fields()))
        if unknown:
            raise TypeError(
                f"InkTraceNet: unknown setting(s) {', '.join(unknown)} "
                f"(known: {', '.join(ModelConfig.fields())})"
            )
        s = ModelConfig(**settings)
        self.hparams = s.to_dict()
        embed_dim, num_layers, norm = s.embed_dim, s.num_layers, s.norm
        self.num_layers = num_layers
        self.skip_connections = s.skip_connections
        self.mask_ratio = s.mask_ratio
        self.mask_patch_size = s.mask_patch_size
        self.full_heads = s.full_heads
        self.stroke_heads = s.full_heads and s.stroke_heads
        chans = [embed_dim * min(2**level, _MAX_WIDTH_FACTOR) for level in range(num_layers + 1)]

        self.stem = ConvNormAct(2, chans[0], norm, paper=(0.0, 1.0))  # no ink, seen
        self.enc_blocks = nn.ModuleList(ResBlock(chans[i], norm) for i in range(num_layers))
        self.downs = nn.ModuleList(
            ConvNormAct(chans[i], chans[i + 1], norm, stride=2) for i in range(num_layers)
        )
        self.bottleneck = nn.Sequential(ResBlock(chans[-1], norm), ResBlock(chans[-1], norm))
        self.ups = nn.ModuleList(
            ConvNormAct(chans[i + 1], chans[i], norm) for i in range(num_layers)
        )
        self.dec_blocks = nn.ModuleList(ResBlock(chans[i], norm) for i in range(num_layers))
        self.dropout = nn.Dropout2d(s.dropout) if s.dropout > 0 else nn.Identity()
        names: tuple[str, ...] = DENSE_HEADS if s.full_heads else STRUCTURAL_HEADS
        if self.stroke_heads:
            names += STROKE_HEADS
        self.heads = nn.ModuleDict({name: Head(chans[0], HEAD_CHANNELS[name]) for name in names})
        # start the sparse maps near their prior (CenterNet): p = 0.05 centreline, 0.01 keypoints,
        # so the first steps are not spent unlearning p = 0.5 everywhere
        with torch.no_grad():
            self._last_bias("skeleton").fill_(math.log(0.05 / 0.95))
            for sparse in ("keypoints", "ends"):
                if sparse in self.heads:
                    self._last_bias(sparse).fill_(math.log(0.01 / 0.99))
        self._encoder_frozen = False
        if s.freeze_encoder:
            self.freeze_encoder(True)

    # ----------------------------------------------------------------- construction and info
    @classmethod
    def from_config(cls, model_cfg: Any) -> InkTraceNet:
        """From a ``model`` config section (a ModelConfig or a plain dict); unknown keys are
        ignored."""
        values = model_cfg.to_dict() if hasattr(model_cfg, "to_dict") else dict(model_cfg)
        return cls(**{k: values[k] for k in MODEL_KEYS if k in values})

    @classmethod
    def weight_shapes(cls, model_cfg: Any) -> dict[str, tuple[int, ...]]:
        """Name -> shape of every tensor of the model a ``model`` config section describes,
        without allocating it (the model is built on the meta device)."""
        with torch.device("meta"):
            shell = cls.from_config(model_cfg)
        return {k: tuple(v.shape) for k, v in shell.state_dict().items()}

    def _last_bias(self, head: str) -> torch.Tensor:
        last = self.heads[head][-1]  # type: ignore[index]
        return last.bias

    @property
    def head_names(self) -> tuple[str, ...]:
        return tuple(self.heads.keys())

    def get_num_params(self, trainable_only: bool = False) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad or not trainable_only)

    def encoder_modules(self) -> list[nn.Module]:
        """The encoder: stem, encoder blocks, downsampling convolutions and the bottleneck."""
        return [self.stem, self.enc_blocks, self.downs, self.bottleneck]

    def freeze_encoder(self, frozen: bool = True) -> None:
        """Fix (or free) the encoder weights; a frozen encoder also stays in eval mode (its
        normalisation statistics do not move) while the rest trains."""
        self._encoder_frozen = bool(frozen)
        self.hparams["freeze_encoder"] = bool(frozen)
        for module in self.encoder_modules():
            for p in module.parameters():
                p.requires_grad_(not frozen)
        self.train(self.training)

    @property
    def encoder_frozen(self) -> bool:
        return self._encoder_frozen

    def train(self, mode: bool = True) -> InkTraceNet:
        super().train(mode)
        if self._encoder_frozen:
            for module in self.encoder_modules():
                module.eval()
        return self

    # ----------------------------------------------------------------- forward
    def forward(
        self,
        image: torch.Tensor,
        visible: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> dict[str, torch.Tensor]:
        """Raw outputs for (B, 1, H, W) images; see the module docstring. In training mode with
        ``mask_ratio`` > 0 random patches are hidden (or pass ``visible`` to choose them)."""
        if image.dim() != 4 or image.shape[1] != 1:
            raise ValueError(f"expected images of shape (B, 1, H, W), got {tuple(image.shape)}")
        B, _, H, W = image.shape
        masked = visible is not None or (self.training and self.mask_ratio > 0)
        if visible is None:
            visible = (
                random_visibility(
                    B, H, W, self.mask_ratio, self.mask_patch_size, generator, image.device
                )
                if masked
                else torch.ones_like(image)
            )
        visible = visible.to(dtype=image.dtype, device=image.device)
        x = torch.cat([(1.0 - image) * visible, visible], 1)
        m = 2**self.num_layers
        # at least two pixels a side at the bottleneck: PyTorch 2.13's CPU bfloat16 kernels gave
        # NaN at random on features one pixel wide (images 8 px or narrower at 3 layers). In
        # arithmetic alone, which the ONNX export keeps symbolic: (2m - 1) // (H + m - 1) is 1
        # for H up to m, else 0
        ph = (-H) % m + m * ((2 * m - 1) // (H + m - 1))
        pw = (-W) % m + m * ((2 * m - 1) // (W + m - 1))
        if ph or pw:  # paper (no ink), seen, on the right and bottom
            x = torch.cat(
                [
                    F.pad(x[:, :1], (0, pw, 0, ph), value=0.0),
                    F.pad(x[:, 1:], (0, pw, 0, ph), value=1.0),
                ],
                1,
            )

        x = self.stem(x)
        skips = []
        for block, down in zip(self.enc_blocks, self.downs):
            x = block(x)
            skips.append(x)
            x = down(x)
        x = self.bottleneck(x)
        for i in reversed(range(self.num_layers)):
            x = self.ups[i](F.interpolate(x, scale_factor=2.0, mode="nearest"))
            if self.skip_connections:
                x = x + skips[i]
            x = self.dec_blocks[i](x)
        x = self.dropout(x)

        out: dict[str, torch.Tensor] = {}
        raw = {name: head(x)[:, :, :H, :W] for name, head in self.heads.items()}
        out["skeleton_logits"] = raw["skeleton"][:, 0]
        t = raw["tangent"].float()
        out["tangent"] = (t / t.norm(dim=1, keepdim=True).clamp(min=1e-6)).to(raw["tangent"].dtype)
        if "keypoints" in raw:
            out["keypoints_logits"] = raw["keypoints"]
            out["width"] = F.softplus(raw["width"][:, 0])
            out["offset"] = raw["offset"]
        if "ends" in raw:
            out["ends_logits"] = raw["ends"][:, 0]
            out["identity"] = raw["identity"]
        if masked:
            out["visible"] = visible
        return out

    @staticmethod
    def probabilities(out: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The maps of docs/contracts.md (those the heads give) from ``forward``'s outputs."""
        maps = {"skeleton": torch.sigmoid(out["skeleton_logits"].float())}
        if "keypoints_logits" in out:
            maps["keypoints"] = torch.sigmoid(out["keypoints_logits"].float())
        if "ends_logits" in out:
            maps["ends"] = torch.sigmoid(out["ends_logits"].float())
        for name in ("tangent", "width", "offset", "identity"):
            if name in out:
                maps[name] = out[name].float()
        return maps

    # ----------------------------------------------------------------- inference
    @torch.inference_mode()
    def maps(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """The maps (``probabilities``) of a (B, 1, H, W) batch in [0, 1] on the model's device:
        in eval mode without masking, the mode restored after. The one prediction step:
        ``predict`` and the inference package's ``Predictor`` (tile by tile) both run it."""
        was_training = self.training
        if not any(m.training for m in self.modules()):  # (switching modes costs 0.5 ms a batch)
            return self.probabilities(self(images))
        self.eval()
        try:
            return self.probabilities(self(images))
        finally:
            self.train(was_training)

    def predict(
        self, images: Any, batch_size: int = 16, device: Any = None
    ) -> dict[str, np.ndarray]:
        """The dense maps for grayscale images, dark ink on light paper.

        ``images``: an (H, W), (B, H, W) or (B, 1, H, W) numpy array or tensor, or a sequence of
        equally sized (H, W) arrays: uint8 (divided by 255), uint16 (by 65535), bool, or floats in
        [0, 1] (inktrace/pixels.py; anything else is an ImageError, a ValueError); any H and W.
        Returns numpy float32 arrays, batch first: ``skeleton`` (B, H, W) and ``keypoints``
        (B, 2, H, W) probabilities, ``tangent``, ``width``, ``offset`` as in docs/contracts.md
        (only those the heads give), computed by :meth:`maps` ``batch_size`` images at a time.
        """
        batch = image_batch(images)
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        device = torch.device(device) if device is not None else next(self.parameters()).device
        parts: dict[str, list[np.ndarray]] = {}
        for start in range(0, batch.shape[0], batch_size):
            for name, value in self.maps(batch[start : start + batch_size].to(device)).items():
                parts.setdefault(name, []).append(value.cpu().numpy())
        return {name: np.concatenate(chunks, 0) for name, chunks in parts.items()}

    # ----------------------------------------------------------------- checkpoints
    @classmethod
    def load_from_checkpoint(
        cls, path: str | os.PathLike, map_location: Any = "cpu", report: bool = True
    ) -> InkTraceNet:
        """The model stored in a checkpoint of any supported format (the current one and the legacy
        layouts A-D, whose architecture is inferred from the tensor shapes), in eval mode: a thin
        delegate of ``inktrace.checkpoint.load_model``, which reads the file. It never prints:
        what a legacy file could not recover is kept as ``model.load_report`` ("" for a current
        file) and, unless ``report=False``, issued as a :class:`LegacyCheckpointWarning`. A
        packaged model's name (``inktrace-small``, ``inktrace-strokes``) is its file."""
        path = packaged_model(path) or path
        model, load_report = load_model(path, cls, map_location)
        model.load_report = load_report
        if report and load_report:
            warnings.warn(load_report, LegacyCheckpointWarning, stacklevel=2)
        return model
