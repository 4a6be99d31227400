"""On-prem routing policy as the builder applies it: which instances a device builds tunnels to, each
tunnel's AS-path prepending and local-preference (the tunnel's own, else the device's), what a site
offers Azure over VPN and what each device advertises of it, and the prefix-lists that carry them.
The rules and the warnings read the same functions."""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Network

from lab.model import Device, LabFile, Site
from lab.topology.naming import gateway_names

# A VPN device's prefix-list towards its site core: the summaries it makes are for Azure only (the core
# has the prefixes; reflected on, a summary would reach the customer edges and leak into ExpressRoute).
NOT_SUMMARIES = "NOT-SUMMARIES"
TO_AZURE = "TO-AZURE"  # a VPN device's prefix-list towards the gateway: its `advertise` filter


@dataclass(frozen=True)
class TunnelPolicy:
    as_path_prepend: int  # extra copies of the site's ASN on what the device advertises over the tunnel
    local_preference: int | None  # set on what the device learns over it; None: BGP's default


def tunnel_instances(lab: LabFile, device: Device) -> list[str]:
    """The instances a device builds tunnels to: those its `tunnels` name, else every instance (active/standby
    builds one tunnel, to whichever instance holds the public IP: every instance has its end)."""
    names = gateway_names(lab)
    if device.tunnels is None or lab.vpn_gateway.mode == "active-standby":
        return names
    wanted = {t.instance for t in device.tunnels}
    return [n for n in names if n in wanted]


def tunnel_policy(device: Device, instance: str) -> TunnelPolicy:
    given = next((t for t in device.tunnels or [] if t.instance == instance), None)
    prepend = given.as_path_prepend if given is not None and given.as_path_prepend is not None else None
    pref = given.local_preference if given is not None and given.local_preference is not None else None
    return TunnelPolicy(
        device.as_path_prepend if prepend is None else prepend,
        device.local_preference if pref is None else pref,
    )


def offered_to_azure(site: Site) -> list[IPv4Network]:
    """What a site's VPN devices advertise to Azure: the prefixes no summary covers, and the summaries."""
    kept = [p for p in site.prefixes if not any(p.subnet_of(s) and p != s for s in site.summaries)]
    return kept + list(site.summaries)


def advertised_by(site: Site, device: Device) -> list[IPv4Network]:
    """What one device advertises to Azure: the site's offer, through its `advertise` filter."""
    offered = offered_to_azure(site)
    return offered if device.advertise is None else [p for p in offered if p in device.advertise]
