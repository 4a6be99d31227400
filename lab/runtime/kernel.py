"""The kernel's view of a namespace: BGP routes in the FIB, as (prefix -> {(gateway, device)}), and the
carrier of its interfaces; from one `rtnl.Snapshot` of the namespace (read in its own thread)."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network

from lab.runtime.rtnl import Snapshot
from lab.topology.constants import BLACKHOLE

RTPROT_BGP = 186
MAIN_TABLE = 254
RTN_BLACKHOLE = 6
RTNH_F_LINKDOWN = 16  # the route's device has no carrier (ignored with ignore_routes_with_linkdown)

NextHops = frozenset[tuple[IPv4Address | None, str]]


def carriers(snap: Snapshot) -> dict[str, bool]:
    """Interface -> has carrier (an IPsec VTI: its tunnel's CHILD_SA is up)."""
    return dict(snap.links.values())


def bgp_routes(snap: Snapshot) -> dict[IPv4Network, NextHops]:
    out: dict[IPv4Network, NextHops] = {}
    for route in snap.routes:
        if route.proto != RTPROT_BGP:
            continue
        if route.type == RTN_BLACKHOLE:
            out[route.prefix] = frozenset({(None, BLACKHOLE)})
            continue
        out[route.prefix] = frozenset((gw, snap.name(oif)) for gw, oif, _ in route.hops)
    return out


def live_routes(snap: Snapshot) -> set[tuple[IPv4Network, str]]:
    """(prefix, device) of every main-table route whose device has carrier, whoever installed it (zebra
    puts a router's static routes back once a tunnel's VTI comes up)."""
    return {
        (route.prefix, snap.name(oif))
        for route in snap.routes
        for _, oif, flags in route.hops
        if not flags & RTNH_F_LINKDOWN
    }
