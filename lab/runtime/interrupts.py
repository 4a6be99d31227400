"""Ctrl-C, SIGTERM and SIGHUP while a lab is built (or waited for) only set a flag, checked at safe points.

An exception raised inside pyroute2's event loop is swallowed there and leaves its helper process
wedged, and one inside a fork with preexec_fn can deadlock: so the handler only sets INTERRUPTED, and
the builder checks it between steps and in every polling loop (`check_interrupted`, or a `stop`
callback), then cleans up.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

INTERRUPTED = threading.Event()
_depth = 0  # nested `interrupts_at_safe_points` (the controller's up around the lab's)


def check_interrupted() -> None:
    """Raise KeyboardInterrupt at a safe point if Ctrl-C, SIGTERM or SIGHUP arrived."""
    if INTERRUPTED.is_set():
        raise KeyboardInterrupt


@contextmanager
def interrupts_at_safe_points() -> Iterator[None]:
    global _depth
    if _depth:  # an outer block already catches them: its caller checks the same flag
        _depth += 1
        try:
            yield
        finally:
            _depth -= 1
        return
    owner = os.getpid()

    def handler(signum: int, frame: FrameType | None) -> None:
        if os.getpid() != owner:  # a child forked meanwhile (pyroute2 forks helpers)
            os._exit(128 + signum)
        INTERRUPTED.set()

    INTERRUPTED.clear()
    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    _depth = 1
    try:
        yield
    finally:
        _depth = 0
        for s, h in previous.items():
            signal.signal(s, h)
