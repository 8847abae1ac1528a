#!/usr/bin/env python3
"""PyTorch against onnxruntime for the same model: milliseconds per 64 px glyph and seconds per
page for predict (scaling, tiling and blending included: the Predictor and the OnnxPredictor),
side by side in one run, on ``--threads`` CPU threads. The glyphs are synthetic level-6 samples;
the page is a grid of them, ``--page`` px square, at scale 1. Prints a table; asserts nothing.

    python benchmarks/bench_onnx.py [--checkpoint CKPT] [--count 32] [--page 1024] [--threads 1]
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from inktrace.data import SyntheticInk
from inktrace.deploy.export import export_onnx
from inktrace.deploy.runtime import OnnxNet, OnnxPredictor
from inktrace.inference import Predictor
from inktrace.model.net import InkTraceNet
from inktrace.pretrained import pretrained_path


def best_of(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", default=str(pretrained_path()))
    p.add_argument("--count", type=int, default=32)
    p.add_argument("--page", type=int, default=1024)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    glyphs = list(
        SyntheticInk(6, args.count, 64, seed=0, split="val")
        .render(range(args.count))["image"][:, 0]
        .numpy()
    )
    side = args.page // 64
    page = np.ones((args.page, args.page), np.float32)
    for i in range(side * side):
        y, x = divmod(i, side)
        page[y * 64 : y * 64 + 64, x * 64 : x * 64 + 64] = glyphs[i % len(glyphs)]
    with tempfile.TemporaryDirectory() as tmp:
        onnx_file = Path(tmp) / "model.onnx"
        export_onnx(args.checkpoint, onnx_file)
        net = OnnxNet(onnx_file, threads=args.threads)
        model = InkTraceNet.load_from_checkpoint(args.checkpoint)
        backends = {
            "pytorch (channels-last)": Predictor(model, device="cpu", scale=1.0),
            "onnxruntime": OnnxPredictor(net, scale=1.0),
        }
        rows = []
        for name, predictor in backends.items():
            glyph = best_of(lambda p=predictor: [p.predict(g) for g in glyphs], args.repeats)
            whole = best_of(lambda p=predictor: p.predict(page), args.repeats)
            rows.append((name, 1000 * glyph / len(glyphs), whole))
    print(f"machine: {platform.processor() or platform.machine()}, {args.threads} thread(s)")
    print(f"{'backend':<26}{'ms / 64 px glyph':>18}{f's / {args.page} px page':>20}")
    for name, glyph, whole in rows:
        print(f"{name:<26}{glyph:>18.2f}{whole:>20.2f}")
    base = rows[0]
    for name, glyph, whole in rows[1:]:
        print(
            f"{name} / pytorch: glyph {glyph / base[1]:.2f}x the time, page {whole / base[2]:.2f}x"
        )


if __name__ == "__main__":
    main()
