"""The kernel's view of a namespace: BGP routes in the FIB, as (prefix -> {(gateway, device)}), and the
carrier of its interfaces."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network
from typing import Any

from lab.topology.constants import BLACKHOLE

RTPROT_BGP = 186
MAIN_TABLE = 254
RTN_BLACKHOLE = 6
RTNH_F_LINKDOWN = 16  # the route's device has no carrier (ignored with ignore_routes_with_linkdown)

NextHops = frozenset[tuple[IPv4Address | None, str]]


def carriers(ns: Any) -> dict[str, bool]:
    """Interface -> has carrier (an IPsec VTI: its tunnel's CHILD_SA is up)."""
    return {link.get_attr("IFLA_IFNAME"): bool(link.get_attr("IFLA_CARRIER")) for link in ns.get_links()}


def bgp_routes(ns: Any) -> dict[IPv4Network, NextHops]:
    names = {link["index"]: link.get_attr("IFLA_IFNAME") for link in ns.get_links()}
    out: dict[IPv4Network, NextHops] = {}
    for route in ns.get_routes(family=2, table=MAIN_TABLE):
        if route["proto"] != RTPROT_BGP:
            continue
        prefix = IPv4Network(f"{route.get_attr('RTA_DST') or '0.0.0.0'}/{route['dst_len']}")
        hops: set[tuple[IPv4Address | None, str]] = set()
        if route["type"] == RTN_BLACKHOLE:
            out[prefix] = frozenset({(None, BLACKHOLE)})
            continue
        multipath = route.get_attr("RTA_MULTIPATH")
        if multipath:
            for nh in multipath:
                gw = nh.get_attr("RTA_GATEWAY")
                hops.add((IPv4Address(gw) if gw else None, names.get(nh["oif"], str(nh["oif"]))))
        else:
            gw = route.get_attr("RTA_GATEWAY")
            oif = route.get_attr("RTA_OIF")
            hops.add((IPv4Address(gw) if gw else None, names.get(oif, str(oif))))
        out[prefix] = frozenset(hops)
    return out


def live_routes(ns: Any) -> set[tuple[IPv4Network, str]]:
    """(prefix, device) of every main-table route whose device has carrier, whoever installed it (zebra
    puts a router's static routes back once a tunnel's VTI comes up)."""
    names = {link["index"]: link.get_attr("IFLA_IFNAME") for link in ns.get_links()}
    out = set()
    for route in ns.get_routes(family=2, table=MAIN_TABLE):
        prefix = IPv4Network(f"{route.get_attr('RTA_DST') or '0.0.0.0'}/{route['dst_len']}")
        multipath = route.get_attr("RTA_MULTIPATH")
        hops = (
            [(nh["oif"], nh["flags"]) for nh in multipath]
            if multipath
            else [(route.get_attr("RTA_OIF"), route["flags"])]
        )
        out |= {(prefix, names.get(oif, str(oif))) for oif, flags in hops if not flags & RTNH_F_LINKDOWN}
    return out
