"""Processes of a lab, found by the network namespace they run in and stopped by pid, never by name."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable

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


def stat_fields(pid: int) -> list[str]:
    """/proc/<pid>/stat's fields after the command name (index 0 is field 3, the state; 1 the parent;
    19 the start time); [] when the process is gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            return f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return []


def alive(pid: int) -> bool:
    """Running (a zombie is not: it only waits for its parent to reap it)."""
    fields = stat_fields(pid)
    if not fields:
        return False
    if fields[0] == "Z":
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(pid, os.WNOHANG)  # reap it if it is ours
        return False
    return True


def started_before(pid: int, when: float, slack_s: float = 0.5) -> bool:
    """The process `pid` exists and started no later than `when` (wall-clock seconds, such as the mtime of
    the file that recorded the pid): a pid recorded earlier and reused since by a newer process is not it."""
    fields = stat_fields(pid)
    if len(fields) < 20:
        return False
    ticks = int(fields[19])  # field 22, starttime: ticks since boot
    booted = time.time() - time.clock_gettime(time.CLOCK_BOOTTIME)
    return booted + ticks / os.sysconf("SC_CLK_TCK") <= when + slack_s


KILL_STALL_S = 2.0  # killed processes none of which has exited for this long are left over
KILL_WAIT_MAX_S = 300.0


def stop(pids: list[int], grace_s: float = 2.0) -> list[int]:
    """SIGTERM, wait up to grace_s, then SIGKILL (grace_s 0: SIGKILL only, a crash that says no
    goodbye); returns the pids still alive afterwards."""
    living = list(pids)
    if grace_s > 0:
        signal_all(living, signal.SIGTERM)
        living = poll.poll(
            lambda: [p for p in living if alive(p)], lambda left: not left, timeout_s=grace_s, interval_s=0.02
        ).value
    if not living:
        return []
    signal_all(living, signal.SIGKILL)
    return wait_gone(living, alive)


def signal_all(pids: list[int], sig: signal.Signals) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def wait_gone(
    pids: list[int], is_alive: Callable[[int], bool], stall_s: float = KILL_STALL_S, timeout_s: float = KILL_WAIT_MAX_S
) -> list[int]:
    """Wait while killed processes go on exiting: until none is left, or none has exited for `stall_s`.
    A killed process cannot refuse, but the kernel still has to free it: a 200-site lab's 800 charons,
    killed while its other 1,400 processes still ran (load 210), were not all gone after a fixed 10 s,
    and `down` reported 306 of them, gone soon after, as left over."""
    living = list(pids)
    last_exit = time.monotonic()

    def still_alive() -> list[int]:
        nonlocal living, last_exit
        now_living = [p for p in living if is_alive(p)]
        if len(now_living) < len(living):
            last_exit = time.monotonic()
        living = now_living
        return living

    def stalled() -> bool:
        return time.monotonic() - last_exit > stall_s

    return poll.poll(still_alive, lambda left: not left, timeout_s=timeout_s, interval_s=0.02, stop=stalled).value


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
