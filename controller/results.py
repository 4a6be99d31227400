"""What a run measured: the data that probes and failures produce and reports consume.

Times are milliseconds on the shared kernel monotonic clock, relative to `RunReport.t0_ns`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

Record = tuple[int, int, int, int, int]  # a receiver's record of one packet: flow, seq, sent_ns, received_ns, tos


@dataclass(frozen=True)
class FlowSpec:
    """One probe flow as planned: its direction, end nodes and ports (the destination port names it)."""

    flow: int
    direction: str
    src: str
    dst: str
    sport: int
    dport: int


@dataclass(slots=True)
class Arrival:
    """One received probe packet (slots: a half-hour run holds a million of them)."""

    flow: int
    seq: int
    sent_ms: float
    received_ms: float
    path: str  # transit element the data plane marked it with, e.g. "gw0/t-s1-vpn0", "msee1"; "" unknown


@dataclass
class FlowStats:
    flow: int
    direction: str  # "s1->azure" or "azure->s1"
    src: str  # node names
    dst: str
    sport: int
    dport: int
    sent: int = 0
    received: int = 0
    lost: int = 0
    reordered: int = 0
    longest_gap_ms: float = 0.0  # longest interval between consecutive arrivals (the outage)
    gap_start_ms: float | None = None  # when that longest gap began
    paths: dict[str, int] = field(default_factory=dict)  # transit element -> packets, from counters
    first_sent_ms: float | None = None  # the sender's first and last packet (None: not known yet, live)
    last_sent_ms: float | None = None


@dataclass
class FibChange:
    node: str
    t_ms: float
    prefix: str
    action: str  # "add", "del"
    next_hops: list[str] = field(default_factory=list)  # "gateway@device"


@dataclass(kw_only=True)
class Measured:
    """What one change of the lab (a failure injected, a restore) did, measured in its own window:
    from the change until the next one (or the end of the run). Outages belong to the window in which
    they began (controller.analysis.window_gaps); paths come from the data plane's marks."""

    converged_ms: float | None = None  # from the change until the last FIB change of the convergence
    differences: list[str] = field(default_factory=list)  # what still differed from the oracle (not converged)
    window_end_ms: float | None = None  # the next change; None: the end of the run
    outage_ms: dict[str, float] = field(default_factory=dict)  # direction -> longest gap across its flows
    lost: dict[str, int] = field(default_factory=dict)  # direction -> packets lost
    path_before: dict[str, list[str]] = field(default_factory=dict)  # direction -> elements (measured)
    path_after: dict[str, list[str]] = field(default_factory=dict)
    expected_path_after: dict[str, list[str]] = field(default_factory=dict)  # from the oracle
    symmetric_after: bool | None = None
    fib_changes: list[FibChange] = field(default_factory=list)

    @property
    def converged(self) -> bool:
        return self.converged_ms is not None

    @property
    def paths(self) -> dict[str, list[str]]:
        """The paths traffic took once the lab had converged, measured (empty without probes)."""
        return self.path_after

    @property
    def expected_paths(self) -> dict[str, list[str]]:
        """The oracle's paths for the failures in effect after the change."""
        return self.expected_path_after


@dataclass
class RestoreResult(Measured):
    """A failure undone: a restore moves traffic too, and is measured like a failure."""

    target: str
    restored_ms: float


@dataclass
class FailureResult(Measured):
    target: str
    mode: str
    injected_ms: float
    detection: str  # what detects it: "link-down", "bfd", "hold-timer", "withdraw", "failover", "max-prefix"
    expected_detection_ms: float  # what that mechanism implies with the lab's timers
    restored_ms: float | None = None
    restore: RestoreResult | None = None  # its restore, measured in its own window


@dataclass
class Expectation:
    step: int
    kind: str  # "converge", "paths", "symmetric", "outage", ...
    description: str
    passed: bool
    detail: str = ""
    duration_ms: float = 0.0


@dataclass
class StepRecord:
    """One step of a run as it was carried out (a scenario's step, a chaos action)."""

    step: int
    action: str  # "fail", "restore", "converge", "probes", "expect", "observe"
    what: str  # "gw0 crash", "start", ...
    t_ms: float
    duration_ms: float = 0.0
    ok: bool = True
    detail: str = ""


@dataclass
class RunReport:
    lab: str
    scenario: str
    profile: str  # timing profile, said in every report
    started: str  # ISO 8601 wall-clock time
    t0_ns: int  # monotonic origin of every *_ms field
    duration_ms: float = 0.0
    passed: bool = True
    failures: list[FailureResult] = field(default_factory=list)
    expectations: list[Expectation] = field(default_factory=list)
    flows: list[FlowStats] = field(default_factory=list)
    arrivals: list[Arrival] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    steps: list[StepRecord] = field(default_factory=list)  # what was done, when, in order

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("arrivals")  # bulky; the timeline picture shows them
        data["arrival_count"] = len(self.arrivals)
        return data
