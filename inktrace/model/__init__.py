"""The network: InkTraceNet (net.py) and the rule for the image arrays it takes (batch.py)."""

from .batch import image_batch
from .net import HEAD_CHANNELS, IDENTITY_DIM, MODEL_KEYS, InkTraceNet, random_visibility

__all__ = [
    "InkTraceNet",
    "random_visibility",
    "image_batch",
    "MODEL_KEYS",
    "HEAD_CHANNELS",
    "IDENTITY_DIM",
]
