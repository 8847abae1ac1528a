"""The shipped pretrained model: ``inktrace-small.ckpt`` beside this file, a weights-only export
(checkpoint/model_only.py) of the run that ``configs/pretrained.yaml`` reproduces.

``inktrace-small.onnx`` is the same model exported to ONNX (``inktrace export``; parity to 1e-4
is tested), used where PyTorch is not installed. The paths are here; loading the network
(shipped.py: ``load_pretrained``, ``load_with_card``, ``pretrained_card``) imports PyTorch on
first use.

The shipped model is what ``inktrace predict``, ``inktrace trace`` and ``inktrace evaluate`` use
without ``--checkpoint``, and ``inktrace.trace(image)`` without ``model=``. Its ``card`` says what
it was trained on (see ``pretrained_card()``); docs/using.md gives its figures.

``inktrace-strokes.ckpt`` is the stroke model (the stroke heads: stroke ends and the
stroke-identity embedding; twice as wide, ``configs/inktrace-strokes.yaml`` then
``configs/inktrace-wide.yaml``, since stop 42 averaged with its fine-tune on
``configs/inktrace-charcoal.yaml``: ``inktrace export --average``): better strokes in every cell
of the evaluation, a little lower skeleton F1 in two and 2.2 times the time per glyph, so it is
chosen by name (``--checkpoint inktrace-strokes``, ``model="inktrace-strokes"``;
``packaged_model``), not by default.
"""

from __future__ import annotations

from ..lazy import lazy_exports
from .files import (
    PRETRAINED_NAME,
    STROKES_NAME,
    packaged_model,
    pretrained_onnx_path,
    pretrained_path,
)

__all__ = [
    "PRETRAINED_NAME",
    "STROKES_NAME",
    "packaged_model",
    "pretrained_path",
    "pretrained_onnx_path",
    "load_pretrained",
    "load_with_card",
    "pretrained_card",
]

_LAZY = {  # PyTorch
    "load_pretrained": ".shipped",
    "load_with_card": ".shipped",
    "pretrained_card": ".shipped",
}
__getattr__ = lazy_exports(__name__, _LAZY)
