"""``inktrace.trace``: the vector strokes of an image in one call (a Predictor, then trace_maps).

    import inktrace
    strokes = inktrace.trace("scan.png", model="checkpoints/dense/best.ckpt")
    strokes = inktrace.trace(array, model=predictor, max_turn=30)   # TraceOptions fields

(The module is ``tracing`` so that the package attribute ``inktrace.trace`` stays the function.)

Resolution. The Predictor gives the maps at the input's resolution. Where it shrank the image
(scale < 1, strokes wider than 5 px) the network's 1 px skeleton comes back as a band about
1 / scale px wide, too wide for the suppression across the stroke: a drawing of 4 strokes at 3x
traced at the input's resolution gave 5 strokes (exact maps) and 5-6 (the quickstart model).
Those maps are therefore traced at the size the network saw (``Prediction.model_size``): the
network's own maps, ``Prediction.model_maps`` (since December 2026; before, the input-sized maps
resampled back, which cost a 4000 x 3000 page shrunk to 0.82 about 2 s and blurred them twice),
or the input-sized ones resampled back where a Prediction lacks them; then the points and widths
are scaled back to input pixels: the same drawing at 1x, 2x
and 3x then gives the same 4 strokes, whose points lie 0.04 px (exact maps; tests/
test_trace_cli.py) and 0.09-0.27 px (quickstart model) from the 1x strokes once divided by k.
Where the image was kept or enlarged (scale >= 1) the input's resolution is the finer one and is
traced as it is (enlarged maps resampled back up traced worse). The lengths of the TraceOptions
that decide the strokes (spur_min, corner_snap, min_length) are in the pixels traced: the model's
where the image was shrunk, so they scale with the drawing. The ``tolerance`` of the fitted
polyline is how far the output may stray, so it is in input pixels: divided by the factor where
the image was shrunk (since December 2026; before, 0.3 model px let a glyph drawn at 256 px and
traced at a quarter of that stray 1.2 px: on 60 KanjiVG characters of seeds 1 and 2 its
centreline error fell 0.66 -> 0.57 and 0.74 -> 0.64 px, clean, stroke F1 +0.001 to +0.002).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import fields, replace
from typing import Any

import numpy as np

from .inference.loading import predictor_for
from .inference.pipeline import MapPredictor, Prediction
from .inference.resample import to_input
from .pretrained import packaged_model
from .vectorize import Stroke, TraceOptions, trace_maps

__all__ = ["trace", "trace_prediction", "as_predictor", "trace_options"]


def trace_options(options: TraceOptions | None = None, **settings: Any) -> TraceOptions:
    """``options`` (default TraceOptions()) with the given fields changed; a TypeError names an
    unknown field, a ValueError a bad value."""
    known = {f.name for f in fields(TraceOptions)}
    unknown = sorted(set(settings) - known)
    if unknown:
        raise TypeError(
            f"unknown tracing option(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})"
        )
    return replace(options if options is not None else TraceOptions(), **settings)


def _at_size(maps: Mapping[str, np.ndarray], size: tuple[int, int]) -> dict[str, np.ndarray]:
    """One image's maps resampled to ``size`` (lengths in that size's pixels)."""
    return to_input({name: v.reshape(-1, *v.shape[-2:]) for name, v in maps.items()}, size)


def trace_prediction(
    result: Prediction,
    options: TraceOptions | None = None,
    *,
    processes: int = 1,
    **settings: Any,
) -> list[Stroke]:
    """The strokes of one Prediction, in input pixels: traced at the model's resolution where the
    image was shrunk, at the input's otherwise (module docstring). A page's independent regions
    are traced in up to ``processes`` processes (vectorize/regions.py; the same strokes)."""
    opts = trace_options(options, **settings)
    height, width = result.size
    size = (int(result.model_size[0]), int(result.model_size[1]))
    if result.scale >= 1.0 or size == (height, width):
        return trace_maps(result.maps, opts, processes=processes)
    model = result.model_maps if result.model_maps is not None else _at_size(result.maps, size)
    fx, fy = width / size[1], height / size[0]
    fw = math.sqrt(fx * fy)  # as resample.to_input scales widths
    # the polyline's tolerance is the output's, in input pixels (module docstring)
    strokes = trace_maps(model, replace(opts, tolerance=opts.tolerance / fw), processes=processes)
    for s in strokes:
        s.points = s.points * np.array([fx, fy])
        s.widths = s.widths * fw
    return strokes


_SHIPPED: dict[tuple, MapPredictor] = {}  # None or a packaged name, and the settings


def as_predictor(model: Any, **settings: Any) -> MapPredictor:
    """A Predictor from an InkTraceNet, a checkpoint path (``.onnx``: onnxruntime), a Predictor
    (which keeps its own settings: passing any of ``settings`` with one is a ValueError), None
    (the shipped model) or a packaged model's name (``inktrace-strokes``); those two are loaded
    once per process and settings. ``settings``: the Predictor's (device, scale, tile, overlap,
    batch_size); None leaves a setting at its default."""
    given = {k: v for k, v in settings.items() if v is not None}
    if model is None or (isinstance(model, str) and packaged_model(model) is not None):
        key = (model, *sorted((k, str(v)) for k, v in given.items()))
        if key not in _SHIPPED:
            _SHIPPED[key] = predictor_for(model, **given)
        return _SHIPPED[key]
    return predictor_for(model, **given)


def trace(
    image: Any,
    model: Any = None,
    *,
    options: TraceOptions | None = None,
    device: Any = None,
    scale: float | None = None,
    tile: int | None = None,
    overlap: int | None = None,
    batch_size: int | None = None,
    **settings: Any,
) -> list[Stroke]:
    """The vector strokes of one image, in the contract frame and input pixels.

    ``image``: a path (any file Pillow reads), a numpy array or a tensor ((H, W) gray, (H, W, 3|4)
    colour; uint8, uint16, bool or floats in [0, 1]), dark ink on light paper (for light ink on
    dark paper pass ``1 - inktrace.inference.load_image(path)``).
    ``model``: an InkTraceNet, a checkpoint path (``.onnx`` too) or a Predictor (reuse one for
    many images: a path is read at every call); None (default) is the shipped model
    (inktrace.pretrained), and ``"inktrace-strokes"`` the packaged stroke model (both loaded once
    per process).
    ``device``, ``scale`` (None: estimated per image), ``tile``, ``overlap``, ``batch_size``: the
    Predictor's settings, for a network or a checkpoint path.
    ``options`` / ``settings``: a TraceOptions and any of its fields (``max_turn=30``,
    ``tolerance=0.5`` ...); see inktrace.vectorize.
    """
    opts = trace_options(options, **settings)  # checked before the model runs
    predictor = as_predictor(
        model, device=device, scale=scale, tile=tile, overlap=overlap, batch_size=batch_size
    )
    return trace_prediction(predictor.predict_many([image])[0], opts)
