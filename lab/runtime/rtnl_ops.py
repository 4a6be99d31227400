"""The few rtnetlink changes `up` makes by the thousand (veths, link state, addresses, routes, permanent
neighbours, policy rules), as raw messages on the calling thread's socket (lab.runtime.rtnl).

Why not pyroute2 here: each of its requests costs 0.2-0.4 ms of Python (its sync API runs an asyncio
loop per call), these about 10 µs; at 50 sites `up` makes about 5,000 of them, all in gwlab's one
GIL-bound process while the second core waits. Each message is what pyroute2 sent for the same call
(same flags, protocol `static`, scope, table): the kernel state is the same. A refused change raises
OSError with the kernel's errno. Call it from the thread whose namespace is meant (a node's thread).
"""

from __future__ import annotations

import os
import socket
import struct
from ipaddress import IPv4Address, IPv4Network

from lab.runtime import rtnl

RTM_NEWLINK, RTM_NEWADDR, RTM_NEWROUTE, RTM_NEWNEIGH, RTM_NEWRULE, RTM_GETRULE = 16, 20, 24, 28, 32, 34
NLM_F_REQUEST, NLM_F_ACK, NLM_F_REPLACE, NLM_F_EXCL, NLM_F_CREATE = 0x1, 0x4, 0x100, 0x200, 0x400
REPLACE = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE
ADD = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL
CHANGE = NLM_F_REQUEST | NLM_F_ACK
IFF_UP = 0x1
IFLA_ADDRESS, IFLA_IFNAME, IFLA_MTU, IFLA_MASTER, IFLA_LINKINFO, IFLA_NET_NS_FD = 1, 3, 4, 10, 18, 28
IFLA_INFO_KIND, IFLA_INFO_DATA, VETH_INFO_PEER = 1, 2, 1
IFA_ADDRESS, IFA_LOCAL = 1, 2
RTA_DST, RTA_OIF, RTA_GATEWAY, RTA_TABLE = 1, 4, 5, 15
RTPROT_STATIC, RT_SCOPE_UNIVERSE, RTN_UNICAST = 4, 0, 1
NDA_DST, NDA_LLADDR, NUD_PERMANENT = 1, 2, 0x80
FRA_IIFNAME, FRA_PRIORITY, FRA_TABLE, FR_ACT_TO_TBL = 3, 6, 15, 1
NLA_F_NESTED = 0x8000

_IFINFO = struct.Struct("=BxHiII")
_IFADDR = struct.Struct("=BBBBI")
_RTMSG = struct.Struct("=BBBBBBBBI")
_NDMSG = struct.Struct("=BxxxiHBB")
_RULE = struct.Struct("=BBBBBBBBI")  # fib_rule_hdr: family, dst_len, src_len, tos, table, res1, res2, action, flags


def _attr(kind: int, data: bytes) -> bytes:
    length = 4 + len(data)
    return struct.pack("=HH", length, kind) + data + b"\0" * (-length % 4)


def _u32(kind: int, value: int) -> bytes:
    return _attr(kind, struct.pack("=I", value))


def _name(kind: int, name: str) -> bytes:
    return _attr(kind, name.encode() + b"\0")


def _mac(mac: str) -> bytes:
    return bytes.fromhex(mac.replace(":", ""))


def _ip(address: str | IPv4Address) -> bytes:
    return IPv4Address(address).packed


def _request(kind: int, flags: int, body: bytes) -> None:
    """Send one request and wait for its acknowledgement."""
    sock = rtnl.thread_socket()
    seq = rtnl.next_seq()
    sock.send(rtnl.HDR.pack(rtnl.HDR.size + len(body), kind, flags, seq, 0) + body)
    while True:
        data = sock.recv(1 << 16)
        offset = 0
        while offset + rtnl.HDR.size <= len(data):
            length, mtype, _, mseq, _ = rtnl.HDR.unpack_from(data, offset)
            if length < rtnl.HDR.size:
                break
            if mseq == seq and mtype == rtnl.NLMSG_ERROR:
                code = -struct.unpack_from("=i", data, offset + rtnl.HDR.size)[0]
                if code:
                    raise OSError(code, f"rtnetlink: {os.strerror(code)}")
                return
            offset += (length + 3) & ~3


def link_index() -> dict[str, int]:
    """Interface name -> index."""
    return {name: index for index, (name, _) in rtnl.snapshot_links().items()}


def link_set(index: int, up: bool | None = None, mtu: int | None = None, master: int | None = None) -> None:
    flags, change = (IFF_UP if up else 0, IFF_UP) if up is not None else (0, 0)
    body = _IFINFO.pack(socket.AF_UNSPEC, 0, index, flags, change)
    body += (_u32(IFLA_MTU, mtu) if mtu is not None else b"") + (
        _u32(IFLA_MASTER, master) if master is not None else b""
    )
    _request(RTM_NEWLINK, CHANGE, body)


def veth(
    ifname: str, peer: str, peer_netns_fd: int, mtu: int | None = None, macs: tuple[str, str] | None = None
) -> None:
    """A veth pair here, its peer `peer` in the namespace open as `peer_netns_fd` (with `macs`: this end's
    and the peer's MAC)."""
    mine = peers = b""
    if mtu is not None:
        mine += _u32(IFLA_MTU, mtu)
        peers += _u32(IFLA_MTU, mtu)
    if macs is not None:
        mine += _attr(IFLA_ADDRESS, _mac(macs[0]))
        peers += _attr(IFLA_ADDRESS, _mac(macs[1]))
    peer_msg = _IFINFO.pack(socket.AF_UNSPEC, 0, 0, 0, 0) + _name(IFLA_IFNAME, peer) + peers
    peer_msg += _u32(IFLA_NET_NS_FD, peer_netns_fd)
    info = _name(IFLA_INFO_KIND, "veth") + _attr(IFLA_INFO_DATA | NLA_F_NESTED, _attr(VETH_INFO_PEER, peer_msg))
    body = _IFINFO.pack(socket.AF_UNSPEC, 0, 0, 0, 0) + _name(IFLA_IFNAME, ifname) + mine
    _request(RTM_NEWLINK, ADD, body + _attr(IFLA_LINKINFO | NLA_F_NESTED, info))


def addr_replace(index: int, address: str | IPv4Address, prefixlen: int) -> None:
    body = _IFADDR.pack(socket.AF_INET, prefixlen, 0, RT_SCOPE_UNIVERSE, index)
    _request(RTM_NEWADDR, REPLACE, body + _attr(IFA_LOCAL, _ip(address)) + _attr(IFA_ADDRESS, _ip(address)))


def route_replace(
    dst: str | IPv4Network,
    gateway: str | IPv4Address | None = None,
    oif: int | None = None,
    table: int = rtnl.MAIN_TABLE,
) -> None:
    net = IPv4Network(dst)
    body = _RTMSG.pack(
        socket.AF_INET,
        net.prefixlen,
        0,
        0,
        table if table < 256 else 0,
        RTPROT_STATIC,
        RT_SCOPE_UNIVERSE,
        RTN_UNICAST,
        0,
    )
    body += _u32(RTA_TABLE, table) + _attr(RTA_DST, net.network_address.packed)
    if gateway is not None:
        body += _attr(RTA_GATEWAY, _ip(gateway))
    if oif is not None:
        body += _u32(RTA_OIF, oif)
    _request(RTM_NEWROUTE, REPLACE, body)


def neigh_permanent(index: int, address: str | IPv4Address, mac: str) -> None:
    body = _NDMSG.pack(socket.AF_INET, index, NUD_PERMANENT, 0, 0)
    _request(RTM_NEWNEIGH, REPLACE, body + _attr(NDA_DST, _ip(address)) + _attr(NDA_LLADDR, _mac(mac)))


def rule_priorities() -> set[int]:
    """The priorities of the IPv4 policy rules."""
    out = set()
    for start, data, end in rtnl.dump(RTM_GETRULE, _RULE.pack(socket.AF_INET, 0, 0, 0, 0, 0, 0, 0, 0)):
        attrs = rtnl.parse_attrs(data, start + _RULE.size, end)
        out.add(struct.unpack_from("=I", data, attrs[FRA_PRIORITY][0])[0] if FRA_PRIORITY in attrs else 0)
    return out


def rule_add(priority: int, table: int, iifname: str) -> None:
    body = _RULE.pack(socket.AF_INET, 0, 0, 0, table if table < 256 else 0, 0, 0, FR_ACT_TO_TBL, 0)
    body += _u32(FRA_PRIORITY, priority) + _u32(FRA_TABLE, table) + _name(FRA_IIFNAME, iifname)
    _request(RTM_NEWRULE, ADD, body)
