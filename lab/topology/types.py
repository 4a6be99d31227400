"""The resolved topology's types: nodes, interfaces, routes, BGP sessions and policy, tunnels, links.

Plain data; `lab.topology.builder` fills it from the model, templates render it, the oracle reads it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from typing import Literal

from lab.model import LabFile
from lab.profiles import Timing

Role = Literal["internet", "vnet", "vm", "gateway", "ergw", "msee", "vpn", "ce", "core", "host"]
ROUTER_ROLES: frozenset[str] = frozenset({"vnet", "gateway", "ergw", "msee", "vpn", "ce", "core"})


@dataclass
class Interface:
    name: str
    kind: Literal["veth", "vxlan", "bridge", "loopback"]
    addresses: list[IPv4Interface] = field(default_factory=list)
    # Addresses that follow the active instance of an active/standby gateway: held by whichever
    # instance is active, absent on the standby until takeover.
    shared_addresses: list[IPv4Interface] = field(default_factory=list)
    peer_node: str | None = None  # veth: the node at the other end
    peer_ifname: str | None = None
    bridge: str | None = None  # veth end enslaved to this bridge of the same node
    vni: int | None = None  # vxlan
    remote: IPv4Address | None = None  # vxlan: the other end's public IP
    underlay: str | None = None  # vxlan: the interface carrying it
    mtu: int | None = None
    mac: str | None = None  # vxlan: derived, so the far end can hold a permanent neighbor entry


@dataclass
class StaticRoute:
    prefix: IPv4Network
    via: IPv4Address | None = None
    dev: str | None = None
    # Internet (public IP) routes are the lab's plumbing, installed by the runtime before any daemon
    # starts: a tunnel is only usable once its underlay route exists.
    underlay: bool = False
    # via + dev: the gateway is the far end of a tunnel, reached on-link (a tunnel is point-to-point,
    # but VXLAN is Ethernet: a plain device route would ARP for every destination, and nobody answers).
    onlink: bool = False


@dataclass
class StaticNeighbor:
    """A permanent neighbor entry: the tunnel peer's BGP IP at its tunnel MAC (no ARP across tunnels)."""

    address: IPv4Address
    mac: str
    dev: str


@dataclass
class Neighbor:
    address: IPv4Address
    remote_as: int
    peer: str  # node name of the peer, or "speaker"
    kind: Literal["vpn", "er", "ibgp", "speaker", "flood", "msee-ergw"]
    keepalive: int
    hold: int
    update_source: IPv4Address | None = None
    multihop: int | None = None
    passive: bool = False
    bfd: bool = False
    weight: int | None = None
    local_preference: int | None = None  # set on routes received from this neighbor
    rr_client: bool = False
    next_hop_self: bool = False
    max_prefix: int | None = None
    remove_private_as: bool = False
    prefix_list_in: str | None = None
    prefix_list_out: str | None = None
    own_routes_only: bool = False  # advertise only routes originated inside our AS (AS path ^$)
    port: int | None = None  # the peer's BGP port, when not 179 (the lab's speakers)


@dataclass
class PrefixListEntry:
    action: Literal["permit", "deny"]
    prefix: IPv4Network
    le: int | None = None


@dataclass
class Bgp:
    asn: int
    router_id: IPv4Address
    neighbors: list[Neighbor] = field(default_factory=list)
    prefix_lists: dict[str, list[PrefixListEntry]] = field(default_factory=dict)
    connect_retry: int = 1


@dataclass
class Speaker:
    """An ExaBGP speaker in the node's namespace, originating prefixes into the node's FRR over loopback."""

    asn: int
    router_id: IPv4Address
    local_address: IPv4Address
    peer_address: IPv4Address
    routes: list[tuple[IPv4Network, IPv4Address]]  # (prefix, next hop)


@dataclass
class Node:
    name: str
    role: Role
    site: str | None = None
    zone: int | None = None
    interfaces: list[Interface] = field(default_factory=list)
    routes: list[StaticRoute] = field(default_factory=list)
    neighbors: list[StaticNeighbor] = field(default_factory=list)
    bgp: Bgp | None = None
    speaker: Speaker | None = None
    standby: bool = False  # the standby instance of an active/standby gateway
    loopback: IPv4Address | None = None

    @property
    def is_router(self) -> bool:
        return self.role in ROUTER_ROLES

    def interface(self, name: str) -> Interface:
        return next(i for i in self.interfaces if i.name == name)

    def address_on(self, ifname: str) -> IPv4Address:
        iface = self.interface(ifname)
        return (iface.addresses or iface.shared_addresses)[0].ip


@dataclass
class Tunnel:
    device: str
    gateway: str
    vni: int
    device_ifname: str
    gateway_ifname: str


@dataclass
class Link:
    """A veth pair."""

    a: str
    a_ifname: str
    b: str
    b_ifname: str


@dataclass
class Topology:
    name: str
    lab: LabFile
    timing: Timing
    nodes: dict[str, Node]
    links: list[Link]
    tunnels: list[Tunnel]
    er_site: str | None = None

    def routers(self) -> Iterator[Node]:
        return (n for n in self.nodes.values() if n.is_router)

    def by_role(self, role: Role) -> list[Node]:
        return [n for n in self.nodes.values() if n.role == role]
