"""The ``train_lib`` facade kept for users' scripts and notebooks: ``from train_lib import Config``.

It re-exports the public training API from the ``inktrace`` package and holds no code of its own.
"""

from inktrace.config import Config, ConfigError

__all__ = ["Config", "ConfigError"]
