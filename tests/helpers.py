"""What several test modules share (imported as ``helpers``: pytest puts tests/ on the path)."""

from __future__ import annotations

from inktrace.training import Callback


class StopAt(Callback):
    """Request a stop after global step ``step`` (what Ctrl-C does)."""

    def __init__(self, step):
        self.step = step

    def after_step(self, losses):
        if self.trainer.state.global_step == self.step:
            self.trainer.request_stop()
