"""The state one build shares between its feature builders, and the helpers they all use: nodes,
veths, routers, iBGP and speaker sessions."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from typing import Literal

from lab.model import LabFile
from lab.profiles import Timing
from lab.topology.addressing import Allocator, derived_public_ips, gateway_apipa_ips, gateway_bgp_ips, veth_mac
from lab.topology.constants import FLOOD_IP, FLOOD_PORT, ROUTER_LO_IP, SPEAKER_IP, SPEAKER_PORT, VXLAN_BASE_VNI
from lab.topology.naming import INTERNET, LOOPBACK, VNET, device_node_names, er_site_index, gateway_names
from lab.topology.types import Bgp, Interface, Link, Neighbor, Node, P2s, Role, Speaker, Tunnel


class Build:
    def __init__(self, lab: LabFile, timing: Timing) -> None:
        self.lab = lab
        self.t = timing
        self.alloc = Allocator(lab)
        self.nodes: dict[str, Node] = {}
        self.links: list[Link] = []
        self.tunnels: list[Tunnel] = []
        gw = lab.vpn_gateway
        self.bgp_on = gw.bgp and gw.type == "route-based"
        self.active_standby = gw.mode == "active-standby"
        self.gw_names = gateway_names(lab)
        self.device_names = device_node_names(lab)
        self.gw_public, self.device_public = derived_public_ips(lab)
        self.gw_bgp_ips = gateway_bgp_ips(lab, self.gw_public)
        self.gw_apipa_ips = gateway_apipa_ips(lab)
        self.er_index = er_site_index(lab)
        self.gateways: list[Node] = []  # in instance order
        self.cores: list[Node] = []  # in site order
        self.p2s: P2s | None = None
        self._vni = VXLAN_BASE_VNI

    @property
    def internet(self) -> Node:
        return self.nodes[INTERNET]

    @property
    def vnet_router(self) -> Node:
        return self.nodes[VNET]

    @property
    def vni(self) -> int:
        """The VNI of the tunnel being built (every instance's end of it shares the device's)."""
        return self._vni

    def next_vni(self) -> int:
        self._vni += 1
        return self._vni

    def shared_index(self, instance: int) -> int:
        """Which of the gateway's public/BGP/APIPA addresses an instance holds: active/standby has one."""
        return 0 if self.active_standby else instance

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
        a.interfaces.append(
            Interface(
                an, "veth", [a_addr] if a_addr else [], peer_node=b.name, peer_ifname=bn, mac=veth_mac(a.name, an)
            )
        )
        b.interfaces.append(
            Interface(
                bn,
                "veth",
                [b_addr] if b_addr else [],
                peer_node=a.name,
                peer_ifname=an,
                bridge=b_bridge,
                mac=veth_mac(b.name, bn),
            )
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
        node.interfaces.append(Interface(LOOPBACK, "loopback", [IPv4Interface(f"{lo}/32")]))
        node.bgp = Bgp(asn, lo, connect_retry=self.t.connect_retry)
        return self.add(node)

    def ibgp(
        self,
        address: IPv4Address,
        peer: str,
        update_source: IPv4Address | None,
        nhs: bool = False,
        weight: int | None = None,
        rr_client: bool = False,
    ) -> Neighbor:
        """A session inside the node's AS (remote AS filled in by the builder once every node exists)."""
        return Neighbor(
            address,
            0,
            peer,
            "ibgp",
            self.t.keepalive,
            self.t.hold,
            update_source=update_source,
            next_hop_self=nhs,
            weight=weight,
            rr_client=rr_client,
        )

    def speaker_neighbor(self, rr_client: bool = False, flood: bool = False) -> Neighbor:
        """The session to the node's own ExaBGP speaker (or to its flood speaker, idle until the
        prefix-flood failure): the speaker listens on lo, bgpd connects to it from ROUTER_LO_IP."""
        kind: Literal["speaker", "flood"] = "flood" if flood else "speaker"
        address, port = (FLOOD_IP, FLOOD_PORT) if flood else (SPEAKER_IP, SPEAKER_PORT)
        return Neighbor(
            address,
            0,
            "speaker",
            kind,
            self.t.keepalive,
            self.t.hold,
            update_source=ROUTER_LO_IP,
            rr_client=rr_client,
            port=port,
        )

    def speaker(self, node: Node, routes: list[tuple[IPv4Network, IPv4Address]]) -> Speaker:
        assert node.bgp is not None
        node.interface(LOOPBACK).addresses += [IPv4Interface(f"{ROUTER_LO_IP}/32"), IPv4Interface(f"{SPEAKER_IP}/32")]
        # Its own BGP identifier: an iBGP peer with the router's identifier is refused (Bad BGP Identifier).
        return Speaker(node.bgp.asn, SPEAKER_IP, SPEAKER_IP, ROUTER_LO_IP, routes)
