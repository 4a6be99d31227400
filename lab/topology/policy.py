"""On-prem routing policy as the builder applies it: which instances a device builds tunnels to, and each
tunnel's AS-path prepending and local-preference (the tunnel's own, else the device's), and the
prefix-list that keeps a device's summaries for Azure. The rules and the warnings read the same functions."""

from __future__ import annotations

from dataclasses import dataclass

from lab.model import Device, LabFile
from lab.topology.naming import gateway_names

# A VPN device's prefix-list towards its site core: the summaries it makes are for Azure only (the core
# has the prefixes; reflected on, a summary would reach the customer edges and leak into ExpressRoute).
NOT_SUMMARIES = "NOT-SUMMARIES"


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
