"""Memory of a lab: the sum of RSS and PSS over its processes, read from /proc/<pid>/smaps_rollup.

RSS counts every page a process maps, so the shared libraries (libfrr, the Python interpreter) are
counted once per process; PSS divides each shared page among the processes that map it, so the PSS
sum is what the lab really occupies. Both are reported; PSS is the figure targets are judged on.
Kernel memory (namespaces, veths, routing tables, sockets) is in neither.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field

from lab.runtime.processes import command

KIB_PER_MIB = 1024


@dataclass
class Memory:
    processes: int = 0
    rss_kib: int = 0
    pss_kib: int = 0
    by_command: dict[str, dict[str, int]] = field(default_factory=dict)  # comm -> count, rss_kib, pss_kib

    @property
    def pss_mib(self) -> float:
        return self.pss_kib / KIB_PER_MIB

    @property
    def rss_mib(self) -> float:
        return self.rss_kib / KIB_PER_MIB

    def only(self, commands: Iterable[str]) -> Memory:
        """The part of this sample taken by some commands (e.g. the routing daemons)."""
        keep = set(commands)
        out = Memory()
        for comm, row in self.by_command.items():
            if comm in keep:
                out.by_command[comm] = dict(row)
                out.processes += row["count"]
                out.rss_kib += row["rss_kib"]
                out.pss_kib += row["pss_kib"]
        return out

    def as_dict(self) -> dict[str, object]:
        return {
            "processes": self.processes,
            "rss_mib": round(self.rss_mib, 1),
            "pss_mib": round(self.pss_mib, 1),
            "by_command": {
                c: {
                    "count": r["count"],
                    "rss_mib": round(r["rss_kib"] / KIB_PER_MIB, 1),
                    "pss_mib": round(r["pss_kib"] / KIB_PER_MIB, 1),
                }
                for c, r in sorted(self.by_command.items())
            },
        }


def _rollup(pid: int) -> tuple[int, int] | None:
    """(Rss, Pss) in KiB, or None if the process is gone or unreadable."""
    rss = pss = None
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as f:
            for line in f:
                key, _, rest = line.partition(":")
                if key == "Rss":
                    rss = int(rest.split()[0])
                elif key == "Pss":
                    pss = int(rest.split()[0])
    except (OSError, ValueError, IndexError):
        return None
    if rss is None or pss is None:
        return None  # a kernel thread or a zombie: no address space
    return rss, pss


def sample(pids: Iterable[int]) -> Memory:
    mem = Memory()
    for pid in pids:
        got = _rollup(pid)
        if got is None:
            continue
        rss, pss = got
        row = mem.by_command.setdefault(command(pid), {"count": 0, "rss_kib": 0, "pss_kib": 0})
        row["count"] += 1
        row["rss_kib"] += rss
        row["pss_kib"] += pss
        mem.processes += 1
        mem.rss_kib += rss
        mem.pss_kib += pss
    return mem


def parents() -> dict[int, int]:
    """pid -> parent pid of every process."""
    out: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        out[int(entry)] = int(fields[1])
    return out


def descendants(root: int) -> list[int]:
    """Every process below `root` in the process tree (not `root` itself)."""
    children: dict[int, list[int]] = {}
    for pid, ppid in parents().items():
        children.setdefault(ppid, []).append(pid)
    out: list[int] = []
    todo = list(children.get(root, []))
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return sorted(out)
