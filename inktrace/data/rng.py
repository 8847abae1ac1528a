"""Counter-based random numbers: every draw is a pure function of (seed, split, epoch, index, slot).

This is what makes sample ``k`` of epoch ``e`` bit-identical whatever the batch it is rendered in,
the DataLoader worker or process that renders it, or the device: there is no generator state to
share or to advance, only integer hashing (splitmix64 finalisers), which is exact everywhere.
"""

from __future__ import annotations

import math
from typing import cast

import torch

__all__ = ["Draws", "sample_keys", "seed_hash", "uniform_field", "normal_field"]

_M64 = (1 << 64) - 1


def _signed(v: int) -> int:
    """A uint64 constant as the int64 with the same bits (torch has no uint64 arithmetic)."""
    v &= _M64
    return v - (1 << 64) if v >= 1 << 63 else v


_C1 = _signed(0xBF58476D1CE4E5B9)
_C2 = _signed(0x94D049BB133111EB)
_GOLDEN = _signed(0x9E3779B97F4A7C15)


def _mix_int(z: int) -> int:
    """splitmix64 finaliser on a Python int (used for the scalar parts of a key)."""
    z &= _M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M64
    return z ^ (z >> 31)


def seed_hash(*values: int) -> int:
    """A 64-bit seed from several integers: the splitmix64 finaliser folded over them.

    The one way InkTrace derives a seed from (seed, epoch, step, ...): the per-sample keys here,
    and the trainer's per-epoch batch order and per-step MAE masks."""
    z = 0
    for v in values:
        z = _mix_int(z ^ (int(v) & _M64))
    return z


def _srl(z: torch.Tensor, k: int) -> torch.Tensor:
    """Logical right shift of int64 bits (torch's >> is arithmetic)."""
    return (z >> k) & ((1 << (64 - k)) - 1)


def _mix(z: torch.Tensor) -> torch.Tensor:
    """splitmix64 finaliser on int64 tensors; multiplication wraps modulo 2**64 on CPU and CUDA."""
    z = (z ^ _srl(z, 30)) * _C1
    z = (z ^ _srl(z, 27)) * _C2
    return z ^ _srl(z, 31)


def sample_keys(seed: int, stream: int, epoch: int, indices: torch.Tensor) -> torch.Tensor:
    """One int64 key per sample: (B,) from the scalar seed/stream/epoch and the sample indices."""
    base = seed_hash(seed + 0x51ED, stream + 0xA5A5, epoch + 0x1234567)
    return _mix(indices.to(torch.int64) * _GOLDEN + _signed(base))


def _uniform_from_bits(z: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    # 53 high-quality bits -> [0, 1) exactly representable in float64, then cast.
    return (_srl(z, 11).to(torch.float64) * (1.0 / (1 << 53))).to(dtype)


class Draws:
    """Hands out uniforms for a batch of samples, slot by slot, in the fixed order of the code.

    ``d.uniform(3, 2)`` returns (B, 3, 2) values in [0, 1); the slots it used are the next six
    of every sample's key, so a sample gets the same numbers in any batch. ``d.fork(tag)`` opens
    an independent sub-stream (used so that optional parts do not shift the slots of the rest).
    """

    def __init__(self, keys: torch.Tensor, dtype: torch.dtype = torch.float64) -> None:
        self.keys = keys
        self.dtype = dtype
        self.counter = 0
        self._buf: torch.Tensor | None = (
            None  # uniforms of slots _buf_start.. drawn ahead (see reserve)
        )
        self._buf_start = 0

    @property
    def batch(self) -> int:
        return self.keys.shape[0]

    def fork(self, tag: int) -> Draws:
        return Draws(_mix(self.keys ^ _signed(seed_hash(tag + 0xF0F0))), self.dtype)

    def _raw(self, start: int, n: int) -> torch.Tensor:
        """(B, n) uniforms of slots start..start+n-1 (each a pure function of key and slot)."""
        slots = torch.arange(start + 1, start + n + 1, device=self.keys.device, dtype=torch.int64)
        return _uniform_from_bits(_mix(self.keys[:, None] + slots[None, :] * _GOLDEN), self.dtype)

    def reserve(self, n: int) -> Draws:
        """Hash the next ``n`` slots in one go, for the draws that follow (a speed hint only: the
        numbers are the same with or without it, and draws past the reserved slots still work)."""
        off = self.counter - self._buf_start
        if self._buf is None or off < 0 or off + n > self._buf.shape[1]:
            self._buf = self._raw(self.counter, n)
            self._buf_start = self.counter
        return self

    def skip(self, n: int) -> None:
        """Pass over the next ``n`` slots (as a draw whose numbers are not needed would)."""
        self.counter += n

    def uniform(self, *shape: int, low: float = 0.0, high: float = 1.0) -> torch.Tensor:
        n = 1
        for s in shape:
            n *= s
        off = self.counter - self._buf_start
        if self._buf is not None and 0 <= off and off + n <= self._buf.shape[1]:
            u = self._buf[:, off : off + n]
        else:
            u = self._raw(self.counter, n)
        self.counter += n
        u = u.reshape(self.batch, *shape)
        return low + (high - low) * u if (low, high) != (0.0, 1.0) else u

    def choice(self, probs: list[float], *shape: int) -> torch.Tensor:
        """Integer categories with the given probabilities, shape (B, *shape)."""
        u = self.uniform(*shape)
        edges = torch.tensor(probs, dtype=self.dtype, device=self.keys.device).cumsum(0)
        edges = edges / edges[-1]
        return (u[..., None] >= edges[:-1]).sum(-1)

    def integers(self, low: int, high: int, *shape: int) -> torch.Tensor:
        """Uniform integers in [low, high], shape (B, *shape)."""
        return (low + (self.uniform(*shape) * (high - low + 1)).floor()).long().clamp(max=high)

    def log_uniform(self, low: float, high: float, *shape: int) -> torch.Tensor:
        """Values spread evenly in log scale between ``low`` and ``high`` (widths, scales)."""
        return torch.exp(math.log(low) + self.uniform(*shape) * math.log(high / low))


def _pixel_bits(keys: torch.Tensor, tag: int, height: int, width: int) -> torch.Tensor:
    """64 hashed bits per pixel and sample (B, H*W): the same for a sample in any batch."""
    sub = _mix(keys ^ _signed(seed_hash(tag + 0x7E57)))
    pix = torch.arange(height * width, device=keys.device, dtype=torch.int64)
    return _mix(sub[:, None] + (pix[None, :] + 1) * _GOLDEN)


def uniform_field(keys: torch.Tensor, tag: int, height: int, width: int) -> torch.Tensor:
    """Per-pixel uniforms in [0, 1), float32 (B, H, W), on the keys' device."""
    return _uniform_from_bits(_pixel_bits(keys, tag, height, width), torch.float32).reshape(
        -1, height, width
    )


def normal_field(keys: torch.Tensor, tag: int, height: int, width: int) -> torch.Tensor:
    """Per-pixel standard-normal-like noise, float32 (B, H, W): the Irwin-Hall sum of the four
    16-bit parts of one hash per pixel (mean 0, std 1, bounded by +-3.5)."""
    z = _pixel_bits(keys, tag, height, width)
    total = cast(torch.Tensor, sum(((z >> (16 * i)) & 0xFFFF).to(torch.float32) for i in range(4)))
    return ((total * (1.0 / 65536.0) - 2.0) * math.sqrt(3.0)).reshape(-1, height, width)
