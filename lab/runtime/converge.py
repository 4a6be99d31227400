"""Wait until the lab matches the oracle: every expected BGP session Established, every FIB as predicted.

Polled every 100 ms with a deadline (FRR topotests' json_cmp idea, applied to sessions and FIBs);
what is still wrong at the deadline comes back as a list of readable differences.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from pyroute2 import NetNS

from controller.oracle import Prediction
from lab.runtime.frr import bgp_peers
from lab.runtime.kernel import bgp_routes
from lab.runtime.state import namespace_name
from lab.topology import Topology

POLL_S = 0.1


@dataclass
class Difference:
    node: str
    what: str  # "session" or "fib"
    item: str  # neighbor address or prefix
    expected: str
    actual: str


def _fmt(hops: Any) -> str:
    return ", ".join(sorted(f"{gw or 'direct'}@{dev}" for gw, dev in hops)) or "none"


def differences(
    topo: Topology, pred: Prediction, handles: dict[str, Any], skip: set[str] | frozenset[str] = frozenset()
) -> list[Difference]:
    """What differs from the prediction; `skip`: failed nodes (a crashed router's FIB is stale)."""
    routers = [n for n in topo.routers() if n.name in handles and n.name not in skip]

    def probe(node_name: str) -> tuple[str, dict[str, dict[str, Any]], dict[Any, Any]]:
        ns = namespace_name(topo.name, node_name)
        try:
            routes = bgp_routes(handles[node_name])
        except (RuntimeError, TimeoutError, OSError):
            # pyroute2's namespace helper can miss its deadline on a loaded machine: this poll sees
            # the node as not converged, the next one asks again.
            routes = {}
        return node_name, bgp_peers(ns), routes

    diffs: list[Difference] = []
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(probe, [n.name for n in routers]))
    for name, peers, fib in results:
        for (node, addr), expected_up in pred.sessions.items():
            if node != name:
                continue
            state = peers.get(str(addr), {}).get("state", "absent")
            if (state == "Established") != expected_up:
                diffs.append(Difference(name, "session", str(addr), "Established" if expected_up else "down", state))
        want = {p: e.next_hops for p, e in pred.fib.get(name, {}).items()}
        for prefix in sorted(set(want) | set(fib)):
            if want.get(prefix) != fib.get(prefix):
                diffs.append(
                    Difference(name, "fib", str(prefix), _fmt(want.get(prefix, ())), _fmt(fib.get(prefix, ())))
                )
    return diffs


def wait(
    topo: Topology,
    pred: Prediction,
    timeout_s: float,
    progress: Callable[[int, int], None] | None = None,
    skip: set[str] | frozenset[str] = frozenset(),
    stop: Callable[[], bool] | None = None,
) -> tuple[bool, float, list[Difference]]:
    """Poll until no difference is left, the deadline passes or `stop()` says so; returns
    (converged, seconds, differences)."""
    handles = {n.name: NetNS(namespace_name(topo.name, n.name)) for n in topo.routers() if n.name not in skip}
    total = len(pred.sessions) + sum(len(f) for f in pred.fib.values())
    start = time.monotonic()
    try:
        while True:
            diffs = differences(topo, pred, handles, skip)
            if progress is not None:
                progress(total - min(len(diffs), total), total)
            if not diffs:
                return True, time.monotonic() - start, []
            if time.monotonic() - start > timeout_s or (stop is not None and stop()):
                return False, time.monotonic() - start, diffs
            time.sleep(POLL_S)  # the poll interval of a deadline-bounded wait
    finally:
        for h in handles.values():
            h.close()
