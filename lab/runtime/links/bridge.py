"""A Linux bridge inside a node's namespace: the internet switch, the VNet's GatewaySubnet."""

from __future__ import annotations

from typing import Any

from lab.topology import Interface


def create(ns: Any, iface: Interface) -> int:
    ns.link("add", ifname=iface.name, kind="bridge")
    index: int = ns.link_lookup(ifname=iface.name)[0]
    return index
