"""What limits a stroke model's stroke F1, and the tracer settings that suit it.

    python benchmarks/stroke_signals.py CHECKPOINT [--size 64] [--count 200] [--skip 200]
        [--joins 1.5 1.8 2.0] [--min-lengths 1 3 4] [--sures 0.75 1.0 1.25]
        [--closings 0 1] [--conditions clean degraded drybrush]

Held-out KanjiVG characters that ``inktrace evaluate`` does not score: ``--count`` of them after
the first ``--skip`` (200, evaluate's default count) of the seed-0 choice, all within the
training's ``data.svg_holdout`` (1000: checked), clean and degraded (and with the held-out
pen, ``--conditions ... drybrush``):

- **signals**: the model's maps traced as they are, and with one or more of them replaced by the
  exact target (identity, stroke ends, the geometric maps): the rise says which map limits it;
- **joins**: the model's maps traced with each ``TraceOptions.identity_join``; the best one is
  the default for the shipped stroke model (chosen here, never on the evaluation's characters);
- **min lengths**: the same with each ``TraceOptions.min_length`` (the shortest stroke kept, px);
- **sures**: the same with each ``IDENTITY_SURE`` of ``inktrace/vectorize/joining.py`` (the
  embedding distance below which, or above ``2 * join`` minus which, the tracer trusts the
  embedding over the stroke-end map, and which bridges and overshoot tips use);
- **closings**: the same with each ``CLOSING`` of ``inktrace/inference/scale.py`` (the radius of
  the closing of the ink before its stroke width is measured, which sets the scale).
"""

from __future__ import annotations

import argparse

import numpy as np

from inktrace.data.svg import kanjivg_dir
from inktrace.evaluation.runner import Method, evaluate, exact_maps
from inktrace.evaluation.samples import choose_files, render_samples
from inktrace.inference import scale
from inktrace.inference.predictor import Predictor
from inktrace.vectorize import TraceOptions, joining, trace_maps

HOLDOUT = 1000  # data.svg_holdout of configs/pretrained*.yaml: the characters training never saw
SIGNALS = {
    "model": (),
    "+ exact identity": ("identity",),
    "+ exact ends": ("ends",),
    "+ exact geometry": ("skeleton", "keypoints", "tangent", "offset", "width"),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoint")
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--count", type=int, default=200, help="characters (after the evaluation's)")
    ap.add_argument("--skip", type=int, default=200, help="the evaluation's characters, skipped")
    ap.add_argument("--joins", type=float, nargs="+", default=[1.5, 1.8, 2.0, 2.2])
    ap.add_argument("--min-lengths", type=float, nargs="*", default=[])
    ap.add_argument("--sures", type=float, nargs="*", default=[])
    ap.add_argument("--closings", type=int, nargs="*", default=[])
    ap.add_argument("--conditions", nargs="+", default=["clean", "degraded"])
    ap.add_argument("--no-signals", action="store_true")
    args = ap.parse_args()
    if args.skip < 0 or args.count < 1 or args.skip + args.count > HOLDOUT:
        ap.error(f"--skip {args.skip} --count {args.count}: beyond the {HOLDOUT} held out")
    predictor = Predictor.from_checkpoint(args.checkpoint, device="cpu")
    files = choose_files(kanjivg_dir(), args.skip + args.count, 0)[args.skip :]
    samples = render_samples(files, args.size, seed=0, held_out="drybrush" in args.conditions)
    cache: dict[bytes, list[dict]] = {}

    def method(exact: tuple[str, ...], options: TraceOptions) -> Method:
        def predict(images: list[np.ndarray], targets: dict) -> list[dict]:
            # a chunk's images: predicted once for all variants of the tracer
            key = np.stack(images).tobytes() + bytes([scale.CLOSING])
            if key not in cache:
                cache[key] = [
                    {k: np.asarray(v) for k, v in p.maps.items()}
                    for p in predictor.predict_many(images)
                ]
            out = []
            for b, maps in enumerate(cache[key]):
                maps = dict(maps)
                if exact:
                    truth = exact_maps(targets, b)
                    maps.update({k: truth[k] for k in exact})
                out.append(maps)
            return out

        return Method("model", predict, lambda m: trace_maps(m, options))

    print(
        f"{args.size} px, {len(files)} held-out characters after the evaluation's; "
        f"stroke F1, traced / true strokes, extra fragments / cut, true strokes merged / lost"
    )
    for condition in args.conditions:
        rows = []
        if not args.no_signals:
            rows += [(name, exact, TraceOptions()) for name, exact in SIGNALS.items()]
        rows += [(f"identity_join {j:g}", (), TraceOptions(identity_join=j)) for j in args.joins]
        rows += [(f"min_length {n:g}", (), TraceOptions(min_length=n)) for n in args.min_lengths]
        sure, closing = joining.IDENTITY_SURE, scale.CLOSING  # the defaults, for all other rows
        settings = {f"sure {v:g}": (v, closing) for v in args.sures}
        settings |= {f"closing {v:d}": (sure, v) for v in args.closings}
        rows += [(name, (), TraceOptions()) for name in settings]
        for name, exact, options in rows:
            joining.IDENTITY_SURE, scale.CLOSING = settings.get(name, (sure, closing))
            r = evaluate(method(exact, options), samples, condition)
            print(
                f"{condition:<9} {name:<20} F1 {r['stroke_f1']:.3f}  ratio {r['count_ratio']:.3f}"
                f"  +frag {r['extra_fragment']:>4d} +cut {r['extra_cut']:>4d}"
                f"  -merg {r['missing_merged']:>4d} -lost {r['missing_lost']:>4d}",
                flush=True,
            )


if __name__ == "__main__":
    main()
