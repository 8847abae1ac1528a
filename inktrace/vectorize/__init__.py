"""Tracing: vector strokes from the dense maps of one image, and their JSON / SVG writers."""

from .stroke import Stroke, TraceOptions
from .trace import trace_maps
from .writers import strokes_to_dict, to_json, to_svg

__all__ = ["Stroke", "TraceOptions", "trace_maps", "to_json", "to_svg", "strokes_to_dict"]
