"""Run code or programs inside a named network namespace.

Python 3.11 has no os.setns, so setns(2) is called through libc. Doing it in a fresh thread (for
sysctls) or in the child between fork and exec (for daemons) costs no extra process, unlike
`ip netns exec`, which matters when a lab starts dozens of daemons.
"""

from __future__ import annotations

import ctypes
import os
import threading
from collections.abc import Callable
from typing import TypeVar

CLONE_NEWNET = 0x40000000
NETNS_DIR = "/run/netns"
T = TypeVar("T")

_libc = ctypes.CDLL(None, use_errno=True)


def ns_path(name: str) -> str:
    return os.path.join(NETNS_DIR, name)


def setns(name: str) -> None:
    """Move the calling thread into the namespace (raises OSError)."""
    fd = os.open(ns_path(name), os.O_RDONLY | os.O_CLOEXEC)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns({name}): {os.strerror(err)}")
    finally:
        os.close(fd)


def call_in(name: str, fn: Callable[[], T]) -> T:
    """fn() in a new thread that has entered the namespace; the thread ends with it."""
    result: list[T] = []
    error: list[BaseException] = []

    def target() -> None:
        try:
            setns(name)
            result.append(fn())
        except BaseException as exc:  # re-raised in the caller
            error.append(exc)

    thread = threading.Thread(target=target, name=f"netns-{name}")
    thread.start()
    thread.join()
    if error:
        raise error[0]
    return result[0]


def preexec(name: str) -> Callable[[], None]:
    """A subprocess preexec_fn: enter the namespace, then start a new session (detached from our tty)."""

    def enter() -> None:
        setns(name)
        os.setsid()

    return enter


def write_sysctls(name: str, values: dict[str, str]) -> None:
    """Write /proc/sys entries as seen from inside the namespace (net.* entries are per namespace)."""

    def write() -> None:
        for key, value in values.items():
            with open("/proc/sys/" + key.replace(".", "/"), "w", encoding="ascii") as f:
                f.write(value)

    call_in(name, write)
