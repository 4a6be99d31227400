"""The resolved topology's types: nodes, interfaces, routes, BGP sessions and policy, tunnels, links.

Plain data; `lab.topology.builder` fills it from the model, templates render it, the oracle reads it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from typing import Literal

from lab.ipsec.dpd import Dpd, IkeVersion
from lab.model import LabFile
from lab.profiles import Timing

Role = Literal["internet", "vnet", "vm", "gateway", "ergw", "msee", "vpn", "ce", "core", "host", "p2s-client"]
ROUTER_ROLES: frozenset[str] = frozenset({"vnet", "gateway", "ergw", "msee", "vpn", "ce", "core"})
TunnelKind = Literal["ipsec", "vxlan"]
# Interface kinds a router routes a tunnel through: a VXLAN device, or the veth "VTI" to an IPsec
# tunnel's endpoint namespace (lab.runtime.links.ipsec).
TUNNEL_KINDS = ("vxlan", "vti")


@dataclass
class Interface:
    name: str
    # vti: the veth to an IPsec endpoint's r0; endpoint: the veth to its eth0 (its WAN, behind our NAT)
    kind: Literal["veth", "vxlan", "bridge", "loopback", "vti", "endpoint"]
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
    # single-hop eBGP to a peer behind a /32 device route (VNet-to-VNet over VXLAN): TTL 1 keeps the
    # session on its tunnel (it cannot detour through the other VNet's other instance)
    disable_connected_check: bool = False
    passive: bool = False
    bfd: bool = False
    # BFD in passive mode: wait for the peer's first packet, then answer it at once (the MSEE: BFD is on
    # by default on Microsoft's side and comes up when the customer edge enables it)
    bfd_passive: bool = False
    weight: int | None = None
    local_preference: int | None = None  # set on routes received from this neighbor
    as_path_prepend: int = 0  # extra copies of our own ASN on the routes advertised to this (eBGP) neighbor
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
    # aggregate-address summary-only: originated while a more specific route is in the table, which
    # then goes to no peer
    summaries: list[IPv4Network] = field(default_factory=list)


@dataclass
class Speaker:
    """An ExaBGP speaker in the node's namespace, originating prefixes into the node's FRR over loopback."""

    asn: int
    router_id: IPv4Address
    local_address: IPv4Address
    peer_address: IPv4Address
    routes: list[tuple[IPv4Network, IPv4Address]]  # (prefix, next hop)
    reactor_speed: float = 10.0  # ExaBGP's exabgp.reactor.speed (lab.topology.builder paces the lab's)


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
    vnet: str | None = None  # a remote VNet's node (router, VM, instance): that VNet's name
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
class TunnelEnd:
    """One end of an IPsec tunnel: its router, and the endpoint namespace holding its charon (not a node:
    the oracle, probes and FRR see the router's VTI only). The endpoint's WAN sits behind the router's
    NAT, which presents `public`, the end's IKE identity."""

    node: str  # the router: "s1-vpn0", "gw0"
    endpoint: str  # the endpoint namespace's name within the lab: "s1-vpn0.gw0"
    vti: str  # the router's VTI (t-<peer>), a veth to the endpoint's r0
    wan_if: str  # the router's veth to the endpoint's eth0 (e-<peer>)
    wan: IPv4Network  # a /30: the router holds .1, the endpoint .2
    public: IPv4Address
    # the endpoint's permanent neighbours (on its WAN and its VTI veth: lab.topology.neighbors)
    neighbors: list[StaticNeighbor] = field(default_factory=list)

    @property
    def router_address(self) -> IPv4Address:
        return self.wan[1]

    @property
    def endpoint_address(self) -> IPv4Address:
        return self.wan[2]


@dataclass
class IpsecParams:
    """Azure's connection behind a tunnel; its key is never part of the topology (lab.runtime.links.ipsec)."""

    connection: str  # the device: Azure's connection, the IKE connection's name, the derived key's name
    version: IkeVersion  # 2 route-based, 1 policy-based (as Azure)
    azure_ts: list[IPv4Network]  # the Azure end's local selectors ([]: 0.0.0.0/0, route-based)
    onprem_ts: list[IPv4Network]  # ... and the on-prem end's
    dpd: Dpd
    psk_given: bool  # the lab file gives the key (else derived from the lab's secret)


@dataclass
class Tunnel:
    device: str
    gateway: str
    vni: int  # vxlan; 0 for ipsec
    device_ifname: str
    gateway_ifname: str
    kind: TunnelKind = "vxlan"
    # ipsec: the ends (active/standby: both instances' tunnels share the device's end) and the connection
    device_end: TunnelEnd | None = None
    gateway_end: TunnelEnd | None = None
    ipsec: IpsecParams | None = None
    # VNet-to-VNet: both ends are gateway instances (the "device" end is the remote VNet's that names
    # the connection); probes mark it once, with its name as the path label
    between_vnets: bool = False

    @property
    def name(self) -> str:
        """The failure target and report name: "<device>~<gateway>"."""
        return f"{self.device}~{self.gateway}"

    @property
    def label(self) -> str:
        """How diagrams name it: "VNI 1001", "IPsec IKEv2"."""
        return f"IPsec IKEv{self.ipsec.version}" if self.ipsec is not None else f"VNI {self.vni}"

    def ends(self) -> tuple[TunnelEnd, TunnelEnd]:
        assert self.device_end is not None and self.gateway_end is not None, f"{self.name} is not ipsec"
        return self.device_end, self.gateway_end


@dataclass
class P2sClient:
    """A point-to-site road warrior: a node on the internet whose charon connects to one public IP of the
    gateway and is given `vip` (deterministic here, so that probes and the oracle know it; Azure hands
    them out dynamically)."""

    node: str
    public: IPv4Address  # the gateway public IP it connects to (active/standby: the shared one)
    vip: IPv4Address
    identity: str  # its certificate's subject and IKE identity


@dataclass
class P2s:
    """Point-to-site on the gateway: each instance has one P2S endpoint (`ends`, standby included)."""

    pools: dict[str, IPv4Network]  # instance -> the addresses it hands out (active/active: a half each)
    clients: list[P2sClient]
    ends: list[TunnelEnd]
    identity: str  # the gateway's certificate subject and IKE identity
    dpd: Dpd
    advertise_to_onprem: bool


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
    p2s: P2s | None = None

    def routers(self) -> Iterator[Node]:
        return (n for n in self.nodes.values() if n.is_router)

    def by_role(self, role: Role) -> list[Node]:
        return [n for n in self.nodes.values() if n.role == role]

    def tunnel(self, name: str) -> Tunnel:
        return next(t for t in self.tunnels if t.name == name)

    def p2s_client(self, node: str) -> P2sClient:
        assert self.p2s is not None
        return next(c for c in self.p2s.clients if c.node == node)

    def tunnel_ends(self) -> list[tuple[Tunnel, TunnelEnd]]:
        """Every IPsec tunnel end once (active/standby's device end serves two tunnels: its first)."""
        seen: dict[str, tuple[Tunnel, TunnelEnd]] = {}
        for t in self.tunnels:
            if t.kind == "ipsec":
                for end in t.ends():
                    seen.setdefault(end.endpoint, (t, end))
        return list(seen.values())

    def endpoint_ends(self) -> list[TunnelEnd]:
        """Every IPsec end with an endpoint namespace of its own (site-to-site and point-to-site), once."""
        return [e for _, e in self.tunnel_ends()] + (self.p2s.ends if self.p2s else [])
