"""A namespace's links and IPv4 main-table routes, dumped through a raw rtnetlink socket and parsed
with `struct`: what the convergence poll reads from every router ten times a second.

Why not pyroute2 here: it decodes every attribute of every message into objects, about 0.25 ms per
link and as much per route; at 50 sites a poll of the routers' FIBs took 1.5-2 CPU-s (most of the
convergence phase's CPU, on a machine that `up` keeps busy). Only the few fields the poll compares are
read here (name, carrier; destination, protocol, type, flags, gateway, device, ECMP next hops), about
20 times faster. Changes go through the same socket (lab.runtime.rtnl_ops); rare ones through pyroute2.

The socket is opened in the calling thread's network namespace (a node's thread, lab.runtime.netlink)
and kept for that thread, opened again if the thread has moved to another namespace.
"""

from __future__ import annotations

import os
import socket
import struct
import threading
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network

NETLINK_GET_STRICT_CHK = 12
RTM_NEWLINK, RTM_GETLINK, RTM_NEWROUTE, RTM_GETROUTE = 16, 18, 24, 26
NLMSG_ERROR, NLMSG_DONE = 2, 3
NLM_F_REQUEST, NLM_F_DUMP, NLM_F_DUMP_INTR = 0x1, 0x300, 0x10
IFLA_IFNAME, IFLA_CARRIER = 3, 33
RTA_DST, RTA_OIF, RTA_GATEWAY, RTA_MULTIPATH, RTA_TABLE = 1, 4, 5, 9, 15
RT_TABLE_COMPAT, MAIN_TABLE = 252, 254
DUMP_TRIES = 3  # a dump the kernel flags as interrupted (a change meanwhile) is taken again

HDR = struct.Struct("=IHHII")  # nlmsghdr: length, type, flags, sequence, port
_IFINFO = struct.Struct("=BxHiII")  # ifinfomsg: family, type, index, flags, change
_RTMSG = struct.Struct("=BBBBBBBBI")  # rtmsg: family, dst_len, src_len, tos, table, protocol, scope, type, flags
_RTA = struct.Struct("=HH")  # rtattr: length, type
_RTNH = struct.Struct("=HBBi")  # rtnexthop: length, flags, hops, ifindex
_U32 = struct.Struct("=I")


@dataclass(frozen=True)
class Route:
    prefix: IPv4Network
    proto: int
    type: int
    # (gateway, ifindex, flags) per next hop: one, or each of an ECMP route's
    hops: tuple[tuple[IPv4Address | None, int | None, int], ...]


@dataclass(frozen=True)
class Snapshot:
    links: dict[int, tuple[str, bool]]  # ifindex -> (name, carrier)
    routes: list[Route]  # the IPv4 main table

    def name(self, index: int | None) -> str:
        link = self.links.get(index) if index is not None else None
        return link[0] if link else str(index)


_local = threading.local()


def snapshot() -> Snapshot:
    """Links and main-table routes of the calling thread's namespace, dumped now."""
    sock = thread_socket()
    return Snapshot(_links(sock), _routes(sock))


def snapshot_links() -> dict[int, tuple[str, bool]]:
    """ifindex -> (name, carrier) of the calling thread's namespace."""
    return _links(thread_socket())


def next_seq() -> int:
    """A sequence number for a request on this thread's socket."""
    _local.seq += 1
    seq: int = _local.seq
    return seq


def thread_socket() -> socket.socket:
    """This thread's rtnetlink socket, in its namespace now."""
    ns = os.stat("/proc/thread-self/ns/net").st_ino
    sock: socket.socket | None = getattr(_local, "sock", None)
    if sock is None or _local.ns != ns:
        if sock is not None:
            sock.close()
        sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, socket.NETLINK_ROUTE)
        sock.bind((0, 0))
        _local.sock, _local.ns, _local.seq = sock, ns, 0
    return sock


def parse_attrs(data: bytes | memoryview, offset: int, end: int) -> dict[int, tuple[int, int]]:
    """attribute type -> (start, end) of its payload."""
    out = {}
    while offset + 4 <= end:
        length, kind = _RTA.unpack_from(data, offset)
        if length < 4:
            break
        out[kind & 0x3FFF] = (offset + 4, offset + length)  # without NLA_F_NESTED / NET_BYTEORDER
        offset += (length + 3) & ~3
    return out


def dump(kind: int, body: bytes, sock: socket.socket | None = None) -> list[tuple[int, bytes, int]]:
    """The messages answering one dump request on this thread's socket, as (payload start, buffer, end)."""
    sock = sock or thread_socket()
    for _ in range(DUMP_TRIES):
        seq = next_seq()
        sock.send(HDR.pack(HDR.size + len(body), kind, NLM_F_REQUEST | NLM_F_DUMP, seq, 0) + body)
        messages: list[tuple[int, bytes, int]] = []
        interrupted = done = False
        while not done:
            data = sock.recv(1 << 20)
            offset = 0
            while offset + HDR.size <= len(data):
                length, mtype, flags, mseq, _ = HDR.unpack_from(data, offset)
                if length < HDR.size:
                    break
                if mseq == seq:
                    if mtype == NLMSG_DONE:
                        done = True
                    elif mtype == NLMSG_ERROR:
                        code = -struct.unpack_from("=i", data, offset + HDR.size)[0]
                        if code:
                            raise OSError(code, f"rtnetlink dump: {os.strerror(code)}")
                        done = True
                    else:
                        messages.append((offset + HDR.size, data, offset + length))
                    interrupted |= bool(flags & NLM_F_DUMP_INTR)
                offset += (length + 3) & ~3
        if not interrupted:
            return messages
    return messages


def _links(sock: socket.socket) -> dict[int, tuple[str, bool]]:
    out = {}
    for start, data, end in dump(RTM_GETLINK, _IFINFO.pack(socket.AF_UNSPEC, 0, 0, 0, 0), sock):
        _, _, index, _, _ = _IFINFO.unpack_from(data, start)
        attrs = parse_attrs(data, start + _IFINFO.size, end)
        name = ""
        if IFLA_IFNAME in attrs:
            a, b = attrs[IFLA_IFNAME]
            name = bytes(data[a:b]).split(b"\0", 1)[0].decode()
        carrier = IFLA_CARRIER in attrs and data[attrs[IFLA_CARRIER][0]] != 0
        out[index] = (name, carrier)
    return out


def _address(data: bytes, span: tuple[int, int] | None) -> IPv4Address | None:
    return IPv4Address(data[span[0] : span[0] + 4]) if span else None


def _routes(sock: socket.socket) -> list[Route]:
    out = []
    request = _RTMSG.pack(socket.AF_INET, 0, 0, 0, 0, 0, 0, 0, 0)
    for start, data, end in dump(RTM_GETROUTE, request, sock):
        family, dst_len, _, _, table, proto, _, rtype, flags = _RTMSG.unpack_from(data, start)
        if family != socket.AF_INET or table not in (MAIN_TABLE, RT_TABLE_COMPAT):
            continue
        attrs = parse_attrs(data, start + _RTMSG.size, end)
        if table == RT_TABLE_COMPAT and (RTA_TABLE not in attrs or _u32(data, attrs[RTA_TABLE]) != MAIN_TABLE):
            continue
        dst = _address(data, attrs.get(RTA_DST)) or IPv4Address(0)
        prefix = IPv4Network((dst, dst_len))
        hops: list[tuple[IPv4Address | None, int | None, int]] = []
        if RTA_MULTIPATH in attrs:
            offset, stop = attrs[RTA_MULTIPATH]
            while offset + _RTNH.size <= stop:
                length, nh_flags, _, index = _RTNH.unpack_from(data, offset)
                if length < _RTNH.size:
                    break
                nh = parse_attrs(data, offset + _RTNH.size, offset + length)
                hops.append((_address(data, nh.get(RTA_GATEWAY)), index, nh_flags))
                offset += (length + 3) & ~3
        else:
            oif = _u32(data, attrs[RTA_OIF]) if RTA_OIF in attrs else None
            hops.append((_address(data, attrs.get(RTA_GATEWAY)), oif, flags))
        out.append(Route(prefix, proto, rtype, tuple(hops)))
    return out


def _u32(data: bytes, span: tuple[int, int]) -> int:
    value: int = _U32.unpack_from(data, span[0])[0]
    return value
