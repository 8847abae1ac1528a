"""The evaluation table: one line per (size, condition, method).

The last six columns say where the stroke errors are (matching.stroke_errors), as counts over the
set: extra strokes that are short fragments (``+frag``), pieces of a true stroke cut in two
(``+cut``) or spurious (``+spur``); missing true strokes merged into a longer traced one
(``-merg``), cut into pieces none of which matches (``-cut``) or lost (``-lost``)."""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["COLUMNS", "format_table"]

# (row key, header, format)
COLUMNS = (
    ("size", "size", "{:d}"),
    ("condition", "condition", "{}"),
    ("method", "method", "{}"),
    ("precision", "skel P", "{:.3f}"),
    ("recall", "skel R", "{:.3f}"),
    ("f1", "skel F1", "{:.3f}"),
    ("centre_error", "ctr err", "{:.2f}"),
    ("spurs", "spurs", "{:.2f}"),
    ("kp_f1", "kp F1", "{:.3f}"),
    ("stroke_precision", "strk P", "{:.3f}"),
    ("stroke_recall", "strk R", "{:.3f}"),
    ("stroke_f1", "strk F1", "{:.3f}"),
    ("count_ratio", "n/true", "{:.2f}"),
    ("predict_ms", "pred ms", "{:.1f}"),
    ("trace_ms", "trace ms", "{:.1f}"),
    ("extra_fragment", "+frag", "{:d}"),
    ("extra_cut", "+cut", "{:d}"),
    ("extra_spurious", "+spur", "{:d}"),
    ("missing_merged", "-merg", "{:d}"),
    ("missing_cut", "-cut", "{:d}"),
    ("missing_lost", "-lost", "{:d}"),
)


def _cell(fmt: str, value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if fmt == "{:d}" and isinstance(value, float):
        value = int(value)
    return fmt.format(value)


def format_table(rows: Sequence[dict]) -> str:
    """A fixed-width text table (columns as COLUMNS), one line per row."""
    cells = [[h for _, h, _ in COLUMNS]]
    cells += [[_cell(fmt, row.get(key)) for key, _, fmt in COLUMNS] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(COLUMNS))]
    lines = [
        "  ".join(c.ljust(wd) if i < 3 else c.rjust(wd) for i, (c, wd) in enumerate(zip(r, widths)))
        for r in cells
    ]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)
