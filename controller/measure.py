"""Each change of a lab measured in its own window, from the probe record: a failure or a restore, from
the moment it was made until the next change (or the end of the record).

Pure: changes, probe runs and FIB changes in, measurements written into each change's result
(controller.results.Measured). Used live while probes run (a session's `fail` returns measured figures)
and again on the final record, which replaces the live figures.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from controller import analysis
from controller.results import Arrival, FibChange, FlowStats, Measured

BEFORE_MS = 500.0  # the paths before a change: the traffic of the last half second before it
AFTER_MS = 500.0  # the paths after: half a second of traffic once the lab has converged
SETTLE_MS = 50.0  # after the last FIB change's stamp (when the monitor read it), before the paths after
MIN_WINDOW_MS = 50.0  # shorter than this, a path window says nothing


@dataclass
class Change:
    """A change of the lab, as the session made it."""

    t_ms: float
    result: Measured
    skip: frozenset[str] = frozenset()  # nodes failed after it (a crashed node's FIB is not convergence)
    converged_until_ms: float | None = None  # when the wait saw the lab converged; None: it did not
    settled_ms: float | None = None  # its last FIB change, once converged


@dataclass
class ProbeRun:
    """One probe session's record: final once stopped, or read live (`until_ms`: how far it is known)."""

    flows: list[FlowStats]
    arrivals: list[Arrival]
    until_ms: float | None = None


def last_fib_change(changes: Iterable[FibChange], since_ms: float, until_ms: float, skip: frozenset[str]) -> float:
    """When the FIBs last changed in [since, until], failed nodes left out; `since` if they did not."""
    found = [c.t_ms for c in changes if since_ms <= c.t_ms <= until_ms and c.node not in skip]
    return max(found, default=since_ms)


class _ByTime:
    """A run's arrivals in receive order and in send order, so that a window is a slice (a half-hour
    run has a million arrivals and hundreds of changes: scanning them all per window took longer than
    the run)."""

    def __init__(self, run: ProbeRun) -> None:
        self.flows = run.flows
        self.received = sorted(run.arrivals, key=lambda a: a.received_ms)
        self.received_at = [a.received_ms for a in self.received]
        self.sent = sorted(run.arrivals, key=lambda a: a.sent_ms)
        self.sent_at = [a.sent_ms for a in self.sent]

    def paths(self, start: float, end: float, by_send: bool) -> dict[str, list[str]]:
        arrivals, times = (self.sent, self.sent_at) if by_send else (self.received, self.received_at)
        window = arrivals[bisect.bisect_left(times, start) : bisect.bisect_left(times, end)]
        return analysis.paths_in_window(self.flows, window, start, end, by_send=by_send)


def _paths(runs: Sequence[_ByTime], start: float, end: float, by_send: bool = False) -> dict[str, list[str]]:
    merged: dict[str, set[str]] = {}
    for run in runs:
        for direction, elements in run.paths(start, end, by_send).items():
            merged.setdefault(direction, set()).update(elements)
    return {d: sorted(e) for d, e in merged.items()}


def _after_window(change: Change, window_end: float) -> tuple[float, float]:
    start = (change.settled_ms if change.settled_ms is not None else change.t_ms) + SETTLE_MS
    end = min(start + AFTER_MS, window_end)
    if end - start < MIN_WINDOW_MS:  # the next change came first: the last traffic before it
        start, end = max(change.t_ms, window_end - AFTER_MS), window_end
    return start, end


def measure(changes: Sequence[Change], runs: Sequence[ProbeRun], fib: Sequence[FibChange], end_ms: float) -> None:
    """Write every change's window figures into its result: outage and loss per direction (the gaps
    that began in its window), the measured paths before and after it, symmetry after it, and the FIB
    changes in its window. Without probe runs only the windows and FIB changes are filled."""
    starts = [c.t_ms for c in changes]
    ends = [*starts[1:], end_ms]
    fib_sorted = sorted(fib, key=lambda c: c.t_ms)
    fib_times = [c.t_ms for c in fib_sorted]
    per_run = [analysis.window_gaps(r.flows, r.arrivals, starts, end_ms, r.until_ms) for r in runs]
    by_time = [_ByTime(r) for r in runs]
    for i, change in enumerate(changes):
        m = change.result
        last = i == len(changes) - 1
        m.window_end_ms = None if last else ends[i]
        lo, hi = bisect.bisect_left(fib_times, change.t_ms), bisect.bisect_left(fib_times, ends[i])
        if last:
            hi = bisect.bisect_right(fib_times, ends[i])
        m.fib_changes = fib_sorted[lo:hi]
        if not runs:
            continue
        outage: dict[str, float] = {}
        lost: dict[str, int] = {}
        for run, windows in zip(runs, per_run, strict=True):
            gaps, losses = analysis.by_direction(run.flows, windows[i])
            for d, g in gaps.items():
                outage[d] = max(outage.get(d, 0.0), g)
                lost[d] = lost.get(d, 0) + losses[d]
        m.outage_ms, m.lost = outage, lost
        before_start = max(change.t_ms - BEFORE_MS, starts[i - 1] if i else change.t_ms - BEFORE_MS)
        m.path_before = _paths(by_time, before_start, change.t_ms)
        # before: what arrived before the change; after: what was sent once the lab had settled, since a
        # packet forwarded on an old path may still arrive later (userspace ESP under load: 100+ ms)
        start, end = _after_window(change, ends[i])
        m.path_after = _paths(by_time, start, end, by_send=True)
        if end < ends[i] and not all(m.path_after.values()):
            # a direction that delivered nothing sent then (its prober starved, or still cut): the
            # path of what it sent next, before the next change; its outage figure shows the silence
            later = _paths(by_time, start, ends[i], by_send=True)
            m.path_after = {d: e or later.get(d, []) for d, e in m.path_after.items()}
        sym = analysis.symmetric(m.path_after)
        m.symmetric_after = all(sym.values()) if sym else None
