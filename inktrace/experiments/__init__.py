"""Comparing runs: the runs table (``inktrace runs``) read from the JSON logs runs write."""

from .table import COLUMNS, FORMATS, find_runs, format_rows

__all__ = ["find_runs", "format_rows", "COLUMNS", "FORMATS"]
