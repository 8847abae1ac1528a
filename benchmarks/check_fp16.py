#!/usr/bin/env python3
"""The fp16 path for real (CUDA only): a short DenseTrainer run in fp16 with one forced overflow
(an infinite gradient injected at one step). Prints whether the GradScaler skipped exactly that
step (weights, AdamW moments and step count unchanged by it, ``skipped_steps`` 1, the scale
halved), whether the LR schedule stayed a function of the global step, and the run's samples/s.

    python benchmarks/check_fp16.py [--config configs/default.yaml] [--steps 12] [--at 5]
"""

from __future__ import annotations

import argparse
import tempfile
import time

import torch

from inktrace import Config, DenseTrainer
from inktrace.training import Callback


class Probe(Callback):
    def __init__(self, at: int) -> None:
        self.at, self.rows = at, []

    def before_train(self) -> None:
        weight = self.trainer.model.stem[0].weight

        def hook(grad):
            if self.trainer.state.global_step == self.at:
                return grad * float("inf")
            return grad

        weight.register_hook(hook)

    def after_step(self, losses) -> None:
        t = self.trainer
        weight = t.model.stem[0].weight
        state = t.optimizer.state.get(weight, {})
        self.rows.append(
            (
                t.state.global_step - 1,
                weight.detach().clone(),
                float(state.get("step", torch.tensor(0.0))),
                t.scaler.get_scale(),
                t.optimizer.param_groups[0]["lr"],
                t.scheduler.factor(t.state.global_step) * t.scheduler.base_lrs[0],
            )
        )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", default="configs/default.yaml")
    p.add_argument("--steps", type=int, default=12)
    p.add_argument("--at", type=int, default=5)
    p.add_argument("--precision", default="fp16", help="fp32 on the CPU: a dry run of the check")
    args = p.parse_args()
    if args.precision == "fp16" and not torch.cuda.is_available():
        print("check_fp16: no CUDA device here; fp16 training needs one (--precision fp32 to try)")
        return
    probe = Probe(args.at)
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Config.from_yaml(
            args.config,
            stage="dense",
            overrides={
                "training.precision": args.precision,
                "system.device": "auto" if args.precision == "fp16" else "cpu",
                "training.epochs": 1,
                "data.train_size": args.steps * 128,
                "data.val_size": 128,
                "data.num_workers": 0,
                "data.render_on": "device",
                "init_from": "none",
                "checkpoint.save_dir": tmp,
                "logging.log_dir": tmp,
                "logging.log_every_n_steps": 1,
            },
        )
        trainer = DenseTrainer(cfg, verbose=False, callbacks=[probe])
        start = time.perf_counter()
        trainer.fit()
        seconds = time.perf_counter() - start
    rows = {r[0]: r for r in probe.rows}
    before, bad = rows[args.at - 1], rows[args.at]
    same_weight = torch.equal(before[1], bad[1])
    print(f"forced overflow at step {args.at}:")
    print(f"  weights unchanged by it: {same_weight}; AdamW step count {before[2]} -> {bad[2]}")
    print(f"  scale {before[3]} -> {bad[3]} (halved: {bad[3] == before[3] / 2})")
    expected = 1 if args.precision == "fp16" else 0  # fp32: a failed step, not an overflow
    print(f"  skipped_steps {trainer.state.skipped_steps} (expected {expected})")
    exact = all(abs(r[4] - r[5]) <= 1e-12 * max(1.0, abs(r[5])) for r in probe.rows)
    print(f"  LR a function of the global step at every step: {exact}")
    print(f"  {args.steps * 128 / seconds:.1f} samples/s over the run (validation included)")


if __name__ == "__main__":
    main()
