"""The resolved topology: every node, interface, address, tunnel and BGP session, derived from the model.

This is where Azure's behaviour becomes data (who peers with whom, weights, local-preference,
filters, timers); templates only turn it into FRR/ExaBGP syntax, and the controller's oracle reads
the same data to predict paths. Nothing here touches the host.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from typing import Literal

from lab.model import LabFile
from lab.profiles import Timing, resolve

Role = Literal["internet", "vnet", "vm", "gateway", "ergw", "msee", "vpn", "ce", "core", "host"]
ROUTER_ROLES: frozenset[str] = frozenset({"vnet", "gateway", "ergw", "msee", "vpn", "ce", "core"})

APIPA_AZURE = (IPv4Address("169.254.21.0"), IPv4Address("169.254.22.255"))
APIPA = IPv4Network("169.254.0.0/16")
VXLAN_PORT = 4789
VXLAN_BASE_VNI = 1000
VXLAN_MTU = 1450  # 1500 minus VXLAN/UDP/IP overhead
MAX_PREFIXES = 4000  # Azure: on-prem -> VPN gateway and -> ExpressRoute private peering
ER_WEIGHT, VPN_WEIGHT = 32769, 32768  # what the VNet shows for ExpressRoute vs VPN routes
# The router <-> speaker session runs between two addresses on the node's lo. Not 127/8: zebra
# ignores those, and bgpd then never connects ("Waiting for NHT").
SPEAKER_NET = IPv4Network("169.254.255.0/29")
ROUTER_LO_IP, SPEAKER_IP, FLOOD_IP = SPEAKER_NET[1], SPEAKER_NET[2], SPEAKER_NET[3]
# The speaker listens on its own port and FRR connects to it (connect-retry 1 s): ExaBGP's own
# reconnect backs off 1 s, 2 s, ... after a refused attempt, and bgpd refuses until its config is read.
SPEAKER_PORT = 1179
# Each site core also has an idle session to a flood speaker, started only by the prefix-flood failure:
# it announces more prefixes than Azure's 4,000 limit, from the benchmarking range.
FLOOD_PORT = 1180
FLOOD_NET = IPv4Network("198.18.0.0/15")
FLOOD_COUNT = 4001


def flood_prefixes(count: int = FLOOD_COUNT) -> list[IPv4Network]:
    base = int(FLOOD_NET.network_address)
    return [IPv4Network(f"{IPv4Address(base + i)}/32") for i in range(count)]


ECMP_PATHS = 16


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


def tunnel_mac(vni: int, gateway_end: bool) -> str:
    """Locally administered MAC of a tunnel end; both instances of a gateway share the gateway end's."""
    return f"02:67:77:{1 if gateway_end else 0:02x}:{vni >> 8 & 0xFF:02x}:{vni & 0xFF:02x}"


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


# -- naming: every derived name in one place --------------------------------------------------------


def gateway_names(lab: LabFile) -> list[str]:
    instances = list(lab.vpn_gateway.instances) + [None] * (2 - len(lab.vpn_gateway.instances))
    return [(inst.name if inst is not None and inst.name else f"gw{i}") for i, inst in enumerate(instances[:2])]


def device_node_names(lab: LabFile) -> list[list[str]]:
    return [[f"{s.name}-{d.name or f'vpn{j}'}" for j, d in enumerate(s.devices)] for s in lab.onprem.sites]


def er_site_index(lab: LabFile) -> int | None:
    er = lab.expressroute
    if er is None:
        return None
    if er.site is None:
        return 0
    return next((i for i, s in enumerate(lab.onprem.sites) if s.name == er.site), None)


def public_network(lab: LabFile, ip: IPv4Address) -> IPv4Network:
    """The internet subnet a public IP sits in: its pool, or else its /24."""
    for pool in (lab.pools.azure_public, lab.pools.onprem_public):
        if ip in pool:
            return pool
    return ipaddress.IPv4Network(f"{ip}/24", strict=False)


def derived_public_ips(lab: LabFile) -> tuple[list[IPv4Address], list[list[IPv4Address]]]:
    """Public IPs of the gateway instances (one for active/standby) and of each site's devices."""
    azure = list(lab.pools.azure_public.hosts())[9:]  # .10 onwards: .1 is the internet router
    onprem = iter(list(lab.pools.onprem_public.hosts())[9:])
    gw: list[IPv4Address] = []
    instances = lab.vpn_gateway.instances
    count = 1 if lab.vpn_gateway.mode == "active-standby" else 2
    for i in range(count):
        given = instances[i].public_ip if i < len(instances) else None
        gw.append(given if given is not None else azure[i])
    devices: list[list[IPv4Address]] = []
    for site in lab.onprem.sites:
        # An exhausted pool yields the network address, which `rules.pool_capacity` reports.
        devices.append(
            [d.public_ip if d.public_ip is not None else next(onprem, lab.pools.onprem_public[0]) for d in site.devices]
        )
    return gw, devices


# -- building ----------------------------------------------------------------------------------------


class _Allocator:
    """Hands out /32 loopbacks and /31 point-to-point subnets in a fixed order, so output is stable."""

    def __init__(self, lab: LabFile) -> None:
        self._loopbacks = lab.pools.loopback.hosts()
        self._p2p = lab.pools.p2p.subnets(new_prefix=31)

    def loopback(self) -> IPv4Address:
        return next(self._loopbacks)

    def p2p(self) -> tuple[IPv4Interface, IPv4Interface]:
        net = next(self._p2p)
        return IPv4Interface(f"{net[0]}/31"), IPv4Interface(f"{net[1]}/31")


def supernets(prefix: IPv4Network) -> list[IPv4Network]:
    return [prefix.supernet(new_prefix=n) for n in range(prefix.prefixlen - 1, -1, -1)]


def build(lab: LabFile) -> Topology:
    """Derive everything; `lab` must already have passed `lab.rules.check`."""
    assert lab.name is not None
    timing = resolve(lab.profile, lab.timers)
    b = _Builder(lab, timing)
    return b.build()


class _Builder:
    def __init__(self, lab: LabFile, timing: Timing) -> None:
        self.lab = lab
        self.t = timing
        self.alloc = _Allocator(lab)
        self.nodes: dict[str, Node] = {}
        self.links: list[Link] = []
        self.tunnels: list[Tunnel] = []
        gw = lab.vpn_gateway
        self.bgp_on = gw.bgp and gw.type == "route-based"
        self.active_standby = gw.mode == "active-standby"
        self.gw_names = gateway_names(lab)
        self.device_names = device_node_names(lab)
        self.gw_public, self.device_public = derived_public_ips(lab)
        self.er_index = er_site_index(lab)

    # small helpers
    def add(self, node: Node) -> Node:
        self.nodes[node.name] = node
        return node

    def veth(
        self,
        a: Node,
        b: Node,
        a_addr: IPv4Interface | None = None,
        b_addr: IPv4Interface | None = None,
        a_ifname: str | None = None,
        b_ifname: str | None = None,
        b_bridge: str | None = None,
    ) -> None:
        an, bn = a_ifname or b.name, b_ifname or a.name
        a.interfaces.append(Interface(an, "veth", [a_addr] if a_addr else [], peer_node=b.name, peer_ifname=bn))
        b.interfaces.append(
            Interface(bn, "veth", [b_addr] if b_addr else [], peer_node=a.name, peer_ifname=an, bridge=b_bridge)
        )
        self.links.append(Link(a.name, an, b.name, bn))

    def p2p(self, a: Node, b: Node) -> tuple[IPv4Address, IPv4Address]:
        a_addr, b_addr = self.alloc.p2p()
        self.veth(a, b, a_addr, b_addr)
        return a_addr.ip, b_addr.ip

    def router(
        self,
        name: str,
        role: Role,
        asn: int,
        site: str | None = None,
        zone: int | None = None,
        router_id: IPv4Address | None = None,
    ) -> Node:
        lo = router_id or self.alloc.loopback()
        node = Node(name, role, site=site, zone=zone, loopback=lo)
        node.interfaces.append(Interface("lo", "loopback", [IPv4Interface(f"{lo}/32")]))
        node.bgp = Bgp(asn, lo, connect_retry=self.t.connect_retry)
        return self.add(node)

    def build(self) -> Topology:
        lab = self.lab
        self.internet = self.add(Node("inet", "internet"))
        self.internet.interfaces.append(Interface("inet", "bridge"))
        self._vnet()
        self._gateways()
        self._sites()
        if lab.expressroute is not None and self.er_index is not None:
            self._expressroute()
        self._internet_addresses()
        for node in self.nodes.values():  # iBGP and speaker sessions: the node's own AS
            for n in node.bgp.neighbors if node.bgp else []:
                if n.remote_as == 0:
                    n.remote_as = node.bgp.asn  # type: ignore[union-attr]
        assert lab.name is not None
        er_site = lab.onprem.sites[self.er_index].name if self.er_index is not None and lab.expressroute else None
        return Topology(lab.name, lab, self.t, self.nodes, self.links, self.tunnels, er_site)

    def _internet_addresses(self) -> None:
        """The internet router holds .1 of every public subnet; each public node routes the others via it."""
        publics: dict[str, IPv4Interface] = {}
        for node in self.nodes.values():
            if node.role in ("gateway", "vpn"):
                iface = node.interface("inet")
                publics[node.name] = (iface.addresses or iface.shared_addresses)[0]
        nets = sorted({a.network for a in publics.values()})
        bridge = self.internet.interface("inet")
        bridge.addresses = [IPv4Interface(f"{n[1]}/{n.prefixlen}") for n in nets]
        for name, addr in publics.items():
            for net in nets:
                if net != addr.network:
                    self.nodes[name].routes.append(StaticRoute(net, via=addr.network[1], underlay=True))

    # Azure side ------------------------------------------------------------------------------------
    def _vnet(self) -> None:
        vnet = self.lab.vnet
        gws = vnet.gateway_subnet
        self.vm_subnet = vnet.vm_subnet or vm_subnet(self.lab)
        self.vm_ip = vnet.vm_ip or self.vm_subnet[4]
        self.vnet_router = self.router("vnet", "vnet", self.lab.vpn_gateway.asn)
        self.vnet_router.interfaces.append(Interface("gws", "bridge", [IPv4Interface(f"{gws[1]}/{gws.prefixlen}")]))
        vm = self.add(Node("vm", "vm"))
        self.veth(
            self.vnet_router,
            vm,
            IPv4Interface(f"{self.vm_subnet[1]}/{self.vm_subnet.prefixlen}"),
            IPv4Interface(f"{self.vm_ip}/{self.vm_subnet.prefixlen}"),
        )
        vm.routes.append(StaticRoute(IPv4Network("0.0.0.0/0"), via=self.vm_subnet[1]))

    def gw_bgp_ips(self) -> list[IPv4Address]:
        subnet = self.lab.vnet.gateway_subnet
        # Azure: peer IPs from GatewaySubnet in public-IP order, .4 then .5; active/standby has one.
        if self.active_standby:
            return [subnet[4]]
        first, second = sorted(range(2), key=lambda i: self.gw_public[i])
        ips = [subnet[4], subnet[4]]
        ips[first], ips[second] = subnet[4], subnet[5]
        return ips

    def gw_apipa_ips(self) -> list[IPv4Address]:
        out = []
        for i in range(1 if self.active_standby else 2):
            inst = self.lab.vpn_gateway.instances
            given = inst[i].apipa_bgp_ip if i < len(inst) else None
            out.append(given or IPv4Address(f"169.254.{21 + i}.1"))
        return out

    def _gateways(self) -> None:
        lab = self.lab
        subnet = lab.vnet.gateway_subnet
        self.gateways: list[Node] = []
        bgp_ips = self.gw_bgp_ips()
        apipa = self.gw_apipa_ips()
        instances = lab.vpn_gateway.instances
        for i, name in enumerate(self.gw_names):
            zone = instances[i].zone if i < len(instances) else None
            shared = 0 if self.active_standby else i  # which public/BGP IP this instance holds
            bgp_ip = bgp_ips[shared]
            standby = self.active_standby and i == 1
            node = self.router(name, "gateway", lab.vpn_gateway.asn, zone=zone)
            node.standby = standby
            pub = IPv4Interface(f"{self.gw_public[shared]}/{public_network(lab, self.gw_public[shared]).prefixlen}")
            gws_addr = IPv4Interface(f"{bgp_ip}/{subnet.prefixlen}")
            self.veth(node, self.internet, a_ifname="inet", b_ifname=name, b_bridge="inet")
            self.veth(node, self.vnet_router, a_ifname="vnet", b_ifname=name, b_bridge="gws")
            held = "shared_addresses" if self.active_standby else "addresses"
            getattr(node.interface("inet"), held).append(pub)
            getattr(node.interface("vnet"), held).append(gws_addr)
            if self.uses_apipa():
                getattr(node.interface("lo"), held).append(IPv4Interface(f"{apipa[shared]}/32"))
            self.gateways.append(node)
            # The VNet router peers with each instance's BGP IP (one shared IP for active/standby).
            if i == shared:
                assert self.vnet_router.bgp is not None
                self.vnet_router.bgp.neighbors.append(self.ibgp(bgp_ip, name, update_source=None, weight=VPN_WEIGHT))
            assert node.bgp is not None
            node.bgp.neighbors.append(self.ibgp(subnet[1], "vnet", update_source=bgp_ip, nhs=True))
            node.bgp.neighbors.append(self.speaker_neighbor(node))
            node.speaker = self.speaker(node, [(p, subnet[1]) for p in lab.vnet.address_space])
            node.bgp.prefix_lists.update(self.azure_prefix_lists())

    def uses_apipa(self) -> bool:
        return any(d.bgp_ip is not None and d.bgp_ip in APIPA for s in self.lab.onprem.sites for d in s.devices)

    def azure_prefix_lists(self) -> dict[str, list[PrefixListEntry]]:
        vnet = self.lab.vnet.address_space
        # Received: a prefix identical to a VNet prefix is dropped; a superset is accepted.
        inbound = [PrefixListEntry("deny", p) for p in vnet]
        inbound.append(PrefixListEntry("permit", IPv4Network("0.0.0.0/0"), le=32))
        # Advertised: the VNet prefixes; never 0.0.0.0/0, never anything else overlapping the VNet.
        outbound = [PrefixListEntry("permit", p) for p in vnet]
        seen: set[IPv4Network] = set()
        for p in vnet:
            outbound.append(PrefixListEntry("deny", p, le=32))
            for s in supernets(p):
                if s not in seen:
                    seen.add(s)
                    outbound.append(PrefixListEntry("deny", s))
        outbound.append(PrefixListEntry("permit", IPv4Network("0.0.0.0/0"), le=32))
        return {"AZURE-IN": inbound, "AZURE-OUT": outbound}

    def ibgp(
        self,
        address: IPv4Address,
        peer: str,
        update_source: IPv4Address | None,
        nhs: bool = False,
        weight: int | None = None,
        rr_client: bool = False,
        keepalive: int | None = None,
        hold: int | None = None,
    ) -> Neighbor:
        return Neighbor(
            address,
            0,
            peer,
            "ibgp",
            keepalive or self.t.keepalive,
            hold or self.t.hold,
            update_source=update_source,
            next_hop_self=nhs,
            weight=weight,
            rr_client=rr_client,
        )

    def speaker_neighbor(self, node: Node, rr_client: bool = False) -> Neighbor:
        # ExaBGP listens on SPEAKER_IP:SPEAKER_PORT on lo; bgpd connects to it from ROUTER_LO_IP.
        return Neighbor(
            SPEAKER_IP,
            0,
            "speaker",
            "speaker",
            self.t.keepalive,
            self.t.hold,
            update_source=ROUTER_LO_IP,
            rr_client=rr_client,
            port=SPEAKER_PORT,
        )

    def speaker(self, node: Node, routes: list[tuple[IPv4Network, IPv4Address]]) -> Speaker:
        assert node.bgp is not None
        node.interface("lo").addresses += [IPv4Interface(f"{ROUTER_LO_IP}/32"), IPv4Interface(f"{SPEAKER_IP}/32")]
        # Its own BGP identifier: an iBGP peer with the router's identifier is refused (Bad BGP Identifier).
        return Speaker(node.bgp.asn, SPEAKER_IP, SPEAKER_IP, ROUTER_LO_IP, routes)

    # on-prem side ----------------------------------------------------------------------------------
    def _sites(self) -> None:
        lab = self.lab
        vni = VXLAN_BASE_VNI
        bgp_ips = self.gw_bgp_ips()
        apipa = self.gw_apipa_ips()
        self.cores: list[Node] = []
        for s_idx, site in enumerate(lab.onprem.sites):
            core = self.router(f"{site.name}-core", "core", site.asn, site=site.name)
            lan = site.prefixes[0]
            host = self.add(Node(f"{site.name}-host", "host", site=site.name))
            self.veth(
                core, host, IPv4Interface(f"{lan[1]}/{lan.prefixlen}"), IPv4Interface(f"{lan[2]}/{lan.prefixlen}")
            )
            host.routes.append(StaticRoute(IPv4Network("0.0.0.0/0"), via=lan[1]))
            assert core.bgp is not None
            core.bgp.neighbors.append(self.speaker_neighbor(core, rr_client=True))
            core.speaker = self.speaker(core, [(p, lan[2]) for p in site.prefixes])
            core.bgp.neighbors.append(
                Neighbor(
                    FLOOD_IP,
                    site.asn,
                    "speaker",
                    "flood",
                    self.t.keepalive,
                    self.t.hold,
                    update_source=ROUTER_LO_IP,
                    rr_client=True,
                    port=FLOOD_PORT,
                )
            )
            core.interface("lo").addresses.append(IPv4Interface(f"{FLOOD_IP}/32"))
            self.cores.append(core)
            for d_idx, device in enumerate(site.devices):
                name = self.device_names[s_idx][d_idx]
                bgp_ip = device.bgp_ip or self.alloc.loopback()
                dev = self.router(name, "vpn", site.asn, site=site.name, router_id=bgp_ip)
                public = self.device_public[s_idx][d_idx]
                self.veth(dev, self.internet, a_ifname="inet", b_ifname=name, b_bridge="inet")
                dev.interface("inet").addresses.append(
                    IPv4Interface(f"{public}/{public_network(lab, public).prefixlen}")
                )
                edge_ip = self._site_uplink(core, dev)
                device_apipa = bgp_ip in APIPA
                tunnel_peers: list[tuple[str, IPv4Address]] = []  # (device's tunnel, gateway's BGP IP)
                # One tunnel per (device, instance public IP): 2 for active/active, 1 for active/standby;
                # every instance gets the gateway end so that a standby can take the IPs over.
                for g_idx, gw in enumerate(self.gateways):
                    shared = 0 if self.active_standby else g_idx
                    dev_if = f"t-{self.gateways[shared].name}"
                    gw_if = f"t-{name}"
                    if g_idx == shared:
                        vni += 1
                        dev.interfaces.append(
                            Interface(
                                dev_if,
                                "vxlan",
                                vni=vni,
                                remote=self.gw_public[shared],
                                underlay="inet",
                                mtu=VXLAN_MTU,
                                mac=tunnel_mac(vni, gateway_end=False),
                            )
                        )
                        self.tunnels.append(Tunnel(name, gw.name, vni, dev_if, gw_if))
                        azure_ip = apipa[shared] if device_apipa else bgp_ips[shared]
                        tunnel_peers.append((dev_if, azure_ip))
                        dev.routes.append(StaticRoute(IPv4Network(f"{azure_ip}/32"), dev=dev_if))
                        dev.neighbors.append(StaticNeighbor(azure_ip, tunnel_mac(vni, gateway_end=True), dev_if))
                        if self.bgp_on:
                            assert dev.bgp is not None
                            dev.bgp.neighbors.append(
                                self.vpn_neighbor(azure_ip, lab.vpn_gateway.asn, gw.name, bgp_ip, onprem=True)
                            )
                    else:
                        self.tunnels.append(Tunnel(name, gw.name, vni, dev_if, gw_if))
                    gw.interfaces.append(
                        Interface(
                            gw_if,
                            "vxlan",
                            vni=vni,
                            remote=public,
                            underlay="inet",
                            mtu=VXLAN_MTU,
                            mac=tunnel_mac(vni, gateway_end=True),
                        )
                    )
                    gw.neighbors.append(StaticNeighbor(bgp_ip, tunnel_mac(vni, gateway_end=False), gw_if))
                    # Azure installs the /32 to the on-prem BGP IP over the tunnel itself.
                    gw.routes.append(StaticRoute(IPv4Network(f"{bgp_ip}/32"), dev=gw_if))
                    azure_ip = apipa[shared] if device_apipa else bgp_ips[shared]
                    assert gw.bgp is not None
                    if self.bgp_on:
                        n = self.vpn_neighbor(bgp_ip, site.asn, name, azure_ip, onprem=False)
                        n.passive = device_apipa  # with APIPA, on-prem initiates
                        gw.bgp.neighbors.append(n)
                    else:
                        for p in site.prefixes:
                            gw.routes.append(StaticRoute(p, via=bgp_ip, dev=gw_if, onlink=True))
                if not self.bgp_on:
                    # Static routing (policy-based, or route-based without BGP): the device sends the
                    # VNet into its tunnels, the site core sends it to the device.
                    for p in lab.vnet.address_space:
                        dev.routes += [StaticRoute(p, via=ip, dev=t, onlink=True) for t, ip in tunnel_peers]
                        core.routes.append(StaticRoute(p, via=edge_ip))
            if not self.bgp_on:
                # Azure programs the local network gateway's prefixes into the VNet, towards the gateway.
                for p in site.prefixes:
                    self.vnet_router.routes += [StaticRoute(p, via=ip) for ip in dict.fromkeys(bgp_ips)]

    def vpn_neighbor(
        self, address: IPv4Address, remote_as: int, peer: str, source: IPv4Address, onprem: bool
    ) -> Neighbor:
        n = Neighbor(address, remote_as, peer, "vpn", self.t.keepalive, self.t.hold, update_source=source, multihop=2)
        if onprem:
            n.own_routes_only = True
        else:
            n.max_prefix = MAX_PREFIXES
            n.prefix_list_in, n.prefix_list_out = "AZURE-IN", "AZURE-OUT"
        return n

    def _site_uplink(self, core: Node, edge: Node) -> IPv4Address:
        """An on-prem edge router (VPN device or CE) and the site core: iBGP, core reflects.
        Returns the edge's address on the link."""
        edge_ip, core_ip = self.p2p(edge, core)
        assert edge.bgp is not None and core.bgp is not None
        edge.bgp.neighbors.append(self.ibgp(core_ip, core.name, update_source=edge_ip, nhs=True))
        # next-hop-self force: reflected routes must point at the core, the only next hop an edge reaches.
        core.bgp.neighbors.append(self.ibgp(edge_ip, edge.name, update_source=core_ip, nhs=True, rr_client=True))
        return edge_ip

    # ExpressRoute ----------------------------------------------------------------------------------
    def _expressroute(self) -> None:
        lab = self.lab
        er = lab.expressroute
        assert er is not None and self.er_index is not None
        site = lab.onprem.sites[self.er_index]
        core = self.cores[self.er_index]
        subnet = lab.vnet.gateway_subnet
        ergw_ip = subnet[6]
        ergw = self.router("ergw", "ergw", lab.vpn_gateway.asn)
        self.veth(ergw, self.vnet_router, a_ifname="vnet", b_ifname="ergw", b_bridge="gws")
        ergw.interface("vnet").addresses.append(IPv4Interface(f"{ergw_ip}/{subnet.prefixlen}"))
        assert ergw.bgp is not None and self.vnet_router.bgp is not None
        ergw.bgp.neighbors.append(self.ibgp(subnet[1], "vnet", update_source=ergw_ip, nhs=True))
        ergw.bgp.neighbors.append(self.speaker_neighbor(ergw))
        ergw.speaker = self.speaker(ergw, [(p, subnet[1]) for p in lab.vnet.address_space])
        self.vnet_router.bgp.neighbors.append(self.ibgp(ergw_ip, "ergw", update_source=None, weight=ER_WEIGHT))
        subnets = [
            er.primary_subnet or IPv4Network("172.16.0.0/30"),
            er.secondary_subnet or IPv4Network("172.16.0.4/30"),
        ]
        for k, peering in enumerate(subnets):
            msee = self.router(f"msee{k}", "msee", er.msee_asn)
            ce = self.router(f"{site.name}-ce{k}", "ce", site.asn, site=site.name)
            ergw_side, msee_side = self.p2p(ergw, msee)
            assert msee.bgp is not None and ce.bgp is not None
            ergw.bgp.neighbors.append(
                Neighbor(
                    msee_side,
                    er.msee_asn,
                    msee.name,
                    "msee-ergw",
                    self.t.er_keepalive,
                    self.t.er_hold,
                    weight=er.weight or None,
                )
            )
            msee.bgp.neighbors.append(
                Neighbor(ergw_side, lab.vpn_gateway.asn, "ergw", "msee-ergw", self.t.er_keepalive, self.t.er_hold)
            )
            # Azure: the customer takes the first usable address of each /30, Microsoft the second.
            ce_ip, msee_ip = peering[1], peering[2]
            self.veth(msee, ce, IPv4Interface(f"{msee_ip}/30"), IPv4Interface(f"{ce_ip}/30"))
            msee.bgp.neighbors.append(
                Neighbor(
                    ce_ip,
                    site.asn,
                    ce.name,
                    "er",
                    self.t.er_keepalive,
                    self.t.er_hold,
                    bfd=er.bfd,
                    max_prefix=MAX_PREFIXES,
                    # VNet prefixes reach on-prem with AS path "12076" only: 65515 is stripped.
                    remove_private_as=True,
                )
            )
            ce.bgp.neighbors.append(
                Neighbor(
                    msee_ip,
                    er.msee_asn,
                    msee.name,
                    "er",
                    self.t.er_keepalive,
                    self.t.er_hold,
                    bfd=er.bfd,
                    local_preference=er.local_preference,
                    own_routes_only=True,
                )
            )
            self._site_uplink(core, ce)


def vm_subnet(lab: LabFile) -> IPv4Network:
    """First /24 (or the address space itself if smaller) clear of the GatewaySubnet."""
    gws = lab.vnet.gateway_subnet
    for space in lab.vnet.address_space:
        size = max(space.prefixlen, 24)
        for candidate in space.subnets(new_prefix=size):
            if not candidate.overlaps(gws):
                return candidate
    raise ValueError("no room for the VM subnet")
