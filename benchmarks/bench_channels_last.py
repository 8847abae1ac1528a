#!/usr/bin/env python3
"""The shipped models' forward pass in channels-last memory against the contiguous layout: time
and how far the skeleton probabilities move, on images with much paper (a few lines on white),
fp32 and bf16 autocast. Channels-last is the Predictor's and the trainer's CPU default; PyTorch's
channels-last GroupNorm needed the shifts of inktrace/model/net.py (``ConvNormAct``,
``GroupNorm``) to agree with the contiguous layout. Prints a table; asserts nothing.

    python benchmarks/bench_channels_last.py [--threads 2] [--repeats 3]
"""

from __future__ import annotations

import argparse
import copy
import time

import numpy as np
import torch
from PIL import Image, ImageDraw

from inktrace.model import InkTraceNet
from inktrace.pretrained.files import pretrained_path


def lines(size: int, count: int, width: int) -> np.ndarray:
    """``count`` slanted lines ``width`` px wide on a white ``size`` px square."""
    im = Image.new("L", (size, size), 255)
    d = ImageDraw.Draw(im)
    for k in range(count):
        d.line([(20 + 50 * k, 20), (50 + 50 * k, size - 20)], fill=0, width=width)
    return np.asarray(im, np.float32) / 255.0


def timed(model: torch.nn.Module, x: torch.Tensor, bf16: bool, repeats: int) -> tuple:
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        out = model(x)["skeleton_logits"].float()
        best = float("inf")
        for _ in range(repeats):
            t = time.perf_counter()
            model(x)
            best = min(best, time.perf_counter() - t)
    return torch.sigmoid(out), best


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    cases = {
        "64 x 64 px, 64 glyph-like images": np.stack([lines(64, 1 + k % 2, 3) for k in range(64)]),
        "4 x 512 px, 1-4 lines each": np.stack([lines(512, c, 5) for c in (1, 2, 3, 4)]),
    }
    print(
        "| model | images | precision | contiguous ms | channels-last ms | max skeleton diff "
        "from fp32 contiguous: contiguous / channels-last |"
    )
    print("|---|---|---|---|---|---|")
    for name in ("inktrace-small", "inktrace-strokes"):
        path = pretrained_path() if name == "inktrace-small" else name
        plain = InkTraceNet.load_from_checkpoint(path).eval()
        cl = copy.deepcopy(plain).to(memory_format=torch.channels_last)
        for case, images in cases.items():
            x = torch.from_numpy(images[:, None])
            want = timed(plain, x, False, 0)[0]
            for bf16 in (False, True):
                a, ta = timed(plain, x, bf16, args.repeats)
                b, tb = timed(cl, x.to(memory_format=torch.channels_last), bf16, args.repeats)
                print(
                    f"| {name} | {case} | {'bf16' if bf16 else 'fp32'} | {1000 * ta:.0f} | "
                    f"{1000 * tb:.0f} | {float((a - want).abs().max()):.4f} / "
                    f"{float((b - want).abs().max()):.4f} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
