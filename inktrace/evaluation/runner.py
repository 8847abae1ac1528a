"""``evaluate``: one method (the model, or the classical baseline) on one set of samples, scored on
what it returns to a user (the traced strokes), and ``evaluate_all`` over sizes and conditions.

A method is two steps, timed separately: ``predict`` (images -> whatever ``trace`` needs) and
``trace`` (that -> strokes with ``points``/``widths``). For the model they are
``Predictor.predict_many`` and ``inktrace.tracing.trace_prediction``; for the baseline
``baseline_maps`` and ``trace_maps`` (baseline.py).

Metrics (sums of counts over the set, then ratios), with s = size / 64:
- skeleton ``precision``/``recall``/``f1``, ``centre_error`` (px) and ``spurs`` per image:
  ``InkMetrics`` (tolerance s px, spur radius ``kp_radius``) on the traced strokes rasterised as the
  targets are (topology.py), against the engine's exact targets;
- ``kp_precision``/``kp_recall``/``kp_f1``: the traced strokes' topological keypoints (topology.py)
  matched one-to-one to the true endpoints, junctions and crossings within ``kp_radius`` px;
- ``stroke_precision``/``stroke_recall``/``stroke_f1``: matching.match_strokes at 1.5 s px;
  ``count_ratio`` = traced strokes / true strokes;
- ``extra_fragment``, ``extra_cut``, ``extra_spurious``, ``missing_merged``, ``missing_cut``,
  ``missing_lost``: how the unmatched strokes split (matching.stroke_errors), summed over the set;
- ``predict_ms``, ``trace_ms``: wall time per image.

``ceiling_method`` is not a method a user has: it hands the tracer the engine's exact target maps
(and, for the stroke signals, the exact stroke ends and a perfect stroke-identity embedding: one
random vector per true stroke), so its row is the best any model can reach with this tracer.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..inference.pipeline import MapPredictor
from ..losses import IDENTITY_SLOTS
from ..metrics import InkMetrics
from ..model import IDENTITY_DIM
from ..tracing import trace_prediction
from ..vectorize import TraceOptions, trace_maps
from ..vectorize.redraw import centreline_maps
from .baseline import baseline_maps
from .matching import ERROR_KINDS, match_points, match_strokes, prf, stroke_errors
from .samples import CONDITIONS, HELD_OUT_PEN, EvalSamples
from .topology import topo_points

__all__ = [
    "Method",
    "model_method",
    "baseline_method",
    "ceiling_method",
    "exact_maps",
    "evaluate",
    "evaluate_all",
]

STROKE_TOLERANCE = 1.5  # px per 64 px
KP_RADIUS = 3.0  # px


@dataclass
class Method:
    """``predict(images, targets)``: the images of a chunk and the engine's targets of the same
    samples (a batch dict; only the ceiling reads them). ``conditions``: the only ones it is
    scored on (None: all)."""

    name: str
    predict: Callable[[list[np.ndarray], dict], list[Any]]
    trace: Callable[[Any], list]
    conditions: tuple[str, ...] | None = None


def model_method(
    predictor: MapPredictor, options: TraceOptions | None = None, name: str = "model"
) -> Method:
    return Method(
        name,
        lambda images, _: predictor.predict_many(images),
        lambda p: trace_prediction(p, options),
    )


def baseline_method(options: TraceOptions | None = None, name: str = "baseline") -> Method:
    return Method(
        name,
        lambda images, _: [baseline_maps(im) for im in images],
        lambda m: trace_maps(m, options),
    )


IDENTITY_NORM = 3.0  # length of the ceiling's per-stroke identity vectors, and their least distance


@functools.lru_cache(maxsize=1)
def _identity_rows() -> np.ndarray:
    """The exact identity map's embeddings (``_identity_table``), drawn once."""
    rng = np.random.default_rng(0)
    table = np.zeros((IDENTITY_SLOTS, IDENTITY_DIM))
    for k in range(1, IDENTITY_SLOTS):
        for _ in range(2_000):
            v = rng.normal(size=IDENTITY_DIM)
            v *= IDENTITY_NORM / np.linalg.norm(v)
            if k == 1 or np.linalg.norm(table[1:k] - v, axis=1).min() >= IDENTITY_NORM:
                break
        table[k] = v  # after 2,000 tries the last draw (from stroke 40 or so: rarely needed)
    return table


def _identity_table(count: int) -> np.ndarray:
    """``count`` embeddings for the exact identity map as the loss asks for them: row 0 (no
    stroke) zero, the others of length ``IDENTITY_NORM`` and at least ``IDENTITY_NORM`` apart
    (2 x the loss's push; kept for the first 40 or so strokes of an image), with a fixed seed.
    Ids beyond the loss's slots share its last row, as in the loss."""
    rows = _identity_rows()
    return rows[np.minimum(np.arange(count), IDENTITY_SLOTS - 1)]


def exact_maps(
    targets: dict, b: int, ends: bool = True, identity: bool = True
) -> dict[str, np.ndarray]:
    """Sample ``b``'s exact target maps in the form a model gives them (see ``ceiling_method``)."""
    names = ("skeleton", "keypoints", "tangent", "width", "offset") + (("ends",) if ends else ())
    maps = {k: targets[k][b].numpy() for k in names}
    if identity:
        ids = targets["stroke"][b].numpy().astype(np.int64)
        table = _identity_table(int(ids.max()) + 1)
        maps["identity"] = np.moveaxis(table[ids], -1, 0).astype(np.float32)
    return maps


def ceiling_method(
    options: TraceOptions | None = None,
    name: str = "ceiling",
    ends: bool = True,
    identity: bool = True,
    conditions: tuple[str, ...] | None = ("clean", HELD_OUT_PEN),
) -> Method:
    """The exact maps through the tracer (module docstring); ``ends``/``identity``: whether the
    stroke signals are handed over too. Not scored on ``degraded`` by default: its maps are the
    clean ones, so its row would repeat the clean row."""

    def predict(images: list[np.ndarray], targets: dict) -> list[dict]:
        return [exact_maps(targets, b, ends, identity) for b in range(len(images))]

    return Method(name, predict, lambda m: trace_maps(m, options), conditions)


def _truth_points(targets: dict, b: int) -> np.ndarray:
    pts = targets["points"][b, : int(targets["num_points"][b])]
    return pts[pts[:, 2] <= 2][:, :2].to(torch.float64).numpy()  # endpoint, junction, crossing


def evaluate(
    method: Method | MapPredictor,
    samples: EvalSamples,
    condition: str = "clean",
    kp_radius: float = KP_RADIUS,
    chunk: int = 32,
) -> dict[str, float]:
    """The metrics of the module docstring for ``method`` (a Predictor, PyTorch or ONNX, means
    the model) on the ``condition`` images of ``samples``."""
    if isinstance(method, MapPredictor):
        method = model_method(method)
    images, targets, true_strokes = samples.view(condition)
    s = samples.size / 64.0
    n, h, w = images.shape
    metrics = InkMetrics(tolerance=s, kp_radius=kp_radius)
    counts = dict.fromkeys(("kp_m", "kp_p", "kp_t", "st_m", "st_p", "st_t", *ERROR_KINDS), 0)
    t_predict = t_trace = 0.0
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        batch = {k: v[start:stop] for k, v in targets.items()}
        t0 = time.perf_counter()
        results = method.predict([images[b] for b in range(start, stop)], batch)
        t_predict += time.perf_counter() - t0
        traced = []
        for b, result in zip(range(start, stop), results):
            t0 = time.perf_counter()
            strokes = method.trace(result)
            t_trace += time.perf_counter() - t0
            traced.append(strokes)
            polys = [st.points for st in strokes]
            pred_kp, true_kp = topo_points(strokes, h, w), _truth_points(targets, b)
            counts["kp_m"] += match_points(pred_kp, true_kp, kp_radius)
            counts["kp_p"] += len(pred_kp)
            counts["kp_t"] += len(true_kp)
            m = match_strokes(polys, true_strokes[b], STROKE_TOLERANCE * s)
            counts["st_m"] += m.matched
            counts["st_p"] += m.traced
            counts["st_t"] += m.true
            errors = stroke_errors(polys, true_strokes[b], STROKE_TOLERANCE * s, m, samples.size)
            for kind, n_err in errors.items():
                counts[kind] += n_err
        pred = {k: torch.from_numpy(v) for k, v in centreline_maps(traced, h, w).items()}
        metrics.update(pred, batch)
    sk = metrics.compute()
    kp = prf(counts["kp_m"], counts["kp_p"], counts["kp_t"])
    st = prf(counts["st_m"], counts["st_p"], counts["st_t"])
    return {
        "precision": sk["precision"],
        "recall": sk["recall"],
        "f1": sk["f1"],
        "centre_error": sk["centre_error"],
        "spurs": sk["spurs"],
        "kp_precision": kp[0],
        "kp_recall": kp[1],
        "kp_f1": kp[2],
        "stroke_precision": st[0],
        "stroke_recall": st[1],
        "stroke_f1": st[2],
        "count_ratio": counts["st_p"] / counts["st_t"] if counts["st_t"] else float("nan"),
        **{kind: counts[kind] for kind in ERROR_KINDS},
        "predict_ms": 1000.0 * t_predict / n,
        "trace_ms": 1000.0 * t_trace / n,
        "images": n,
    }


def evaluate_all(
    methods: Sequence[Method],
    sets: Sequence[EvalSamples],
    conditions: Sequence[str] = CONDITIONS,
    progress: Callable[[str], None] | None = None,
) -> list[dict]:
    """One row per (size, condition, method): ``{"method", "size", "condition", **metrics}``
    (a condition the samples were not rendered for is left out)."""
    rows = []
    for samples in sets:
        for condition in (c for c in conditions if c in samples.conditions()):
            for method in methods:
                if method.conditions is not None and condition not in method.conditions:
                    continue
                if progress:
                    progress(f"{method.name} at {samples.size} px, {condition}")
                row = {"method": method.name, "size": samples.size, "condition": condition}
                rows.append(row | evaluate(method, samples, condition))
    return rows
