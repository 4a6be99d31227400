"""A Linux bridge inside a node's namespace: the internet switch, the VNet's GatewaySubnet."""

from __future__ import annotations

import zlib
from typing import Any

from lab.topology import Interface


def bridge_mac(name: str) -> str:
    """A fixed, locally administered MAC. Without one a bridge takes its lowest port's MAC and changes
    it when that port goes, leaving every neighbor's ARP entry for the bridge's address stale."""
    digest = zlib.crc32(name.encode())
    return "02:67:77:ff:" + ":".join(f"{b:02x}" for b in digest.to_bytes(4, "big")[2:])


def create(ns: Any, iface: Interface) -> int:
    ns.link("add", ifname=iface.name, kind="bridge", address=bridge_mac(iface.name))
    index: int = ns.link_lookup(ifname=iface.name)[0]
    return index
