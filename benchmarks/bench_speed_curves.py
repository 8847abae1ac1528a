#!/usr/bin/env python3
"""Training speed at equal learning: the quickstart's dense stage under each step setting.

Issue 18 asks for the quickstart model's CPU training throughput against the setting the trainer
used before (contiguous memory, fp32) *at equal loss after the same number of samples*: a faster
step that learns less per sample is no gain. Each variant trains the same run (the packaged
quickstart config, stage dense from fresh weights, same seed, so the same samples in the same
order) and the script prints, side by side:

- seconds of training per epoch (the step and the data wait; validation excluded), samples/s, and
  the ratio to the first variant, and the data wait's share of the training time;
- the training loss and the validation loss and val/f1 after each epoch, so the curves can be
  compared at equal samples.

Variants run in turn, rotated from repeat to repeat (``--repeats``); seconds are medians over the
repeats, losses are from the last repeat (a run is deterministic on one machine, so they repeat).

    python benchmarks/bench_speed_curves.py                      # 4 epochs x 2048, 2 repeats
    python benchmarks/bench_speed_curves.py --epochs 8 --variants contiguous,channels-last
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from inktrace import Config
from inktrace.training import batches
from inktrace.training.stages import DenseTrainer

# name -> (system.channels_last, training.precision, data.num_workers, data.prefetch, samples
# of 64 px rendered in one pass without workers: batches.GROUP_PIXELS / 64^2, 0 = each batch alone)
VARIANTS = {
    "contiguous": (False, "fp32", 0, 0, 0),  # the trainer's CPU default before issue 18
    "channels-last-alone": (True, "fp32", 0, 0, 0),  # channels-last, each batch rendered alone
    "channels-last-group64": (True, "fp32", 0, 0, 64),  # the CPU default before bf16
    "channels-last": (True, "fp32", 0, 0, 256),
    "channels-last-bf16": (True, "bf16", 0, 0, 256),  # today's default on a CPU with bf16
    "channels-last-1-worker": (True, "fp32", 1, 0, 64),  # rendering in a process beside the step
    "channels-last-prefetch": (True, "fp32", 0, 1, 64),  # rendering in a thread beside the step
}


def run(name: str, epochs: int, train_size: int, root: Path) -> dict:
    channels_last, precision, workers, prefetch, group = VARIANTS[name]
    batches.GROUP_PIXELS = group * 64 * 64
    folder = root / name
    cfg = Config.from_yaml(
        "quickstart",
        stage="dense",
        overrides={
            "training.epochs": epochs,
            "training.precision": precision,
            "system.channels_last": channels_last,
            "system.compile": False,
            "data.train_size": train_size,
            "data.num_workers": workers,
            "data.prefetch": prefetch,
            "curriculum.epochs_per_stage": 1,
            "checkpoint.save_dir": str(folder / "ck"),
            "logging.log_dir": str(folder / "runs"),
            "logging.progress_bar": False,
            "visualization.enabled": False,
            "init_from": "none",
        },
    )
    start = time.perf_counter()
    DenseTrainer(cfg, verbose=False).fit()
    wall = time.perf_counter() - start
    log = json.loads((folder / "runs" / "dense" / "training_log.json").read_text())
    h = log["training_history"]
    steps = -(-train_size // cfg.training.batch_size)
    train_s = [steps * (s + d) for s, d in zip(h["time/step"], h["time/data"])]
    return {
        "wall": wall,
        "train_s": train_s,
        "loss": h["train/loss"],
        "val_loss": h["val/loss"],
        "f1": h["val/f1"],
        "kp": h["val/kp_topo_recall"],
        "level": h["curriculum_stage"],
        "data_share": h["time/data_share"],
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--train-size", type=int, default=2048)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--variants", default=",".join(VARIANTS))
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: all)")
    args = p.parse_args(argv)
    names = [n.strip() for n in args.variants.split(",") if n.strip()]
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        p.error(f"--variants: unknown {', '.join(unknown)} (known: {', '.join(VARIANTS)})")
    if args.threads:
        torch.set_num_threads(args.threads)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads; quickstart dense, "
        f"{args.epochs} epochs x {args.train_size} samples, {args.repeats} repeat(s)",
        flush=True,
    )
    results: dict[str, list[dict]] = {n: [] for n in names}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeats):
            order = names[r % len(names) :] + names[: r % len(names)]
            for name in order:
                out = run(name, args.epochs, args.train_size, Path(tmp) / f"r{r}")
                results[name].append(out)
                print(
                    f"  repeat {r + 1} {name}: {sum(out['train_s']):.1f} s training, "
                    f"{out['wall']:.1f} s wall",
                    flush=True,
                )
    base = statistics.median(sum(o["train_s"]) for o in results[names[0]])
    print("\n| variant | training s (median) | samples/s | ÷ " + names[0] + " | data wait |")
    print("|---|---|---|---|---|")
    for name in names:
        secs = statistics.median(sum(o["train_s"]) for o in results[name])
        rate = args.epochs * args.train_size / secs
        share = statistics.median(x for o in results[name] for x in o["data_share"])
        print(f"| {name} | {secs:.1f} | {rate:.1f} | {base / secs:.3f} | {100 * share:.1f} % |")
    print("\nAfter each epoch (same samples in the same order): train loss / val loss / val f1")
    print("| epoch | level | " + " | ".join(names) + " |")
    print("|---|---|" + "---|" * len(names))
    last = {n: results[n][-1] for n in names}
    for e in range(args.epochs):
        cells = [
            f"{last[n]['loss'][e]:.3f} / {last[n]['val_loss'][e]:.3f} / {last[n]['f1'][e]:.3f}"
            for n in names
        ]
        print(f"| {e + 1} | {last[names[0]]['level'][e]} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
