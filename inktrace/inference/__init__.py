"""Using a trained model on real images: ``Predictor`` (any size, scale and tiling handled),
``load_image`` (any file Pillow reads, to grayscale in [0, 1]), the stroke-width estimate and the
exact distance transform it rests on.

    from inktrace.inference import Predictor, load_image
    predictor = Predictor.from_checkpoint("checkpoints/dense/best.ckpt", device="auto")
    maps = predictor.predict("scan.png")     # skeleton, keypoints, tangent, width, offset
"""

from .distance import distance_transform, squared_distance_transform
from .images import DEFAULT_MAX_PIXELS, ImageError, load_image, to_gray
from .predictor import DEFAULT_BATCH_SIZE, DEFAULT_TILE, Prediction, Predictor, resolve_device
from .scale import TARGET_WIDTH, choose_scale, estimate_stroke_width
from .visualize import prediction_panel, save_panel

__all__ = [
    "Predictor",
    "Prediction",
    "ImageError",
    "load_image",
    "to_gray",
    "estimate_stroke_width",
    "choose_scale",
    "TARGET_WIDTH",
    "distance_transform",
    "squared_distance_transform",
    "prediction_panel",
    "save_panel",
    "resolve_device",
    "DEFAULT_TILE",
    "DEFAULT_MAX_PIXELS",
    "DEFAULT_BATCH_SIZE",
]
