"""A Linux bridge inside a node's namespace: the internet switch, the VNet's GatewaySubnet."""

from __future__ import annotations

import zlib
from dataclasses import dataclass

from lab.runtime.netlink import Handles, interface_index
from lab.topology import Interface


def bridge_mac(name: str) -> str:
    """A fixed, locally administered MAC. Without one a bridge takes its lowest port's MAC and changes
    it when that port goes, leaving every neighbor's ARP entry for the bridge's address stale."""
    digest = zlib.crc32(name.encode())
    return "02:67:77:ff:" + ":".join(f"{b:02x}" for b in digest.to_bytes(4, "big")[2:])


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
