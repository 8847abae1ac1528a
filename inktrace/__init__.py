"""InkTrace: train and use a network that traces ink (skeleton, keypoints, tangent, width, offset).

Importing the package has no side effects: nothing is read, written, seeded or printed. Nor does it
import PyTorch: the network and the trainers are imported on first use (``inktrace.InkTraceNet``),
so an install without torch can trace with an exported ONNX model.
"""

from .errors import CheckpointError, ConfigError
from .lazy import lazy_exports
from .tracing import trace
from .version import __version__

_LAZY = {  # PyTorch
    "Config": ".config",
    "InkTraceNet": ".model",
    "BaseTrainer": ".training",
    "StructuralTrainer": ".training",
    "DenseTrainer": ".training",
    "FinetuneTrainer": ".training",
    "Callback": ".training",
}
__getattr__ = lazy_exports(__name__, _LAZY)

__all__ = [
    "Config",
    "ConfigError",
    "CheckpointError",
    "InkTraceNet",
    "BaseTrainer",
    "StructuralTrainer",
    "DenseTrainer",
    "FinetuneTrainer",
    "Callback",
    "trace",
    "__version__",
]
