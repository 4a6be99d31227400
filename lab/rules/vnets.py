"""Remote VNets and VNet-to-VNet connections: names, one ASN per gateway, disjoint address spaces,
connections between VNets that exist, at most one per pair, and gateways that can carry them."""

from __future__ import annotations

from collections.abc import Iterator
from ipaddress import IPv4Network

from lab.errors import Problem
from lab.model import MAIN_VNET, LabFile
from lab.rules.asns import USABLE, reserved
from lab.topology.naming import p2s_client_names


def remote_vnets(lab: LabFile) -> Iterator[Problem]:
    if not lab.remote_vnets:
        return
    yield from _names(lab)
    for i, v in enumerate(lab.remote_vnets):
        if v.vpn_gateway.mode != "active-active":
            yield Problem(
                f"remote_vnets[{i}].vpn_gateway.mode",
                "the lab models remote gateways as active/active only (set mode: active-active)",
            )
    yield from _asns(lab)
    yield from _spaces(lab)
    yield from _connections(lab)


def _names(lab: LabFile) -> Iterator[Problem]:
    sites = {s.name for s in lab.onprem.sites}
    clients = set(p2s_client_names(lab))
    seen: set[str] = set()
    for i, v in enumerate(lab.remote_vnets):
        path = f"remote_vnets[{i}].name"
        if v.name == MAIN_VNET:
            yield Problem(path, f"'{MAIN_VNET}' names the lab's own vnet (pick another name)")
        elif v.name in seen:
            yield Problem(path, f"'{v.name}' names another remote VNet too (give each its own name)")
        elif v.name in sites or v.name in clients:
            what = "a site" if v.name in sites else "a point-to-site client"
            yield Problem(path, f"'{v.name}' is also {what}'s name: traffic directions would be ambiguous (rename one)")
        seen.add(v.name)


def _asns(lab: LabFile) -> Iterator[Problem]:
    """Each VNet's gateway its own ASN: with one ASN, loop prevention drops each VNet's routes at the other."""
    taken: dict[int, str] = {lab.vpn_gateway.asn: "vpn_gateway"}
    sites = {s.asn: f"site {s.name}" for s in lab.onprem.sites}
    for i, v in enumerate(lab.remote_vnets):
        asn = v.vpn_gateway.asn
        path = f"remote_vnets[{i}].vpn_gateway.asn"
        if asn in taken:
            yield Problem(
                path,
                f"{asn} is also {taken[asn]}'s ASN: connected VNets never learn each other's routes "
                f"with one ASN (give each gateway its own: {USABLE})",
            )
        elif reserved(asn, lab.expressroute is not None):
            yield Problem(path, f"{asn} is reserved by Azure ({USABLE})")
        elif asn in sites:
            yield Problem(path, f"{asn} is {sites[asn]}'s ASN (a gateway needs its own: {USABLE})")
        taken.setdefault(asn, f"remote_vnets[{i}].vpn_gateway")


def _spaces(lab: LabFile) -> Iterator[Problem]:
    """Connected VNets, and the sites behind them, must not overlap: the routes could not tell them apart."""
    placed: list[tuple[IPv4Network, str]] = [
        (p, f"vnet.address_space[{k}]") for k, p in enumerate(lab.vnet.address_space)
    ]
    placed += [
        (p, f"onprem.sites[{s}].prefixes[{k}]")
        for s, site in enumerate(lab.onprem.sites)
        for k, p in enumerate(site.prefixes)
    ]
    if lab.vpn_gateway.p2s is not None:
        placed.append((lab.vpn_gateway.p2s.address_pool, "vpn_gateway.p2s.address_pool"))
    for i, v in enumerate(lab.remote_vnets):
        mine = []
        for k, space in enumerate(v.address_space):
            path = f"remote_vnets[{i}].address_space[{k}]"
            clash = next((where for p, where in placed if p.overlaps(space)), None)
            if clash is not None:
                yield Problem(path, f"{space} overlaps {clash} (connected VNets need disjoint address spaces)")
            mine.append((space, path))
        placed += mine


def _connections(lab: LabFile) -> Iterator[Problem]:
    names = [v.name for v in lab.remote_vnets]
    known = [MAIN_VNET, *names]
    pairs: set[frozenset[str]] = set()
    for i, v in enumerate(lab.remote_vnets):
        if v.name == MAIN_VNET:
            continue  # its name is wrong already
        for j, conn in enumerate(v.connections):
            at = f"remote_vnets[{i}].connections[{j}]"
            if conn.vnet not in known:
                yield Problem(f"{at}.vnet", f"'{conn.vnet}' is not a VNet of this lab (use one of: {', '.join(known)})")
                continue
            if conn.vnet == v.name:
                yield Problem(f"{at}.vnet", f"a VNet cannot connect to itself (name another VNet: {', '.join(known)})")
                continue
            pair = frozenset((v.name, conn.vnet))
            if pair in pairs:
                yield Problem(f"{at}.vnet", f"{v.name} and {conn.vnet} are connected already (keep one connection)")
            pairs.add(pair)
            if conn.vnet == MAIN_VNET:
                yield from _main_gateway(lab, at, conn.bgp)


def _main_gateway(lab: LabFile, at: str, bgp: bool) -> Iterator[Problem]:
    gw = lab.vpn_gateway
    if gw.type == "policy-based":
        yield Problem(f"{at}.vnet", "VNet-to-VNet needs a route-based gateway (set vpn_gateway.type: route-based)")
    elif bgp and not gw.bgp:
        yield Problem(f"{at}.bgp", "vpn_gateway has BGP off (set bgp: false here, or vpn_gateway.bgp: true)")
