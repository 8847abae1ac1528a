"""The network: InkTraceNet (net.py)."""

from .net import HEAD_CHANNELS, IDENTITY_DIM, MODEL_KEYS, InkTraceNet, random_visibility

__all__ = ["InkTraceNet", "random_visibility", "MODEL_KEYS", "HEAD_CHANNELS", "IDENTITY_DIM"]
