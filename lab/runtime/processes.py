"""Processes of a lab, found by the network namespace they run in and stopped by pid, never by name."""

from __future__ import annotations

import contextlib
import os
import signal

from lab import poll
from lab.runtime.nsenter import namespace_id


def pids_in(paths: list[str]) -> dict[int, str]:
    """pid -> namespace path, for every live process whose network namespace is one of `paths`."""
    wanted: dict[tuple[int, int], str] = {}
    for path in paths:
        ident = namespace_id(path)
        if ident is not None:
            wanted[ident] = path
    found: dict[int, str] = {}
    if not wanted:
        return found
    own_ns = os.stat("/proc/self/ns/net")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            st = os.stat(f"/proc/{entry}/ns/net")
        except OSError:
            continue  # gone, or a kernel thread
        if (st.st_dev, st.st_ino) == (own_ns.st_dev, own_ns.st_ino):
            continue
        ns = wanted.get((st.st_dev, st.st_ino))
        if ns is not None and alive(int(entry)):
            found[int(entry)] = ns
    return found


def runs_in(pid: int, path: str) -> bool:
    """The process is alive and in the network namespace at `path` (a stale pid file's pid may be reused)."""
    ident = namespace_id(path)
    return ident is not None and alive(pid) and namespace_id(f"/proc/{pid}/ns/net") == ident


def alive(pid: int) -> bool:
    """Running (a zombie is not: it only waits for its parent to reap it)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    if state == "Z":
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(pid, os.WNOHANG)  # reap it if it is ours
        return False
    return True


KILL_WAIT_S = 2.0
KILL_WAIT_PER_PROCESS_S = 0.01


def stop(pids: list[int], grace_s: float = 2.0) -> list[int]:
    """SIGTERM, wait up to grace_s, then SIGKILL (grace_s 0: SIGKILL only, a crash that says no
    goodbye); returns the pids still alive afterwards."""
    # A killed process cannot refuse, but the kernel still has to free its memory: a 200-site lab's
    # 2,211 processes (11 GiB) took longer than 2 s on 2 cores, and down reported them as leftovers.
    killed_s = KILL_WAIT_S + KILL_WAIT_PER_PROCESS_S * len(pids)
    steps = ((signal.SIGTERM, grace_s), (signal.SIGKILL, killed_s)) if grace_s > 0 else ((signal.SIGKILL, killed_s),)
    living = list(pids)

    def still_alive() -> list[int]:
        return [p for p in living if alive(p)]

    for sig, wait in steps:
        for pid in living:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        living = poll.poll(still_alive, lambda left: not left, timeout_s=wait, interval_s=0.02).value
        if not living:
            return []
    return still_alive()


def read_pid(path: os.PathLike[str] | str) -> int | None:
    try:
        with open(path, encoding="ascii") as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def children(pid: int) -> list[int]:
    """The direct children of `pid`."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children", encoding="ascii") as f:
            return [int(c) for c in f.read().split()]
    except (OSError, ValueError):
        return []


def command(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm", encoding="utf-8", errors="replace") as f:
            return f.read().strip()
    except OSError:
        return "?"
