"""gwlab's own figures: `up` until converged (with its phases), memory right after, then `down`."""

from __future__ import annotations

import contextlib
import os
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bench import cpu, quiet
from bench.memory import sample
from controller.converge import NotConverged, up
from lab.generate import generate
from lab.load import load
from lab.model import ProfileName
from lab.paths import builtin_topologies
from lab.runtime.backends import backend
from lab.runtime.interrupts import INTERRUPTED
from lab.runtime.lifecycle import down
from lab.runtime.state import load_state
from lab.topology import Topology

ROUTING_COMMANDS = ("zebra", "bgpd", "staticd", "bfdd", "watchfrr", "exabgp")
MIN_AVAILABLE_MIB = 4 * 1024  # a large lab's up is aborted (and cleaned up) below this: the machine is shared
GUARDED_SITES = 100  # labs this large are watched


def available_mib() -> float:
    with open("/proc/meminfo", encoding="ascii") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 1024
    return 0.0


class MemoryGuard:
    """Watches MemAvailable while a large lab comes up; below MIN_AVAILABLE_MIB it interrupts `up` as
    Ctrl-C would (`up` takes the lab down and raises KeyboardInterrupt)."""

    def __init__(self) -> None:
        self.low_mib: float | None = None
        self.lowest_mib = available_mib()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="memory-guard", daemon=True)

    def __enter__(self) -> MemoryGuard:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()

    def _watch(self) -> None:
        while not self._done.wait(0.5):
            now = available_mib()
            self.lowest_mib = min(self.lowest_mib, now)
            if now < MIN_AVAILABLE_MIB and self.low_mib is None:
                self.low_mib = now
                INTERRUPTED.set()


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


def vxlan_case(prefix: str, name: str, workdir: Path) -> Case:
    """A built-in lab with VXLAN tunnels instead of IPsec: what munet can build too (it has no charon
    endpoints), so that the two tools are timed on the same lab."""
    data = yaml.safe_load(builtin_topologies()[name].read_text(encoding="utf-8"))
    data["tunnels"] = {"kind": "vxlan"}
    path = workdir / f"{name}-vxlan.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return Case(f"{name} (vxlan)", "builtin", str(path), lab_name(prefix, f"{name}-vx"), len(data["onprem"]["sites"]))


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


def generated_case(prefix: str, sites: int, workdir: Path, profile: ProfileName = "fast") -> Case:
    """A generated lab of `sites` sites; a profile other than fast is named in the file and the label."""
    other = "" if profile == "fast" else f"-{profile}"
    path = workdir / f"gen{sites}{other}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(generate(sites, profile=profile), sort_keys=False), encoding="utf-8")
    label = f"{sites} site" + ("s" if sites != 1 else "") + (f" ({profile})" if other else "")
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
    out: dict[str, Any] = {"ok": False, "load1_start": os.getloadavg()[0]}  # how busy the shared machine was
    start, cpu_start = time.monotonic(), cpu.mark(backend(case.runtime).engine_daemons())
    guard = MemoryGuard() if case.sites >= GUARDED_SITES else None
    try:
        with guard or contextlib.nullcontext():
            result = up(case.source, name=case.lab_name, runtime=case.runtime)
        out["up_s"] = time.monotonic() - start
        out["phases"] = dict(result.timings)
        # Before `_build`: parsing, rules, topology and the oracle's prediction.
        out["phases"]["prepare"] = out["up_s"] - sum(result.timings.values())
        out["load1"] = os.getloadavg()[0]
        pids = result.lab.runtime.pids()
        monitors, shared = result.lab.runtime.support_pids()
        # a node's monitor (containerd-shim) is the lab's, and so is what the engine's daemons did for it
        out["cpu"] = cpu.since(cpu_start, [*pids, *monitors], shared)
        out.update(quiet.others(out["cpu"], out["up_s"]))
        mem = sample(pids)
        out["memory"] = mem.as_dict()
        out["routing_memory"] = mem.only(ROUTING_COMMANDS).as_dict()
        # What the runtime keeps running beside the nodes: per node (containerd-shim, conmon) and
        # shared by every lab on the engine (dockerd, containerd).
        out["runtime_memory"] = {"per_lab": sample(monitors).as_dict(), "shared": sample(shared).as_dict()}
        out["ok"] = True
        if guard is not None:
            out["lowest_available_mib"] = round(guard.lowest_mib)
    except NotConverged as exc:
        out["error"] = f"not converged after {exc.seconds:.1f} s: " + "; ".join(
            f"{d.node} {d.what} {d.item}: {d.actual} (want {d.expected})" for d in exc.diffs[:5]
        )
    except KeyboardInterrupt:
        if guard is None or guard.low_mib is None:
            raise
        out["error"] = f"aborted: available memory fell to {guard.low_mib:,.0f} MiB (under {MIN_AVAILABLE_MIB:,} MiB)"
    except Exception as exc:  # a failed run is a result too; the others go on
        out["error"] = f"{type(exc).__name__}: {exc}"
        out["traceback"] = traceback.format_exc(limit=5)
    start = time.monotonic()
    result_down = down(case.lab_name)
    out["down_s"] = time.monotonic() - start
    out["down_processes"] = result_down.processes
    out["leftovers"] = result_down.leftovers
    return out
