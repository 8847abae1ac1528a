#!/usr/bin/env python3
"""Synthetic-data throughput: samples/s of the data engine at 64x64 (stages 0, 6, 9 by default).

On one CPU core (torch.set_num_threads(1)), for a few batch sizes, as the median of several
timed batches after a warm-up; then, when CUDA is present, with rendering on the GPU.
``--pens`` lists pen settings (data.pens, comma-separated) measured side by side, each with its
rate relative to the first; ``--cursive-fraction`` applies to all of them.
Prints a table; asserts nothing (machines are shared and noisy: compare figures of one run).

    python benchmarks/bench_data.py [--stages 0 6 9] [--batch-sizes 128 512] [--repeats 7]
        [--pens classic ballpoint,felt,brush,pencil] [--cursive-fraction 0.2]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from inktrace.data import SyntheticInk


def measure(ds: SyntheticInk, batch: int, repeats: int, sync=lambda: None) -> float:
    ds.render(range(batch))  # warm-up
    sync()
    times = []
    for r in range(repeats):
        start = (r + 1) * batch
        t = time.perf_counter()
        out = ds.render(range(start, start + batch))
        sync()
        times.append(time.perf_counter() - t)
        del out
    return batch / statistics.median(times)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--stages", type=int, nargs="+", default=[0, 6, 9])
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[128, 512])
    p.add_argument("--img-size", type=int, default=64)
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--pens", nargs="+", default=["classic"])
    p.add_argument("--cursive-fraction", type=float, default=0.0)
    args = p.parse_args()

    torch.set_num_threads(1)
    print(
        f"torch {torch.__version__}, one CPU thread, {args.img_size}x{args.img_size}, "
        f"median of {args.repeats}, cursive fraction {args.cursive_fraction:g}"
    )
    print(f"{'device':<8} {'stage':>5} {'batch':>6} {'pens':<28} {'samples/s':>10} {'ratio':>6}")
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    for device in devices:
        sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
        for stage in args.stages:
            for batch in args.batch_sizes:
                first = None
                for pens in args.pens:
                    ds = SyntheticInk(
                        stage,
                        10**7,
                        args.img_size,
                        seed=0,
                        device=device,
                        pens=pens.split(","),
                        cursive=args.cursive_fraction,
                    )
                    rate = measure(ds, batch, args.repeats, sync)
                    first = first or rate
                    print(
                        f"{device:<8} {stage:>5} {batch:>6} {pens:<28} {rate:>10.0f} "
                        f"{rate / first:>6.2f}",
                        flush=True,
                    )


if __name__ == "__main__":
    main()
