"""A scenario's `expect` steps judged on the probe record, once it is complete: paths, symmetry, the
outage and loss of the last change (a failure or a restore, in its own window), and per-flow bounds on
the flows a change did or did not concern. Pure: the record and what the runner noted in, Expectations out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from controller import analysis
from controller.attribution import crosses
from controller.measure import BEFORE_MS
from controller.oracle import Failures
from controller.results import Arrival, Expectation, FlowStats, Measured
from controller.scenario import Bounds, ExpectStep
from lab.topology import Topology, direction, parse_direction


@dataclass
class Change:
    """The last change before an expect step, as the runner made it."""

    label: str  # "gw0 crash", "gw0 restored"
    t_ms: float
    result: Measured
    concerns: Failures  # the elements it failed or brought back
    restore: bool  # a restore concerns the flows that cross the element after it, a failure those before


@dataclass
class Pending:
    """An expectation judged once the probe record is in."""

    step: int
    expect: ExpectStep
    start_ms: float
    end_ms: float
    oracle_paths: dict[str, list[str]]
    change: Change | None


def fmt_paths(paths: dict[str, list[str]]) -> str:
    return ", ".join(f"{d}: {'+'.join(e) or 'none'}" for d, e in sorted(paths.items()))


def _bounds_text(bounds: Bounds) -> str:
    lo, hi = bounds.min, bounds.max
    return " and ".join(
        x for x in (f">= {lo:g} ms" if lo is not None else "", f"<= {hi:g} ms" if hi is not None else "") if x
    )


def _outside(value: float, bounds: Bounds) -> bool:
    return (bounds.max is not None and value > bounds.max) or (bounds.min is not None and value < bounds.min)


def judge(
    p: Pending, flows: Sequence[FlowStats], arrivals: Sequence[Arrival], topo: Topology, end_ms: float
) -> list[Expectation]:
    e = p.expect
    out: list[Expectation] = []

    def add(kind: str, description: str, passed: bool, detail: str = "") -> None:
        out.append(Expectation(p.step, kind, description, passed, detail))

    if not flows and e.judges_traffic:
        add("expect", "traffic expectations", False, "no probes ran (add 'probes: start')")
        return out
    measured = analysis.paths_in_window(flows, arrivals, p.start_ms, p.end_ms)
    if e.paths is not None:
        want = p.oracle_paths if e.paths == "oracle" else e.paths
        # a direction expected at tunnel level ("gw0/t-s1-vpn1") is measured at tunnel level
        tunnels = analysis.paths_in_window(flows, arrivals, p.start_ms, p.end_ms, labels=True)
        got = {d: (tunnels if analysis.tunnel_level(want.get(d, [])) else measured).get(d, []) for d in measured}
        wrong = {
            d: (want.get(d, []), got.get(d, []))
            for d in sorted(set(want) | set(got))
            if (e.direction is None or d == e.direction) and want.get(d, []) != got.get(d, [])
        }
        source = "the oracle's" if e.paths == "oracle" else "the expected"
        detail = "; ".join(
            f"{d}: expected {w or 'no path'}, measured {m or 'no traffic'}" for d, (w, m) in wrong.items()
        )
        add("paths", f"traffic takes {source} paths {fmt_paths(want)}", not wrong, detail)
    if e.symmetric is not None:
        sym = analysis.symmetric(measured)
        ok = all(v == e.symmetric for v in sym.values()) and bool(sym)
        detail = (
            ""
            if ok
            else "; ".join(
                f"{site}: {'symmetric' if v else 'asymmetric'} (to Azure via "
                f"{measured.get(direction(site, True))}, back via {measured.get(direction(site, False))})"
                for site, v in sym.items()
            )
        )
        add("symmetric", f"routing is {'symmetric' if e.symmetric else 'asymmetric'}", ok, detail)
    if not e.judges_change:
        return out
    if p.change is None:
        add("outage", "outage bounds", False, "no failure or restore before this step")
        return out
    if e.flows is not None:
        out += _per_flow(p, p.change, flows, arrivals, topo, end_ms)
        return out
    change = p.change.result
    if e.outage_ms is not None:
        outages = {d: v for d, v in change.outage_ms.items() if e.direction is None or d == e.direction}
        bad = {d: v for d, v in outages.items() if _outside(v, e.outage_ms)}
        add(
            "outage",
            f"outage after {p.change.label} {_bounds_text(e.outage_ms)}",
            not bad and bool(outages),
            "; ".join(f"{d}: {v:.1f} ms" for d, v in (bad or outages).items()),
        )
    if e.lost_max is not None:
        lost = {d: v for d, v in change.lost.items() if e.direction is None or d == e.direction}
        bad_lost = {d: v for d, v in lost.items() if v > e.lost_max}
        add(
            "lost",
            f"at most {e.lost_max} packets lost after {p.change.label}",
            not bad_lost,
            "; ".join(f"{d}: {v}" for d, v in lost.items()),
        )
    return out


def concerned(
    change: Change, flows: Sequence[FlowStats], arrivals: Sequence[Arrival], topo: Topology, end_ms: float
) -> dict[int, bool]:
    """Per flow: did the change concern it? A failure: the flow crossed a failed element in the half
    second before it; a restore: it crosses the restored element once the lab has converged back. A
    flow of a flooded site is concerned by its flood."""
    if change.restore:
        start = change.t_ms + (change.result.converged_ms or 0.0)
        window = (start, min(start + BEFORE_MS, change.result.window_end_ms or end_ms))
    else:
        window = (change.t_ms - BEFORE_MS, change.t_ms)
    labels: dict[int, set[str]] = {f.flow: set() for f in flows}
    for a in arrivals:
        if window[0] <= a.received_ms < window[1] and a.flow in labels and a.path:
            labels[a.flow].add(a.path)
    out = {}
    for f in flows:
        parsed = parse_direction(f.direction)
        flooded = parsed is not None and parsed[0] in change.concerns.flooded
        out[f.flow] = flooded or any(crosses(topo, label, change.concerns) for label in labels[f.flow])
    return out


def _per_flow(
    p: Pending, change: Change, flows: Sequence[FlowStats], arrivals: Sequence[Arrival], topo: Topology, end_ms: float
) -> list[Expectation]:
    e = p.expect
    assert e.flows is not None
    touched = concerned(change, flows, arrivals, topo, end_ms)
    chosen = [
        f
        for f in flows
        if (e.direction is None or f.direction == e.direction)
        and (e.flows == "all" or touched[f.flow] == (e.flows == "touched"))
    ]
    bounds = [f"at most {e.lost_max} packets lost"] if e.lost_max is not None else []
    if e.outage_ms is not None:
        bounds.append(f"outage {_bounds_text(e.outage_ms)}")
    which = {"all": "every flow", "touched": "flows it concerned", "untouched": "flows it did not concern"}[e.flows]
    description = f"{which} after {change.label}: {', '.join(bounds) or 'measured'}"
    if not chosen:
        return [Expectation(p.step, "flows", description, False, f"no such flow (of {len(flows)})")]
    gaps = analysis.flow_gaps(flows, arrivals, change.t_ms, change.result.window_end_ms or end_ms)
    bad = []
    for f in chosen:
        gap, lost = gaps[f.flow]
        if (e.lost_max is not None and lost > e.lost_max) or (e.outage_ms is not None and _outside(gap, e.outage_ms)):
            bad.append(f"flow {f.flow} ({f.direction}): {lost} lost, outage {gap:.1f} ms")
    detail = "; ".join(bad) if bad else f"{len(chosen)} flows"
    return [Expectation(p.step, "flows", description, not bad, detail)]
