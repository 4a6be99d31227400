"""VXLAN tunnel end between public IPs: the transport for a VPN tunnel on kernels without ESP.

No local address is set: the source follows the routing table, so an active/standby standby's tunnel
starts working as soon as it takes the public IP over. The device is created in the node's namespace
on its underlay interface (a veth), so its UDP socket lives there too, on every runtime.
"""

from __future__ import annotations

from dataclasses import dataclass

from lab.runtime.netlink import Handles, interface_index
from lab.topology import VXLAN_PORT, Interface


@dataclass(frozen=True)
class Vxlan:
    node: str
    iface: Interface

    def deploy(self, handles: Handles) -> None:
        iface = self.iface
        assert iface.vni is not None and iface.remote is not None and iface.underlay is not None
        ns = handles[self.node]
        extra = {"address": iface.mac} if iface.mac else {}
        ns.link(
            "add",
            ifname=iface.name,
            kind="vxlan",
            vxlan_id=iface.vni,
            vxlan_port=VXLAN_PORT,
            vxlan_group=str(iface.remote),
            vxlan_link=ns.link_lookup(ifname=iface.underlay)[0],
            vxlan_learning=1,
            **extra,
        )
        if iface.mtu:
            ns.link("set", index=ns.link_lookup(ifname=iface.name)[0], mtu=iface.mtu)

    def remove(self, handles: Handles) -> None:
        index = interface_index(handles[self.node]).get(self.iface.name)
        if index is not None:
            handles[self.node].link("del", index=index)
