"""Choosing a torch device by name (training's ``system.device``, inference's ``--device``) and
what ``auto`` precision means on it: bf16 where the hardware runs bfloat16 natively."""

from __future__ import annotations

import os

import torch

from .errors import ConfigError

__all__ = [
    "resolve_device",
    "cpu_has_bf16",
    "cuda_has_bf16",
    "native_bf16",
    "INFERENCE_PRECISIONS",
    "inference_precision",
]


def resolve_device(name: str | torch.device, key: str = "system.device") -> torch.device:
    """``auto`` (CUDA when available, else the CPU), ``cpu``, ``cuda`` or ``cuda:N``; a name that
    is unknown or not available here is a one-line ConfigError (a ValueError) naming ``key``."""
    if isinstance(name, torch.device):
        return name
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise ConfigError(f"{key}: unknown device {name!r} (auto, cpu, cuda or cuda:N)") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"{key}: {name} requested but CUDA is not available")
        if device.index is not None and device.index >= torch.cuda.device_count():
            count = torch.cuda.device_count()
            raise ConfigError(f"{key}: {name} requested but there are {count} CUDA device(s)")
    return device


# oneDNN ISA caps (ONEDNN_MAX_CPU_ISA) under which its kernels still use bfloat16 instructions
_BF16_ISAS = (
    "AVX512_CORE_BF16",
    "AVX512_CORE_AMX",
    "AVX512_CORE_AMX_FP16",
    "AVX10_1_512_AMX",
    "AVX10_1_512_AMX_FP16",
    "AVX10_2_512_AMX_2",
    "DEFAULT",
    "ALL",
)


def cpu_has_bf16() -> bool:
    """Whether this CPU runs bfloat16 natively (AMX-BF16 or AVX512-BF16, as torch.cpu reports
    them) and oneDNN may use it (``ONEDNN_MAX_CPU_ISA``, where set, allows it); without them torch
    emulates bf16, at 0.41x fp32 here (benchmarks/RESULTS.md)."""
    cap = os.environ.get("ONEDNN_MAX_CPU_ISA", "").strip().upper()
    if cap and cap not in _BF16_ISAS:
        return False
    try:
        flags = torch.cpu.get_capabilities()
    except Exception:  # a torch without it, or a probe that fails: assume emulation
        return False
    return bool(flags.get("amx_bf16") or flags.get("avx512_bf16"))


# the precisions a trained model predicts in: fp32, bfloat16 autocast, or auto (bf16 where the
# device runs it natively, else fp32). On this project's 2-core CPU (AMX) bf16 takes half the
# network's time, and the shipped model's stroke F1 moved by at most 0.002 (benchmarks/RESULTS.md)
INFERENCE_PRECISIONS = ("auto", "fp32", "bf16")


def inference_precision(precision: str, device: torch.device) -> str:
    """``fp32`` or ``bf16``: ``auto`` is bf16 where ``device`` runs it natively
    (:func:`native_bf16`), else fp32; the others are kept."""
    if precision not in INFERENCE_PRECISIONS:
        names = ", ".join(INFERENCE_PRECISIONS)
        raise ValueError(f"precision must be one of {names}, got {precision!r}")
    if precision != "auto":
        return precision
    return "bf16" if native_bf16(device) else "fp32"


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` runs bfloat16 natively: a CPU with bfloat16 instructions
    (:func:`cpu_has_bf16`) or a CUDA device of compute capability 8 or later
    (:func:`cuda_has_bf16`). What ``auto`` precision means, in training and inference alike."""
    if device.type == "cpu":
        return cpu_has_bf16()
    return device.type == "cuda" and cuda_has_bf16(device)


def cuda_has_bf16(device: torch.device) -> bool:
    """Whether a CUDA device runs bfloat16 natively: compute capability 8 (Ampere) or later, or a
    ROCm device. (``torch.cuda.is_bf16_supported()`` also says yes where it is emulated, as on a
    T4 or V100, and asks the current device rather than ``device``.)"""
    if getattr(torch.version, "hip", None):
        return True
    return torch.cuda.get_device_properties(device).major >= 8
