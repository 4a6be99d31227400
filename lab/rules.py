"""Azure's rules for a lab file (../shared/reference/azure-behavior.md), as checks that name the fix.

Each check yields Problems; `check` runs them all so that a user sees every error at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from ipaddress import IPv4Address, IPv4Network

from lab.errors import LabError, Problem
from lab.model import MAX_NODE_NAME, LabFile
from lab.topology import (
    APIPA,
    APIPA_AZURE,
    FLOOD_NET,
    SPEAKER_NET,
    derived_public_ips,
    device_node_names,
    er_site_index,
    gateway_names,
    public_network,
)

# ASNs Azure keeps for itself (vpn-gateway-vpn-faq.md).
RESERVED_ASNS: tuple[tuple[int, int], ...] = (
    (8074, 8075),
    (12076, 12076),
    (65515, 65515),
    (65517, 65520),
    (23456, 23456),
    (64496, 64511),
    (65535, 65551),
)
# The ExpressRoute page reserves 65515-65520 as a block; the VPN FAQ leaves 65516 out. We refuse
# 65516 only when the lab has ExpressRoute, where the stricter page applies.
ER_EXTRA_RESERVED = (65516, 65516)
USABLE = "use 64512-65514 or 65521-65534"
VNET_TO_ER_MAX_PREFIXES = 1000
# Ranges a VNet cannot use (virtual-networks-faq.md: multicast, broadcast, loopback, link-local and
# Azure's own 168.63.129.16); the same ranges, with "this network" and class E, can't be a site's LAN.
SPECIAL = {
    IPv4Network(net): kind
    for net, kind in (
        ("224.0.0.0/4", "multicast"),
        ("255.255.255.255/32", "broadcast"),
        ("127.0.0.0/8", "loopback"),
        ("169.254.0.0/16", "link-local"),
        ("168.63.129.16/32", "Azure's platform address"),
        ("0.0.0.0/8", "this-network"),
        ("240.0.0.0/4", "reserved"),
    )
}
VNET_FORBIDDEN = tuple(n for n, kind in SPECIAL.items() if kind not in ("this-network", "reserved"))
NOT_UNICAST = tuple(n for n, kind in SPECIAL.items() if kind not in ("broadcast", "Azure's platform address"))
SMALLEST_SUBNET = 29  # Azure's smallest subnet; the VM subnet needs .4 (first usable) and a broadcast
LARGEST_PUBLIC_POOL = 16  # the lab lists a public pool's addresses; keep it reasonable
ER_DEFAULT_SUBNETS = (IPv4Network("172.16.0.0/30"), IPv4Network("172.16.0.4/30"))  # as in lab.topology
BROADCAST = IPv4Address("255.255.255.255")
AZURE_DEFAULT_APIPA = (IPv4Address("169.254.21.1"), IPv4Address("169.254.22.1"))  # as in lab.topology

Check = Callable[[LabFile], Iterator[Problem]]
CHECKS: list[Check] = []


def check(lab: LabFile, source: str) -> None:
    problems = [p for rule in CHECKS for p in rule(lab)]
    if problems:
        raise LabError(source, problems)


def rule(fn: Check) -> Check:
    CHECKS.append(fn)
    return fn


def _in_special(net: IPv4Network, ranges: tuple[IPv4Network, ...]) -> str | None:
    """'is in 224.0.0.0/4 (multicast)' when `net` meets one of `ranges`, else None."""
    bad = next((n for n in ranges if n.overlaps(net)), None)
    if bad is None:
        return None
    return f"{'is in' if net.subnet_of(bad) else 'overlaps'} {bad} ({SPECIAL[bad]})"


def _reserved(asn: int, with_er: bool) -> bool:
    ranges = RESERVED_ASNS + ((ER_EXTRA_RESERVED,) if with_er else ())
    return any(lo <= asn <= hi for lo, hi in ranges)


@rule
def onprem_asns(lab: LabFile) -> Iterator[Problem]:
    azure = lab.vpn_gateway.asn
    for i, site in enumerate(lab.onprem.sites):
        path = f"onprem.sites[{i}].asn"
        if _reserved(site.asn, lab.expressroute is not None):
            yield Problem(path, f"{site.asn} is reserved by Azure ({USABLE})")
        elif site.asn == azure:
            yield Problem(path, f"{site.asn} is the VPN gateway's ASN (on-prem needs its own: {USABLE})")
        elif lab.expressroute is not None and site.asn == lab.expressroute.msee_asn:
            yield Problem(path, f"{site.asn} is the MSEE's ASN (on-prem needs its own: {USABLE})")


@rule
def gateway_asn(lab: LabFile) -> Iterator[Problem]:
    asn = lab.vpn_gateway.asn
    if asn != 65515 and _reserved(asn, False):
        yield Problem("vpn_gateway.asn", f"{asn} is reserved by Azure (keep 65515 or {USABLE})")
    if lab.expressroute is not None and asn != 65515:
        yield Problem("vpn_gateway.asn", f"{asn} cannot be used with ExpressRoute coexistence (use 65515)")


@rule
def gateway_type(lab: LabFile) -> Iterator[Problem]:
    gw = lab.vpn_gateway
    if gw.type != "policy-based":
        return
    if gw.bgp:
        yield Problem("vpn_gateway.bgp", "a policy-based gateway has no BGP (set bgp: false or type: route-based)")
    if gw.mode == "active-active":
        yield Problem(
            "vpn_gateway.mode",
            "a policy-based gateway cannot be active-active (use mode: active-standby or type: route-based)",
        )
    if lab.expressroute is not None:
        yield Problem(
            "expressroute",
            "ExpressRoute coexistence needs a route-based VPN gateway (set vpn_gateway.type: route-based)",
        )
    tunnels = sum(len(s.devices) for s in lab.onprem.sites)
    if tunnels > 1:
        yield Problem(
            "onprem.sites",
            f"a policy-based gateway has one tunnel, this lab asks for {tunnels} "
            "(keep one site with one device, or use type: route-based)",
        )


@rule
def gateway_instances(lab: LabFile) -> Iterator[Problem]:
    gw = lab.vpn_gateway
    n = len(gw.instances)
    if n > 2:
        yield Problem("vpn_gateway.instances", f"a gateway has two instances, not {n} (list at most two)")
    if gw.mode == "active-active" and n == 1:
        yield Problem(
            "vpn_gateway.instances",
            "active-active needs two instances, each with its own public IP "
            "(add a second instance or use mode: active-standby)",
        )
    if gw.mode == "active-standby" and n >= 2 and gw.instances[1].public_ip is not None:
        yield Problem(
            "vpn_gateway.instances[1].public_ip",
            "an active-standby gateway has one public IP, held by the active instance (remove this one)",
        )
    if gw.mode == "active-standby" and n >= 2 and gw.instances[1].apipa_bgp_ip is not None:
        yield Problem(
            "vpn_gateway.instances[1].apipa_bgp_ip",
            "an active-standby gateway has one APIPA BGP address, held by the active instance (remove this one)",
        )
    for i, inst in enumerate(gw.instances[:2]):
        if inst.zone is not None and inst.zone not in lab.zones:
            missing = (
                f"is not in the lab's zones {lab.zones} (add it to zones)"
                if lab.zones
                else "needs the lab's zones listed (add zones: [1, 2, 3])"
            )
            yield Problem(f"vpn_gateway.instances[{i}].zone", f"zone {inst.zone} {missing}")
        if inst.apipa_bgp_ip is not None and not APIPA_AZURE[0] <= inst.apipa_bgp_ip <= APIPA_AZURE[1]:
            yield Problem(
                f"vpn_gateway.instances[{i}].apipa_bgp_ip",
                f"{inst.apipa_bgp_ip} is outside Azure's APIPA range (use an address in 169.254.21.0-169.254.22.255)",
            )
    if gw.mode == "active-active":
        # Compare what each instance really gets: its own address or the lab's default for it.
        given = [gw.instances[i].apipa_bgp_ip if i < n else None for i in range(2)]
        if given[1] is not None and given[1] == (given[0] or AZURE_DEFAULT_APIPA[0]):
            yield Problem(
                "vpn_gateway.instances[1].apipa_bgp_ip",
                f"{given[1]} is already used by instance 0 (each instance needs its own)",
            )
        elif given[1] is None and given[0] == AZURE_DEFAULT_APIPA[1]:
            yield Problem(
                "vpn_gateway.instances[0].apipa_bgp_ip",
                f"{given[0]} is instance 1's default APIPA address (each instance needs its own: "
                "pick another or give instance 1 its own)",
            )


def node_names(lab: LabFile) -> list[tuple[str, str, tuple[str, object]]]:
    """Every node the lab derives: (node name, field path that sets it, owner), in build order."""
    out: list[tuple[str, str, tuple[str, object]]] = []
    for i, name in enumerate(gateway_names(lab)):
        out.append((name, f"vpn_gateway.instances[{i}].name", ("gateway", None)))
    er_index = er_site_index(lab)
    devices = device_node_names(lab)
    for s_idx, site in enumerate(lab.onprem.sites):
        owner = ("site", site.name)  # two sites of the same name are reported once, as such
        path = f"onprem.sites[{s_idx}].name"
        out += [(f"{site.name}-core", path, owner), (f"{site.name}-host", path, owner)]
        for d_idx, node in enumerate(devices[s_idx]):
            out.append((node, f"onprem.sites[{s_idx}].devices[{d_idx}].name", owner))
        if er_index == s_idx:
            out += [(f"{site.name}-ce0", path, owner), (f"{site.name}-ce1", path, owner)]
    return out


@rule
def names(lab: LabFile) -> Iterator[Problem]:
    if len(set(gateway_names(lab))) < 2:
        yield Problem("vpn_gateway.instances[1].name", "both instances have the same name (rename one)")
    # Names of the lab's fixed nodes, and of the VNet router's interfaces (it names a veth after its peer).
    reserved = {"inet", "vnet", "vm", "ergw", "msee0", "msee1", "lo", "gws"}
    for i, name in enumerate(gateway_names(lab)):
        if name in reserved:
            yield Problem(f"vpn_gateway.instances[{i}].name", f"'{name}' is a name the lab uses (rename it)")
    site_names: set[str] = set()
    for s_idx, site in enumerate(lab.onprem.sites):
        if site.name in site_names:
            yield Problem(f"onprem.sites[{s_idx}].name", f"'{site.name}' names two sites (rename one)")
        site_names.add(site.name)
        longest = max(
            [f"{site.name}-core", f"{site.name}-host", f"{site.name}-ce0", *device_node_names(lab)[s_idx]], key=len
        )
        if len(longest) > MAX_NODE_NAME:
            yield Problem(
                f"onprem.sites[{s_idx}].name",
                f"node name '{longest}' is longer than {MAX_NODE_NAME} characters (shorten the site or device name)",
            )
        dev_names: set[str] = set()
        for d_idx, dev in enumerate(site.devices):
            node = device_node_names(lab)[s_idx][d_idx]
            name = dev.name or f"vpn{d_idx}"
            if node in dev_names:
                yield Problem(
                    f"onprem.sites[{s_idx}].devices[{d_idx}].name",
                    f"'{name}' names two devices of this site (rename one)",
                )
            dev_names.add(node)
            if dev.name in ("core", "host", "ce0", "ce1"):
                yield Problem(
                    f"onprem.sites[{s_idx}].devices[{d_idx}].name",
                    f"'{dev.name}' is a name the lab uses for the site's other nodes (rename it)",
                )
    # Node names built from different fields can still meet: site "a" device "b-core" and site "a-b",
    # or a gateway called "s1-core". Clashes already reported above (same site, both gateways) are skipped.
    seen: dict[str, tuple[str, tuple[str, object]]] = {}
    for name, path, owner in node_names(lab):
        if name not in seen:
            seen[name] = (path, owner)
            continue
        first_path, first_owner = seen[name]
        if owner != first_owner:
            yield Problem(path, f"node name '{name}' is already used by {first_path} (rename one)")


@rule
def device_count(lab: LabFile) -> Iterator[Problem]:
    for i, site in enumerate(lab.onprem.sites):
        if not 1 <= len(site.devices) <= 2:
            yield Problem(f"onprem.sites[{i}].devices", f"a site has one or two VPN devices, not {len(site.devices)}")


@rule
def public_ips(lab: LabFile) -> Iterator[Problem]:
    # Deriving the public IPs needs usable pools; their problems are reported by `pools`/`pool_capacity`.
    if (
        any(True for _ in pool_capacity(lab))
        or any(True for _ in _public_pool_sizes(lab))
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
        clash = next((what for what, n in _address_plan(lab) if ip in n), None)
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


def _address_plan(lab: LabFile) -> list[tuple[str, IPv4Network]]:
    """The private ranges the lab assigns from, named the way a message shows them."""
    plan = [(f"the VNet's {v}", v) for v in lab.vnet.address_space]
    plan += [(f"site {s.name}'s {p}", p) for s in lab.onprem.sites for p in s.prefixes]
    plan += [(f"pools.{f} {getattr(lab.pools, f)}", getattr(lab.pools, f)) for f in ("loopback", "p2p")]
    plan += [(f"expressroute.{f} {n}", n) for f, n in _er_subnets(lab)]
    return plan


def derived_vm_subnet(lab: LabFile) -> IPv4Network | None:
    """The subnet `lab.topology.vm_subnet` picks (first /24, or the space if smaller, clear of the
    GatewaySubnet), found without walking every candidate; None when there is none."""
    gws = lab.vnet.gateway_subnet
    for space in lab.vnet.address_space:
        size = max(space.prefixlen, 24)
        first = IPv4Network((int(space.network_address), size))
        if not first.overlaps(gws):
            return first
        # Candidates overlapping the GatewaySubnet lie inside it (or hold it): the next one starts past both.
        after = max(int(first.broadcast_address), int(gws.broadcast_address)) + 1
        if after <= int(space.broadcast_address):
            return IPv4Network((after, size))
    return None


@rule
def vnet_layout(lab: LabFile) -> Iterator[Problem]:
    vnet = lab.vnet
    gws = vnet.gateway_subnet
    for i, space in enumerate(vnet.address_space):
        bad = _in_special(space, VNET_FORBIDDEN)
        if bad is not None:
            yield Problem(
                f"vnet.address_space[{i}]",
                f"{space} {bad}, which a VNet cannot use (use private or public unicast space)",
            )
    if not any(gws.subnet_of(space) for space in vnet.address_space):
        yield Problem(
            "vnet.gateway_subnet", f"{gws} is outside the VNet's address space (pick a subnet of vnet.address_space)"
        )
    if gws.prefixlen > 29:
        yield Problem("vnet.gateway_subnet", f"{gws} is too small (Azure needs /29 or shorter; /27 recommended)")
    elif lab.expressroute is not None and gws.prefixlen > 27:
        yield Problem("vnet.gateway_subnet", f"{gws} is too small for ExpressRoute coexistence (use /27 or shorter)")
    for i, a in enumerate(vnet.address_space):
        for b in vnet.address_space[:i]:
            if a.overlaps(b):
                yield Problem(f"vnet.address_space[{i}]", f"{a} overlaps {b} (address spaces must be disjoint)")
    if lab.expressroute is not None and len(vnet.address_space) > VNET_TO_ER_MAX_PREFIXES:
        yield Problem("vnet.address_space", f"ExpressRoute carries at most {VNET_TO_ER_MAX_PREFIXES} VNet prefixes")
    subnet = vnet.vm_subnet
    if subnet is not None:
        if not any(subnet.subnet_of(s) for s in vnet.address_space):
            yield Problem("vnet.vm_subnet", f"{subnet} is outside the VNet's address space")
        elif subnet.overlaps(gws):
            yield Problem("vnet.vm_subnet", f"{subnet} overlaps the GatewaySubnet {gws} (pick another)")
        elif subnet.prefixlen > SMALLEST_SUBNET:
            yield Problem("vnet.vm_subnet", f"{subnet} is too small (Azure's smallest subnet is /{SMALLEST_SUBNET})")
    else:
        derived = derived_vm_subnet(lab)
        if derived is None:
            yield Problem(
                "vnet.address_space",
                "leaves no room for a VM subnet beside the GatewaySubnet "
                "(widen the address space or set vnet.vm_subnet)",
            )
        elif derived.prefixlen > SMALLEST_SUBNET:
            yield Problem(
                "vnet.address_space",
                f"the VM subnet would be {derived}, smaller than Azure's smallest "
                f"subnet /{SMALLEST_SUBNET} (list a larger space first or set "
                "vnet.vm_subnet)",
            )
    if vnet.vm_ip is not None:
        if subnet is None:
            yield Problem("vnet.vm_ip", "set vnet.vm_subnet too when you give the VM's address")
        elif subnet.prefixlen <= SMALLEST_SUBNET and (
            vnet.vm_ip not in subnet
            or vnet.vm_ip in (subnet[0], subnet[1], subnet[2], subnet[3], subnet.broadcast_address)
        ):
            # Azure keeps .0-.3 and the broadcast address of every subnet.
            yield Problem(
                "vnet.vm_ip", f"{vnet.vm_ip} is not a usable address of {subnet} (Azure's first usable is .4)"
            )


@rule
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
            bad = _in_special(prefix, NOT_UNICAST)
            if bad is not None:
                yield Problem(
                    path, f"{prefix} {bad}, which is not unicast address space (use private or public unicast space)"
                )
            elif p_idx == 0 and prefix.num_addresses < 4:
                yield Problem(path, f"{prefix} is too small for the site's LAN (use /30 or shorter)")
            placed.append((prefix, path))


@rule
def device_bgp_ips(lab: LabFile) -> Iterator[Problem]:
    seen: dict[IPv4Address, str] = {}
    publics = {d.public_ip for s in lab.onprem.sites for d in s.devices if d.public_ip is not None}
    publics |= {i.public_ip for i in lab.vpn_gateway.instances if i.public_ip is not None}
    lans: dict[IPv4Address, str] = {}  # the addresses the lab gives each site's core (.1) and host (.2)
    for site in lab.onprem.sites:
        lan = site.prefixes[0]
        if lan.num_addresses >= 4:
            lans.setdefault(lan[1], f"site {site.name}'s core")
            lans.setdefault(lan[2], f"site {site.name}'s host")
    taken = [
        (f"pools.{f} {getattr(lab.pools, f)}", getattr(lab.pools, f))
        for f in ("loopback", "p2p", "azure_public", "onprem_public")
    ]
    taken += [(f"expressroute.{f} {n}", n) for f, n in _er_subnets(lab)]
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
            elif APIPA_AZURE[0] <= ip <= APIPA_AZURE[1] and ip in _azure_apipas(lab):
                yield Problem(path, f"{ip} is the gateway's APIPA address (use another)")
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


def _azure_apipas(lab: LabFile) -> set[IPv4Address]:
    given = {i.apipa_bgp_ip for i in lab.vpn_gateway.instances if i.apipa_bgp_ip is not None}
    return given | set(AZURE_DEFAULT_APIPA)


def _er_subnets(lab: LabFile) -> list[tuple[str, IPv4Network]]:
    """The two private-peering /30s the lab uses: the given ones, else lab.topology's defaults."""
    er = lab.expressroute
    if er is None:
        return []
    return [
        ("primary_subnet", er.primary_subnet or ER_DEFAULT_SUBNETS[0]),
        ("secondary_subnet", er.secondary_subnet or ER_DEFAULT_SUBNETS[1]),
    ]


@rule
def expressroute(lab: LabFile) -> Iterator[Problem]:
    er = lab.expressroute
    if er is None:
        return
    if er.site is not None and er.site not in {s.name for s in lab.onprem.sites}:
        names = ", ".join(dict.fromkeys(s.name for s in lab.onprem.sites))
        yield Problem("expressroute.site", f"'{er.site}' is not a site of this lab (use one of: {names})")
    if er.msee_asn != 12076:
        yield Problem("expressroute.msee_asn", f"{er.msee_asn} is not Microsoft's edge ASN (use 12076)")
    subnets = _er_subnets(lab)
    given = {"primary_subnet": er.primary_subnet, "secondary_subnet": er.secondary_subnet}
    wrong_size = False
    for field, subnet in subnets:
        if subnet.prefixlen != 30:
            wrong_size = True
            yield Problem(f"expressroute.{field}", f"{subnet} is not a /30 (private peering uses one /30 per link)")
    if wrong_size:
        return
    (_, primary), (_, secondary) = subnets
    if primary.overlaps(secondary):
        # Name the one the user wrote: a given primary may meet the default secondary.
        field = "secondary_subnet" if given["secondary_subnet"] is not None else "primary_subnet"
        other = "primary" if field == "secondary_subnet" else "default secondary"
        yield Problem(
            f"expressroute.{field}",
            f"{given[field]} overlaps the {other} subnet"
            + (" (pick another /30)" if field == "primary_subnet" else ""),
        )
    for field, subnet in subnets:
        # A default /30 can clash too: name it as such, and say which field to set.
        what, fix = (
            (f"{subnet}", "pick another /30")
            if given[field] is not None
            else (f"the default {subnet}", f"set expressroute.{field} to a free /30")
        )
        vnet = next((v for v in lab.vnet.address_space if subnet.overlaps(v)), None)
        site = next(((s.name, p) for s in lab.onprem.sites for p in s.prefixes if subnet.overlaps(p)), None)
        bad = _in_special(subnet, NOT_UNICAST)
        if vnet is not None:
            yield Problem(f"expressroute.{field}", f"{what} overlaps the VNet's {vnet} ({fix})")
        elif site is not None:
            yield Problem(f"expressroute.{field}", f"{what} overlaps site {site[0]}'s {site[1]} ({fix})")
        elif bad is not None:
            yield Problem(f"expressroute.{field}", f"{what} {bad}, which is not unicast address space ({fix})")


def _public_pool_sizes(lab: LabFile) -> Iterator[Problem]:
    for field, min_len in (("azure_public", 28), ("onprem_public", 26)):
        pool = getattr(lab.pools, field)
        if pool.prefixlen > min_len:
            yield Problem(f"pools.{field}", f"{pool} is too small (use /{min_len} or shorter)")
        elif pool.prefixlen < LARGEST_PUBLIC_POOL:
            yield Problem(f"pools.{field}", f"{pool} is too large (use /{LARGEST_PUBLIC_POOL} or longer)")


@rule
def pools(lab: LabFile) -> Iterator[Problem]:
    pools = lab.pools
    used = [(v, "the VNet") for v in lab.vnet.address_space]
    used += [(p, f"site {s.name}") for s in lab.onprem.sites for p in s.prefixes]
    used += [(n, f"expressroute.{f}") for f, n in _er_subnets(lab)]
    sizes = {p.path: p for p in _public_pool_sizes(lab)}
    done: list[tuple[str, IPv4Network]] = []
    for field, pool, min_len in (
        ("loopback", pools.loopback, 24),
        ("p2p", pools.p2p, 24),
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
            bad = _in_special(pool, NOT_UNICAST)
            if other is not None:
                yield Problem(path, f"{pool} overlaps pools.{other} {getattr(pools, other)} (choose a free range)")
            elif bad is not None:
                yield Problem(path, f"{pool} {bad}, which is not unicast address space (choose another range)")
        done.append((field, pool))


@rule
def pool_capacity(lab: LabFile) -> Iterator[Problem]:
    wanted = sum(1 for s in lab.onprem.sites for d in s.devices if d.public_ip is None)
    room = lab.pools.onprem_public.num_addresses - 11  # .1-.9 kept back, and the broadcast
    if wanted > room:
        yield Problem(
            "pools.onprem_public",
            f"{lab.pools.onprem_public} has room for {max(room, 0)} devices, "
            f"the lab needs {wanted} (use a shorter prefix)",
        )
    er = 1 if lab.expressroute is not None else 0
    devices = sum(len(s.devices) for s in lab.onprem.sites)
    # Router loopbacks: the VNet router, two instances, each core, each device without a bgp_ip,
    # and with ExpressRoute its gateway, two MSEEs and two CEs.
    loopbacks = (
        3 + len(lab.onprem.sites) + sum(1 for s in lab.onprem.sites for d in s.devices if d.bgp_ip is None) + 5 * er
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


@rule
def zones(lab: LabFile) -> Iterator[Problem]:
    if len(set(lab.zones)) != len(lab.zones):
        yield Problem("zones", "lists a zone twice (list each once, e.g. [1, 2, 3])")
