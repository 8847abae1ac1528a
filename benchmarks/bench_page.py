#!/usr/bin/env python3
"""Tracing a page: seconds and peak memory for one page of held-out KanjiVG characters, and its
stroke F1 per character box beside the same characters traced one by one.

The page is ``inktrace.evaluation.pages.compose_page``: ``--columns`` x ``--rows`` characters of
``--size`` px in boxes of 1.25 x that, on ruled, noisy paper (14 x 20 characters of 70 px make a
1232 x 1760 page, about A4 at 150 dpi). The page is predicted once by the shipped model (or
``--checkpoint``) and traced by ``inktrace.tracing.trace_prediction`` in one call; the same
characters are predicted and traced one by one on their own clean images. Prints the figures;
asserts nothing. Peak memory is the process's maximum resident set (Linux ru_maxrss), measured
after each step in order, so each figure includes the ones before it.

    python benchmarks/bench_page.py [--columns 14] [--rows 20] [--size 70] [--checkpoint CKPT]
"""

from __future__ import annotations

import argparse
import platform
import resource
import time

import torch

from inktrace.evaluation import choose_files, match_strokes, prf, render_samples
from inktrace.evaluation.pages import compose_page, score_page
from inktrace.evaluation.runner import STROKE_TOLERANCE
from inktrace.inference import Predictor
from inktrace.model.net import InkTraceNet
from inktrace.pretrained import load_pretrained
from inktrace.tracing import trace_prediction


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--columns", type=int, default=14)
    p.add_argument("--rows", type=int, default=20)
    p.add_argument("--size", type=int, default=70)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--checkpoint", default=None)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    count = args.columns * args.rows
    files = choose_files("kanjivg", count, args.seed)
    samples = render_samples(files, args.size, args.seed)
    page = compose_page(samples, list(range(count)), args.columns, seed=args.seed)
    model = (
        load_pretrained()
        if args.checkpoint is None
        else InkTraceNet.load_from_checkpoint(args.checkpoint)
    )
    predictor = Predictor(model, device="cpu")
    h, w = page.image.shape
    print(
        f"machine: 2-core CPU VM ({platform.machine()}), torch {torch.__version__}, "
        f"{args.threads} threads"
    )
    print(
        f"page: {w} x {h} px, {count} characters of {args.size} px, "
        f"{sum(len(s) for s in page.strokes)} true strokes"
    )
    base_mb = _peak_mb()
    t0 = time.perf_counter()
    result = predictor.predict_many([page.image])[0]
    t_predict = time.perf_counter() - t0
    predict_mb = _peak_mb()
    t0 = time.perf_counter()
    strokes = trace_prediction(result)
    t_trace = time.perf_counter() - t0
    trace_mb = _peak_mb()
    tolerance = STROKE_TOLERANCE * args.size / 64.0
    c = score_page(page, strokes, tolerance)
    page_p, page_r, page_f1 = prf(c["matched"], c["traced"], c["true"])
    one = {"matched": 0, "traced": 0, "true": 0}
    t_one = 0.0
    for k in range(count):
        t0 = time.perf_counter()
        r = predictor.predict_many([samples.clean[k]])[0]
        traced = trace_prediction(r)
        t_one += time.perf_counter() - t0
        m = match_strokes([s.points for s in traced], samples.strokes[k], tolerance)
        one["matched"] += m.matched
        one["traced"] += m.traced
        one["true"] += m.true
    one_p, one_r, one_f1 = prf(one["matched"], one["traced"], one["true"])
    print()
    print("| what | page in one call | characters one by one |")
    print("|---|---|---|")
    print(
        f"| stroke F1 (P / R) | {page_f1:.3f} ({page_p:.3f} / {page_r:.3f}) | "
        f"{one_f1:.3f} ({one_p:.3f} / {one_r:.3f}) |"
    )
    print(
        f"| traced / true strokes | {c['traced'] / c['true']:.2f} | "
        f"{one['traced'] / one['true']:.2f} |"
    )
    print(f"| seconds: predict + trace | {t_predict:.1f} + {t_trace:.1f} | {t_one:.1f} in all |")
    print(
        f"| peak resident MB (start {base_mb:.0f}) | predict {predict_mb:.0f}, "
        f"trace {trace_mb:.0f} | - |"
    )


if __name__ == "__main__":
    main()
