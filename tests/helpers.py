"""What several test modules share (imported as ``helpers``: pytest puts tests/ on the path)."""

from __future__ import annotations

import numpy as np

from inktrace.training import Callback


class StopAt(Callback):
    """Request a stop after global step ``step`` (what Ctrl-C does)."""

    def __init__(self, step):
        self.step = step

    def after_step(self, losses):
        if self.trainer.state.global_step == self.step:
            self.trainer.request_stop()


def thicken(maps, seed=0):
    """Exact target maps (numpy, one image, with the band ``mask``) made like a model's: the
    skeleton dilated by one pixel inside the band where offsets are defined, centre 0.8-0.95,
    sides 0.55-0.8, background below 0.2."""
    out = dict(maps)
    skel = maps["skeleton"] > 0.5
    h, w = skel.shape
    padded = np.pad(skel, 1)
    grown = np.zeros_like(skel)
    for dr in range(3):
        for dc in range(3):
            grown |= padded[dr : dr + h, dc : dc + w]
    grown &= maps["mask"] > 0
    rng = np.random.default_rng(seed)
    prob = np.where(
        skel,
        rng.uniform(0.8, 0.95, skel.shape),
        np.where(grown, rng.uniform(0.55, 0.8, skel.shape), rng.uniform(0.0, 0.2, skel.shape)),
    )
    out["skeleton"] = prob.astype(np.float32)
    return out
