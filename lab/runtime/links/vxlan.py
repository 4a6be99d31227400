"""VXLAN tunnel end between public IPs: the transport for a VPN tunnel on kernels without ESP.

No local address is set: the source follows the routing table, so an active/standby standby's tunnel
starts working as soon as it takes the public IP over.
"""

from __future__ import annotations

from typing import Any

from lab.topology import VXLAN_PORT, Interface


def create(ns: Any, iface: Interface, underlay_index: int) -> None:
    assert iface.vni is not None and iface.remote is not None
    extra = {"address": iface.mac} if iface.mac else {}
    ns.link(
        "add",
        ifname=iface.name,
        kind="vxlan",
        vxlan_id=iface.vni,
        vxlan_port=VXLAN_PORT,
        vxlan_group=str(iface.remote),
        vxlan_link=underlay_index,
        vxlan_learning=1,
        **extra,
    )
    if iface.mtu:
        ns.link("set", index=ns.link_lookup(ifname=iface.name)[0], mtu=iface.mtu)
