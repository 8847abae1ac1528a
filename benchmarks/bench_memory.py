#!/usr/bin/env python3
"""Memory over a run: the process's resident memory (and, on a GPU, the allocator's peak) after
each of 10 epochs of the debug config, through a callback. A trainer that leaks (histories of
tensors, graphs kept alive, growing caches) grows every epoch; prints the figures and the growth
from epoch 2 to the last (the first epoch allocates the caches); asserts nothing.

    python benchmarks/bench_memory.py [--config configs/default.yaml] [--stage debug]
        [--epochs 10] [--device cpu]
"""

from __future__ import annotations

import argparse
import os
import tempfile

import torch

from inktrace import Config, DenseTrainer
from inktrace.training import Callback


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


class Memory(Callback):
    def __init__(self) -> None:
        self.rows: list[tuple[int, float, float | None]] = []

    def after_epoch(self, metrics) -> None:
        device = self.trainer.device
        gpu = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None
        self.rows.append((self.trainer.state.epoch, rss_mb(), gpu))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", default="configs/default.yaml")
    p.add_argument("--stage", default="debug")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--device", default="cpu")
    args = p.parse_args()
    memory = Memory()
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Config.from_yaml(
            args.config,
            stage=args.stage,
            overrides={
                "training.epochs": args.epochs,
                "checkpoint.save_dir": tmp,
                "logging.log_dir": tmp,
                "system.device": args.device,
            },
        )
        DenseTrainer(cfg, init_from=None, verbose=False, callbacks=[memory]).fit()
    print(f"{args.config} stage {args.stage}, {args.epochs} epochs, {args.device}")
    print("epoch  RSS MB  GPU peak MB")
    for epoch, rss, gpu in memory.rows:
        print(f"{epoch + 1:>5} {rss:7.1f} {'' if gpu is None else f'{gpu:12.1f}'}")
    if len(memory.rows) > 2:
        first, last = memory.rows[1], memory.rows[-1]
        print(f"RSS growth epoch 2 -> {last[0] + 1}: {last[1] - first[1]:+.1f} MB")


if __name__ == "__main__":
    main()
