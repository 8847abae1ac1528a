"""Training curves of several runs overlaid (``inktrace plot``): loss, val/f1, keypoint recall,
learning rate and curriculum level against epochs, one line per run with a legend. Needs
matplotlib (the ``plot`` extra); without it a clear message says how to get it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import printable
from ..fileio import atomic_write

__all__ = ["PANELS", "plot_runs", "PlotUnavailable", "read_history"]

# (title, history keys tried in order: the first a run has is drawn)
PANELS = (
    ("loss", ("train/loss", "val/loss")),
    ("val/f1", ("val/f1",)),
    ("keypoint recall", ("val/kp_topo_recall",)),
    ("learning rate", ("lr",)),
    ("curriculum level", ("curriculum_stage",)),
)


class PlotUnavailable(RuntimeError):
    """matplotlib is not installed."""


def read_history(run_dir: str | os.PathLike) -> dict[str, list[Any]]:
    """A run folder's per-epoch history (its ``training_log.json``); ValueError when it has none."""
    path = Path(run_dir) / "training_log.json"
    try:
        history = json.loads(path.read_text())["training_history"]
    except (OSError, ValueError, KeyError, TypeError):
        raise ValueError(f"{run_dir}: no training_log.json with a training_history") from None
    if not history.get("epoch"):
        raise ValueError(f"{run_dir}: no finished epoch to plot yet")
    return history


def _label(run_dir: Path, names: list[Path]) -> str:
    """The shortest tail of the path that tells the runs apart (escaped: a name may hold bytes
    that are not text, which the fonts cannot draw)."""
    parts = run_dir.parts
    for n in range(1, len(parts) + 1):
        tail = "/".join(parts[-n:])
        if sum("/".join(p.parts[-n:]) == tail for p in names) == 1:
            return printable(tail)
    return printable(run_dir)


def plot_runs(run_dirs: Sequence[str | os.PathLike], output: str | os.PathLike) -> Path:
    """Draw the runs' curves into ``output`` (PNG, PDF, SVG: matplotlib picks by extension)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise PlotUnavailable("plotting needs matplotlib: pip install 'inktrace[plot]'") from None
    dirs = [Path(d) for d in run_dirs]
    histories = [read_history(d) for d in dirs]
    fig, axes = plt.subplots(1, len(PANELS), figsize=(4 * len(PANELS), 3.4))
    for ax, (title, keys) in zip(axes, PANELS):
        for i, (run_dir, history) in enumerate(zip(dirs, histories)):
            epochs = [e + 1 for e in history["epoch"]]
            for key in keys:
                values = history.get(key)
                if not values or all(v is None for v in values):
                    continue
                label = _label(run_dir, dirs) + (f" ({key})" if len(keys) > 1 else "")
                ax.plot(
                    epochs,
                    [float("nan") if v is None else v for v in values],
                    "--" if key.startswith("val/") and len(keys) > 1 else "-",
                    color=f"C{i % 10}",  # one colour per run in every panel
                    label=label,
                    marker="o",
                    markersize=2,
                )
        ax.set_title(title)
        ax.set_xlabel("epoch")
        if title in ("loss", "learning rate"):
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    output = Path(output)
    try:  # atomically: a failed or interrupted save never leaves half an image
        atomic_write(output, lambda f: fig.savefig(f, format=output.suffix[1:].lower(), dpi=110))
    finally:
        plt.close(fig)
    return output
