"""Which node holds which address now, and which nodes are alive, given the failures.

Every other part of the oracle asks here: a standby instance holds its shared addresses only after
takeover, a failed node holds nothing it could answer with, a downed veth takes its subnet away.
"""

from __future__ import annotations

from collections.abc import Iterable
from ipaddress import IPv4Address, IPv4Interface

from controller.oracle.model import Failures
from lab.topology import Node, Topology


class Holdings:
    def __init__(self, topo: Topology, failures: Failures) -> None:
        self.topo = topo
        self.f = failures

    def alive(self, name: str) -> bool:
        return name not in self.f.nodes

    def holds_shared(self, node: Node) -> bool:
        """Does the node hold its shared addresses: the active instance of an active/standby pair."""
        return node.standby == self.f.standby_active

    @staticmethod
    def has_shared(node: Node) -> bool:
        return any(i.shared_addresses for i in node.interfaces)

    def held(self, node: Node, own: Iterable[IPv4Interface], shared: Iterable[IPv4Interface]) -> list[IPv4Interface]:
        return list(own) + (list(shared) if self.holds_shared(node) else [])

    def holds(self, node: Node, addr: IPv4Address) -> bool:
        return any(a.ip == addr for i in node.interfaces for a in self.held(node, i.addresses, i.shared_addresses))

    def owner_of(self, addr: IPv4Address) -> str | None:
        for node in self.topo.nodes.values():
            if self.holds(node, addr):
                return node.name
        return None

    def local_address_towards(self, node: Node, addr: IPv4Address) -> IPv4Address | None:
        """The node's own address on a (non-/32) subnet that holds `addr`: its source towards a neighbour."""
        for iface in node.interfaces:
            for a in self.held(node, iface.addresses, iface.shared_addresses):
                if addr in a.network and a.network.prefixlen < 32:
                    return a.ip
        return None

    def connected(self, node: Node) -> list[tuple[IPv4Interface, str]]:
        """The node's connected subnets now, with their interface: loopbacks and downed veths left out."""
        out = []
        for iface in node.interfaces:
            if iface.kind == "loopback":
                continue
            if iface.kind == "veth" and iface.peer_node and self.f.link_down(node.name, iface.peer_node):
                continue
            for a in self.held(node, iface.addresses, iface.shared_addresses):
                out.append((a, iface.name))
        return out
