"""Azure's rules for a lab file (../shared/reference/azure-behavior.md), as checks that name the fix.

Each check yields Problems; `check` runs them all so that a user sees every error at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from ipaddress import IPv4Address, IPv4Network

from lab.errors import LabError, Problem
from lab.model import MAX_NODE_NAME, LabFile
from lab.topology import APIPA, APIPA_AZURE, derived_public_ips, device_node_names, gateway_names, public_network

# ASNs Azure keeps for itself (vpn-gateway-vpn-faq.md).
RESERVED_ASNS: tuple[tuple[int, int], ...] = (
    (8074, 8075), (12076, 12076), (65515, 65515), (65517, 65520), (23456, 23456), (64496, 64511),
    (65535, 65551),
)
# The ExpressRoute page reserves 65515-65520 as a block; the VPN FAQ leaves 65516 out. We refuse
# 65516 only when the lab has ExpressRoute, where the stricter page applies.
ER_EXTRA_RESERVED = (65516, 65516)
USABLE = "use 64512-65514 or 65521-65534"
VNET_TO_ER_MAX_PREFIXES = 1000

Check = Callable[[LabFile], Iterator[Problem]]
CHECKS: list[Check] = []


def check(lab: LabFile, source: str) -> None:
    problems = [p for rule in CHECKS for p in rule(lab)]
    if problems:
        raise LabError(source, problems)


def rule(fn: Check) -> Check:
    CHECKS.append(fn)
    return fn


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
            yield Problem(path, f"{site.asn} is the MSEE's ASN ({USABLE})")


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
        yield Problem("vpn_gateway.mode", "a policy-based gateway cannot be active-active "
                                          "(use mode: active-standby or type: route-based)")
    if lab.expressroute is not None:
        yield Problem("expressroute", "ExpressRoute coexistence needs a route-based VPN gateway "
                                      "(set vpn_gateway.type: route-based)")
    tunnels = sum(len(s.devices) for s in lab.onprem.sites)
    if tunnels > 1:
        yield Problem("onprem.sites", f"a policy-based gateway has one tunnel, this lab asks for {tunnels} "
                                      "(keep one site with one device, or use type: route-based)")


@rule
def gateway_instances(lab: LabFile) -> Iterator[Problem]:
    gw = lab.vpn_gateway
    n = len(gw.instances)
    if n > 2:
        yield Problem("vpn_gateway.instances", f"a gateway has two instances, not {n} (list at most two)")
    if gw.mode == "active-active" and n == 1:
        yield Problem("vpn_gateway.instances", "active-active needs two instances, each with its own public IP "
                                               "(add a second instance or use mode: active-standby)")
    if gw.mode == "active-standby" and n == 2 and gw.instances[1].public_ip is not None:
        yield Problem("vpn_gateway.instances[1].public_ip", "an active-standby gateway has one public IP, "
                                                            "held by the active instance (remove this one)")
    for i, inst in enumerate(gw.instances[:2]):
        if inst.zone is not None and inst.zone not in lab.zones:
            listed = lab.zones or "none"
            yield Problem(f"vpn_gateway.instances[{i}].zone",
                          f"zone {inst.zone} is not in the lab's zones ({listed}) (add it to zones)")
        if inst.apipa_bgp_ip is not None and not APIPA_AZURE[0] <= inst.apipa_bgp_ip <= APIPA_AZURE[1]:
            yield Problem(f"vpn_gateway.instances[{i}].apipa_bgp_ip",
                          f"{inst.apipa_bgp_ip} is outside Azure's APIPA range "
                          "(use an address in 169.254.21.0-169.254.22.255)")
    apipas = [i.apipa_bgp_ip for i in gw.instances if i.apipa_bgp_ip is not None]
    if len(apipas) == 2 and apipas[0] == apipas[1]:
        yield Problem("vpn_gateway.instances[1].apipa_bgp_ip",
                      f"{apipas[1]} is already used by instance 0 (each instance needs its own)")


@rule
def names(lab: LabFile) -> Iterator[Problem]:
    seen: dict[str, str] = {}
    for i, name in enumerate(gateway_names(lab)):
        seen.setdefault(name, f"vpn_gateway.instances[{i}].name")
    if len(set(gateway_names(lab))) < 2:
        yield Problem("vpn_gateway.instances[1].name", "both instances have the same name (rename one)")
    reserved = {"inet", "vnet", "vm", "ergw", "msee0", "msee1"}
    for i, name in enumerate(gateway_names(lab)):
        if name in reserved:
            yield Problem(f"vpn_gateway.instances[{i}].name", f"'{name}' is a name the lab uses (rename it)")
    site_names: set[str] = set()
    for s_idx, site in enumerate(lab.onprem.sites):
        if site.name in site_names:
            yield Problem(f"onprem.sites[{s_idx}].name", f"'{site.name}' names two sites (rename one)")
        site_names.add(site.name)
        longest = max([f"{site.name}-core", f"{site.name}-host", f"{site.name}-ce0",
                       *device_node_names(lab)[s_idx]], key=len)
        if len(longest) > MAX_NODE_NAME:
            yield Problem(f"onprem.sites[{s_idx}].name",
                          f"node name '{longest}' is longer than {MAX_NODE_NAME} characters "
                          "(shorten the site or device name)")
        dev_names: set[str] = set()
        for d_idx, dev in enumerate(site.devices):
            node = device_node_names(lab)[s_idx][d_idx]
            if node in dev_names:
                yield Problem(f"onprem.sites[{s_idx}].devices[{d_idx}].name",
                              f"'{dev.name}' names two devices of this site (rename one)")
            dev_names.add(node)
            if dev.name in ("core", "host", "ce0", "ce1"):
                yield Problem(f"onprem.sites[{s_idx}].devices[{d_idx}].name",
                              f"'{dev.name}' is a name the lab uses for the site's other nodes (rename it)")


@rule
def device_count(lab: LabFile) -> Iterator[Problem]:
    for i, site in enumerate(lab.onprem.sites):
        if not 1 <= len(site.devices) <= 2:
            yield Problem(f"onprem.sites[{i}].devices",
                          f"a site has one or two VPN devices, not {len(site.devices)}")


@rule
def public_ips(lab: LabFile) -> Iterator[Problem]:
    if any(True for _ in pool_capacity(lab)):
        return
    gw_ips, dev_ips = derived_public_ips(lab)
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
        if ip.is_private or ip.is_loopback or ip.is_multicast or ip.is_link_local:
            if ip not in lab.pools.azure_public and ip not in lab.pools.onprem_public:
                yield Problem(path, f"{ip} is not a public address (use one like 203.0.113.10)")


@rule
def vnet_layout(lab: LabFile) -> Iterator[Problem]:
    vnet = lab.vnet
    gws = vnet.gateway_subnet
    if not any(gws.subnet_of(space) for space in vnet.address_space):
        yield Problem("vnet.gateway_subnet", f"{gws} is outside the VNet's address space "
                                             "(pick a subnet of vnet.address_space)")
    if gws.prefixlen > 29:
        yield Problem("vnet.gateway_subnet", f"{gws} is too small (Azure needs /29 or shorter; /27 recommended)")
    elif lab.expressroute is not None and gws.prefixlen > 27:
        yield Problem("vnet.gateway_subnet", f"{gws} is too small for ExpressRoute coexistence (use /27 or shorter)")
    for i, a in enumerate(vnet.address_space):
        for j, b in enumerate(vnet.address_space[:i]):
            if a.overlaps(b):
                yield Problem(f"vnet.address_space[{i}]", f"{a} overlaps {b} (address spaces must be disjoint)")
    if lab.expressroute is not None and len(vnet.address_space) > VNET_TO_ER_MAX_PREFIXES:
        yield Problem("vnet.address_space", f"ExpressRoute carries at most {VNET_TO_ER_MAX_PREFIXES} VNet prefixes")
    if vnet.vm_subnet is not None:
        if not any(vnet.vm_subnet.subnet_of(s) for s in vnet.address_space):
            yield Problem("vnet.vm_subnet", f"{vnet.vm_subnet} is outside the VNet's address space")
        elif vnet.vm_subnet.overlaps(gws):
            yield Problem("vnet.vm_subnet", f"{vnet.vm_subnet} overlaps the GatewaySubnet {gws} (pick another)")
    if vnet.vm_ip is not None:
        subnet = vnet.vm_subnet
        if subnet is not None and (vnet.vm_ip not in subnet or vnet.vm_ip in (subnet[0], subnet[1],
                                                                               subnet.broadcast_address)):
            yield Problem("vnet.vm_ip", f"{vnet.vm_ip} is not a usable address of {subnet} "
                                        "(Azure's first usable is .4)")
        elif subnet is None:
            yield Problem("vnet.vm_ip", "set vnet.vm_subnet too when you give the VM's address")
    elif vnet.vm_subnet is None and all(s.subnet_of(gws) for s in vnet.address_space):
        yield Problem("vnet.address_space", "leaves no room for a VM subnet beside the GatewaySubnet "
                                            "(widen the address space)")


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
            if p_idx == 0 and prefix.num_addresses < 4:
                yield Problem(path, f"{prefix} is too small for the site's LAN (use /30 or shorter)")
            placed.append((prefix, path))


@rule
def device_bgp_ips(lab: LabFile) -> Iterator[Problem]:
    seen: dict[IPv4Address, str] = {}
    for s_idx, site in enumerate(lab.onprem.sites):
        for d_idx, dev in enumerate(site.devices):
            if dev.bgp_ip is None:
                continue
            path = f"onprem.sites[{s_idx}].devices[{d_idx}].bgp_ip"
            if dev.bgp_ip in seen:
                yield Problem(path, f"{dev.bgp_ip} is already used by {seen[dev.bgp_ip]} (BGP IPs must be unique)")
            seen[dev.bgp_ip] = path
            if any(dev.bgp_ip in v for v in lab.vnet.address_space):
                yield Problem(path, f"{dev.bgp_ip} is inside the VNet (use an on-prem or APIPA address)")
            if APIPA_AZURE[0] <= dev.bgp_ip <= APIPA_AZURE[1] and dev.bgp_ip in _azure_apipas(lab):
                yield Problem(path, f"{dev.bgp_ip} is the gateway's APIPA address (use another)")


def _azure_apipas(lab: LabFile) -> set[IPv4Address]:
    given = {i.apipa_bgp_ip for i in lab.vpn_gateway.instances if i.apipa_bgp_ip is not None}
    return given | {IPv4Address("169.254.21.1"), IPv4Address("169.254.22.1")}


@rule
def expressroute(lab: LabFile) -> Iterator[Problem]:
    er = lab.expressroute
    if er is None:
        return
    if er.site is not None and er.site not in {s.name for s in lab.onprem.sites}:
        names = ", ".join(s.name for s in lab.onprem.sites)
        yield Problem("expressroute.site", f"'{er.site}' is not a site of this lab (use one of: {names})")
    if er.msee_asn != 12076:
        yield Problem("expressroute.msee_asn", f"{er.msee_asn} is not Microsoft's edge ASN (use 12076)")
    subnets = [("primary_subnet", er.primary_subnet), ("secondary_subnet", er.secondary_subnet)]
    for field, subnet in subnets:
        if subnet is not None and subnet.prefixlen != 30:
            yield Problem(f"expressroute.{field}", f"{subnet} is not a /30 (private peering uses one /30 per link)")
    if er.primary_subnet is not None and er.secondary_subnet is not None and \
            er.primary_subnet.overlaps(er.secondary_subnet):
        yield Problem("expressroute.secondary_subnet", f"{er.secondary_subnet} overlaps the primary subnet")
    for field, subnet in subnets:
        if subnet is None:
            continue
        if any(subnet.overlaps(v) for v in lab.vnet.address_space):
            yield Problem(f"expressroute.{field}", f"{subnet} overlaps the VNet (pick another /30)")


@rule
def pools(lab: LabFile) -> Iterator[Problem]:
    pools = lab.pools
    used = [(v, "the VNet") for v in lab.vnet.address_space]
    used += [(p, f"site {s.name}") for s in lab.onprem.sites for p in s.prefixes]
    for field, pool, min_len in (("loopback", pools.loopback, 24), ("p2p", pools.p2p, 24),
                                 ("azure_public", pools.azure_public, 28),
                                 ("onprem_public", pools.onprem_public, 26)):
        if pool.prefixlen > min_len:
            yield Problem(f"pools.{field}", f"{pool} is too small (use /{min_len} or shorter)")
        for net, what in used:
            if pool.overlaps(net):
                yield Problem(f"pools.{field}", f"{pool} overlaps {what}'s {net} (choose a free range)")
                break


@rule
def pool_capacity(lab: LabFile) -> Iterator[Problem]:
    wanted = sum(1 for s in lab.onprem.sites for d in s.devices if d.public_ip is None)
    room = lab.pools.onprem_public.num_addresses - 11  # .1-.9 kept back, and the broadcast
    if wanted > room:
        yield Problem("pools.onprem_public", f"{lab.pools.onprem_public} has room for {room} devices, "
                                             f"the lab needs {wanted} (use a shorter prefix)")


@rule
def zones(lab: LabFile) -> Iterator[Problem]:
    if len(set(lab.zones)) != len(lab.zones):
        yield Problem("zones", "lists a zone twice (list each once, e.g. [1, 2, 3])")
