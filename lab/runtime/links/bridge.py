"""A Linux bridge inside a node's namespace: the internet switch, the VNet's GatewaySubnet."""

from __future__ import annotations

from dataclasses import dataclass

from lab.runtime.netlink import Handles, interface_index
from lab.topology import Interface
from lab.topology.addressing import bridge_mac


@dataclass(frozen=True)
class Bridge:
    node: str
    iface: Interface

    def deploy(self, handles: Handles) -> None:
        handles[self.node].link("add", ifname=self.iface.name, kind="bridge", address=bridge_mac(self.iface.name))

    def remove(self, handles: Handles) -> None:
        index = interface_index(handles[self.node]).get(self.iface.name)
        if index is not None:
            handles[self.node].link("del", index=index)  # its ports stay, detached
