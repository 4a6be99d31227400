"""Netlink route monitors in every router namespace: when each node's FIB changed, on the shared clock.

One thread per router enters its network namespace (Runtime.enter), opens a NETLINK_ROUTE socket
subscribed to IPv4 route events and stamps each message with time.monotonic_ns() on receipt. pyroute2
decodes the messages.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from ipaddress import IPv4Network

from pyroute2.netlink.rtnl.marshal import MarshalRtnl

from controller.results import FibChange
from lab.errors import GwlabError
from lab.runtime.kernel import RTPROT_BGP
from lab.runtime.running import RunningLab
from lab.topology import FLOOD_NET

RTMGRP_IPV4_ROUTE = 0x40
NETLINK_ROUTE = 0
RECHECK_S = 1.0  # how often a monitor checks that its node's namespace is still the node's


class FibMonitor:
    def __init__(self, lab: RunningLab, t0_ns: int) -> None:
        self.lab = lab
        self.t0_ns = t0_ns
        self.changes: list[FibChange] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._ready = threading.Semaphore(0)

    def start(self) -> FibMonitor:
        routers = [n.name for n in self.lab.topo.routers()]
        for name in routers:
            thread = threading.Thread(target=self._watch, args=(name,), name=f"fibmon-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)
        for _ in routers:  # every socket subscribed before we return: no change is missed
            self._ready.acquire(timeout=5)
        return self

    def stop(self) -> list[FibChange]:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=2)
        with self._lock:
            return sorted(self.changes, key=lambda c: c.t_ms)

    def since(self, t_ms: float) -> list[FibChange]:
        with self._lock:
            return [c for c in self.changes if c.t_ms >= t_ms]

    def _watch(self, node: str) -> None:
        sock = self._subscribe(node)
        self._ready.release()
        marshal = MarshalRtnl()
        recheck = time.monotonic() + RECHECK_S
        try:
            while not self._stop.is_set():
                if time.monotonic() >= recheck:
                    recheck = time.monotonic() + RECHECK_S
                    if self._replaced(node):  # a restarted container: follow it into its new namespace
                        if sock is not None:
                            sock.close()
                        sock = self._subscribe(node)
                if sock is None:
                    self._stop.wait(0.1)  # no namespace to watch (a crashed container): look again later
                    continue
                try:
                    data = sock.recv(1 << 20)
                except TimeoutError:
                    continue
                except OSError:
                    sock.close()
                    sock = None
                    continue
                stamp = time.monotonic_ns()
                for msg in marshal.parse(data):
                    change = self._decode(node, msg, stamp)
                    if change is not None:
                        with self._lock:
                            self.changes.append(change)
        finally:
            if sock is not None:
                sock.close()

    def _subscribe(self, node: str) -> socket.socket | None:
        """This thread in the node's namespace, with a socket subscribed to its route events; None when
        the namespace is gone (a crashed node is not monitored until it comes back)."""
        try:
            self.lab.runtime.enter(node)  # this thread only: it lives for the monitor
            sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_ROUTE)
        except (OSError, GwlabError):
            return None
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
            sock.bind((0, RTMGRP_IPV4_ROUTE))
            sock.settimeout(0.1)
        except OSError:
            sock.close()
            return None
        return sock

    def _replaced(self, node: str) -> bool:
        """The node's network namespace is not the one this thread is in: a container restarted (a
        namespace runtime keeps its namespaces, so this never holds there)."""
        try:
            now = os.stat(self.lab.runtime.netns_path(node))
        except (OSError, GwlabError):
            return False
        mine = os.stat("/proc/thread-self/ns/net")
        return (now.st_dev, now.st_ino) != (mine.st_dev, mine.st_ino)

    def _decode(self, node: str, msg: object, stamp: int) -> FibChange | None:
        get = msg.get_attr  # type: ignore[attr-defined]
        if msg["proto"] != RTPROT_BGP or msg["table"] != 254:  # type: ignore[index]
            return None
        prefix = IPv4Network(f"{get('RTA_DST') or '0.0.0.0'}/{msg['dst_len']}")  # type: ignore[index]
        if prefix.subnet_of(FLOOD_NET):
            return None  # thousands of flood prefixes would drown the report
        hops = []
        multipath = get("RTA_MULTIPATH")
        if multipath:
            hops = [f"{nh.get_attr('RTA_GATEWAY')}@{nh['oif']}" for nh in multipath]
        elif get("RTA_GATEWAY"):
            hops = [f"{get('RTA_GATEWAY')}@{get('RTA_OIF')}"]
        action = "del" if msg["event"] == "RTM_DELROUTE" else "add"  # type: ignore[index]
        return FibChange(node, (stamp - self.t0_ns) / 1e6, str(prefix), action, sorted(hops))
