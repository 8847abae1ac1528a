"""Checkpoints: the InkTrace format (format.py)."""

from .format import FORMAT, FORMAT_VERSION, CheckpointError, load_checkpoint, read_checkpoint, save_checkpoint

__all__ = ["FORMAT", "FORMAT_VERSION", "CheckpointError", "load_checkpoint", "read_checkpoint", "save_checkpoint"]
