"""Permanent neighbour entries for every link peer the lab knows: its address and its MAC.

Why: the kernel's IPv4 neighbour table is one for all network namespaces, and it refuses new entries
made by ARP past `net.ipv4.neigh.default.gc_thresh3` (1,024 by default, a host setting gwlab leaves
alone): at 50 IPsec sites the lab's namespaces held 1,027 and the kernel dropped packets ("neighbor
table overflow"), until BGP's hold timers expired over tunnels that were up. Permanent entries do not
count towards that limit. Each veth end gets a fixed MAC derived from its node and name, so both ends
of a link are known before it exists; each side gets an entry for the addresses the other holds on
it. On a switch (a bridge), its members get one for the bridge's own addresses and the bridge's node
one for each member's: members still ARP for each other, which the lab's routing never needs.

Not made permanent: the addresses an active/standby pair moves between its instances (the standby
announces them by ARP when it takes over), and what lies behind a router (ARP for those, answered by
proxy, stays dynamic and few).
"""

from __future__ import annotations

from ipaddress import IPv4Address

from lab.topology.addressing import bridge_mac, veth_mac
from lab.topology.naming import ENDPOINT_VTI, ENDPOINT_WAN
from lab.topology.types import Interface, Node, StaticNeighbor, TunnelEnd


def _own(iface: Interface) -> list[IPv4Address]:
    return [a.ip for a in iface.addresses]


def _pin(node: Node, entries: list[StaticNeighbor]) -> None:
    """Add `entries` to the node's permanent neighbours, one per (address, device)."""
    known = {(n.address, n.dev) for n in node.neighbors}
    for n in entries:
        if (n.address, n.dev) not in known:
            known.add((n.address, n.dev))
            node.neighbors.append(n)


def _veth_peers(nodes: dict[str, Node], node: Node) -> list[StaticNeighbor]:
    """What `node` pins for its veths: the far end's addresses on a point-to-point link, the switch's
    own addresses for a member of it, each member's addresses for the switch's node."""
    out: list[StaticNeighbor] = []
    for iface in node.interfaces:
        if iface.kind != "veth" or iface.peer_node is None or iface.peer_ifname is None:
            continue
        peer = nodes[iface.peer_node]
        peer_if = peer.interface(iface.peer_ifname)
        if peer_if.bridge is not None:  # we are on the switch `peer_if.bridge` of node `peer`
            bridge = peer.interface(peer_if.bridge)
            out += [StaticNeighbor(a, bridge_mac(bridge.name), iface.name) for a in _own(bridge)]
        else:  # the member `peer` on our switch, or the far end of a point-to-point link
            dev = iface.bridge if iface.bridge is not None else iface.name
            out += [StaticNeighbor(a, veth_mac(peer.name, peer_if.name), dev) for a in _own(peer_if)]
    return out


def _through_vti(router: Node, end: TunnelEnd) -> list[IPv4Address]:
    """The far side's BGP IP (and the device's own, over APIPA): a /32 the router routes into the VTI."""
    return [
        r.prefix.network_address
        for r in router.routes
        if r.dev == end.vti and r.prefix.prefixlen == 32 and r.via is None
    ]


def add_link_neighbors(nodes: dict[str, Node], ends: list[TunnelEnd]) -> None:
    """Every node's permanent entries for its veth peers and its IPsec endpoints, and each endpoint's
    (after the build: some addresses are given after the link is made)."""
    for node in nodes.values():
        _pin(node, _veth_peers(nodes, node))
    for end in ends:
        router = nodes[end.node]
        end.neighbors = endpoint_neighbors(router, end)
        vti_mac = veth_mac(end.endpoint, ENDPOINT_VTI)
        _pin(router, [StaticNeighbor(end.endpoint_address, veth_mac(end.endpoint, ENDPOINT_WAN), end.wan_if)])
        _pin(router, [StaticNeighbor(a, vti_mac, end.vti) for a in _through_vti(router, end)])


def endpoint_neighbors(router: Node, end: TunnelEnd) -> list[StaticNeighbor]:
    """The endpoint namespace's permanent entries: its WAN gateway (the router's NAT side) and, on its
    VTI side, the router's addresses that BGP over this tunnel speaks from."""
    vti_mac = veth_mac(router.name, end.vti)
    out = [StaticNeighbor(end.router_address, veth_mac(router.name, end.wan_if), ENDPOINT_WAN)]
    through = set(_through_vti(router, end))
    sources = sorted(
        {
            n.update_source
            for n in (router.bgp.neighbors if router.bgp else [])
            if n.address in through and n.update_source
        }
    )
    out += [StaticNeighbor(s, vti_mac, ENDPOINT_VTI) for s in sources]
    return out
