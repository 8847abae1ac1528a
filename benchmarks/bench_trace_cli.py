#!/usr/bin/env python3
"""The full ``inktrace trace`` (read, predict, trace, write) on pages, as a user runs it: seconds
and peak resident memory of the process, each command in a fresh process.

Pages are held-out KanjiVG characters on ruled, noisy paper (inktrace.evaluation.pages):
A4 at 150 dpi (14 x 20 characters of 70 px: 1232 x 1760 px), A4 at 300 dpi (the same characters
at 140 px: 2464 x 3520 px), a 4000 x 3000 page (32 x 24 characters of 100 px) and a sparse one (a
block of 8 x 6 of them on exact white: blank tiles are not run); then a folder of
``--folder`` A4 150 dpi pages with ``--workers 1`` and ``--workers 2`` (their ratio), and a
12000 x 12000 white PNG, which must be refused from its header. Where ``taskset`` exists the
folder also runs with ``--workers 1`` held to one core, to show what the other cores give (with
``--workers 1`` the network's threads and the forked tracers already use every core). Peak
memory is the command's process's high-water resident set (VmHWM of /proc/PID/status, read every
20 ms until it exits: the exec'd process's own; wait4's ru_maxrss is not used, as Linux carries
the parent's peak into a forked child across exec). With --workers it is the main process's alone
(the workers' are read the same way and printed beside it). Prints the figures; asserts nothing.

``--precisions default,fp32`` traces each page once per precision (``default``: no flag, which is
``auto`` since issue 21; the others as ``inktrace trace --precision``).
``--against DIR`` also traces each page with the inktrace of another checkout (``git worktree add
DIR COMMIT``; run with PYTHONPATH=DIR), right after, and prints the ratio of the two times.

    python benchmarks/bench_trace_cli.py [--skip 300dpi,4000x3000] [--folder 4]
        [--precisions default,fp32] [--against /tmp/old]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
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
    "sparse": ("4000 x 3000, white with one block of ink", 8, 6, 100),
}
SPARSE = (3000, 4000)  # the sparse page's height and width: exact white around its block


def _page(columns: int, rows: int, size: int, seed: int) -> np.ndarray:
    files = choose_files("kanjivg", columns * rows, seed)
    samples = render_samples(files, size, seed)
    return compose_page(samples, list(range(columns * rows)), columns, seed=seed).image


def _save(path: Path, page: np.ndarray) -> tuple[int, int]:
    Image.fromarray((page * 255).round().astype(np.uint8)).save(path)
    return page.shape[1], page.shape[0]


def page_png(path: Path, columns: int, rows: int, size: int, seed: int) -> tuple[int, int]:
    return _save(path, _page(columns, rows, size, seed))


def sparse_png(path: Path, columns: int, rows: int, size: int, seed: int) -> tuple[int, int]:
    """A white page (a drawing program's, or a whitened scan's) with one block of characters on
    ruled, noisy paper at its top left, a twelfth of the page: most of its tiles are blank."""
    block = _page(columns, rows, size, seed)
    page = np.ones(SPARSE, np.float32)
    page[200 : 200 + block.shape[0], 300 : 300 + block.shape[1]] = block
    return _save(path, page)


def _hwm_mb(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        return None
    return None


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(c) for c in f.read().split()]
    except OSError:
        return []


def timed(args: list[str], against: str | None = None) -> tuple[float, float, int, str, float]:
    """(seconds, peak resident MB of the process, exit status, stderr's last line, the largest
    peak of its child processes) of one command (``against``: with that checkout's inktrace)."""
    env = dict(os.environ)
    if against:
        env["PYTHONPATH"] = against
    t0 = time.perf_counter()
    # run from the temporary folder: `python -m` puts the working directory first on sys.path,
    # where this checkout (the benchmark's own folder) would shadow PYTHONPATH's
    proc = subprocess.Popen(
        args,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tempfile.gettempdir(),
    )
    peak, child_peak = 0.0, {}
    while proc.poll() is None:
        peak = max(peak, _hwm_mb(proc.pid) or 0.0)
        for c in _children(proc.pid):
            child_peak[c] = max(child_peak.get(c, 0.0), _hwm_mb(c) or 0.0)
        time.sleep(0.02)
    seconds = time.perf_counter() - t0
    err = proc.stderr.read()
    last = err.strip().splitlines()[-1] if err.strip() else ""
    return seconds, peak, proc.returncode, last, max(child_peak.values(), default=0.0)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--skip", default="", help="comma-separated: 150dpi,300dpi,4000x3000,sparse,folder"
    )
    p.add_argument("--folder", type=int, default=4, help="pages in the --workers folder")
    p.add_argument(
        "--precisions",
        default="default",
        help="comma-separated: default (no --precision flag: auto since issue 21), fp32, bf16",
    )
    p.add_argument("--against", default=None, help="another checkout to time beside this one")
    args = p.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    trace = [sys.executable, "-m", "inktrace", "trace"]
    print(
        f"machine: {os.cpu_count()}-core CPU ({platform.machine()}), load average "
        f"{os.getloadavg()[0]:.1f} at the start"
    )
    against = " | seconds, --against | this ÷ against" if args.against else ""
    print(f"| what | size | seconds | peak resident MB | exit{against} |")
    print("|---|---|---|---|---|" + ("---|---|" if args.against else ""))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for key, (name, columns, rows, size) in PAGES.items():
            if key in skip:
                continue
            png = tmp / f"{key}.png"
            make = sparse_png if key == "sparse" else page_png
            w, h = make(png, columns, rows, size, seed=1)
            for precision in args.precisions.split(","):
                cmd = [*trace, str(png), "--output", str(tmp / "out")]
                if precision != "default":
                    cmd += ["--precision", precision]
                s, mb, rc, _, child = timed(cmd)
                extra = ""
                if args.against and precision == "default":
                    old = timed(cmd, args.against)[0]
                    extra = f" | {old:.1f} | {s / old:.3f}"
                label = f"trace, {name}" + (
                    f", --precision {precision}" if precision != "default" else ""
                )
                forked = f" (forked tracers ≤ {child:.0f})" if child else ""
                print(
                    f"| {label} | {w} x {h} | {s:.1f} | {mb:.0f}{forked} | {rc}{extra} |",
                    flush=True,
                )
        if "folder" not in skip:
            pages = tmp / "pages"
            pages.mkdir()
            for k in range(args.folder):
                w, h = page_png(pages / f"page{k}.png", 14, 20, 70, seed=10 + k)
            figures = {}
            core = min(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 0
            one_core = ["taskset", "-c", str(core)] if shutil.which("taskset") else None
            for workers in (1, 2) if one_core is None else (0, 1, 2):
                out = tmp / f"w{workers}"
                cmd = [*trace, str(pages), "--output", str(out), "--workers", str(max(workers, 1))]
                figures[workers] = timed(cmd if workers else [*(one_core or []), *cmd])
                if not workers:  # the same command held to one core (its affinity)
                    s, mb, rc = figures[0][:3]
                    print(
                        f"| trace --workers 1 on one core (taskset -c {core}), folder of "
                        f"{args.folder} A4 150 dpi pages | {w} x {h} | {s:.1f} | {mb:.0f} | {rc} |",
                        flush=True,
                    )
                    continue
                s, mb, rc, _, worker_mb = figures[workers]
                if workers > 1:
                    mb_text = f"{mb:.0f} (each worker up to {worker_mb:.0f})"
                else:
                    mb_text = f"{mb:.0f}"
                print(
                    f"| trace --workers {workers}, folder of {args.folder} A4 150 dpi pages "
                    f"| {w} x {h} | {s:.1f} | {mb_text} | {rc} |",
                    flush=True,
                )
            ratio = figures[1][0] / figures[2][0]
            print(f"| --workers 2 speed-up over --workers 1 | | {ratio:.2f}x | | |")
            if 0 in figures and figures[0][2] == 0:  # what the other cores give
                for workers in (1, 2):
                    ratio = figures[0][0] / figures[workers][0]
                    print(
                        f"| --workers {workers} on every core over --workers 1 on one core "
                        f"| | {ratio:.2f}x | | |"
                    )
        white = tmp / "white.png"
        Image.new("L", (12000, 12000), 255).save(white, optimize=True)
        s, mb, rc, last, _ = timed([*trace, str(white), "--output", str(tmp / "out")])
        print(
            f"| trace, white PNG refused ({white.stat().st_size // 1024} KB) | 12000 x 12000 "
            f"| {s:.2f} | {mb:.0f} | {rc} |"
        )
        print(f"\nrefusal: {last}")


if __name__ == "__main__":
    main()
