"""Enter a network namespace given by its path (/run/netns/<ns>, /proc/<pid>/ns/net): code or programs.

Python 3.11 has no os.setns, so setns(2) is called through libc. Doing it in a fresh thread (for
sysctls, and for daemons: spawned from that thread, `popen_in`) costs no extra process, unlike
`ip netns exec` or `nsenter`, which matters when a lab starts hundreds of daemons. `preexec` (setns in
the child between fork and exec) is for what also needs the child's own setup. Only lab.runtime
uses this module: everything above it asks the runtime (Runtime.enter, run, popen, netlink).
"""

from __future__ import annotations

import ctypes
import os
import subprocess
import threading
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

CLONE_NEWNET = 0x40000000
T = TypeVar("T")

_libc = ctypes.CDLL(None, use_errno=True)


def setns(path: str) -> None:
    """Move the calling thread into the namespace at `path` (raises OSError)."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns({path}): {os.strerror(err)}")
    finally:
        os.close(fd)


def create_namespace(name: str) -> None:
    """A named network namespace (/run/netns/<name>), made by a thread of its own: unshare(2) moves only
    that thread, whose namespace then stays bound to the name. No fork (pyroute2's netns.create forks a
    helper process, 10-20 ms from a large process), so threads can make several at once."""
    from pyroute2 import netns  # its attach: /run/netns made shared once, as iproute2 does

    def make() -> None:
        if _libc.unshare(CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"unshare: {os.strerror(err)}")
        netns.attach(name, "thread-self")  # binds /proc/thread-self/ns/net to /run/netns/<name>

    call_in("/proc/self/ns/net", make)


def call_in(path: str, fn: Callable[[], T]) -> T:
    """fn() in a new thread that has entered the namespace; the thread ends with it."""
    result: list[T] = []
    error: list[BaseException] = []

    def target() -> None:
        try:
            setns(path)
            result.append(fn())
        except BaseException as exc:  # re-raised in the caller
            error.append(exc)

    thread = threading.Thread(target=target, name=f"netns-{os.path.basename(path)}")
    thread.start()
    thread.join()
    if error:
        raise error[0]
    return result[0]


def popen_in(path: str, argv: Sequence[str], **kwargs: Any) -> subprocess.Popen[bytes]:
    """A program started in the namespace at `path`, in a new session (detached from our terminal):
    spawned from a thread that entered the namespace, which the child inherits (fork and vfork copy
    the calling thread's namespaces only). Without a preexec_fn CPython spawns with vfork: 0.3 ms
    instead of a fork of this whole process (10 ms and more, as it grows), and no fork-in-thread hazard,
    so launchers may call it from any thread."""
    return call_in(path, lambda: subprocess.Popen(list(argv), start_new_session=True, **kwargs))


def preexec(path: str) -> Callable[[], None]:
    """A subprocess preexec_fn: enter the namespace, then start a new session (detached from our tty)."""

    def enter() -> None:
        setns(path)
        os.setsid()

    return enter


def write_sysctls(path: str, values: dict[str, str]) -> None:
    """Write /proc/sys entries as seen from inside the namespace (net.* entries are per namespace)."""

    call_in(path, lambda: write_sysctls_here(values))


def write_sysctls_here(values: dict[str, str]) -> None:
    """As `write_sysctls`, in the calling thread's namespace."""
    for key, value in values.items():
        with open("/proc/sys/" + key.replace(".", "/"), "w", encoding="ascii") as f:
            f.write(value)


def namespace_id(path: str) -> tuple[int, int] | None:
    """(device, inode) of the namespace at `path`: what /proc/<pid>/ns/net of its processes stat to."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino
