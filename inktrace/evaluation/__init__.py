"""Evaluation on real stroke geometry (KanjiVG through the data engine): the model and a classical
baseline (Otsu + skeletonize + the same tracer), scored on the traced strokes.

    from inktrace.evaluation import choose_files, render_samples, evaluate, baseline_method
    samples = render_samples(choose_files("kanjivg", 200, seed=0), size=64, seed=0)
    evaluate(predictor, samples, "degraded")            # dict of metrics (runner.py)
    evaluate(baseline_method(), samples, "clean")       # needs scikit-image (the eval extra)
"""

from .baseline import NO_SKIMAGE, BaselineUnavailable, baseline_maps
from .baseline import available as baseline_available
from .matching import StrokeMatch, match_points, match_strokes, mean_distance, prf
from .report import format_table
from .runner import (
    Method,
    baseline_method,
    ceiling_method,
    evaluate,
    evaluate_all,
    model_method,
)
from .samples import (
    CONDITIONS,
    HELD_OUT_PEN,
    EvalSamples,
    choose_files,
    render_cursive,
    render_samples,
    seen_in_training,
)
from .topology import rasterise, topo_points

__all__ = [
    "CONDITIONS",
    "HELD_OUT_PEN",
    "ceiling_method",
    "EvalSamples",
    "choose_files",
    "render_cursive",
    "render_samples",
    "seen_in_training",
    "Method",
    "model_method",
    "baseline_method",
    "evaluate",
    "evaluate_all",
    "format_table",
    "StrokeMatch",
    "match_strokes",
    "match_points",
    "mean_distance",
    "prf",
    "rasterise",
    "topo_points",
    "baseline_maps",
    "baseline_available",
    "BaselineUnavailable",
    "NO_SKIMAGE",
]
