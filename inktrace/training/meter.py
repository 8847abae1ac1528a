"""What the steps produce, kept on the device between sync points, so that a GPU is never stalled
by the host inside the loop.

A step leaves its loss terms and gradient norm, the epoch's sample-weighted sums, and the
non-finite counters as device tensors; nothing is read back until a *sync point*: every
``logging.log_every_n_steps`` steps, at the end of each epoch's steps, and before an interrupt
checkpoint. There, one transfer brings everything to the host: the sums become the train state's
floats (computed in float64 in the same order as on the host, so they are bit-identical to
summing on the host), the counters are folded into the state, skipped steps are reported, and
the run stops if ``training.max_nonfinite_steps`` consecutive steps were non-finite. Whether a
step is applied is decided on the device (the fused AdamW's ``found_inf``; see optim.py), so a
non-finite gradient never reaches the weights, whenever it is noticed.

Callbacks get the step's values as a :class:`StepValues` mapping: reading it transfers them (a
callback that reads every step synchronises every step; the built-in ones read at sync points).

:class:`StepClock` measures the steps' time the same way: where an epoch's time goes (waiting for
data, the rest of the step), read once per epoch.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import torch

from .state import TrainState

__all__ = ["StepMeter", "StepValues", "StepClock"]


class StepValues(Mapping):
    """One step's loss terms and ``grad_norm``: device tensors, read as floats on first access
    (all at once). A skipped step's values are the non-finite ones that made it skip."""

    def __init__(self, tensors: dict[str, torch.Tensor]) -> None:
        self._tensors: dict[str, torch.Tensor] = tensors
        self._floats: dict[str, float] | None = None

    def _read(self) -> dict[str, float]:
        if self._floats is None:
            keys = list(self._tensors)
            values = torch.stack([self._tensors[k].double() for k in keys]).tolist()
            self._floats = dict(zip(keys, values))
        return self._floats

    def __getitem__(self, key: str) -> float:
        return self._read()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._tensors)

    def __len__(self) -> int:
        return len(self._tensors)


class StepMeter:
    """The device-side accounts of a run's steps (see the module docstring)."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.start(TrainState())

    def _int(self, value: int = 0) -> torch.Tensor:
        return torch.tensor(value, dtype=torch.int64, device=self.device)

    def start(self, state: TrainState) -> None:
        """Take the state's counters and this epoch's sums so far (from a checkpoint, or zero)."""
        # one float64 vector of sums and one of summed-step counts, in ``keys`` order: a step
        # adds to all its terms in a few kernels, not a few per term
        self.keys = list(state.epoch_sums)
        self.sums = torch.tensor(
            [state.epoch_sums[k] for k in self.keys], dtype=torch.float64, device=self.device
        )
        self.summed = torch.ones(len(self.keys), dtype=torch.int64, device=self.device)
        self.count = self._int(state.epoch_count)
        self.run = self._int(state.nonfinite_run)
        self.worst, self.skipped, self.bad = self.run.clone(), self._int(), self._int()

    def _align(self, keys: list[str]) -> None:
        """Make room for terms the sums have not seen yet (the first step of an epoch)."""
        new = [k for k in keys if k not in self.keys]
        if new:
            self.keys += new
            pad = torch.zeros(len(new), dtype=torch.float64, device=self.device)
            self.sums = torch.cat([self.sums, pad])
            self.summed = torch.cat([self.summed, pad.long()])

    def add(
        self,
        terms: Mapping[str, torch.Tensor],
        norm: torch.Tensor,
        found: torch.Tensor,
        fp16: bool,
        n: int,
    ) -> StepValues:
        """Account one step of ``n`` samples (of this rank). ``found`` (a device bool) says the
        optimizer skipped it. A non-finite loss, or (fp32/bf16) a non-finite gradient, is a
        failed step: it extends the non-finite run and is left out of the epoch's sums. In fp16 a
        finite loss with a non-finite gradient is the scaler's overflow: counted in
        ``skipped_steps``, summed (its infinite grad norm excepted), not a failure."""
        values = {k: v.detach() for k, v in terms.items()}
        values["grad_norm"] = norm.detach()
        loss_bad = ~torch.isfinite(values["total"])
        failed = loss_bad if fp16 else loss_bad | found
        self.run = torch.where(failed, self.run + 1, torch.zeros_like(self.run))
        self.worst = torch.maximum(self.worst, self.run)
        self.bad += failed
        if fp16:
            self.skipped += found & ~loss_bad
        kept = ~failed
        self.count += kept * n
        if list(values) != self.keys:
            self._align(list(values))
        nan = self.sums.new_tensor(float("nan"))  # a term this step lacks: not summed
        step = torch.stack([values[k].double() if k in values else nan for k in self.keys])
        ok = torch.isfinite(step) & kept
        self.sums = self.sums + torch.where(ok, step * n, 0.0)  # the host's order: bit-identical
        self.summed = self.summed + ok
        return StepValues(values)

    def read(self, state: TrainState) -> tuple[int, int]:
        """A sync point: fold everything into ``state``; returns (failed steps since the last
        one, the longest non-finite run since then)."""
        keys = self.keys
        counters = torch.stack([self.count, self.run, self.worst, self.skipped, self.bad])
        values = torch.cat([self.sums, self.summed.double(), counters.double()]).tolist()
        n = len(keys)
        # a term no step has summed yet (every step failed) is not a 0.0 mean: left out
        state.epoch_sums = {k: v for k, v, c in zip(keys, values[:n], values[n : 2 * n]) if c}
        count, run, worst, skipped, bad = (int(v) for v in values[2 * n :])
        state.epoch_count, state.nonfinite_run = count, run
        state.skipped_steps += skipped
        self.worst, self.skipped, self.bad = self.run.clone(), self._int(), self._int()
        return bad, worst


class StepClock:
    """Where an epoch's training time goes: waiting for data (``next`` on the loader) and the
    rest of each step (forward, backward, optimizer, callbacks). Logged per epoch as
    ``time/data`` and ``time/step`` (seconds per step) and ``time/data_share`` (data wait over
    the whole). On CUDA the clock synchronises once, when the means are read, so the step time
    holds the queued GPU work; it is never part of a checkpoint (it is not deterministic)."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.data = self.total = 0.0
        self.steps = 0
        self._mark: float | None = None

    @contextmanager
    def waiting(self) -> Iterator[None]:
        start = time.perf_counter()
        if self._mark is None:
            self._mark = start
        try:
            yield
        finally:
            self.data += time.perf_counter() - start

    def stepped(self) -> None:
        self.steps += 1

    def means(self) -> dict[str, float]:
        if not self.steps or self._mark is None:
            return {}
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        self.total = time.perf_counter() - self._mark
        return {
            "time/data": self.data / self.steps,
            "time/step": (self.total - self.data) / self.steps,
            "time/data_share": self.data / max(self.total, 1e-12),
        }
