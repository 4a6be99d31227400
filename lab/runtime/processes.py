"""Processes of a lab, found by the network namespace they run in and stopped by pid, never by name."""

from __future__ import annotations

import contextlib
import os
import signal
import time

from lab.runtime.nsenter import ns_path


def namespace_id(name: str) -> tuple[int, int] | None:
    try:
        st = os.stat(ns_path(name))
    except FileNotFoundError:
        return None
    return st.st_dev, st.st_ino


def pids_in(names: list[str]) -> dict[int, str]:
    """pid -> namespace name, for every live process whose network namespace is one of `names`."""
    wanted: dict[tuple[int, int], str] = {}
    for name in names:
        ident = namespace_id(name)
        if ident is not None:
            wanted[ident] = name
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


def stop(pids: list[int], grace_s: float = 2.0) -> list[int]:
    """SIGTERM, wait up to grace_s, then SIGKILL (grace_s 0: SIGKILL only, a crash that says no
    goodbye); returns the pids still alive afterwards."""
    steps = ((signal.SIGTERM, grace_s), (signal.SIGKILL, 2.0)) if grace_s > 0 else ((signal.SIGKILL, 2.0),)
    for sig, wait in steps:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            pids = [p for p in pids if alive(p)]
            if not pids:
                return []
            time.sleep(0.02)  # polling for exit with a deadline, not synchronisation
    return [p for p in pids if alive(p)]
