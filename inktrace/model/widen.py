"""Widening a trained InkTraceNet: more channels, the same maps (Net2Net-style growth).

A model trained with ``embed_dim`` e can start a model of the same layout (``num_layers``,
``norm``, heads) with ``embed_dim`` k * e for a whole k >= 2: every feature channel is copied k
times, and every weight that reads a copied channel is split among its copies by random shares
that sum to 1. The wider network then computes exactly the narrow one's outputs (to float
rounding), and training goes on from the trained model instead of from scratch: the extra
capacity is what it adds. The shares differ between copies, so their gradients differ and the
copies grow apart (with equal shares they would stay copies for ever).

Normalisation is kept exact by where the copies go. GroupNorm computes its statistics over a group
of channels, so each new group holds the copies of one old group's channels, equally often: its
mean and variance are then the old group's. Per-channel norms (BatchNorm, instance norm) are kept
exact by any copying.

``init_from`` uses this (training/resume.py) when a checkpoint's tensors are a whole factor
narrower than the model's; :func:`widen_state` is the function, :func:`channel_map` its rule.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import torch

from .net import group_count

__all__ = ["channel_map", "widen_state", "WidenError"]


class WidenError(ValueError):
    """The checkpoint cannot be widened into the model exactly (one line, the tensor and why)."""


def channel_map(old: int, new: int, norm: str) -> torch.Tensor:
    """(new,) long tensor: which of ``old`` channels each of ``new`` channels copies, such that a
    normalisation of kind ``norm`` ('group', 'instance', 'batch') sees, in each new group, the
    channels of one old group, each equally often."""
    if new % old:
        raise WidenError(f"{new} channels are not a whole multiple of {old}")
    g_old, g_new = group_count(norm, old), group_count(norm, new)
    s_old, s_new = old // g_old, new // g_new
    if g_new % g_old or s_new % s_old:
        raise WidenError(
            f"{norm} norm: {g_new} groups of {s_new} channels cannot each copy one of "
            f"{g_old} groups of {s_old}"
        )
    k = torch.arange(new)
    old_group = (k // s_new) // (g_new // g_old)
    return old_group * s_old + (k % s_new) % s_old


def _shares(shape: tuple[int, ...], source: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random positive shares over dim 1 of ``shape`` that sum to 1 over the copies of each source
    channel (``source`` maps dim 1 to the old channels), broadcast over the other dims."""
    rows = shape[0]
    raw = 0.5 + torch.rand(rows, shape[1], generator=gen, dtype=torch.float64)
    total = torch.zeros(rows, int(source.max()) + 1, dtype=torch.float64)
    total.index_add_(1, source, raw)
    return (raw / total[:, source]).reshape(rows, shape[1], *([1] * (len(shape) - 2)))


def _layout(keys: Iterable[str]) -> set[str]:
    """The modules a state dict's tensors belong to, heads left out (a narrower checkpoint may
    lack heads the model has: they start fresh)."""
    return {k.rsplit(".", 1)[0] for k in keys if not k.startswith("heads.")}


def _fixed(key: str, dim: int) -> bool:
    """Dims that are not channels and must never grow: the stem's input (ink, visibility) and the
    heads' outputs (the maps)."""
    return (key == "stem.0.weight" and dim == 1) or (
        key.startswith("heads.") and ".2." in key and dim == 0
    )


def widen_state(
    state: Mapping[str, torch.Tensor],
    target: Mapping[str, torch.Tensor],
    norm: str,
    seed: int = 0,
) -> dict[str, torch.Tensor]:
    """``state`` (a narrower model's tensors) grown to the shapes of ``target`` (the wider model's
    state dict, same names): dim 0 of a tensor is copied by :func:`channel_map`, dim 1 of a weight
    (its input channels) copied and split by random shares (``seed``) summing to 1. Tensors of the
    same shape are taken as they are. The two must have the same layout (the same modules, so the
    same ``num_layers``), and every channel count must grow by the same whole factor, that of the
    stem's output (``embed_dim``); WidenError names the first tensor that breaks a rule."""
    if _layout(state) != _layout(target):
        only = sorted(_layout(state) ^ _layout(target))
        raise WidenError(f"another layout (model.num_layers?): {', '.join(only[:3])} differ")
    stem = "stem.0.weight"
    if stem not in state or stem not in target:
        raise WidenError(f"{stem} is missing")
    old_dim, new_dim = int(state[stem].shape[0]), int(target[stem].shape[0])
    if new_dim % old_dim or new_dim // old_dim < 2:
        raise WidenError(f"model.embed_dim {new_dim} is not a whole multiple of {old_dim}")
    factor = new_dim // old_dim
    gen = torch.Generator().manual_seed(seed)
    out: dict[str, torch.Tensor] = {}
    maps: dict[tuple[int, int], torch.Tensor] = {}

    def mapping(key: str, dim: int, old: int, new: int) -> torch.Tensor:
        if _fixed(key, dim) or new != factor * old:
            raise WidenError(f"{key}: dim {dim} of {old} cannot grow to {new} (x{factor})")
        if (old, new) not in maps:
            try:
                maps[old, new] = channel_map(old, new, norm)
            except WidenError as exc:
                raise WidenError(f"{key}: {exc}") from None
        return maps[old, new]

    for key, value in state.items():
        if key not in target or not isinstance(value, torch.Tensor):
            continue
        want = tuple(target[key].shape)
        have = tuple(value.shape)
        if have == want:
            out[key] = value
            continue
        if len(have) != len(want) or len(have) == 0 or have[2:] != want[2:]:
            raise WidenError(f"{key}: shape {have} cannot grow into {want}")
        grown = value.to(torch.float64)
        if have[0] != want[0]:
            grown = grown[mapping(key, 0, have[0], want[0])]
        if len(have) > 1 and have[1] != want[1]:
            source = mapping(key, 1, have[1], want[1])
            grown = grown[:, source] * _shares(tuple(grown.shape[:1]) + want[1:], source, gen)
        out[key] = grown.to(value.dtype)
    return out
