"""Address pools: large enough for what the lab derives from them, and clear of everything else."""

from __future__ import annotations

from collections.abc import Iterator
from ipaddress import IPv4Network

from lab.errors import Problem
from lab.model import LabFile
from lab.rules.common import NOT_UNICAST, in_special
from lab.topology import er_subnets
from lab.topology.addressing import FIRST_PUBLIC_HOST, instance_ip_count

LARGEST_PUBLIC_POOL = 16  # the lab lists a public pool's addresses; keep it reasonable


def public_pool_kept_back() -> int:
    """Addresses of a public pool no device gets: .1-.9 (the internet router, kept back), the network
    and the broadcast address."""
    return FIRST_PUBLIC_HOST + 2


def public_pool_sizes(lab: LabFile) -> Iterator[Problem]:
    for field, min_len in (("azure_public", 28), ("onprem_public", 26)):
        pool = getattr(lab.pools, field)
        if pool.prefixlen > min_len:
            yield Problem(f"pools.{field}", f"{pool} is too small (use /{min_len} or shorter)")
        elif pool.prefixlen < LARGEST_PUBLIC_POOL:
            yield Problem(f"pools.{field}", f"{pool} is too large (use /{LARGEST_PUBLIC_POOL} or longer)")


def pools(lab: LabFile) -> Iterator[Problem]:
    pools = lab.pools
    used = [(v, "the VNet") for v in lab.vnet.address_space]
    used += [(p, f"site {s.name}") for s in lab.onprem.sites for p in s.prefixes]
    used += [(n, f"expressroute.{f}") for f, n in er_subnets(lab)]
    sizes = {p.path: p for p in public_pool_sizes(lab)}
    done: list[tuple[str, IPv4Network]] = []
    for field, pool, min_len in (
        ("loopback", pools.loopback, 24),
        ("p2p", pools.p2p, 24),
        ("tunnel_endpoints", pools.tunnel_endpoints, 24),
        ("azure_public", pools.azure_public, 28),
        ("onprem_public", pools.onprem_public, 26),
    ):
        path = f"pools.{field}"
        if path in sizes:
            yield sizes[path]
        elif pool.prefixlen > min_len:
            yield Problem(path, f"{pool} is too small (use /{min_len} or shorter)")
        clash = next(((net, what) for net, what in used if pool.overlaps(net)), None)
        if clash is not None:
            yield Problem(path, f"{pool} overlaps {clash[1]}'s {clash[0]} (choose a free range)")
        else:
            other = next((f for f, p in done if pool.overlaps(p)), None)
            bad = in_special(pool, NOT_UNICAST)
            if other is not None:
                yield Problem(path, f"{pool} overlaps pools.{other} {getattr(pools, other)} (choose a free range)")
            elif bad is not None:
                yield Problem(path, f"{pool} {bad}, which is not unicast address space (choose another range)")
        done.append((field, pool))


def pool_capacity(lab: LabFile) -> Iterator[Problem]:
    wanted = sum(1 for s in lab.onprem.sites for d in s.devices if d.public_ip is None)
    clients = lab.vpn_gateway.p2s.clients if lab.vpn_gateway.p2s else 0
    room = lab.pools.onprem_public.num_addresses - public_pool_kept_back()
    if wanted + clients > room:
        what = "devices and point-to-site clients" if clients else "devices"
        yield Problem(
            "pools.onprem_public",
            f"{lab.pools.onprem_public} has room for {max(room, 0)} {what}, "
            f"the lab needs {wanted + clients} (use a shorter prefix)",
        )
    # Remote VNets' instances take the Azure pool's hosts after the lab's own gateway's.
    wanted = instance_ip_count(lab) + 2 * len(lab.remote_vnets)
    room = lab.pools.azure_public.num_addresses - public_pool_kept_back()
    if lab.remote_vnets and wanted > room:
        yield Problem(
            "pools.azure_public",
            f"{lab.pools.azure_public} has room for {max(room, 0)} gateway public IPs, "
            f"the lab needs {wanted} (use a shorter prefix)",
        )
    er = 1 if lab.expressroute is not None else 0
    devices = sum(len(s.devices) for s in lab.onprem.sites)
    # Router loopbacks: the VNet router, two instances, each core, each device without a bgp_ip,
    # and with ExpressRoute its gateway, two MSEEs and two CEs.
    loopbacks = (
        3
        + len(lab.onprem.sites)
        + sum(1 for s in lab.onprem.sites for d in s.devices if d.bgp_ip is None)
        + 5 * er
        + 3 * len(lab.remote_vnets)  # a remote VNet's router and two instances
    )
    room = max(lab.pools.loopback.num_addresses - 2, 0)
    if loopbacks > room:
        yield Problem(
            "pools.loopback",
            f"{lab.pools.loopback} has room for {room} router loopbacks, "
            f"the lab needs {loopbacks} (use a shorter prefix)",
        )
    links = devices + 4 * er  # device-core; with ExpressRoute gateway-MSEE and CE-core, two each
    room = lab.pools.p2p.num_addresses // 2
    if links > room:
        yield Problem(
            "pools.p2p", f"{lab.pools.p2p} has room for {room} links, the lab needs {links} (use a shorter prefix)"
        )
    ends = tunnel_end_count(lab)
    room = lab.pools.tunnel_endpoints.num_addresses // 4
    if ends > room:
        yield Problem(
            "pools.tunnel_endpoints",
            f"{lab.pools.tunnel_endpoints} has room for {room} tunnel ends, the lab needs {ends} "
            "(use a shorter prefix)",
        )


def tunnel_end_count(lab: LabFile) -> int:
    """IPsec tunnel ends, a /30 each: per device one per gateway public IP and one per instance; and an
    instance's point-to-site end."""
    if lab.tunnels.kind != "ipsec":
        return 0
    devices = sum(len(s.devices) for s in lab.onprem.sites)
    p2s = 2 if lab.vpn_gateway.p2s else 0  # one point-to-site end per instance
    return devices * (instance_ip_count(lab) + 2) + p2s
