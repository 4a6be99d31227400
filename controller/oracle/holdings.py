"""Which node holds which address now, and which nodes are alive, given the failures.

Every other part of the oracle asks here: a standby instance holds its shared addresses only after
takeover, a failed node holds nothing it could answer with, a downed veth takes its subnet away.

The answers are indexed once, when the Holdings are made (address -> holders, node -> its addresses,
node -> its connected subnets): the topology and the failures do not change during a prediction, and
scanning every interface of every node for each question made `predict` quadratic in sites.
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
        self._addresses: dict[str, list[IPv4Interface]] = {}  # node -> what it holds now, interface order
        self._held: dict[str, frozenset[IPv4Address]] = {}
        self._holders: dict[IPv4Address, list[str]] = {}  # address -> nodes holding it, in topology order
        for node in topo.nodes.values():
            held = [a for i in node.interfaces for a in self.held(node, i.addresses, i.shared_addresses)]
            self._addresses[node.name] = held
            self._held[node.name] = frozenset(a.ip for a in held)
            for ip in dict.fromkeys(a.ip for a in held):
                self._holders.setdefault(ip, []).append(node.name)
        self._connected: dict[str, list[tuple[IPv4Interface, str]]] = {}
        self._towards: dict[tuple[str, IPv4Address], IPv4Address | None] = {}

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
        return addr in self._held[node.name]

    def holders(self, addr: IPv4Address) -> list[str]:
        """Every node holding `addr` now, in topology order."""
        return self._holders.get(addr, [])

    def owner_of(self, addr: IPv4Address) -> str | None:
        found = self._holders.get(addr)
        return found[0] if found else None

    def local_address_towards(self, node: Node, addr: IPv4Address) -> IPv4Address | None:
        """The node's own address on a (non-/32) subnet that holds `addr`: its source towards a neighbour."""
        key = (node.name, addr)
        if key not in self._towards:
            self._towards[key] = next(
                (a.ip for a in self._addresses[node.name] if addr in a.network and a.network.prefixlen < 32), None
            )
        return self._towards[key]

    def connected(self, node: Node) -> list[tuple[IPv4Interface, str]]:
        """The node's connected subnets now, with their interface: loopbacks and downed veths left out."""
        found = self._connected.get(node.name)
        if found is None:
            found = []
            for iface in node.interfaces:
                if iface.kind == "loopback":
                    continue
                if iface.kind == "veth" and iface.peer_node and self.f.link_down(node.name, iface.peer_node):
                    continue
                for a in self.held(node, iface.addresses, iface.shared_addresses):
                    found.append((a, iface.name))
            self._connected[node.name] = found
        return found
