#!/usr/bin/env python3
"""The full ``inktrace trace`` (read, predict, trace, write) on pages, as a user runs it: seconds
and peak resident memory of the process, each command in a fresh process.

Pages are held-out KanjiVG characters on ruled, noisy paper (inktrace.evaluation.pages):
A4 at 150 dpi (14 x 20 characters of 70 px: 1232 x 1760 px), A4 at 300 dpi (the same characters
at 140 px: 2464 x 3520 px) and a 4000 x 3000 page (32 x 24 characters of 100 px); then a folder of
``--folder`` A4 150 dpi pages with ``--workers 1`` and ``--workers 2`` (their ratio), and a
12000 x 12000 white PNG, which must be refused from its header. Peak memory is the child's
maximum resident set (os.wait4; with --workers it is the largest of the processes). Prints the
figures; asserts nothing.

    python benchmarks/bench_trace_cli.py [--skip 300dpi,4000x3000] [--folder 4]
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from inktrace.evaluation import choose_files, render_samples
from inktrace.evaluation.pages import compose_page

PAGES = {  # --skip name -> (label, columns, rows, character px)
    "150dpi": ("A4 150 dpi", 14, 20, 70),
    "300dpi": ("A4 300 dpi", 14, 20, 140),
    "4000x3000": ("4000 x 3000", 32, 24, 100),
}


def page_png(path: Path, columns: int, rows: int, size: int, seed: int) -> tuple[int, int]:
    files = choose_files("kanjivg", columns * rows, seed)
    samples = render_samples(files, size, seed)
    page = compose_page(samples, list(range(columns * rows)), columns, seed=seed)
    Image.fromarray((page.image * 255).round().astype(np.uint8)).save(path)
    return page.image.shape[1], page.image.shape[0]


def timed(args: list[str]) -> tuple[float, float, int, str]:
    """(seconds, peak resident MB, exit status, stderr's last line) of one command."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    last = err.strip().splitlines()[-1] if err.strip() else ""
    return seconds, usage.ru_maxrss / 1024.0, proc.returncode, last


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--skip", default="", help="comma-separated: 150dpi,300dpi,4000x3000,folder")
    p.add_argument("--folder", type=int, default=4, help="pages in the --workers folder")
    args = p.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    trace = [sys.executable, "-m", "inktrace", "trace"]
    print(f"machine: 2-core CPU VM ({platform.machine()}), shared with a training job")
    print("| what | size | seconds | peak resident MB | exit |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for key, (name, columns, rows, size) in PAGES.items():
            if key in skip:
                continue
            png = tmp / f"{key}.png"
            w, h = page_png(png, columns, rows, size, seed=1)
            s, mb, rc, _ = timed([*trace, str(png), "--output", str(tmp / "out")])
            print(f"| trace, {name} | {w} x {h} | {s:.1f} | {mb:.0f} | {rc} |", flush=True)
        if "folder" not in skip:
            pages = tmp / "pages"
            pages.mkdir()
            for k in range(args.folder):
                w, h = page_png(pages / f"page{k}.png", 14, 20, 70, seed=10 + k)
            figures = {}
            for workers in (1, 2):
                out = tmp / f"w{workers}"
                cmd = [*trace, str(pages), "--output", str(out), "--workers", str(workers)]
                figures[workers] = timed(cmd)
                s, mb, rc, _ = figures[workers]
                print(
                    f"| trace --workers {workers}, folder of {args.folder} A4 150 dpi pages "
                    f"| {w} x {h} | {s:.1f} | {mb:.0f} | {rc} |",
                    flush=True,
                )
            ratio = figures[1][0] / figures[2][0]
            print(f"| --workers 2 speed-up over --workers 1 | | {ratio:.2f}x | | |")
        white = tmp / "white.png"
        Image.new("L", (12000, 12000), 255).save(white, optimize=True)
        s, mb, rc, last = timed([*trace, str(white), "--output", str(tmp / "out")])
        print(
            f"| trace, white PNG refused ({white.stat().st_size // 1024} KB) | 12000 x 12000 "
            f"| {s:.2f} | {mb:.0f} | {rc} |"
        )
        print(f"\nrefusal: {last}")


if __name__ == "__main__":
    main()
