"""Addresses: public IPs, on-prem prefixes and device BGP IPs, each clear of what the lab assigns itself."""

from __future__ import annotations

from collections.abc import Iterator
from ipaddress import IPv4Address, IPv4Network

from lab.errors import Problem
from lab.model import LabFile
from lab.rules.common import BROADCAST, NOT_UNICAST, in_special
from lab.rules.pools import pool_capacity, public_pool_sizes
from lab.topology import (
    APIPA,
    FLOOD_NET,
    SPEAKER_NET,
    derived_public_ips,
    er_subnets,
    gateway_apipa_ips,
    public_network,
)
from lab.topology.addressing import lan_addresses


def public_ips(lab: LabFile) -> Iterator[Problem]:
    # Deriving the public IPs needs usable pools; their problems are reported by `pools`/`pool_capacity`.
    if (
        any(True for _ in pool_capacity(lab))
        or any(True for _ in public_pool_sizes(lab))
        or lab.pools.azure_public.overlaps(lab.pools.onprem_public)
    ):
        return
    gw_ips, dev_ips = derived_public_ips(lab)
    given = {i.public_ip for i in lab.vpn_gateway.instances if i.public_ip is not None}
    given |= {d.public_ip for s in lab.onprem.sites for d in s.devices if d.public_ip is not None}
    seen: dict[IPv4Address, str] = {}
    places = [(ip, f"vpn_gateway.instances[{i}].public_ip") for i, ip in enumerate(gw_ips)]
    for s, ips in enumerate(dev_ips):
        places += [(ip, f"onprem.sites[{s}].devices[{d}].public_ip") for d, ip in enumerate(ips)]
    for ip, path in places:
        if ip in seen:
            yield Problem(path, f"{ip} is already used by {seen[ip]} (public IPs must be unique)")
            continue
        seen[ip] = path
        net = public_network(lab, ip)
        if ip == net[1]:
            yield Problem(path, f"{ip} is the lab's internet router in {net} (use another address)")
        elif ip in (net.network_address, net.broadcast_address):
            yield Problem(path, f"{ip} is not a host address of {net} (use another address)")
        elif (
            (ip.is_private or ip.is_loopback or ip.is_multicast or ip.is_link_local or ip.is_reserved)
            and ip not in lab.pools.azure_public
            and ip not in lab.pools.onprem_public
        ):
            yield Problem(path, f"{ip} is not a public address (use one like 203.0.113.10)")
            continue
        if ip not in given:
            continue  # derived from a pool: where the pools may lie is the `pools` rule's business
        clash = next((what for what, n in address_plan(lab) if ip in n), None)
        pool = next(
            (
                f
                for f in ("azure_public", "onprem_public")
                if ip not in getattr(lab.pools, f) and net.overlaps(getattr(lab.pools, f))
            ),
            None,
        )
        if clash is not None:
            yield Problem(path, f"{ip} is inside {clash} (use another address)")
        elif pool is not None:
            # Outside the pools the internet router takes .1 of the address's /24, which must not meet a pool.
            yield Problem(
                path,
                f"{ip} is outside pools.{pool} {getattr(lab.pools, pool)} but in the same {net} "
                "(use an address inside the pool, or in another /24)",
            )


def address_plan(lab: LabFile) -> list[tuple[str, IPv4Network]]:
    """The private ranges the lab assigns from, named the way a message shows them."""
    plan = [(f"the VNet's {v}", v) for v in lab.vnet.address_space]
    plan += [(f"site {s.name}'s {p}", p) for s in lab.onprem.sites for p in s.prefixes]
    plan += [(f"pools.{f} {getattr(lab.pools, f)}", getattr(lab.pools, f)) for f in ("loopback", "p2p")]
    plan += [(f"expressroute.{f} {n}", n) for f, n in er_subnets(lab)]
    return plan


def onprem_prefixes(lab: LabFile) -> Iterator[Problem]:
    spaces = lab.vnet.address_space
    placed: list[tuple[IPv4Network, str]] = []
    for s_idx, site in enumerate(lab.onprem.sites):
        for p_idx, prefix in enumerate(site.prefixes):
            path = f"onprem.sites[{s_idx}].prefixes[{p_idx}]"
            clash = next((v for v in spaces if v.overlaps(prefix)), None)
            if clash is not None:
                yield Problem(path, f"{prefix} overlaps the VNet's {clash} (on-prem and Azure must not overlap)")
                continue
            other = next((where for p, where in placed if p.overlaps(prefix)), None)
            if other is not None:
                yield Problem(path, f"{prefix} overlaps {other} (prefixes must be disjoint)")
                continue
            if prefix.overlaps(FLOOD_NET):
                yield Problem(
                    path,
                    f"{prefix} overlaps {FLOOD_NET}, which the lab keeps for the prefix-flood "
                    "failure (use another range)",
                )
                continue
            bad = in_special(prefix, NOT_UNICAST)
            if bad is not None:
                yield Problem(
                    path, f"{prefix} {bad}, which is not unicast address space (use private or public unicast space)"
                )
            elif p_idx == 0 and prefix.num_addresses < 4:
                yield Problem(path, f"{prefix} is too small for the site's LAN (use /30 or shorter)")
            placed.append((prefix, path))


def device_bgp_ips(lab: LabFile) -> Iterator[Problem]:
    seen: dict[IPv4Address, str] = {}
    publics = {d.public_ip for s in lab.onprem.sites for d in s.devices if d.public_ip is not None}
    publics |= {i.public_ip for i in lab.vpn_gateway.instances if i.public_ip is not None}
    lans: dict[IPv4Address, str] = {}  # the addresses the lab gives each site's core (.1) and host (.2)
    for site in lab.onprem.sites:
        lan = site.prefixes[0]
        if lan.num_addresses >= 4:
            core_ip, host_ip = lan_addresses(lan)
            lans.setdefault(core_ip, f"site {site.name}'s core")
            lans.setdefault(host_ip, f"site {site.name}'s host")
    taken = [
        (f"pools.{f} {getattr(lab.pools, f)}", getattr(lab.pools, f))
        for f in ("loopback", "p2p", "azure_public", "onprem_public")
    ]
    taken += [(f"expressroute.{f} {n}", n) for f, n in er_subnets(lab)]
    azure = _azure_apipas(lab)
    for s_idx, site in enumerate(lab.onprem.sites):
        for d_idx, dev in enumerate(site.devices):
            ip = dev.bgp_ip
            if ip is None:
                continue
            path = f"onprem.sites[{s_idx}].devices[{d_idx}].bgp_ip"
            if ip in seen:
                yield Problem(path, f"{ip} is already used by {seen[ip]} (BGP IPs must be unique)")
                continue
            seen[ip] = path
            if any(ip in v for v in lab.vnet.address_space):
                yield Problem(path, f"{ip} is inside the VNet (use an on-prem or APIPA address)")
            elif ip == BROADCAST or (ip not in APIPA and any(ip in n for n in NOT_UNICAST)):
                yield Problem(path, f"{ip} is not a unicast address (use an on-prem or APIPA address)")
            elif ip in azure:
                yield Problem(path, f"{ip} is {azure[ip]}")
            elif ip in SPEAKER_NET or ip in FLOOD_NET:
                net = SPEAKER_NET if ip in SPEAKER_NET else FLOOD_NET
                yield Problem(path, f"{ip} is in {net}, which the lab keeps for its BGP speakers (use another address)")
            elif ip in publics:
                yield Problem(path, f"{ip} is a public IP of the lab (use an on-prem or APIPA address)")
            elif ip in lans:
                yield Problem(path, f"{ip} is the address of {lans[ip]} (use another)")
            else:
                where = next((what for what, n in taken if ip in n), None)
                if where is not None:
                    yield Problem(path, f"{ip} is inside {where}, which the lab assigns from (use another)")


def _azure_apipas(lab: LabFile) -> dict[IPv4Address, str]:
    """The APIPA address each instance really holds (`gateway_apipa_ips`: its own, else the lab's default for
    its position; one for active/standby), said the way a message names it. A default that an instance with
    its own address does not use is free for a device: 169.254.21.1 beside instances at .21.2 and .22.2."""
    instances = lab.vpn_gateway.instances
    out: dict[IPv4Address, str] = {}
    for i, ip in enumerate(gateway_apipa_ips(lab)):
        given = i < len(instances) and instances[i].apipa_bgp_ip is not None
        field = f"vpn_gateway.instances[{i}].apipa_bgp_ip"
        out.setdefault(
            ip,
            f"instance {i}'s APIPA address ({field}; use another)"
            if given
            else f"instance {i}'s APIPA address by default (use another, or set {field})",
        )
    return out
