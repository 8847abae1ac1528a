"""Child processes that end with their parent: the forked scale measurer and region tracers, and
the spawned ``--workers``. A parent killed outright (SIGTERM, SIGKILL, out of memory) runs no
cleanup, so without this its children lived on, holding their memory and the caller's pipes.
Linux's parent-death signal ends them; elsewhere nothing is done."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys

__all__ = ["end_with_parent"]

_PR_SET_PDEATHSIG = 1


def end_with_parent(parent: int) -> None:
    """In a child process of ``parent`` (its pid, taken before the child started): be killed when
    the parent ends (the thread that started this child, strictly: children are started from
    the main thread here), and ignore Ctrl-C, which is the parent's to handle. Exits at once
    where the parent has ended already."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:  # the parent ended before the signal was set
        os._exit(0)
