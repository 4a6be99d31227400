"""Waiting for a condition: poll it with a deadline (FRR topotests' run_and_expect), never sleep to
synchronise. One helper for every wait in gwlab, from the runtime (daemons, processes) to the
controller (convergence, BGP state): here in lab/ because the runtime needs it and lab/ never imports
the controller.

`poll` returns what it saw last (`Polled`: ok, value, seconds, polls); `wait_for` raises a one-line
GwlabError at the deadline. Both call the check at least once, also with a zero timeout (a one-shot
look), and sleep only between checks, at most until the deadline.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from lab.errors import GwlabError

T = TypeVar("T")

INTERVAL_S = 0.1  # the default poll interval: state that changes on BGP or FIB time scales


@dataclass
class Deadline:
    """A point in time `timeout_s` from now, on the monotonic clock."""

    timeout_s: float
    start: float = field(default_factory=time.monotonic)

    @property
    def at(self) -> float:
        return self.start + self.timeout_s

    def left(self) -> float:
        return max(0.0, self.at - time.monotonic())

    def expired(self) -> bool:
        return time.monotonic() >= self.at

    def elapsed(self) -> float:
        return time.monotonic() - self.start


@dataclass
class Polled(Generic[T]):
    ok: bool  # the condition held before the deadline
    value: T  # what the check returned last
    seconds: float  # from the first check until the last one returned
    polls: int


def poll(
    check: Callable[[], T],
    done: Callable[[T], bool] = bool,
    *,
    timeout_s: float,
    interval_s: float = INTERVAL_S,
    stop: Callable[[], bool] | None = None,
) -> Polled[T]:
    """Call `check()` every `interval_s` until `done(value)` holds, `timeout_s` has passed or `stop()`
    says so; what it saw last comes back either way."""
    deadline = Deadline(timeout_s)
    polls = 0
    while True:
        value = check()
        polls += 1
        if done(value):
            return Polled(True, value, deadline.elapsed(), polls)
        if (stop is not None and stop()) or deadline.expired():
            return Polled(False, value, deadline.elapsed(), polls)
        time.sleep(min(interval_s, deadline.left()))  # the poll interval of a deadline-bounded wait


def wait_for(
    check: Callable[[], T],
    timeout_s: float,
    what: str,
    *,
    done: Callable[[T], bool] = bool,
    interval_s: float = INTERVAL_S,
    failed: Callable[[], str | None] | None = None,
) -> T:
    """`poll` that raises GwlabError("<what>: not within N s") at the deadline; `failed()` returning a
    message ends the wait early with that message (a daemon that exited)."""
    reason: list[str] = []

    def gave_up() -> bool:
        message = failed() if failed is not None else None
        if message is not None:
            reason.append(message)
        return message is not None

    result = poll(check, done, timeout_s=timeout_s, interval_s=interval_s, stop=gave_up if failed else None)
    if result.ok:
        return result.value
    if reason:
        raise GwlabError(reason[0])
    raise GwlabError(f"{what}: not within {timeout_s:g} s")
