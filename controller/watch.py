"""What `gwlab watch` shows, computed from the live probe record: each flow's current path and loss,
and the last failure with its outage so far per direction. Pure bookkeeping over arrivals, fed in
batches as the receivers spool them (each batch is only what is new): a long watch stays linear.

A flow's loss is what it is missing of the sequence numbers it has shown (seq counts from 0); a
direction's outage after a failure is its longest gap between two arrivals since the failure, or the
gap still open now."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from controller.results import Arrival, FlowStats

SILENT_FACTOR = 4  # a flow is down once it has been silent this many of its intervals (and 100 ms)


@dataclass
class FlowView:
    flow: int
    direction: str
    path: str = ""  # the last arrival's path label, e.g. "gw0/t-s1-vpn0"
    received: int = 0
    highest_seq: int = -1
    last_rx_ms: float | None = None

    @property
    def lost(self) -> int:
        return max(self.highest_seq + 1 - self.received, 0)

    @property
    def loss_pct(self) -> float:
        return 100.0 * self.lost / (self.highest_seq + 1) if self.highest_seq >= 0 else 0.0


@dataclass
class FailureView:
    target: str
    mode: str
    since_ms: float
    restored_ms: float | None = None
    outage_ms: dict[str, float] = field(default_factory=dict)  # direction -> longest gap so far


@dataclass
class WatchState:
    interval_ms: float  # one flow's packet interval (1000 / rate)
    flows: dict[int, FlowView] = field(default_factory=dict)
    failure: FailureView | None = None
    _active: tuple[tuple[str, str], ...] = ()

    def feed(self, flows: Sequence[FlowStats], new: Sequence[Arrival]) -> None:
        """New arrivals (in spool order), with the flows they belong to."""
        for f in flows:
            self.flows.setdefault(f.flow, FlowView(f.flow, f.direction))
        for a in sorted(new, key=lambda a: a.received_ms):
            view = self.flows.get(a.flow)
            if view is None:
                continue
            previous = view.last_rx_ms
            view.received += 1
            view.highest_seq = max(view.highest_seq, a.seq)
            view.path = a.path or "unknown"
            view.last_rx_ms = a.received_ms if previous is None else max(previous, a.received_ms)
            if self.failure is not None and previous is not None and a.received_ms >= self.failure.since_ms:
                gap = a.received_ms - max(previous, self.failure.since_ms)
                outage = self.failure.outage_ms
                outage[view.direction] = max(outage.get(view.direction, 0.0), gap)

    def failures_now(self, active: Sequence[tuple[str, str]], now_ms: float) -> None:
        """The failures in effect (target, mode), read from the lab's record: a new one is the last failure."""
        current = tuple(active)
        added = [f for f in current if f not in self._active]
        if added:
            target, mode = added[-1]
            self.failure = FailureView(target, mode, now_ms)
        elif (
            self.failure is not None
            and (self.failure.target, self.failure.mode) not in current
            and self.failure.restored_ms is None
        ):
            self.failure.restored_ms = now_ms
        self._active = current

    def down(self, view: FlowView, now_ms: float) -> float:
        """How long the flow has been silent, when that is longer than it should be (else 0)."""
        if view.last_rx_ms is None:
            return 0.0
        silent = now_ms - view.last_rx_ms
        return silent if silent > max(SILENT_FACTOR * self.interval_ms, 100.0) else 0.0

    def outage_so_far(self, now_ms: float) -> dict[str, float]:
        """The last failure's outage per direction, the gap still open included (while it is failed)."""
        if self.failure is None:
            return {}
        out = dict(self.failure.outage_ms)
        for view in self.flows.values():
            if view.last_rx_ms is not None and self.down(view, now_ms):
                open_gap = now_ms - max(view.last_rx_ms, self.failure.since_ms)
                out[view.direction] = max(out.get(view.direction, 0.0), open_gap)
        return out
