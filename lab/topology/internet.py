"""The internet: one switch that every public IP sits on, and a router holding .1 of each public subnet."""

from __future__ import annotations

from ipaddress import IPv4Interface

from lab.topology.context import Build
from lab.topology.naming import INTERNET
from lab.topology.types import Interface, Node, StaticRoute


def add_internet(b: Build) -> None:
    b.add(Node(INTERNET, "internet")).interfaces.append(Interface(INTERNET, "bridge"))


def address_internet(b: Build) -> None:
    """Once every public node exists: the internet router holds .1 of every public subnet, and each
    public node routes the others via it."""
    publics: dict[str, IPv4Interface] = {}
    for node in b.nodes.values():
        if node.role in ("gateway", "vpn", "p2s-client"):
            iface = node.interface(INTERNET)
            publics[node.name] = (iface.addresses or iface.shared_addresses)[0]
    nets = sorted({a.network for a in publics.values()})
    bridge = b.internet.interface(INTERNET)
    bridge.addresses = [IPv4Interface(f"{n[1]}/{n.prefixlen}") for n in nets]
    for name, addr in publics.items():
        for net in nets:
            if net != addr.network:
                b.nodes[name].routes.append(StaticRoute(net, via=addr.network[1], underlay=True))
