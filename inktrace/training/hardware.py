"""The hardware side of a run: its device, precision and speed settings, chosen by objects
rather than by ``if``s inside the loop (timm style). (Choosing a device by name for training and
inference alike is ``inktrace/devices.py``; the optimizer step is ``optim.py``.)

- :func:`resolve_device`: ``auto`` is CUDA when available, else the CPU.
- :func:`resolve_precision`: ``auto`` is bf16 on CUDA when supported, fp16 otherwise; on the CPU
  bf16 where the CPU has bfloat16 instructions (:func:`cpu_has_bf16`: AMX-BF16 or AVX512-BF16, where
  the quickstart trains 1.10x faster to the same figures), else fp32; fp16 on the CPU is refused.
- :func:`resolve_speed`: the step's speed settings (``training.precision``,
  ``system.channels_last``, ``system.compile``) with every ``auto`` decided for the device, each
  where it was measured faster (benchmarks/RESULTS.md): channels-last on the CPU, no compile.
  A resumed run takes the values its checkpoint recorded (``"resolved"``) for the keys still
  ``auto``, so it continues with the same step; a checkpoint from before that record
  (:func:`unrecorded`) resumes with what ``auto`` meant when it was written.
- :func:`autocast`: the forward pass's context (a no-op for fp32); :func:`to_device` a batch.
- :func:`compiled`: ``torch.compile`` of the training forward (``system.compile``), which falls
  back to eager execution, with a note, when compiling fails.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from ..devices import cpu_has_bf16, native_bf16, resolve_device
from ..errors import ConfigError

__all__ = [
    "setup_device",
    "resolve_device",
    "resolve_precision",
    "resolve_speed",
    "SPEED_KEYS",
    "unrecorded",
    "cpu_has_bf16",
    "autocast",
    "to_device",
    "compiled",
]

_DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16}


def setup_device(system: Any, precision: str) -> tuple[torch.device, str]:
    """The device and resolved precision of a config's ``system`` section and
    ``training.precision``; applies the section's thread count and determinism."""
    device = resolve_device(system.device)
    if system.num_threads:
        torch.set_num_threads(system.num_threads)
    if system.deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
    return device, resolve_precision(precision, device)


# the settings whose ``auto`` depends on the device, in the order the banner shows them
SPEED_KEYS = ("training.precision", "system.channels_last", "system.compile")


def unrecorded(device: torch.device) -> dict[str, Any]:
    """What ``auto`` meant on ``device`` before checkpoints recorded it (``"resolved"``): fp32 on
    the CPU (CUDA's choice has not changed); the other keys are decided afresh."""
    return {"training.precision": "fp32"} if device.type == "cpu" else {}


def _auto(key: str, device: torch.device) -> Any:
    """What ``auto`` means for ``key`` on ``device``: what was measured faster there."""
    if key == "training.precision":
        return resolve_precision("auto", device)
    if key == "system.channels_last":  # CPU: 1.39x (bench_model.py); GPUs: not measured yet
        return device.type == "cpu"
    return False  # compile: minutes of compiling on a 2-core CPU; GPUs: not measured yet


def _valid(key: str, value: Any) -> bool:
    if key == "training.precision":
        return value in ("fp32", "fp16", "bf16")
    return isinstance(value, bool)


def resolve_speed(
    config: Any, device: torch.device, stored: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """``{key: value}`` for :data:`SPEED_KEYS`: the config's value, or for ``auto`` the value
    ``stored`` (a resumed checkpoint's ``"resolved"``, or :func:`unrecorded` for one without)
    recorded, else the device's default.
    A stored value this device cannot run (fp16 on the CPU) is decided afresh."""
    stored = stored if isinstance(stored, Mapping) else {}
    out = {}
    for key in SPEED_KEYS:
        value = config.get(key)
        if value == "auto":
            old = stored.get(key)
            usable = _valid(key, old) and not (old == "fp16" and device.type != "cuda")
            value = old if usable else _auto(key, device)
        out[key] = resolve_precision(value, device) if key == "training.precision" else value
    return out


def resolve_precision(precision: str, device: torch.device) -> str:
    if precision == "auto":
        if native_bf16(device):
            return "bf16"
        return "fp16" if device.type == "cuda" else "fp32"  # no fp16 autocast on the CPU
    if precision == "fp16" and device.type != "cuda":
        raise ConfigError(
            "training.precision: fp16 needs a CUDA device (use fp32 or bf16 on the CPU)"
        )
    return precision


def autocast(device: torch.device, precision: str) -> torch.autocast:
    dtype = _DTYPES.get(precision)
    return torch.autocast(device_type=device.type, dtype=dtype, enabled=dtype is not None)


def to_device(batch: Mapping[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    non_blocking = device.type == "cuda"
    return {k: v.to(device, non_blocking=non_blocking) for k, v in batch.items()}


class _CompiledOrEager:
    """Calls the compiled module; the first time that fails (no compiler, an unsupported op ...)
    says so once and calls the eager module from then on."""

    def __init__(self, module: torch.nn.Module, note: Any) -> None:
        self.eager, self.note, self.failed = module, note, False
        self.compiled = torch.compile(module)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if not self.failed:
            try:
                return self.compiled(*args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - any compiler failure: run eagerly instead
                self.failed = True
                first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                self.note(f"torch.compile failed ({type(exc).__name__}: {first[:160]}); eager")
        return self.eager(*args, **kwargs)


def compiled(module: torch.nn.Module, enabled: bool, note: Any) -> Any:
    """``module`` itself, or with ``enabled`` its compiled form falling back to it (see above)."""
    if not enabled:
        return module
    try:
        return _CompiledOrEager(module, note)
    except Exception as exc:  # noqa: BLE001 - torch.compile itself refused (e.g. unsupported)
        note(f"torch.compile unavailable ({type(exc).__name__}: {exc}); eager")
        return module
