"""The lab as it is now, read from the kernel, FRR and charon through its runtime: daemons alive,
sessions, IPsec tunnel ends, FIB paths."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from controller.oracle import Failures, FibEntry, Oracle, Prediction
from lab.runtime import rtnl, tunnelops
from lab.runtime.frr import bgp_peers
from lab.runtime.kernel import bgp_routes, carriers
from lab.runtime.running import RunningLab


@dataclass
class NodeStatus:
    node: str
    role: str
    namespace: bool  # the node's network namespace exists (a container: it runs)
    daemons: dict[str, bool]  # daemon -> running


def node_status(lab: RunningLab) -> list[NodeStatus]:
    running = lab.runtime.running_daemons()
    return [
        NodeStatus(node.name, node.role, lab.runtime.node_present(node.name), running.get(node.name, {}))
        for node in lab.topo.nodes.values()
    ]


def sessions(lab: RunningLab) -> list[dict[str, Any]]:
    rows = []
    for node in lab.topo.routers():
        assert node.bgp is not None
        peers = bgp_peers(lab.runtime.frr_dir(node.name))
        for n in node.bgp.neighbors:
            p = peers.get(str(n.address), {})
            rows.append(
                {
                    "node": node.name,
                    "neighbor": str(n.address),
                    "peer": n.peer,
                    "kind": n.kind,
                    "state": p.get("state", "absent"),
                    "prefixes": p.get("pfxRcd", 0),
                }
            )
    return rows


def tunnels(lab: RunningLab) -> list[dict[str, Any]]:
    """Each IPsec tunnel end: charon running, IKE and CHILD SA state, and why it is not up when the log
    says. No field can hold key material (lab.runtime.ipsec.status)."""
    return [end.as_json() for end in tunnelops.ends_status(lab)]


def fibs(lab: RunningLab) -> dict[str, dict[Any, FibEntry]]:
    out = {}
    with lab.runtime.handles() as handles:
        for node in lab.topo.routers():
            if not lab.runtime.node_present(node.name):
                continue  # a crashed container: no FIB until it is restored
            routes = bgp_routes(handles.call(node.name, lambda _: rtnl.snapshot()))
            out[node.name] = {p: FibEntry(p, hops, frozenset()) for p, hops in routes.items()}
    return out


def dark_tunnels(lab: RunningLab) -> set[str]:
    """IPsec tunnels whose VTI has no carrier now at either end (IKE or its CHILD_SA down): nothing
    crosses them, whatever a static route says. An end whose node is gone counts as dark."""
    dark = set()
    with lab.runtime.handles() as handles:
        carrier: dict[str, dict[str, bool]] = {}
        for t in lab.topo.tunnels:
            if t.kind != "ipsec":
                continue
            for end in t.ends():
                if not lab.runtime.node_present(end.node):
                    dark.add(t.name)  # a crashed container or a half-removed lab: nothing to read
                    continue
                if end.node not in carrier:
                    carrier[end.node] = carriers(handles.call(end.node, lambda _: rtnl.snapshot()))
                if not carrier[end.node].get(end.vti, False):
                    dark.add(t.name)
    return dark


def current_paths(lab: RunningLab) -> dict[str, list[str]]:
    """Transit elements per direction, walking the kernel FIBs as they are now (all ECMP branches), over
    the tunnels that are up now."""
    actual = Prediction(sessions={}, best={}, fib=fibs(lab), paths={})
    now = Failures(tunnels=dark_tunnels(lab), standby_active=lab.state.standby_active)
    return Oracle(lab.topo, now).traffic_paths(actual)
