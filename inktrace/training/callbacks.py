"""Callbacks: what the loop calls besides the step itself (detectron2's hooks).

The loop calls, in this order: ``before_train()``, then per epoch ``before_epoch()``,
``after_step(losses)`` after every optimizer step, ``after_epoch(metrics)`` once the epoch is
validated, logged and checkpointed, and ``after_train()`` at the very end, also when training
failed or was interrupted (``trainer.status`` says which). A callback is any object with some of
these methods (absent ones are no-ops); it finds its trainer as ``self.trainer``, set when the
trainer is built. To stop early, call ``self.trainer.request_stop()``: the run stops after the
current step with a resumable ``last.ckpt``, exactly as on Ctrl-C.

The side concerns of a run are such objects too, and run before the user's: the run log
(``RunLogger``: TensorBoard and the JSON files), :class:`EpochCheckpoint`, :class:`ProgressBar`
and :class:`StopOnSignal`.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["Callback", "CallbackList", "HOOKS", "EpochCheckpoint", "ProgressBar", "StopOnSignal"]

HOOKS = ("before_train", "before_epoch", "after_step", "after_epoch", "after_train")


class Callback:
    """A base with every hook a no-op: subclass it and override what you need."""

    trainer: Any = None

    def before_train(self) -> None: ...

    def before_epoch(self) -> None: ...

    def after_step(self, losses: Mapping[str, float]) -> None: ...

    def after_epoch(self, metrics: Mapping[str, float]) -> None: ...

    def after_train(self) -> None: ...


class CallbackList:
    """Calls a hook on every callback, in order; binds each callback to its trainer."""

    def __init__(self, callbacks: Iterable[Any], trainer: Any) -> None:
        self.callbacks = list(callbacks)
        for cb in self.callbacks:
            if not any(callable(getattr(cb, hook, None)) for hook in HOOKS):
                raise TypeError(f"callback {cb!r} has none of the hooks {', '.join(HOOKS)}")
            try:
                cb.trainer = trainer
            except AttributeError:  # an object that cannot hold it (slots): it does not need it
                pass

    def call(self, hook: str, *args: Any) -> None:
        for cb in self.callbacks:
            method = getattr(cb, hook, None)
            if callable(method):
                method(*args)


class EpochCheckpoint(Callback):
    """Saves the epoch's checkpoints (last, best, top-k: the manager decides which files)."""

    def after_epoch(self, metrics: Mapping[str, float]) -> None:
        t = self.trainer
        t.manager.save(
            t.checkpoint_payload(metrics, epoch_done=True), t.state.epoch, t.state.last_metrics
        )


class ProgressBar(Callback):
    """A tqdm bar over the epoch's training steps; by default only on a terminal."""

    def __init__(self, enabled: bool | None = None) -> None:
        self.enabled = enabled
        self.bar = None

    def before_epoch(self) -> None:
        t = self.trainer
        enabled = self.enabled if self.enabled is not None else t.verbose and sys.stderr.isatty()
        total = t.steps_per_epoch - t.state.batch_in_epoch
        if enabled and total > 0:
            from tqdm.auto import tqdm  # imported only when a bar is shown

            self.bar = tqdm(
                total=total,
                desc=f"{t.stage} epoch {t.state.epoch + 1}/{t.cfg.training.epochs}",
                leave=False,
                dynamic_ncols=True,
            )

    def after_step(self, losses: Mapping[str, float]) -> None:
        if self.bar is not None:
            self.bar.set_postfix(loss=f"{losses['total']:.4f}", refresh=False)
            self.bar.update(1)

    def after_epoch(self, metrics: Mapping[str, float]) -> None:
        self.close()

    def after_train(self) -> None:
        self.close()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class StopOnSignal(Callback):
    """Ctrl-C or SIGTERM asks the trainer to stop after the current step; a second Ctrl-C aborts
    at once. Installed for the run only, on the main thread only; the previous handlers return."""

    def __init__(self) -> None:
        self.previous: dict[int, Any] = {}

    def before_train(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in (signal.SIGINT, signal.SIGTERM):
            self.previous[sig] = signal.signal(sig, self._handler)

    def _handler(self, signum: int, frame: Any) -> None:
        t = self.trainer
        if t.stop_requested and signum == signal.SIGINT:
            signal.signal(signal.SIGINT, signal.default_int_handler)
            raise KeyboardInterrupt
        t.request_stop()
        t.log.plain(
            f"\n[{t.stage}] {signal.Signals(signum).name}: finishing the step and saving "
            "(Ctrl-C again to abort)"
        )

    def after_train(self) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)
        self.previous = {}
