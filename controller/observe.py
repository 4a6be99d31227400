"""The lab as it is now, read from the kernel and FRR: daemons alive, sessions, FIB paths."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyroute2 import NetNS

from controller.oracle import FibEntry, Oracle, Prediction
from lab.runtime.daemons import frr_daemons
from lab.runtime.frr import bgp_peers
from lab.runtime.kernel import bgp_routes
from lab.runtime.processes import alive, pids_in
from lab.runtime.running import RunningLab
from lab.runtime.state import FRR_RUN_ROOT


@dataclass
class NodeStatus:
    node: str
    role: str
    namespace: bool
    daemons: dict[str, bool]  # daemon -> running


def _pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def node_status(lab: RunningLab) -> list[NodeStatus]:
    in_lab = pids_in([lab.ns(n) for n in lab.topo.nodes])
    out = []
    for node in lab.topo.nodes.values():
        ns = lab.ns(node.name)
        expected = frr_daemons(node) if node.is_router else []
        files = {d: FRR_RUN_ROOT / ns / f"{d}.pid" for d in expected}
        if node.speaker is not None:
            files["exabgp"] = lab.state.run_dir / node.name / "exabgp.pid"
        running = {}
        for daemon, pidfile in files.items():
            pid = _pid(pidfile)
            running[daemon] = pid is not None and alive(pid) and in_lab.get(pid) == ns
        out.append(NodeStatus(node.name, node.role, Path(f"/run/netns/{ns}").exists(), running))
    return out


def sessions(lab: RunningLab) -> list[dict[str, Any]]:
    rows = []
    for node in lab.topo.routers():
        assert node.bgp is not None
        peers = bgp_peers(lab.ns(node.name))
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


def fibs(lab: RunningLab) -> dict[str, dict[Any, FibEntry]]:
    out = {}
    for node in lab.topo.routers():
        with NetNS(lab.ns(node.name)) as ns:
            routes = bgp_routes(ns)
        out[node.name] = {p: FibEntry(p, hops, frozenset()) for p, hops in routes.items()}
    return out


def current_paths(lab: RunningLab) -> dict[str, list[str]]:
    """Transit elements per direction, walking the kernel FIBs as they are now (all ECMP branches)."""
    actual = Prediction(sessions={}, best={}, fib=fibs(lab), paths={})
    oracle = Oracle(lab.topo)
    return oracle.traffic_paths(actual)
