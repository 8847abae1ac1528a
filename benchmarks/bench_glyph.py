#!/usr/bin/env python3
"""Using a model on glyphs: milliseconds per 64 px glyph for predict and trace on ONE CPU core.

The issue's target for the shipped model: predict + trace under 10 ms per 64 px glyph on one
core. Glyphs are KanjiVG characters rendered by the engine (the evaluation's, clean) when the
``kanjivg`` extra is installed, else synthetic level-6 samples. Predict is timed one glyph per
call (latency) and in batches of 16 (throughput), with channels-last convolutions (the
Predictor's CPU default) and without; trace is ``inktrace.tracing.trace_prediction``. Prints a
table; asserts nothing.

    python benchmarks/bench_glyph.py [--checkpoint CKPT] [--count 64] [--threads 1]
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np
import torch

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
    args = p.parse_args()
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
    for channels_last in (True, False):
        one = Predictor(model(), device="cpu", batch_size=1, channels_last=channels_last)
        many = Predictor(model(), device="cpu", batch_size=16, channels_last=channels_last)
        single = per_image_ms(lambda ims, p=one: [p.predict_many([im]) for im in ims], images)
        batched = per_image_ms(many.predict_many, images)
        rows.append((channels_last, single, batched))
    preds = Predictor(model(), device="cpu", batch_size=16).predict_many(images)
    trace = per_image_ms(lambda ps: [trace_prediction(x) for x in ps], preds)
    strokes = sum(len(trace_prediction(x)) for x in preds) / len(preds)
    print(f"{'memory order':<15} {'predict 1/call':>15} {'predict 16/call':>16} {'trace':>7}")
    for channels_last, single, batched in rows:
        name = "channels-last" if channels_last else "contiguous"
        print(f"{name:<15} {single:>12.2f} ms {batched:>13.2f} ms {trace:>4.2f} ms")
    best = rows[0]
    print(
        f"predict + trace, channels-last: {best[1] + trace:.2f} ms per glyph one at a time, "
        f"{best[2] + trace:.2f} ms in batches of 16 ({strokes:.1f} strokes per glyph)"
    )


if __name__ == "__main__":
    main()
