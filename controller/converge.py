"""Has the lab converged? The one definition: every expected BGP session Established, every FIB and
every IPsec tunnel (its VTIs' carrier: IKE and a CHILD_SA up) as the oracle predicts, and a BFD session
at the profile's timers under every BGP session that has BFD and should be up; and `up` until it has.

Polled every 100 ms with a deadline (FRR topotests' json_cmp idea, applied to sessions and FIBs);
what is still wrong at the deadline comes back as a list of readable differences. FIBs are read
in the namespaces the lab's runtime hands out, by a thread per node kept for the whole wait
(lab.runtime.netlink) through a raw rtnetlink dump (lab.runtime.rtnl), and BGP from bgpd's vty socket in the
node's FRR directory: a poll spawns no process and no thread, on any runtime. BFD is
read from bfdd's vty socket the same way, once sessions and FIBs agree.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Mapping, Set
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from controller.oracle import Prediction, predict
from lab.errors import GwlabError
from lab.poll import poll
from lab.runtime import lifecycle, rtnl
from lab.runtime.backends import DEFAULT
from lab.runtime.base import Progress
from lab.runtime.daemons import no_progress
from lab.runtime.frr import bgp_peers, vty, vty_session
from lab.runtime.interrupts import INTERRUPTED, check_interrupted, interrupts_at_safe_points
from lab.runtime.kernel import bgp_routes, carriers, live_routes
from lab.runtime.netlink import Handles
from lab.runtime.running import RunningLab
from lab.runtime.state import LabState
from lab.topology import Topology

POLL_S = 0.1

Peers = Callable[[str], dict[str, dict[str, Any]]]  # node -> `show bgp summary` peers


@dataclass
class Difference:
    node: str
    what: str  # "session", "fib", "tunnel", "route" (static, over a tunnel), "p2s", "bfd" or "read"
    item: str  # neighbor address, prefix, VTI or a client's virtual IP
    expected: str
    actual: str


def describe(diffs: list[Difference], most: int = 12) -> list[str]:
    """The differences as lines a user reads ("gw0 fib 10.1.0.0/16: expected ..., got ..."), the
    first `most` of them and a count of the rest."""
    lines = [f"{d.node} {d.what} {d.item}: expected {d.expected}, got {d.actual}" for d in diffs[:most]]
    if len(diffs) > most:
        lines.append(f"(+{len(diffs) - most} more)")
    return lines


def _fmt(hops: Any) -> str:
    return ", ".join(sorted(f"{gw or 'direct'}@{dev}" for gw, dev in hops)) or "none"


def expected_vtis(topo: Topology, pred: Prediction) -> dict[str, dict[str, bool]]:
    """router -> VTI -> carrier expected: an IPsec tunnel's VTIs have carrier exactly while IKE and a
    CHILD_SA are up (its endpoints' updown hooks), which the oracle predicts per tunnel. An active/standby
    device's VTI serves both instances' tunnels: up when either is."""
    out: dict[str, dict[str, bool]] = {}
    for t in topo.tunnels:
        if t.kind == "ipsec":
            for end in t.ends():
                mine = out.setdefault(end.node, {})
                mine[end.vti] = mine.get(end.vti, False) or pred.tunnels.get(t.name, False)
    return out


def _updown(up: bool) -> str:
    return "up" if up else "down"


def _p2s_differences(
    topo: Topology, pred: Prediction, held: Mapping[str, set[str] | BaseException]
) -> list[Difference]:
    """A point-to-site client holds its virtual IP (charon put it on its ipsec0) exactly while the oracle
    says an instance serves it."""
    diffs = []
    for client in topo.p2s.clients if topo.p2s else []:
        if client.node not in held:
            continue
        found = held[client.node]
        addresses = found if isinstance(found, set) else set()
        expected, actual = pred.p2s.get(client.node) is not None, str(client.vip) in addresses
        if expected != actual:
            state = {True: "connected", False: "disconnected"}
            diffs.append(Difference(client.node, "p2s", str(client.vip), state[expected], state[actual]))
    return diffs


def _addresses(_: str, ipr: Any) -> set[str]:
    return {a.get_attr("IFA_ADDRESS") for a in ipr.get_addr(family=2)}


Look = tuple[dict[str, dict[str, Any]], dict[Any, Any], dict[str, bool], set[Any]]  # peers, FIB, carriers, live


def differences(
    topo: Topology,
    pred: Prediction,
    handles: Handles,
    peers: Peers,
    skip: Set[str] = frozenset(),
    only: Set[str] | None = None,
) -> list[Difference]:
    """What differs from the prediction, read through `handles` (a thread per node: each node is read
    in its own thread, all at once, with no thread or handle made per poll) and `peers(node)`; `skip`:
    failed nodes (a crashed router's FIB is stale); `only`: just these nodes."""

    def wanted(name: str) -> bool:
        return name not in skip and (only is None or name in only)

    routers = [n for n in topo.routers() if wanted(n.name)]
    clients = [c.node for c in (topo.p2s.clients if topo.p2s else []) if wanted(c.node)]
    vtis = expected_vtis(topo, pred)

    def look(node_name: str, ipr: Any) -> Look:
        found = peers(node_name)
        try:
            snap = rtnl.snapshot()  # in the node's thread: its namespace, one dump of links and of routes
            routes = bgp_routes(snap)
            links = carriers(snap) if node_name in vtis else {}
            live = live_routes(snap) if node_name in vtis else set()
        except (RuntimeError, TimeoutError, OSError):
            # A netlink read that failed on a loaded machine: this poll sees the node as not converged,
            # the next one asks again.
            routes, links, live = {}, {}, set()
        return found, routes, links, live

    diffs = _p2s_differences(topo, pred, handles.each(_addresses, clients))
    looked = handles.each(look, [n.name for n in routers])
    for name, result in looked.items():
        found, fib, links, live = result if isinstance(result, tuple) else ({}, {}, {}, set())
        for vti, expected in sorted(vtis.get(name, {}).items()):
            actual = links.get(vti, False)
            if actual != expected:
                diffs.append(Difference(name, "tunnel", vti, _updown(expected), _updown(actual)))
            # Static routing over the tunnel: usable once zebra has put the routes back on the VTI.
            for r in topo.nodes[name].routes if expected and actual else []:
                if r.dev == vti and (r.prefix, vti) not in live:
                    diffs.append(Difference(name, "route", str(r.prefix), f"via {vti}", "none"))
        for (node, addr), expected_up in pred.sessions.items():
            if node != name:
                continue
            state = found.get(str(addr), {}).get("state", "absent")
            if (state == "Established") != expected_up:
                diffs.append(Difference(name, "session", str(addr), "Established" if expected_up else "down", state))
        want = {p: e.next_hops for p, e in pred.fib.get(name, {}).items()}
        for prefix in sorted(set(want) | set(fib)):
            if want.get(prefix) != fib.get(prefix):
                diffs.append(
                    Difference(name, "fib", str(prefix), _fmt(want.get(prefix, ())), _fmt(fib.get(prefix, ())))
                )
    return diffs


Bfd = Callable[[str], Any]  # node -> `show bfd peers json`
Followed = Callable[[str], Mapping[str, str]]  # node -> neighbor -> the BFD status bgpd has of it


def bfd_differences(
    topo: Topology, pred: Prediction, bfd: Bfd, followed: Followed, skip: Set[str] = frozenset()
) -> list[Difference]:
    """BFD under every BGP session that should be up and has BFD, at the profile's timers, and bgpd
    following it: a BFD session still coming up, still at its 1 s start-up interval, or that bgpd does
    not follow (bfdd has its sessions declared on its own) would leave the next failure to the hold timer."""
    timing = topo.timing
    diffs: list[Difference] = []
    for node in topo.routers():
        assert node.bgp is not None
        wanted = [n for n in node.bgp.neighbors if n.bfd and pred.sessions.get((node.name, n.address))]
        if not wanted or node.name in skip:
            continue
        data = bfd(node.name)
        peers = {p.get("peer"): p for p in data if isinstance(p, dict)} if isinstance(data, list) else {}
        bgpd = followed(node.name)
        for n in wanted:
            p = peers.get(str(n.address), {})
            status = str(p.get("status", "absent"))
            detect = int(p.get("remote-detect-multiplier", 0)) * max(
                int(p.get("receive-interval", 0)), int(p.get("remote-transmit-interval", 0))
            )
            if status != "up" or not 0 < detect <= timing.bfd_detect_ms:
                want, got = f"up, detection <= {timing.bfd_detect_ms} ms", f"{status}, detection {detect} ms"
                diffs.append(Difference(node.name, "bfd", str(n.address), want, got))
            elif (seen := bgpd.get(str(n.address), "not followed")) != "Up":
                diffs.append(Difference(node.name, "bfd", str(n.address), "followed by bgpd, Up", f"bgpd: {seen}"))
    return diffs


def bgpd_bfd(frr_dir: Path) -> dict[str, str]:
    """neighbor -> the BFD status bgpd has of it ("Up", "Down", ...), for the neighbors it follows BFD of."""
    try:
        data = json.loads(vty(frr_dir, "bgpd", "show bgp neighbors json") or "{}")
    except (OSError, ValueError, GwlabError):
        return {}
    return {
        address: str(info["peerBfdInfo"].get("status"))
        for address, info in data.items()
        if isinstance(info, dict) and isinstance(info.get("peerBfdInfo"), dict)
    }


def bfd_sessions(topo: Topology, pred: Prediction, skip: Set[str] = frozenset()) -> int:
    """How many BFD sessions `bfd_differences` looks at (the progress total)."""
    return sum(
        1
        for node in topo.routers()
        if node.bgp is not None and node.name not in skip
        for n in node.bgp.neighbors
        if n.bfd and pred.sessions.get((node.name, n.address))
    )


def wait(
    lab: RunningLab,
    pred: Prediction,
    timeout_s: float,
    progress: Callable[[int, int], None] | None = None,
    skip: Set[str] = frozenset(),
    stop: Callable[[], bool] | None = None,
) -> tuple[bool, float, list[Difference]]:
    """Poll until the lab matches `pred` (sessions, FIBs, then BFD: the one definition of converged),
    the deadline passes or `stop()` says so; returns (converged, seconds, differences)."""
    runtime = lab.runtime
    total = (
        len(pred.sessions) + sum(len(f) for f in pred.fib.values()) + len(pred.p2s) + bfd_sessions(lab.topo, pred, skip)
    )

    def peers(node: str) -> dict[str, dict[str, Any]]:
        return bgp_peers(runtime.frr_dir(node))

    def bfd(node: str) -> Any:
        # bfdd's vty has the command only in enable mode (vtysh took 20-40 ms of CPU a poll and node)
        try:
            return json.loads(vty_session(runtime.frr_dir(node), "bfdd", ["enable", "show bfd peers json"])[-1] or "[]")
        except (GwlabError, OSError, ValueError):
            return []

    def followed(node: str) -> dict[str, str]:
        return bgpd_bfd(runtime.frr_dir(node))

    with runtime.handles() as handles:
        # One thread and handle per node for the whole wait, opened on first use inside the poll: a
        # netlink read that fails on a loaded machine is one poll's difference, not an error.

        # Only the nodes that still differed are read again (at 100 sites a full look reads 200 FIBs);
        # once they agree, every node is read once more, and only that full look can say converged.
        pending: set[str] | None = None

        def look() -> list[Difference]:
            nonlocal pending
            try:
                diffs = differences(lab.topo, pred, handles, peers, skip, only=pending)
                if not diffs and pending is not None:
                    pending = None
                    diffs = differences(lab.topo, pred, handles, peers, skip)
                diffs = diffs or bfd_differences(lab.topo, pred, bfd, followed, skip)
            except (RuntimeError, TimeoutError, OSError) as exc:
                diffs = [Difference("-", "read", "netlink", "an answer", str(exc))]
            kinds = {d.what for d in diffs}
            pending = None if not diffs or kinds & {"bfd", "read"} else {d.node for d in diffs}
            if progress is not None:
                progress(total - min(len(diffs), total), total)
            return diffs

        result = poll(look, lambda diffs: not diffs, timeout_s=timeout_s, interval_s=POLL_S, stop=stop)
    return result.ok, result.seconds, result.value


def check(lab: RunningLab, pred: Prediction | None = None) -> list[Difference]:
    """What differs now (one poll) from `pred`, by default the prediction without failures."""
    return wait(lab, pred or predict(lab.topo), 0.0)[2]


# -- up, until converged ----------------------------------------------------------------------------


class NotConverged(GwlabError):
    def __init__(self, name: str, seconds: float, diffs: list[Difference]) -> None:
        self.name, self.seconds, self.diffs = name, seconds, diffs
        super().__init__(
            f"lab {name} did not converge within {seconds:.1f} s ({len(diffs)} differences); "
            f"it is left up for inspection ('gwlab status {name}', 'gwlab down {name}')"
        )


@dataclass
class UpResult:
    lab: RunningLab
    prediction: Prediction
    timings: dict[str, float] = field(default_factory=dict)  # phase -> seconds

    @property
    def topo(self) -> Topology:
        return self.lab.topo

    @property
    def state(self) -> LabState:
        return self.lab.state


def timeout_s_for(topo: Topology) -> float:
    # Sessions come up within a few connect-retry intervals; realistic timers stay bounded by the
    # same, since nothing fails during `up`.
    return max(30.0, 10.0 * topo.timing.connect_retry + 5.0 * len(topo.nodes) / 10)


def up(
    source: str,
    name: str | None = None,
    runtime: str = DEFAULT,
    timeout_s: float | None = None,
    cleanup_on_failure: bool = False,
    progress: Progress | None = None,
) -> UpResult:
    """The lab built and started (lab.runtime.lifecycle.up), then waited for until it matches the
    oracle. Not converged: NotConverged, the lab left up unless `cleanup_on_failure`; any other error
    or an interrupt: the lab taken down."""
    report = progress or no_progress
    owner = os.getpid()
    with interrupts_at_safe_points():  # the lab's up and the wait: one Ctrl-C, one clean-up
        started = lifecycle.up(source, name=name, runtime=runtime, progress=report)
        lab = started.lab
        try:
            lab.state.phase = "converging"
            lab.state.save()
            clock = time.monotonic()
            prediction = predict(lab.topo)  # while BGP converges
            ok, seconds, diffs = wait(
                lab,
                prediction,
                timeout_s or timeout_s_for(lab.topo),
                lambda done, total: report("converging", done, total),
                stop=INTERRUPTED.is_set,
            )
            check_interrupted()
            started.timings["convergence"] = time.monotonic() - clock
            if not ok:
                raise NotConverged(lab.name, seconds, diffs)
            lab.state.phase = "up"
            lab.state.up_seconds = sum(started.timings.values())
            lab.state.save()
        except NotConverged:
            if cleanup_on_failure:
                lifecycle.down(lab.name)
            raise
        except BaseException:
            if os.getpid() == owner:  # not in a child pyroute2 forked
                lifecycle.down(lab.name)
            raise
    return UpResult(lab, prediction, started.timings)
