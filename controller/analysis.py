"""Reading the probe record: per-flow statistics, which paths carried each direction in a window,
outages, losses, symmetry.

Pure functions over receiver records, arrivals (controller.results.Arrival) and the flow table, so
they are tested without a lab. A path element is the transit node a packet was marked by ("gw0",
"msee1"), from the data plane; the label's part after "/" names the tunnel or link.
"""

from __future__ import annotations

import bisect
import itertools
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise

from controller.results import Arrival, FlowSpec, FlowStats, Record
from lab.topology.naming import CE_COUNT, direction, msee_name, parse_direction

UNKNOWN_PATH = "unknown"  # the element of arrivals the data plane did not mark
MSEES = frozenset(msee_name(k) for k in range(CE_COUNT))  # the only ExpressRoute elements; gateways are named freely

Outage = tuple[dict[str, float], dict[str, int]]  # direction -> longest gap ms, direction -> packets lost


@dataclass(frozen=True)
class Gap:
    """One interruption of a flow: from the last packet before it to the first one after it."""

    flow: int
    began_ms: float  # send time of the first packet it held back: when the interruption began
    ms: float  # receive time of the packet after it minus that of the packet before it
    lost: int  # packets that never arrived in it
    due_ms: float  # when that packet was due, at the delay of the packet before it: a change made
    # before then (while it was in flight) can have caused the interruption


def element(label: str) -> str:
    """The node of a path label: "gw0/t-s1-vpn0" -> "gw0", "msee1" -> "msee1" (the oracle predicts nodes)."""
    return label.split("/", 1)[0]


def elements(label: str) -> list[str]:
    """The nodes of a path label: a VNet-to-VNet tunnel's ("v2-gw0~gw0") names both its instances."""
    return label.split("~") if "~" in label else [element(label)]


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
    first = ms(first_sent_ns, t0_ns) if first_sent_ns else None
    last = ms(last_sent_ns, t0_ns) if last_sent_ns else None
    gap, began = longest_gap(times, first, last)
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
        first_sent_ms=first,
        last_sent_ms=last,
    )


# -- a window of the run -----------------------------------------------------------------------------


def direction_of(flows: Sequence[FlowStats]) -> dict[int, str]:
    return {f.flow: f.direction for f in flows}


def paths_in_window(
    flows: Sequence[FlowStats],
    arrivals: Iterable[Arrival],
    start_ms: float,
    end_ms: float,
    labels: bool = False,
    by_send: bool = False,
) -> dict[str, list[str]]:
    """Direction -> sorted transit elements that carried packets received in [start, end) (`by_send`:
    sent in it); with `labels`, the whole path labels ("gw0/t-s1-vpn1": which device's tunnel through
    the instance)."""
    dirs = direction_of(flows)
    out: dict[str, set[str]] = {d: set() for d in dirs.values()}
    for a in arrivals:
        if start_ms <= (a.sent_ms if by_send else a.received_ms) < end_ms and a.flow in dirs:
            if not a.path:
                out[dirs[a.flow]].add(UNKNOWN_PATH)
            else:
                out[dirs[a.flow]].update([a.path] if labels else elements(a.path))
    return {d: sorted(e) for d, e in out.items()}


def tunnel_level(expected: Iterable[str]) -> bool:
    """Does an expected path name tunnels ("gw0/t-s1-vpn1") rather than elements ("gw0")?"""
    return any("/" in e or "~" in e for e in expected)


def received_in_window(
    flows: Sequence[FlowStats], arrivals: Iterable[Arrival], start_ms: float, end_ms: float
) -> dict[str, int]:
    dirs = direction_of(flows)
    out: dict[str, int] = {d: 0 for d in dirs.values()}
    for a in arrivals:
        if start_ms <= a.received_ms < end_ms and a.flow in dirs:
            out[dirs[a.flow]] += 1
    return out


# -- outages, each charged to the change it followed ------------------------------------------------


def _interval_ms(advancing: Sequence[Arrival]) -> float | None:
    """A flow's send interval: the median over consecutive new arrivals of the send time per sequence
    number (a sender that stalled and resumed its schedule skews a mean, not the median)."""
    steps = sorted((b.sent_ms - a.sent_ms) / (b.seq - a.seq) for a, b in pairwise(advancing))
    return steps[len(steps) // 2] if steps else None


def flow_interruptions(flow: FlowStats, items: Sequence[Arrival], until_ms: float | None = None) -> Iterator[Gap]:
    """Every interval in which a flow received nothing new, with when it began (the send time of the
    first packet it held back). `items` are the first arrival of each sequence number, in arrival
    order; an interval runs between consecutive arrivals that raised the highest number received so
    far. So a packet delayed on one path while later ones overtake it on another is no gap (the flow
    kept receiving), a duplicate or straggler is no relief, and a packet that came late is no loss.
    Time the sender itself fell behind its schedule is taken out: a starved prober that sent nothing
    for a second is no outage of the network (it resumes its sequence numbers where it stopped).
    The record's ends count too when they are known: a flow cut from its first send (`first_sent_ms`),
    or until its last one (`last_sent_ms`, else `until_ms`: a live record).
    """
    if not items:
        if flow.first_sent_ms is not None and flow.last_sent_ms is not None:
            gap = flow.last_sent_ms - flow.first_sent_ms
            yield Gap(flow.flow, flow.first_sent_ms, gap, flow.sent, flow.first_sent_ms)
        return
    received = {a.seq for a in items}
    advancing: list[Arrival] = []  # the arrivals that raised the highest sequence number so far
    for a in items:
        if not advancing or a.seq > advancing[-1].seq:
            advancing.append(a)
    interval = _interval_ms(advancing)

    def missing(low: int, high: int) -> int:  # sequence numbers in [low, high) that never arrived
        return sum(1 for seq in range(low, high) if seq not in received)

    first, last = advancing[0], advancing[-1]
    if flow.first_sent_ms is not None and first.seq > 0:
        gap = max(0.0, first.received_ms - flow.first_sent_ms)
        yield Gap(flow.flow, flow.first_sent_ms, gap, missing(0, first.seq), flow.first_sent_ms)
    for prev, nxt in pairwise(advancing):
        step = nxt.seq - prev.seq
        began = prev.sent_ms + (nxt.sent_ms - prev.sent_ms) / step
        delay = max(0.0, prev.received_ms - prev.sent_ms)
        late = 0.0 if interval is None else max(0.0, nxt.sent_ms - prev.sent_ms - step * interval)
        gap = max(0.0, nxt.received_ms - prev.received_ms - late)
        yield Gap(flow.flow, began, gap, missing(prev.seq + 1, nxt.seq), began + delay)
    end = flow.last_sent_ms if flow.last_sent_ms is not None else until_ms
    if end is None or interval is None or end <= last.sent_ms + interval:
        return
    if flow.last_sent_ms is not None and flow.sent:
        lost = max(0, flow.sent - 1 - last.seq)
    else:
        lost = int((end - last.sent_ms) / interval)
    began = last.sent_ms + interval
    delay = max(0.0, last.received_ms - last.sent_ms)
    yield Gap(flow.flow, began, max(0.0, end - last.received_ms), lost, began + delay)


def window_gaps(
    flows: Sequence[FlowStats],
    arrivals: Iterable[Arrival],
    starts: Sequence[float],
    end_ms: float,
    until_ms: float | None = None,
) -> list[dict[int, tuple[float, int]]]:
    """Per window [starts[i], starts[i+1]) (the last one ends at `end_ms`), per flow: the longest gap
    that began in it and the packets lost in the gaps that began in it. An outage belongs to the
    change it followed, however long it lasts: a flow still cut when the next change comes is that
    first change's outage, not the next one's. A gap begins when its first held-back packet was due
    (`Gap.due_ms`): a packet sent just before a change and lost in flight by it is that change's."""
    by_flow: dict[int, list[Arrival]] = defaultdict(list)
    known = {f.flow for f in flows}
    for a in arrivals:
        if a.flow in known:
            by_flow[a.flow].append(a)
    bounds = [*starts, end_ms]
    out: list[dict[int, tuple[float, int]]] = [{f.flow: (0.0, 0) for f in flows} for _ in starts]
    for flow in flows:
        first: dict[int, Arrival] = {}  # the first arrival of each seq, in arrival order
        for a in sorted(by_flow.get(flow.flow, []), key=lambda a: a.received_ms):
            first.setdefault(a.seq, a)
        for gap in flow_interruptions(flow, list(first.values()), until_ms):
            i = bisect.bisect_right(bounds, gap.due_ms) - 1
            if 0 <= i < len(starts):
                longest, lost = out[i][flow.flow]
                out[i][flow.flow] = (max(longest, gap.ms), lost + gap.lost)
    return out


def flow_gaps(
    flows: Sequence[FlowStats], arrivals: Iterable[Arrival], start_ms: float, end_ms: float
) -> dict[int, tuple[float, int]]:
    """Per flow: the longest gap that began in [start, end), and the packets lost in those gaps."""
    return window_gaps(flows, arrivals, [start_ms], end_ms)[0]


def by_direction(flows: Sequence[FlowStats], per_flow: Mapping[int, tuple[float, int]]) -> Outage:
    """Per direction: the longest gap of any one of its flows, and the packets its flows lost."""
    dirs = direction_of(flows)
    gap: dict[str, float] = {d: 0.0 for d in dirs.values()}
    lost: dict[str, int] = {d: 0 for d in dirs.values()}
    for flow, (g, n) in per_flow.items():
        d = dirs[flow]
        gap[d] = max(gap[d], g)
        lost[d] += n
    return gap, lost


def outage(flows: Sequence[FlowStats], arrivals: Iterable[Arrival], start_ms: float, end_ms: float) -> Outage:
    """Per direction: the longest gap that began in [start, end) and the packets lost in such gaps."""
    return by_direction(flows, flow_gaps(flows, arrivals, start_ms, end_ms))


def flow_paths(
    flows: Sequence[FlowStats], arrivals: Iterable[Arrival], start_ms: float, end_ms: float
) -> dict[int, list[str]]:
    """Per flow: the transit elements that carried its packets received in [start, end)."""
    dirs = direction_of(flows)
    out: dict[int, set[str]] = {f: set() for f in dirs}
    for a in arrivals:
        if start_ms <= a.received_ms < end_ms and a.flow in dirs:
            out[a.flow].update(elements(a.path) if a.path else [UNKNOWN_PATH])
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
