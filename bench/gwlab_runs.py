"""gwlab's own figures: `up` until converged (with its phases), memory right after, then `down`."""

from __future__ import annotations

import os
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bench import cpu
from bench.memory import sample
from controller.converge import NotConverged, up
from lab.generate import generate
from lab.load import load
from lab.runtime.lifecycle import down
from lab.runtime.state import load_state
from lab.topology import Topology

ROUTING_COMMANDS = ("zebra", "bgpd", "staticd", "bfdd", "watchfrr", "exabgp")


@dataclass
class Case:
    label: str  # "hybrid", "50 sites"
    kind: str  # "builtin" or "generated"
    source: str  # what `up` is given: a built-in name or a lab file
    lab_name: str  # the running lab's name
    sites: int
    runtime: str = "netns"

    def topology(self) -> Topology:
        return load(self.source)


def lab_name(prefix: str, label: str) -> str:
    """A valid lab name (at most 16 characters, no trailing dash) for one benchmark case."""
    return f"{prefix}-{label}"[:16].rstrip("-")


def builtin_case(prefix: str, name: str) -> Case:
    topo = load(name)
    return Case(name, "builtin", name, lab_name(prefix, name), len(topo.lab.onprem.sites))


def runtime_case(prefix: str, name: str, runtime: str) -> Case:
    """A built-in lab on another runtime than the namespaces (kind "runtime")."""
    topo = load(name)
    return Case(
        f"{name} ({runtime})",
        "runtime",
        name,
        lab_name(prefix, f"{runtime[:3]}-{name}"),
        len(topo.lab.onprem.sites),
        runtime,
    )


def generated_case(prefix: str, sites: int, workdir: Path) -> Case:
    path = workdir / f"gen{sites}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(generate(sites), sort_keys=False), encoding="utf-8")
    label = f"{sites} site" + ("s" if sites != 1 else "")
    return Case(label, "generated", str(path), lab_name(prefix, f"gen{sites}"), sites)


def shape(topo: Topology) -> dict[str, int]:
    routers = list(topo.routers())
    return {
        "nodes": len(topo.nodes),
        "routers": len(routers),
        "speakers": sum(1 for n in topo.nodes.values() if n.speaker is not None),
        "links": len(topo.links),
        "tunnels": len(topo.tunnels),
        "bgp_neighbors": sum(len(n.bgp.neighbors) for n in routers if n.bgp),
    }


def clear(name: str) -> None:
    """Take down a leftover of ours from an interrupted earlier run (names carry our prefix)."""
    if load_state(name) is not None:
        down(name)


def run_once(case: Case) -> dict[str, Any]:
    """One up/down cycle. Seconds are wall-clock (time.monotonic)."""
    clear(case.lab_name)
    out: dict[str, Any] = {"ok": False}
    start, cpu_start = time.monotonic(), cpu.mark()
    try:
        result = up(case.source, name=case.lab_name, runtime=case.runtime)
        out["up_s"] = time.monotonic() - start
        out["phases"] = dict(result.timings)
        # Before `_build`: parsing, rules, topology and the oracle's prediction.
        out["phases"]["prepare"] = out["up_s"] - sum(result.timings.values())
        out["load1"] = os.getloadavg()[0]  # how busy the shared machine was
        pids = result.lab.runtime.pids()
        out["cpu"] = cpu.since(cpu_start, pids)
        mem = sample(pids)
        out["memory"] = mem.as_dict()
        out["routing_memory"] = mem.only(ROUTING_COMMANDS).as_dict()
        # What the runtime keeps running beside the nodes: per node (containerd-shim, conmon) and
        # shared by every lab on the engine (dockerd, containerd).
        monitors, shared = result.lab.runtime.support_pids()
        out["runtime_memory"] = {"per_lab": sample(monitors).as_dict(), "shared": sample(shared).as_dict()}
        out["ok"] = True
    except NotConverged as exc:
        out["error"] = f"not converged after {exc.seconds:.1f} s: " + "; ".join(
            f"{d.node} {d.what} {d.item}: {d.actual} (want {d.expected})" for d in exc.diffs[:5]
        )
    except Exception as exc:  # a failed run is a result too; the others go on
        out["error"] = f"{type(exc).__name__}: {exc}"
        out["traceback"] = traceback.format_exc(limit=5)
    start = time.monotonic()
    result_down = down(case.lab_name)
    out["down_s"] = time.monotonic() - start
    out["down_processes"] = result_down.processes
    out["leftovers"] = result_down.leftovers
    return out
