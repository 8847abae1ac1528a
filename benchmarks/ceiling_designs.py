"""The tracer's ceiling: the exact target maps of held-out KanjiVG characters through the tracer,
with the geometric rule alone and with each stroke signal (issue 19's two designs).

    python benchmarks/ceiling_designs.py [--count 200] [--sizes 64 128 256]

Prints stroke F1, traced / true strokes and the error split per variant and size.
"""

from __future__ import annotations

import argparse

from inktrace.data.svg import kanjivg_dir
from inktrace.evaluation.runner import ceiling_method, evaluate
from inktrace.evaluation.samples import choose_files, render_samples

VARIANTS = {
    "geometry only": dict(ends=False, identity=False),
    "ends": dict(ends=True, identity=False),
    "identity": dict(ends=False, identity=True),
    "ends + identity": dict(ends=True, identity=True),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=200)
    ap.add_argument("--sizes", type=int, nargs="+", default=[64, 128, 256])
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    files = choose_files(kanjivg_dir(), args.count, args.seed)
    print(
        f"{'size':>4}  {'variant':<16} {'stroke F1':>9} {'ratio':>6} {'fragments':>9} "
        f"{'cut':>5} {'merged':>6} {'missed':>6}"
    )
    for size in args.sizes:
        samples = render_samples(files, size, seed=args.seed)
        for name, signals in VARIANTS.items():
            r = evaluate(ceiling_method(**signals), samples, "clean")
            print(
                f"{size:>4}  {name:<16} {r['stroke_f1']:>9.3f} {r['count_ratio']:>6.3f} "
                f"{r['extra_fragment']:>9d} {r['extra_cut']:>5d} {r['missing_merged']:>6d} "
                f"{r['missing_cut'] + r['missing_lost']:>6d}"
            )


if __name__ == "__main__":
    main()
