"""The synthetic ink engine: stroke geometry, curriculum, keypoints, rendering, degradations."""

from .curriculum import LEVELS, NUM_LEVELS, make_strokes
from .dataset import SyntheticInk, collate, make_loader, render_batch, sample_of, validation_set
from .geometry import Strokes
from .keypoints import CORNER, CROSSING, ENDPOINT, JUNCTION, KIND_NAMES, Keypoints, find_keypoints

__all__ = [
    "LEVELS",
    "NUM_LEVELS",
    "make_strokes",
    "SyntheticInk",
    "collate",
    "make_loader",
    "render_batch",
    "sample_of",
    "validation_set",
    "Strokes",
    "Keypoints",
    "find_keypoints",
    "ENDPOINT",
    "JUNCTION",
    "CROSSING",
    "CORNER",
    "KIND_NAMES",
]
