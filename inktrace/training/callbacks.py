"""Callbacks: what the loop calls besides the step itself (detectron2's hooks).

The loop calls, in this order: ``before_train()``, then per epoch ``before_epoch()``,
``after_step(losses)`` after every optimizer step, ``after_epoch(metrics)`` once the epoch is
validated, logged and checkpointed, and ``after_train()`` at the very end, also when training
failed or was interrupted (``trainer.status`` says which). A callback is any object with some of
these methods (absent ones are no-ops); it finds its trainer as ``self.trainer``, set when the
trainer is built. To stop early, call ``self.trainer.request_stop()``: the run stops after the
current step with a resumable ``last.ckpt``, exactly as on Ctrl-C. A callback that draws from the
global RNG (``torch.rand``) changes what follows, so a resumed run is then no longer exact.

The side concerns of a run are such objects too, and run before the user's: the run log
(``RunLogger``: TensorBoard and the JSON files), :class:`EpochCheckpoint`, :class:`ProgressBar`
and :class:`StopOnSignal`. At the end, the user's ``after_train`` runs first (an error there fails
the run, unless another error is already on its way), then the built-in ones in reverse order:
signals restored, bar closed, summary written, logs closed.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterable, Mapping
from typing import Any

from .interface import TrainerView

__all__ = [
    "Callback",
    "CallbackList",
    "HOOKS",
    "EpochCheckpoint",
    "ProgressBar",
    "StopOnSignal",
    "refuse_old_hooks",
]

HOOKS = ("before_train", "before_epoch", "after_step", "after_epoch", "after_train")


class Callback:
    """A base with every hook a no-op: subclass it and override what you need."""

    # bound by CallbackList when the trainer is built, before any hook runs
    trainer: TrainerView = None  # type: ignore[assignment]

    def before_train(self) -> None: ...

    def before_epoch(self) -> None: ...

    def after_step(self, losses: Mapping[str, float]) -> None: ...

    def after_epoch(self, metrics: Mapping[str, float]) -> None: ...

    def after_train(self) -> None: ...


# methods trainer subclasses of InkTrace 0.1 defined, and what replaced them
_REPLACED = {
    "data_stage": "data_level(epoch)",
    "val_stage": "val_level()",
    **{hook: f"a callback's {hook} (callbacks=[...])" for hook in HOOKS},
}


def refuse_old_hooks(cls: type) -> None:
    """A trainer subclass that defines a method of the old hook API would be silently ignored:
    refuse it at class creation, naming what replaced it."""
    old = sorted(set(vars(cls)) & set(_REPLACED))
    if old:
        raise TypeError(
            f"{cls.__name__}.{old[0]}: trainers no longer call this method; "
            f"use {_REPLACED[old[0]]} instead"
        )


class CallbackList:
    """The run's own callbacks (``builtin``) and the user's, bound to their trainer.

    :meth:`call` runs a hook on the built-in ones, then on the user's (``which`` picks one
    group). :meth:`call_each` runs a hook on every callback of a group even when one raises, and
    returns the first error: what the end of a run needs, so that a failing callback never keeps
    the others (signal handlers, log files) from being restored and closed."""

    def __init__(self, builtin: Iterable[Any], user: Iterable[Any], trainer: TrainerView) -> None:
        self.builtin, self.user = list(builtin), list(user)
        for cb in self.builtin + self.user:
            if not any(callable(getattr(cb, hook, None)) for hook in HOOKS):
                raise TypeError(f"callback {cb!r} has none of the hooks {', '.join(HOOKS)}")
            try:
                cb.trainer = trainer
            except AttributeError:  # an object that cannot hold it (slots): it does not need it
                pass

    def _group(self, which: str) -> list[Any]:
        return {"all": self.builtin + self.user, "builtin": self.builtin, "user": self.user}[which]

    def call(self, hook: str, *args: Any, which: str = "all") -> None:
        for cb in self._group(which):
            method = getattr(cb, hook, None)
            if callable(method):
                method(*args)

    def call_each(self, hook: str, callbacks: Iterable[Any]) -> BaseException | None:
        first = None
        for cb in callbacks:
            method = getattr(cb, hook, None)
            if callable(method):
                try:
                    method()
                except BaseException as exc:  # the others still run; the first is re-raised
                    first = first or exc
        return first


class EpochCheckpoint(Callback):
    """Saves the epoch's checkpoints (last, best, top-k: the manager decides which files). With
    several ranks every rank builds the payload (their states meet on rank 0), rank 0 saves, and
    all wait until the files exist."""

    def after_epoch(self, metrics: Mapping[str, float]) -> None:
        t = self.trainer
        payload = t.checkpoint_payload(metrics, epoch_done=True)
        if t.dist.main:
            t.manager.save(payload, t.state.epoch, t.state.last_metrics)
        t.dist.barrier()


class ProgressBar(Callback):
    """A tqdm bar over the epoch's training steps; by default on a terminal or in Jupyter (a widget
    when ipywidgets is installed, else text)."""

    def __init__(self, enabled: bool | None = None) -> None:
        self.enabled = enabled
        self.bar = None

    def before_epoch(self) -> None:
        t = self.trainer
        notebook = "ipykernel" in sys.modules
        shown = t.verbose and (sys.stderr.isatty() or notebook)  # by default: a terminal or Jupyter
        enabled = self.enabled if self.enabled is not None else shown
        total = t.steps_per_epoch - t.state.batch_in_epoch
        if enabled and total > 0:
            tqdm = _bar_class(notebook)  # imported only when a bar is shown

            self.bar = tqdm(
                total=total,
                desc=f"{t.stage} epoch {t.state.epoch + 1}/{t.cfg.training.epochs}",
                leave=False,
                dynamic_ncols=True,
            )

    def after_step(self, losses: Mapping[str, float]) -> None:
        if self.bar is not None:
            if self.trainer.state.global_step % self.trainer.cfg.logging.log_every_n_steps == 0:
                self.bar.set_postfix(loss=f"{losses['total']:.4f}", refresh=False)  # a sync point
            self.bar.update(1)
            if self.trainer.state.batch_in_epoch == self.trainer.steps_per_epoch:
                self.close()  # the epoch's steps are done: validation and its line come next

    def after_train(self) -> None:
        self.close()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _bar_class(notebook: bool):
    """tqdm's notebook widget in Jupyter when ipywidgets is there, its text bar otherwise."""
    if notebook:
        try:
            import ipywidgets  # noqa: F401
            from tqdm.notebook import tqdm

            return tqdm
        except ImportError:
            pass
    from tqdm import tqdm

    return tqdm


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
