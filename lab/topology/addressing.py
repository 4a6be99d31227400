"""Every derived address in one place: public IPs, BGP IPs, APIPA, the VM subnet, the ExpressRoute /30s,
tunnel, veth and bridge MACs, and the allocator of loopbacks and point-to-point links.

The rules call the same functions to check what the builder will use, rather than deriving it again.
"""

from __future__ import annotations

import hashlib
import zlib
from ipaddress import IPv4Address, IPv4Interface, IPv4Network

from lab.model import AZURE_DEFAULT_APIPA, ER_DEFAULT_SUBNETS, LabFile, VNet
from lab.topology.constants import APIPA

ER_SUBNET_FIELDS = ("primary_subnet", "secondary_subnet")  # of `expressroute`, one per MSEE
VM_SUBNET_SIZE = 24  # the derived VM subnet: the first /24 (or the space itself if smaller)
FIRST_PUBLIC_HOST = 9  # public pools hand out .10 onwards: .1 is the internet router, .2-.9 kept back


def public_network(lab: LabFile, ip: IPv4Address) -> IPv4Network:
    """The internet subnet a public IP sits in: its pool, or else its /24."""
    for pool in (lab.pools.azure_public, lab.pools.onprem_public):
        if ip in pool:
            return pool
    return IPv4Network(f"{ip}/24", strict=False)


def derived_public_ips(lab: LabFile) -> tuple[list[IPv4Address], list[list[IPv4Address]]]:
    """Public IPs of the gateway instances (one for active/standby) and of each site's devices."""
    azure = list(lab.pools.azure_public.hosts())[FIRST_PUBLIC_HOST:]
    onprem = iter(list(lab.pools.onprem_public.hosts())[FIRST_PUBLIC_HOST:])
    gw: list[IPv4Address] = []
    instances = lab.vpn_gateway.instances
    for i in range(instance_ip_count(lab)):
        given = instances[i].public_ip if i < len(instances) else None
        gw.append(given if given is not None else azure[i])
    devices: list[list[IPv4Address]] = []
    for site in lab.onprem.sites:
        # An exhausted pool yields the network address, which `rules.pool_capacity` reports.
        devices.append(
            [d.public_ip if d.public_ip is not None else next(onprem, lab.pools.onprem_public[0]) for d in site.devices]
        )
    return gw, devices


def remote_public_ips(lab: LabFile) -> dict[str, list[IPv4Address]]:
    """Each remote VNet's instances' public IPs: the Azure pool's next free hosts after the lab's own
    gateway's (given ones included), in file order."""
    gw, devices = derived_public_ips(lab)
    used = set(gw) | {ip for site in devices for ip in site}
    free = (ip for ip in list(lab.pools.azure_public.hosts())[FIRST_PUBLIC_HOST:] if ip not in used)
    return {v.name: [next(free, lab.pools.azure_public[0]) for _ in range(2)] for v in lab.remote_vnets}


def remote_bgp_ips(vnet: VNet) -> list[IPv4Address]:
    """A remote (active/active) gateway's BGP IPs: .4 and .5 of its GatewaySubnet, in public-IP order
    (its derived public IPs ascend)."""
    return [vnet.gateway_subnet[4], vnet.gateway_subnet[5]]


def instance_ip_count(lab: LabFile) -> int:
    """Public, BGP and APIPA addresses of the gateway: one held by the active instance, or one each."""
    return 1 if lab.vpn_gateway.mode == "active-standby" else 2


def gateway_bgp_ips(lab: LabFile, public_ips: list[IPv4Address]) -> list[IPv4Address]:
    """Azure: peer IPs from the GatewaySubnet in public-IP order, .4 then .5; active/standby has one."""
    subnet = lab.vnet.gateway_subnet
    if instance_ip_count(lab) == 1:
        return [subnet[4]]
    first, second = sorted(range(2), key=lambda i: public_ips[i])
    ips = [subnet[4], subnet[4]]
    ips[first], ips[second] = subnet[4], subnet[5]
    return ips


def gateway_apipa_ips(lab: LabFile) -> list[IPv4Address]:
    """Each instance's APIPA BGP address: its own, else the lab's default for its position."""
    instances = lab.vpn_gateway.instances
    out = []
    for i in range(instance_ip_count(lab)):
        given = instances[i].apipa_bgp_ip if i < len(instances) else None
        out.append(given or AZURE_DEFAULT_APIPA[i])
    return out


def uses_apipa(lab: LabFile) -> bool:
    """Does any device peer from an APIPA address (then the gateway instances hold theirs)?"""
    return any(d.bgp_ip is not None and d.bgp_ip in APIPA for s in lab.onprem.sites for d in s.devices)


def p2s_pools(lab: LabFile) -> list[IPv4Network]:
    """The point-to-site addresses each instance hands out: the whole pool (active/standby, the instance
    holding the IP), or its half (active/active, in instance order)."""
    p2s = lab.vpn_gateway.p2s
    if p2s is None:
        return []
    if instance_ip_count(lab) == 1:
        return [p2s.address_pool, p2s.address_pool]
    return list(p2s.address_pool.subnets(prefixlen_diff=1))


def p2s_placement(lab: LabFile, client: int) -> tuple[int, int]:
    """(the instance whose public IP client `client` connects to, its index among that one's clients):
    active/standby all to the one IP; active/active alternately."""
    if instance_ip_count(lab) == 1:
        return 0, client
    return client % 2, client // 2


def p2s_client_publics(lab: LabFile, count: int) -> list[IPv4Address]:
    """Point-to-site clients' own public IPs: the on-prem public pool's free hosts after the devices'."""
    _, devices = derived_public_ips(lab)
    used = {ip for site in devices for ip in site}
    free = (ip for ip in list(lab.pools.onprem_public.hosts())[FIRST_PUBLIC_HOST:] if ip not in used)
    return [next(free, lab.pools.onprem_public[0]) for _ in range(count)]


def derived_vm_subnet(lab: LabFile) -> IPv4Network | None:
    return vm_subnet_of(lab.vnet)


def vm_subnet_of(vnet: VNet) -> IPv4Network | None:
    """The VM subnet a VNet without `vm_subnet` gets: the first /24 (or the space itself if smaller)
    clear of the GatewaySubnet, found without walking every candidate; None when there is none."""
    gws = vnet.gateway_subnet
    for space in vnet.address_space:
        size = max(space.prefixlen, VM_SUBNET_SIZE)
        first = IPv4Network((int(space.network_address), size))
        if not first.overlaps(gws):
            return first
        # Candidates overlapping the GatewaySubnet lie inside it (or hold it): the next one starts past both.
        after = max(int(first.broadcast_address), int(gws.broadcast_address)) + 1
        if after <= int(space.broadcast_address):
            return IPv4Network((after, size))
    return None


def er_subnets(lab: LabFile) -> list[tuple[str, IPv4Network]]:
    """The private-peering /30 of each ExpressRoute link, by the field that sets it: given, or the default."""
    er = lab.expressroute
    if er is None:
        return []
    return [(f, getattr(er, f) or default) for f, default in zip(ER_SUBNET_FIELDS, ER_DEFAULT_SUBNETS, strict=True)]


def lan_addresses(lan: IPv4Network) -> tuple[IPv4Address, IPv4Address]:
    """A site LAN's (core, host) addresses: .1 and .2 of its first prefix."""
    return lan[1], lan[2]


def veth_mac(owner: str, ifname: str) -> str:
    """A locally administered unicast MAC for interface `ifname` of node (or IPsec endpoint) `owner`:
    40 bits of a hash, so that the members of one switch do not collide (lab.topology.neighbors)."""
    digest = hashlib.sha256(f"{owner}/{ifname}".encode()).digest()
    return "02:" + ":".join(f"{b:02x}" for b in digest[:5])


def bridge_mac(name: str) -> str:
    """A bridge's fixed, locally administered MAC. Without one a bridge takes its lowest port's MAC and
    changes it when that port goes, leaving every neighbor's ARP entry for the bridge's address stale."""
    digest = zlib.crc32(name.encode())
    return "02:67:77:ff:" + ":".join(f"{b:02x}" for b in digest.to_bytes(4, "big")[2:])


def tunnel_mac(vni: int, gateway_end: bool) -> str:
    """Locally administered MAC of a tunnel end; both instances of a gateway share the gateway end's."""
    return f"02:67:77:{1 if gateway_end else 0:02x}:{vni >> 8 & 0xFF:02x}:{vni & 0xFF:02x}"


def supernets(prefix: IPv4Network) -> list[IPv4Network]:
    return [prefix.supernet(new_prefix=n) for n in range(prefix.prefixlen - 1, -1, -1)]


class Allocator:
    """Hands out /32 loopbacks and /31 point-to-point subnets in a fixed order, so output is stable."""

    def __init__(self, lab: LabFile) -> None:
        self._loopbacks = lab.pools.loopback.hosts()
        self._p2p = lab.pools.p2p.subnets(new_prefix=31)
        self._endpoints = lab.pools.tunnel_endpoints.subnets(new_prefix=30)

    def loopback(self) -> IPv4Address:
        return next(self._loopbacks)

    def tunnel_endpoint(self) -> IPv4Network:
        """An IPsec tunnel end's router <-> endpoint /30."""
        return next(self._endpoints)

    def p2p(self) -> tuple[IPv4Interface, IPv4Interface]:
        net = next(self._p2p)
        return IPv4Interface(f"{net[0]}/31"), IPv4Interface(f"{net[1]}/31")
