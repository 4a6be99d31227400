"""Reading the probe record: which paths carried each direction in a window, outages, losses.

Pure functions over arrivals (controller.results.Arrival) and the flow table, so they are tested
without a lab. A path element is the transit node a packet was marked by ("gw0", "msee1"), from the
data plane; the label's part after "/" names the tunnel or link.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from itertools import pairwise

from controller.results import Arrival, FlowStats


def element(label: str) -> str:
    return label.split("/", 1)[0]


def direction_of(flows: Sequence[FlowStats]) -> dict[int, str]:
    return {f.flow: f.direction for f in flows}


def paths_in_window(
    flows: Sequence[FlowStats], arrivals: Iterable[Arrival], start_ms: float, end_ms: float
) -> dict[str, list[str]]:
    """Direction -> sorted transit elements that carried packets received in [start, end)."""
    dirs = direction_of(flows)
    out: dict[str, set[str]] = {d: set() for d in dirs.values()}
    for a in arrivals:
        if start_ms <= a.received_ms < end_ms and a.flow in dirs:
            out[dirs[a.flow]].add(element(a.path) if a.path else "unknown")
    return {d: sorted(e) for d, e in out.items()}


def received_in_window(
    flows: Sequence[FlowStats], arrivals: Iterable[Arrival], start_ms: float, end_ms: float
) -> dict[str, int]:
    dirs = direction_of(flows)
    out: dict[str, int] = {d: 0 for d in dirs.values()}
    for a in arrivals:
        if start_ms <= a.received_ms < end_ms and a.flow in dirs:
            out[dirs[a.flow]] += 1
    return out


def flow_gaps(
    flows: Sequence[FlowStats], arrivals: Iterable[Arrival], start_ms: float, end_ms: float
) -> dict[int, tuple[float, int]]:
    """Per flow: the longest gap between consecutive arrivals that overlaps [start, end), and the
    packets lost around the window: sequence numbers missing between the last arrival sent before
    `start` and the first one sent at or after `end` (a flow cut off until after `end` counts every
    packet it lost, as its gap does)."""
    dirs = direction_of(flows)
    by_flow: dict[int, list[Arrival]] = defaultdict(list)
    for a in arrivals:
        if a.flow in dirs:
            by_flow[a.flow].append(a)
    out: dict[int, tuple[float, int]] = {f: (0.0, 0) for f in dirs}
    for flow, items in by_flow.items():
        items.sort(key=lambda a: a.received_ms)
        gap = 0.0
        for prev, nxt in pairwise(items):
            if nxt.received_ms < start_ms or prev.received_ms >= end_ms:
                continue
            gap = max(gap, nxt.received_ms - prev.received_ms)
        before = [a.seq for a in items if a.sent_ms < start_ms]
        inside = {a.seq for a in items if start_ms <= a.sent_ms < end_ms}
        after = [a.seq for a in items if a.sent_ms >= end_ms]
        lo = max(before) if before else (min(inside) - 1 if inside else None)
        hi = min(after) if after else (max(inside) + 1 if inside else None)
        lost = 0
        if lo is not None and hi is not None and hi > lo + 1:
            lost = (hi - lo - 1) - len({s for s in inside if lo < s < hi})
        out[flow] = (gap, max(0, lost))
    return out


def outage(
    flows: Sequence[FlowStats], arrivals: Iterable[Arrival], start_ms: float, end_ms: float
) -> tuple[dict[str, float], dict[str, int]]:
    """Per direction: the longest gap of any one of its flows that overlaps [start, end), and the
    packets its flows lost around the window (see flow_gaps)."""
    dirs = direction_of(flows)
    gap: dict[str, float] = {d: 0.0 for d in dirs.values()}
    lost: dict[str, int] = {d: 0 for d in dirs.values()}
    for flow, (g, n) in flow_gaps(flows, arrivals, start_ms, end_ms).items():
        d = dirs[flow]
        gap[d] = max(gap[d], g)
        lost[d] += n
    return gap, lost


def flow_paths(
    flows: Sequence[FlowStats], arrivals: Iterable[Arrival], start_ms: float, end_ms: float
) -> dict[int, list[str]]:
    """Per flow: the transit elements that carried its packets received in [start, end)."""
    dirs = direction_of(flows)
    out: dict[int, set[str]] = {f: set() for f in dirs}
    for a in arrivals:
        if start_ms <= a.received_ms < end_ms and a.flow in dirs:
            out[a.flow].add(element(a.path) if a.path else "unknown")
    return {f: sorted(e) for f, e in out.items()}


def kind(element_name: str) -> str:
    """ExpressRoute or VPN: what the symmetry check compares."""
    if element_name.startswith("msee"):
        return "expressroute"
    if element_name in ("", "unknown"):
        return "unknown"
    return "vpn"


def symmetric(paths: dict[str, list[str]]) -> dict[str, bool]:
    """Per site: forward and return traffic cross the same kind of path (ExpressRoute vs VPN)."""
    sites = {d.split("->")[0] for d in paths if not d.startswith("azure->")}
    out = {}
    for site in sorted(sites):
        fwd = {kind(e) for e in paths.get(f"{site}->azure", [])}
        ret = {kind(e) for e in paths.get(f"azure->{site}", [])}
        out[site] = bool(fwd) and fwd == ret
    return out
