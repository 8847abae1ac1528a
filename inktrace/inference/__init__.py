"""Using a trained model on real images: ``Predictor`` (any size, scale and tiling handled),
``load_image`` (any file Pillow reads, to grayscale in [0, 1]), the stroke-width and glyph-size
estimates and the exact distance transform they rest on.

    from inktrace.inference import Predictor, load_image
    predictor = Predictor.from_checkpoint("checkpoints/dense/best.ckpt", device="auto")
    maps = predictor.predict("scan.png")     # skeleton, keypoints, tangent, width, offset

Everything here but ``Predictor`` and ``resolve_device`` (imported on first use) works without
PyTorch: the pipeline (pipeline.py) runs any MapNet, an ONNX model too (inktrace.deploy).
"""

from ..lazy import lazy_exports
from .distance import distance_transform, squared_distance_transform
from .images import DEFAULT_MAX_PIXELS, ImageError, load_image, to_gray
from .pipeline import DEFAULT_BATCH_SIZE, DEFAULT_TILE, MapNet, MapPredictor, Prediction
from .scale import (
    TARGET_WIDTH,
    TEXTURED_TARGET,
    InkWidth,
    choose_scale,
    estimate_stroke_width,
    glyph_size,
    measure_ink,
)
from .visualize import prediction_panel, save_panel

_LAZY = {"Predictor": ".predictor", "resolve_device": ".predictor"}  # PyTorch
__getattr__ = lazy_exports(__name__, _LAZY)

__all__ = [
    "Predictor",
    "MapPredictor",
    "MapNet",
    "Prediction",
    "ImageError",
    "load_image",
    "to_gray",
    "estimate_stroke_width",
    "measure_ink",
    "InkWidth",
    "glyph_size",
    "choose_scale",
    "TARGET_WIDTH",
    "TEXTURED_TARGET",
    "distance_transform",
    "squared_distance_transform",
    "prediction_panel",
    "save_panel",
    "resolve_device",
    "DEFAULT_TILE",
    "DEFAULT_MAX_PIXELS",
    "DEFAULT_BATCH_SIZE",
]
