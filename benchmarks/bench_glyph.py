#!/usr/bin/env python3
"""Using a model on glyphs: milliseconds per 64 px glyph for predict and trace on ONE CPU core.

The issue's target for the shipped model: predict + trace under 10 ms per 64 px glyph on one
core. Glyphs are KanjiVG characters rendered by the engine (the evaluation's, clean) when the
``kanjivg`` extra is installed, else synthetic level-6 samples. Predict is timed one glyph per
call (latency) and in batches of 16 (throughput), with channels-last convolutions (the
Predictor's CPU default) and without; trace is ``inktrace.tracing.trace_prediction``. In fp32
and, where the CPU runs bfloat16 natively, in bf16 autocast (what ``inktrace trace`` runs there
by default). Prints a table; asserts nothing.

    python benchmarks/bench_glyph.py [--checkpoint CKPT] [--count 64] [--threads 1]
        [--precisions fp32,bf16]
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np
import torch

from inktrace.devices import cpu_has_bf16
from inktrace.errors import CheckpointError
from inktrace.inference import Predictor
from inktrace.model.net import InkTraceNet
from inktrace.pretrained import load_pretrained
from inktrace.tracing import trace_prediction


def glyphs(count: int) -> tuple[list[np.ndarray], str]:
    try:
        from inktrace.evaluation import choose_files, render_samples

        samples = render_samples(choose_files("kanjivg", count, 0), 64, 0)
        return list(samples.clean), f"{count} KanjiVG glyphs (evaluation seed 0, clean)"
    except Exception:  # noqa: BLE001 - no kanjivg extra: synthetic glyph-like samples instead
        from inktrace.data import SyntheticInk

        batch = SyntheticInk(6, count, 64, seed=0, split="val").render(range(count))
        return list(batch["image"][:, 0].numpy()), f"{count} synthetic level-6 samples"


def per_image_ms(fn, items, repeat: int = 3) -> float:
    fn(items[:2])  # warm-up
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn(items)
        best = min(best, time.perf_counter() - start)
    return 1000.0 * best / len(items)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", help="default: the shipped model")
    p.add_argument("--count", type=int, default=64)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument(
        "--precisions",
        default="fp32,bf16" if cpu_has_bf16() else "fp32",
        help="comma-separated: fp32 and/or bf16 (autocast; `inktrace trace`'s default where the "
        "CPU has bfloat16 instructions). Default: both where native, else fp32",
    )
    args = p.parse_args()
    for precision in args.precisions.split(","):
        if precision not in ("fp32", "bf16"):
            p.exit(2, f"bench_glyph.py: error: --precisions {args.precisions}: fp32 and/or bf16\n")
    if args.checkpoint:  # a bad file is one line and exit 2, before any timing
        try:
            InkTraceNet.load_from_checkpoint(args.checkpoint)
        except CheckpointError as exc:
            p.exit(2, f"bench_glyph.py: error: {exc}\n")
    torch.set_num_threads(args.threads)
    images, what = glyphs(args.count)
    print(
        f"{what}; {args.threads} thread(s); torch {torch.__version__}; "
        f"{platform.processor() or platform.machine()}"
    )

    def model():
        if args.checkpoint:
            return InkTraceNet.load_from_checkpoint(args.checkpoint)
        return load_pretrained()

    rows = []
    for precision in args.precisions.split(","):
        for channels_last in (True, False) if precision == "fp32" else (True,):
            settings = dict(device="cpu", channels_last=channels_last, precision=precision)
            one = Predictor(model(), batch_size=1, **settings)
            many = Predictor(model(), batch_size=16, **settings)
            single = per_image_ms(lambda ims, p=one: [p.predict_many([im]) for im in ims], images)
            batched = per_image_ms(many.predict_many, images)
            rows.append((precision, channels_last, single, batched))
    traced = {}
    for precision in dict.fromkeys(r[0] for r in rows):
        preds = Predictor(model(), device="cpu", batch_size=16, precision=precision).predict_many(
            images
        )
        trace = per_image_ms(lambda ps: [trace_prediction(x) for x in ps], preds)
        strokes = sum(len(trace_prediction(x)) for x in preds) / len(preds)
        traced[precision] = (trace, strokes)
    print(
        f"{'precision':<10} {'memory order':<15} {'predict 1/call':>15} {'predict 16/call':>16} "
        f"{'trace':>7}"
    )
    for precision, channels_last, single, batched in rows:
        name = "channels-last" if channels_last else "contiguous"
        trace = traced[precision][0]
        print(f"{precision:<10} {name:<15} {single:>12.2f} ms {batched:>13.2f} ms {trace:>4.2f} ms")
    for precision, channels_last, single, batched in rows:
        if channels_last:
            trace, strokes = traced[precision]
            print(
                f"predict + trace, {precision}, channels-last: {single + trace:.2f} ms per glyph "
                f"one at a time, {batched + trace:.2f} ms in batches of 16 ({strokes:.1f} strokes "
                "per glyph)"
            )


if __name__ == "__main__":
    main()
