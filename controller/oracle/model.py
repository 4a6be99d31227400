"""The oracle's vocabulary: what is failed, a BGP route, a FIB entry, and the prediction it makes."""

from __future__ import annotations

from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network

AGGREGATE = "aggregate"  # the peer of a route a router originates itself: a summary (aggregate-address)


@dataclass(frozen=True)
class Route:
    prefix: IPv4Network
    as_path: tuple[int, ...]
    next_hop: IPv4Address
    local_pref: int = 100
    weight: int = 0
    ebgp: bool = False
    peer: str = ""  # node the route was received from ("speaker" for origination)
    peer_router_id: IPv4Address = IPv4Address(0)  # noqa: RUF009 - immutable
    from_rr_client: bool = False
    originator: str = ""  # node that first put it into iBGP in this AS (for reflection loops)


@dataclass
class FibEntry:
    prefix: IPv4Network
    next_hops: frozenset[tuple[IPv4Address | None, str]]  # (gateway, device); gateway None: device route
    peers: frozenset[str]  # BGP peers the chosen paths came from


@dataclass
class Failures:
    """Failed elements: nodes (instances, devices, MSEEs...), tunnels "<device>~<gateway>", links "a~b"."""

    nodes: set[str] = field(default_factory=set)
    tunnels: set[str] = field(default_factory=set)
    links: set[str] = field(default_factory=set)  # veth between two nodes, either order
    flooded: set[str] = field(default_factory=set)  # sites whose speaker announces over the limit
    standby_active: bool = False  # active/standby: the standby instance holds the shared IPs

    def link_down(self, a: str, b: str) -> bool:
        return f"{a}~{b}" in self.links or f"{b}~{a}" in self.links


@dataclass
class Prediction:
    sessions: dict[tuple[str, IPv4Address], bool]  # (node, neighbor address) -> Established
    best: dict[str, dict[IPv4Network, list[Route]]]  # node -> prefix -> ECMP set (best first)
    fib: dict[str, dict[IPv4Network, FibEntry]]
    paths: dict[str, list[str]]  # "<site>->azure" / "azure-><site>" -> transit elements
    tunnels: dict[str, bool] = field(default_factory=dict)  # "<device>~<gateway>" -> carries traffic
    p2s: dict[str, str | None] = field(default_factory=dict)  # point-to-site client -> the instance serving it

    def established(self, node: str) -> list[IPv4Address]:
        return [addr for (n, addr), up in self.sessions.items() if n == node and up]
