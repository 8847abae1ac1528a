"""The InkTrace version (a bottom module: whatever needs it imports it from here)."""

__version__ = "0.2.0"
