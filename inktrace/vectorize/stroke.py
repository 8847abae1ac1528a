"""What tracing returns (``Stroke``) and the settings it runs with (``TraceOptions``)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields

import numpy as np

__all__ = ["Stroke", "TraceOptions"]


@dataclass
class Stroke:
    """One traced stroke in the contract frame (pixel (i, j) centred at (j + .5, i + .5)).

    ``points`` (N, 2) float64 x, y; ``widths`` (N,) stroke width in px at each point; ``closed``:
    the stroke is a loop, and then its last point repeats its first; ``corners``: indices into
    ``points`` of the sharp vertices (corners the fit keeps exactly).
    """

    points: np.ndarray
    widths: np.ndarray
    closed: bool = False
    corners: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.points.shape[0])

    @property
    def length(self) -> float:
        """Arc length of the polyline in px."""
        if len(self) < 2:
            return 0.0
        return float(np.hypot(*np.diff(self.points, axis=0).T).sum())


IDENTITY_JOIN = 2.2  # the stroke-identity distance below which two edge ends are one stroke


@dataclass(frozen=True)
class TraceOptions:
    """Tracing settings (px unless said otherwise)."""

    threshold: float = 0.5  # skeleton probability that makes a candidate centreline pixel
    low_threshold: float = 0.25  # weaker pixels count where they connect to candidates
    keypoint_threshold: float = 0.3  # a keypoint heatmap peak must reach this
    max_turn: float = 40.0  # degrees: a stroke goes on through a junction when it bends less
    identity_join: float = IDENTITY_JOIN  # embedding distance below which two stroke ends join
    spur_factor: float = 1.0  # a dead end shorter than this x the local width is a spur
    spur_min: float = 2.0  # ... or shorter than this
    tolerance: float = 0.3  # Douglas-Peucker tolerance of the fitted polyline
    corner_snap: float = 2.0  # a corner keypoint snaps to a stroke point this close
    default_width: float = 2.0  # the width when the maps have none (structural model)
    min_length: float = 3.0  # strokes shorter than this (isolated specks, fragments) are dropped

    def __post_init__(self) -> None:
        for f in fields(self):
            if not math.isfinite(getattr(self, f.name)):
                raise ValueError(f"{f.name} must be a finite number, got {getattr(self, f.name)}")
        if not 0.0 < self.threshold < 1.0:
            raise ValueError(f"threshold must be in (0, 1), got {self.threshold}")
        if not 0.0 < self.low_threshold <= self.threshold:
            raise ValueError(f"low_threshold must be in (0, threshold], got {self.low_threshold}")
        if not 0.0 < self.keypoint_threshold < 1.0:
            raise ValueError(f"keypoint_threshold must be in (0, 1), got {self.keypoint_threshold}")
        if not 0.0 <= self.max_turn < 90.0:
            raise ValueError(f"max_turn must be in [0, 90) degrees, got {self.max_turn}")
        for name in ("spur_factor", "spur_min", "tolerance", "corner_snap", "min_length"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative, got {getattr(self, name)}")
        if self.identity_join <= 0:
            raise ValueError(f"identity_join must be positive, got {self.identity_join}")
        if self.default_width <= 0:
            raise ValueError(f"default_width must be positive, got {self.default_width}")
