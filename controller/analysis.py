"""Reading the probe record: per-flow statistics, which paths carried each direction in a window,
outages, losses, symmetry.

Pure functions over receiver records, arrivals (controller.results.Arrival) and the flow table, so
they are tested without a lab. A path element is the transit node a packet was marked by ("gw0",
"msee1"), from the data plane; the label's part after "/" names the tunnel or link.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from itertools import pairwise

from controller.results import Arrival, FlowSpec, FlowStats, Record
from lab.topology.naming import CE_COUNT, direction, msee_name, parse_direction

UNKNOWN_PATH = "unknown"  # the element of arrivals the data plane did not mark
MSEES = frozenset(msee_name(k) for k in range(CE_COUNT))  # the only ExpressRoute elements; gateways are named freely


def element(label: str) -> str:
    """The node of a path label: "gw0/t-s1-vpn0" -> "gw0", "msee1" -> "msee1" (the oracle predicts nodes)."""
    return label.split("/", 1)[0]


# -- one flow ----------------------------------------------------------------------------------------


def count_reordered(seqs: Iterable[int]) -> int:
    """Packets that arrived after a packet with a higher sequence number (duplicates not counted)."""
    highest = -1
    seen: set[int] = set()
    reordered = 0
    for s in seqs:
        if s in seen:
            continue
        seen.add(s)
        if s < highest:
            reordered += 1
        else:
            highest = s
    return reordered


def longest_gap(
    times: Sequence[float], start: float | None = None, end: float | None = None
) -> tuple[float, float | None]:
    """Longest interval between consecutive arrival times, and when it began.

    `start` and `end` (the flow's first and last send times) bound the series: a flow that is cut
    off until the end, or from the beginning, shows that interval; nothing arrived at all gives
    end - start. Without arrivals or bounds: (0.0, None).
    """
    points = sorted(times)
    if start is not None and (not points or start < points[0]):
        points.insert(0, start)
    if end is not None and (not points or end > points[-1]):
        points.append(end)
    best, began = 0.0, None
    for a, b in itertools.pairwise(points):
        if b - a > best:
            best, began = b - a, a
    return best, began


def ms(ns: int, t0_ns: int) -> float:
    return (ns - t0_ns) / 1e6


def flow_stats(
    spec: FlowSpec,
    sent: int,
    first_sent_ns: int | None,
    last_sent_ns: int | None,
    records: Sequence[Record],
    t0_ns: int,
    paths: Mapping[str, int] | None = None,
) -> FlowStats:
    """One flow's figures from its receiver records (in arrival order) and its sender's counts."""
    seqs = [r[1] for r in records]
    unique = len(set(seqs))
    times = [ms(r[3], t0_ns) for r in records]
    gap, began = longest_gap(
        times, ms(first_sent_ns, t0_ns) if first_sent_ns else None, ms(last_sent_ns, t0_ns) if last_sent_ns else None
    )
    return FlowStats(
        flow=spec.flow,
        direction=spec.direction,
        src=spec.src,
        dst=spec.dst,
        sport=spec.sport,
        dport=spec.dport,
        sent=sent,
        received=unique,
        lost=max(0, sent - unique),
        reordered=count_reordered(seqs),
        longest_gap_ms=round(gap, 3),
        gap_start_ms=None if began is None else round(began, 3),
        paths=dict(sorted((paths or {}).items())),
    )


# -- a window of the run -----------------------------------------------------------------------------


def direction_of(flows: Sequence[FlowStats]) -> dict[int, str]:
    return {f.flow: f.direction for f in flows}


def paths_in_window(
    flows: Sequence[FlowStats], arrivals: Iterable[Arrival], start_ms: float, end_ms: float, labels: bool = False
) -> dict[str, list[str]]:
    """Direction -> sorted transit elements that carried packets received in [start, end); with `labels`,
    the whole path labels ("gw0/t-s1-vpn1": which device's tunnel through the instance)."""
    dirs = direction_of(flows)
    out: dict[str, set[str]] = {d: set() for d in dirs.values()}
    for a in arrivals:
        if start_ms <= a.received_ms < end_ms and a.flow in dirs:
            out[dirs[a.flow]].add((a.path if labels else element(a.path)) if a.path else UNKNOWN_PATH)
    return {d: sorted(e) for d, e in out.items()}


def tunnel_level(expected: Iterable[str]) -> bool:
    """Does an expected path name tunnels ("gw0/t-s1-vpn1") rather than elements ("gw0")?"""
    return any("/" in e for e in expected)


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
            out[a.flow].add(element(a.path) if a.path else UNKNOWN_PATH)
    return {f: sorted(e) for f, e in out.items()}


def kind(element_name: str) -> str:
    """ExpressRoute or VPN: what the symmetry check compares."""
    if element_name in MSEES:
        return "expressroute"
    if element_name in ("", UNKNOWN_PATH):
        return UNKNOWN_PATH
    return "vpn"


def symmetric(paths: Mapping[str, Sequence[str]]) -> dict[str, bool]:
    """Per site: forward and return traffic cross the same kind of path (ExpressRoute vs VPN).
    A direction that nothing crossed is not symmetric with anything."""
    sites = {parsed[0] for d in paths if (parsed := parse_direction(d)) is not None}
    out = {}
    for site in sorted(sites):
        fwd = {kind(e) for e in paths.get(direction(site, to_azure=True), [])}
        ret = {kind(e) for e in paths.get(direction(site, to_azure=False), [])}
        out[site] = bool(fwd) and fwd == ret
    return out
