"""Azure's traps: lab files Azure accepts (and so does the lab) that will not do what their author likely
means. Each check yields warnings that say what will happen and what to change, naming the field; they
never stop a lab from being built (`gwlab validate` and `gwlab up` print them, exit 0).

Sources as in ../shared/reference/azure-behavior.md: BGP loop prevention, Microsoft's local-preference
advice for ExpressRoute with VPN, one tunnel per active/active instance, the fixed VPN timers and
ExpressRoute's limits, the /27 GatewaySubnet for coexistence, BFD on private peering, APIPA only towards
APIPA peers (configure-bgp.md), zone redundancy, the 4,000-prefix limit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from lab.errors import LabWarning
from lab.model import BGP_LOCAL_PREFERENCE, LabFile
from lab.profiles import PROFILES, resolve
from lab.rules.vnet import ER_GATEWAY_SUBNET
from lab.topology import MAX_PREFIXES, device_node_names, er_site_index, gateway_names
from lab.topology.addressing import derived_public_ips, gateway_bgp_ips, uses_apipa
from lab.topology.policy import advertised_by, offered_to_azure, tunnel_instances, tunnel_policy

WarningCheck = Callable[[LabFile], Iterator[LabWarning]]
AZURE = PROFILES["realistic"]  # Azure's own timers
ER_MIN_KEEPALIVE, ER_MIN_HOLD = 3, 10  # the lowest ExpressRoute accepts from the customer (expressroute-bfd.md)


def _bgp_on(lab: LabFile) -> bool:
    return lab.vpn_gateway.bgp and lab.vpn_gateway.type == "route-based"


def same_asn(lab: LabFile) -> Iterator[LabWarning]:
    if not _bgp_on(lab):
        return
    first: dict[int, str] = {}
    for i, site in enumerate(lab.onprem.sites):
        other = first.setdefault(site.asn, site.name)
        if other != site.name:
            yield LabWarning(
                "same-asn",
                f"onprem.sites[{i}].asn",
                f"{site.asn} is also site {other}'s ASN: BGP loop prevention drops each site's routes at the "
                f"other, so {other} and {site.name} never reach each other through Azure (give each site its own ASN)",
            )


def er_local_preference(lab: LabFile) -> Iterator[LabWarning]:
    er, index = lab.expressroute, er_site_index(lab)
    if er is None or index is None or not _bgp_on(lab):
        return
    site = lab.onprem.sites[index]
    given = [tunnel_policy(d, n).local_preference for d in site.devices for n in tunnel_instances(lab, d)]
    vpn = max(BGP_LOCAL_PREFERENCE if lp is None else lp for lp in given)
    if er.local_preference <= vpn:
        yield LabWarning(
            "er-local-preference",
            "expressroute.local_preference",
            f"{er.local_preference} is not above the {vpn} site {site.name} gives its VPN routes: Azure returns "
            "traffic over ExpressRoute, but on-prem may send it over VPN (asymmetric routing, which stateful "
            f"firewalls drop; set it above {vpn}{', e.g. 200 as in Microsoft examples' if vpn < 200 else ''})",
        )


def one_tunnel(lab: LabFile) -> Iterator[LabWarning]:
    if lab.vpn_gateway.mode != "active-active":
        return
    names = gateway_names(lab)
    nodes = device_node_names(lab)
    for s_idx, site in enumerate(lab.onprem.sites):
        for d_idx, device in enumerate(site.devices):
            built = tunnel_instances(lab, device)
            if len(built) != 1 or device.tunnels is None:
                continue
            missing = " and ".join(n for n in names if n not in built)
            yield LabWarning(
                "one-tunnel",
                f"onprem.sites[{s_idx}].devices[{d_idx}].tunnels",
                f"{nodes[s_idx][d_idx]} builds one tunnel, to {built[0]}: while {built[0]} is down or in maintenance "
                f"the device is cut off from Azure though {missing} is up (active/active wants a tunnel to each "
                f"instance: add {missing})",
            )


def realistic_timers(lab: LabFile) -> Iterator[LabWarning]:
    """Under the realistic profile a timer below what Azure does makes a run look faster than Azure is (the
    fast profile says in every report that it is scaled down)."""
    if lab.profile != "realistic":
        return
    t = lab.timers
    if t.hold is not None and t.hold < AZURE.hold:
        # BGP takes the lower hold time of the two ends; whether Azure accepts one below its own is uncertain.
        yield LabWarning(
            "vpn-timers",
            "timers.hold",
            f"{t.hold} s is below Azure's VPN hold time, {AZURE.hold} s and fixed: a failure the lab detects in "
            f"{t.hold} s can take up to {AZURE.hold} s in Azure (remove it to keep Azure's)",
        )
    for field, value, least in (
        ("er_keepalive", t.er_keepalive, ER_MIN_KEEPALIVE),
        ("er_hold", t.er_hold, ER_MIN_HOLD),
    ):
        if value is not None and value < least and lab.expressroute is not None:
            yield LabWarning(
                "er-timers",
                f"timers.{field}",
                f"{value} s is below ExpressRoute's minimum of {least} s: Azure does not go below it, so it "
                f"detects failures more slowly than the lab (use {least} or more)",
            )
    if t.bfd_interval_ms is not None and t.bfd_interval_ms < AZURE.bfd_interval_ms and lab.expressroute is not None:
        yield LabWarning(
            "bfd-interval",
            "timers.bfd_interval_ms",
            f"{t.bfd_interval_ms} ms is faster than the MSEE's {AZURE.bfd_interval_ms} ms, and the slower side "
            f"wins: in Azure BFD detects a failure in {AZURE.bfd_interval_ms * resolve(lab.profile, t).bfd_multiplier}"
            f" ms, not {resolve(lab.profile, t).bfd_detect_ms} ms (use {AZURE.bfd_interval_ms} or more)",
        )


def small_gateway_subnet(lab: LabFile) -> Iterator[LabWarning]:
    gws = lab.vnet.gateway_subnet
    if lab.expressroute is None and gws.prefixlen > ER_GATEWAY_SUBNET:
        yield LabWarning(
            "gateway-subnet",
            "vnet.gateway_subnet",
            f"{gws} works for a VPN gateway, but Azure recommends /{ER_GATEWAY_SUBNET} or shorter: ExpressRoute "
            f"coexistence, if it comes later, needs /{ER_GATEWAY_SUBNET} (use /{ER_GATEWAY_SUBNET})",
        )


def er_without_bfd(lab: LabFile) -> Iterator[LabWarning]:
    if lab.expressroute is not None and not lab.expressroute.bfd:
        t = resolve(lab.profile, lab.timers)
        yield LabWarning(
            "er-bfd",
            "expressroute.bfd",
            f"is off: a silent ExpressRoute link failure is noticed only when the BGP hold timer expires "
            f"({t.er_hold} s here, {AZURE.er_hold} s in Azure) instead of within a second "
            "(set bfd: true, Azure's default on private peering)",
        )


def unused_apipa(lab: LabFile) -> Iterator[LabWarning]:
    if not _bgp_on(lab) or uses_apipa(lab):
        return
    bgp_ips = gateway_bgp_ips(lab, derived_public_ips(lab)[0])
    for i, inst in enumerate(lab.vpn_gateway.instances[: len(bgp_ips)]):
        if inst.apipa_bgp_ip is not None:
            yield LabWarning(
                "unused-apipa",
                f"vpn_gateway.instances[{i}].apipa_bgp_ip",
                f"{inst.apipa_bgp_ip} serves only devices whose BGP IP is APIPA, and none is: Azure peers from "
                f"{bgp_ips[i]} (give a device an APIPA bgp_ip, or remove this)",
            )


def zonal(lab: LabFile) -> Iterator[LabWarning]:
    zones = [i.zone for i in lab.vpn_gateway.instances[:2]]
    if len(zones) == 2 and zones[0] is not None and zones[0] == zones[1]:
        yield LabWarning(
            "zonal",
            "vpn_gateway.instances[1].zone",
            f"both instances are in zone {zones[0]}: losing that zone takes the whole gateway down "
            "(put the instances in different zones for zone redundancy)",
        )


def too_many_prefixes(lab: LabFile) -> Iterator[LabWarning]:
    er_index = er_site_index(lab) if lab.expressroute is not None else None
    for i, site in enumerate(lab.onprem.sites):
        over_vpn = max(len(advertised_by(site, d)) for d in site.devices)
        for count, where in (
            (over_vpn, "the VPN gateway"),
            (len(site.prefixes) if i == er_index else 0, "ExpressRoute"),
        ):
            if count > MAX_PREFIXES:
                yield LabWarning(
                    "max-prefixes",
                    f"onprem.sites[{i}].prefixes",
                    f"site {site.name} advertises {count} prefixes to {where}, above Azure's {MAX_PREFIXES}: "
                    "it drops the BGP session (summarise them)",
                )


def unadvertised(lab: LabFile) -> Iterator[LabWarning]:
    """A prefix (or summary) every device's `advertise` filter leaves out never reaches Azure over VPN."""
    if not _bgp_on(lab):
        return
    for i, site in enumerate(lab.onprem.sites):
        if all(d.advertise is None for d in site.devices):
            continue
        sent = {p for d in site.devices for p in advertised_by(site, d)}
        for prefix in offered_to_azure(site):
            if prefix not in sent:
                field = "summaries" if prefix in site.summaries else "prefixes"
                index = getattr(site, field).index(prefix)
                yield LabWarning(
                    "unadvertised",
                    f"onprem.sites[{i}].{field}[{index}]",
                    f"{prefix} is left out by the advertise filter of every device of site {site.name}: the VNet "
                    "cannot reach it over VPN (add it to a device's advertise)",
                )


def vnet_without_bgp(lab: LabFile) -> Iterator[LabWarning]:
    """A VNet-to-VNet connection without BGP: Azure programs the two address spaces only, so no site
    reaches the remote VNet through the gateway (transit needs BGP on every connection)."""
    sites = ", ".join(s.name for s in lab.onprem.sites)
    for i, v in enumerate(lab.remote_vnets):
        for j, conn in enumerate(v.connections):
            if not conn.bgp:
                yield LabWarning(
                    "vnet-without-bgp",
                    f"remote_vnets[{i}].connections[{j}].bgp",
                    f"without BGP only {v.name} and {conn.vnet} reach each other (static routes for their "
                    f"address spaces): on-prem ({sites}) never reaches {v.name} through {conn.vnet}, nor "
                    f"{v.name} on-prem (set bgp: true for transit)",
                )


WARNINGS: list[WarningCheck] = [
    same_asn,
    er_local_preference,
    one_tunnel,
    realistic_timers,
    small_gateway_subnet,
    er_without_bfd,
    unused_apipa,
    zonal,
    too_many_prefixes,
    unadvertised,
    vnet_without_bgp,
]


def warnings(lab: LabFile) -> list[LabWarning]:
    """Every warning for a lab that passed `lab.rules.check`, in the order above."""
    return [w for check in WARNINGS for w in check(lab)]
