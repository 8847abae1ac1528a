"""What a training run says on the console, through the ``logging`` module.

A run's messages go to the logger ``inktrace.train.<stage>`` at level INFO; most are prefixed with
``[<stage>] ``, the banners are not. The first time a trainer speaks, the package logger
``inktrace`` gets a handler printing each message as it is to the *current* ``sys.stdout`` (so
the console looks as if printed, and pytest's or Jupyter's redirection works), unless that logger
already has a handler; the package logger then does not propagate to the root logger, so a host
program's ``logging.basicConfig`` does not print everything twice.

A notebook or a host program silences or redirects the messages with the standard tools::

    logging.getLogger("inktrace").setLevel(logging.WARNING)          # silence
    logging.getLogger("inktrace").handlers = [logging.FileHandler("train.log")]  # redirect

``verbose=False`` on a trainer silences that trainer alone.

Two small helpers every message needs live here too: :func:`now` (the timestamp of messages,
logs and lock files) and :func:`one_line` (an error as the console says it).
"""

from __future__ import annotations

import datetime as _dt
import logging
import sys

from ..errors import printable

__all__ = ["PACKAGE_LOGGER", "RunMessages", "now", "one_line"]

PACKAGE_LOGGER = "inktrace"
_installed = False


class _CurrentStdout(logging.StreamHandler):
    """A stream handler that always writes to the ``sys.stdout`` of the moment."""

    def __init__(self) -> None:
        super().__init__(sys.stdout)
        self.setFormatter(logging.Formatter("%(message)s"))

    @property
    def stream(self):
        return sys.stdout

    @stream.setter
    def stream(self, value) -> None:  # StreamHandler.__init__ assigns it; the property wins
        pass


def _install_console() -> None:
    """Give the package logger its console handler, once per process (removing it sticks)."""
    global _installed
    if _installed:
        return
    _installed = True
    package = logging.getLogger(PACKAGE_LOGGER)
    if not package.handlers:
        package.addHandler(_CurrentStdout())
        package.propagate = False
    if package.level == logging.NOTSET:
        package.setLevel(logging.INFO)


class RunMessages:
    """The messages of one stage's run: :meth:`info` prefixes ``[stage] ``, :meth:`plain` does
    not. Nothing is emitted when ``verbose`` is false."""

    def __init__(self, stage: str, verbose: bool = True) -> None:
        _install_console()
        self.stage = stage
        self.verbose = verbose
        self.logger = logging.getLogger(f"{PACKAGE_LOGGER}.train.{stage}")

    def info(self, text: str) -> None:
        if self.verbose:
            self.logger.info(_shown(f"[{self.stage}] {text}"))

    def lines(self, text: str) -> None:
        """A block whose every line carries the ``[stage] `` prefix."""
        self.info(text.replace("\n", f"\n[{self.stage}] "))

    def plain(self, text: str) -> None:
        if self.verbose:
            self.logger.info(_shown(text))


def _shown(text: str) -> str:
    """Each line escaped (a path or a stored name may hold escape codes or undecodable bytes,
    which a strict UTF-8 console cannot even encode)."""
    return "\n".join(printable(line) for line in text.split("\n"))


def now() -> str:
    """The local time with its offset, to the second: how every message and log file dates."""
    return _dt.datetime.now().astimezone().isoformat(timespec="seconds")


def one_line(exc: BaseException) -> str:
    """An error as the console says it: its type and the first line of its message."""
    return f"{type(exc).__name__}: {exc}".splitlines()[0]
