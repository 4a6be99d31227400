"""The kernel's view of a namespace: BGP routes in the FIB, as (prefix -> {(gateway, device)})."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network
from typing import Any

from lab.topology.constants import BLACKHOLE

RTPROT_BGP = 186
MAIN_TABLE = 254
RTN_BLACKHOLE = 6

NextHops = frozenset[tuple[IPv4Address | None, str]]


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
