"""Point-to-site: on a route-based gateway with IPsec, and an address pool large enough for the mode and
the clients, clear of the VNet, on-prem and every range the lab uses."""

from __future__ import annotations

from collections.abc import Iterator

from lab.errors import Problem
from lab.model import LabFile
from lab.rules.common import NOT_UNICAST, in_special
from lab.topology import er_subnets
from lab.topology.addressing import p2s_placement, p2s_pools
from lab.topology.naming import p2s_client_names

# Azure's smallest pools: /29 for active/standby, /28 for active/active (the lab gives each instance half).
SMALLEST_POOL = {"active-standby": 29, "active-active": 28}
POOL_FIELDS = ("loopback", "p2p", "azure_public", "onprem_public", "tunnel_endpoints")


def point_to_site(lab: LabFile) -> Iterator[Problem]:
    gw = lab.vpn_gateway
    if gw.p2s is None:
        return
    if gw.type == "policy-based":
        yield Problem(
            "vpn_gateway.p2s", "point-to-site needs a route-based gateway (set vpn_gateway.type: route-based)"
        )
        return
    if lab.tunnels.kind != "ipsec":
        yield Problem("vpn_gateway.p2s", "point-to-site is IKEv2, it needs IPsec (set tunnels.kind: ipsec)")
    pool = gw.p2s.address_pool
    path = "vpn_gateway.p2s.address_pool"
    smallest = SMALLEST_POOL[gw.mode]
    if pool.prefixlen > smallest:
        yield Problem(path, f"{pool} is too small for an {gw.mode} gateway (use /{smallest} or shorter)")
    else:
        yield from _room(lab)
    clash = _overlap(lab)
    if clash is not None:
        yield Problem(path, f"{pool} overlaps {clash} (choose a range clear of the VNet, on-prem and the lab's pools)")
    clients = set(p2s_client_names(lab))
    for i, site in enumerate(lab.onprem.sites):
        if site.name in clients:
            yield Problem(
                f"onprem.sites[{i}].name", f"'{site.name}' names a point-to-site client too (rename the site)"
            )


def _room(lab: LabFile) -> Iterator[Problem]:
    assert lab.vpn_gateway.p2s is not None
    pools = p2s_pools(lab)
    wanted = [0, 0]
    for i in range(lab.vpn_gateway.p2s.clients):
        wanted[p2s_placement(lab, i)[0]] += 1
    for instance, count in enumerate(wanted):
        room = len(list(pools[instance].hosts()))
        if count > room:
            yield Problem(
                "vpn_gateway.p2s.clients",
                f"instance {instance} hands out {pools[instance]}, room for {room} clients, not {count} "
                "(use a larger address_pool or fewer clients)",
            )


def _overlap(lab: LabFile) -> str | None:
    assert lab.vpn_gateway.p2s is not None
    pool = lab.vpn_gateway.p2s.address_pool
    used = [(v, f"the VNet's {v}") for v in lab.vnet.address_space]
    used += [(p, f"site {s.name}'s {p}") for s in lab.onprem.sites for p in s.prefixes]
    used += [(n, f"expressroute.{f} {n}") for f, n in er_subnets(lab)]
    used += [(getattr(lab.pools, f), f"pools.{f} {getattr(lab.pools, f)}") for f in POOL_FIELDS]
    found = next((what for net, what in used if pool.overlaps(net)), None)
    return found or in_special(pool, NOT_UNICAST)
