"""Command-line entry points (``inktrace`` and the root scripts) on top of the package API."""
