"""CPU accounting around a lab's `up`: is it bound by the two cores, and who uses them."""

from __future__ import annotations

import os
import resource
from collections.abc import Iterable
from dataclasses import dataclass

from lab.runtime.processes import command

TICK = os.sysconf("SC_CLK_TCK")


def machine_jiffies() -> tuple[int, int]:
    """(busy, idle) jiffies of the whole machine since boot."""
    with open("/proc/stat", encoding="ascii") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + values[4]  # idle, iowait
    return sum(values[:8]) - idle, idle


def _own() -> tuple[float, float]:
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime, kids.ru_utime + kids.ru_stime


@dataclass
class CpuMark:
    busy: int
    idle: int
    own: float
    children: float
    engine: float


def mark(engine_pids: Iterable[int] = ()) -> CpuMark:
    """Now; `engine_pids`: a container engine's daemons (lab.runtime's `engine_daemons`), which work
    for the lab during its `up` (docker: dockerd and its containerd; podman's CLI is our child)."""
    busy, idle = machine_jiffies()
    own, children = _own()
    return CpuMark(busy, idle, own, children, sum(process_seconds(engine_pids).values()))


def process_seconds(pids: Iterable[int]) -> dict[str, float]:
    """command -> CPU seconds (user + system) used so far by the given processes, with the children
    they reaped (charon's updown scripts, a launcher's daemon before it forked away)."""
    out: dict[str, float] = {}
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        comm = command(pid)
        out[comm] = out.get(comm, 0.0) + sum(int(v) for v in fields[11:15]) / TICK
    return out


def since(start: CpuMark, lab_pids: Iterable[int], engine_pids: Iterable[int] = ()) -> dict[str, object]:
    end = mark(engine_pids)
    lab = process_seconds(lab_pids)
    return {
        "machine_busy_s": round((end.busy - start.busy) / TICK, 2),
        "machine_idle_s": round((end.idle - start.idle) / TICK, 2),
        "gwlab_process_s": round(end.own - start.own, 2),
        # vtysh, the ExaBGP launcher until it daemonizes, FRR until it forks: waited-for children
        "gwlab_children_s": round(end.children - start.children, 2),
        "lab_processes_s": {k: round(v, 2) for k, v in sorted(lab.items())},
        "engine_daemons_s": round(max(0.0, end.engine - start.engine), 2),
    }
