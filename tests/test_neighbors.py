"""lab.topology.neighbors on the built-in labs: what each side of a link pins, and what it must not."""

from __future__ import annotations

import pytest

from lab.topology import Topology
from tests.resolved import GOLDEN_LABS, golden_lab


@pytest.fixture(params=GOLDEN_LABS)
def topo(request: pytest.FixtureRequest) -> Topology:
    return golden_lab(request.param)


def test_every_point_to_point_peer_is_pinned_at_its_mac(topo: Topology) -> None:
    for node in topo.nodes.values():
        pinned = {(n.address, n.dev): n.mac for n in node.neighbors}
        for iface in node.interfaces:
            if iface.kind != "veth" or iface.bridge or iface.peer_node is None or iface.peer_ifname is None:
                continue
            peer_if = topo.nodes[iface.peer_node].interface(iface.peer_ifname)
            if peer_if.bridge:
                continue
            for addr in peer_if.addresses:
                assert pinned.get((addr.ip, iface.name)) == peer_if.mac, (node.name, iface.name, addr)


def test_addresses_that_move_are_never_pinned(topo: Topology) -> None:
    """An active/standby pair's shared addresses change MAC at a takeover: ARP must find them (through an
    IPsec endpoint's veth the MAC is the endpoint's, which answers for them by proxy, and stays)."""
    shared = {a.ip for n in topo.nodes.values() for i in n.interfaces for a in i.shared_addresses}
    for node in topo.nodes.values():
        veths = {i.name for i in node.interfaces if i.kind == "veth"}
        assert all(n.address not in shared for n in node.neighbors if n.dev in veths), node.name


def test_macs_are_unique_on_every_switch_and_node(topo: Topology) -> None:
    for node in topo.nodes.values():
        macs = [i.mac for i in node.interfaces if i.mac and i.kind != "vxlan"]
        assert len(macs) == len(set(macs)), node.name
    members: dict[str, list[str]] = {}
    for node in topo.nodes.values():
        for iface in node.interfaces:
            if iface.kind == "veth" and iface.peer_node and iface.peer_ifname:
                peer_if = topo.nodes[iface.peer_node].interface(iface.peer_ifname)
                if peer_if.bridge and iface.mac:
                    members.setdefault(f"{iface.peer_node}/{peer_if.bridge}", []).append(iface.mac)
    assert members
    assert all(len(m) == len(set(m)) for m in members.values())


def test_each_ipsec_endpoint_pins_its_router_on_both_veths(topo: Topology) -> None:
    ends = [e for t in topo.tunnels if t.device_end is not None for e in t.ends()]
    for end in ends:
        router = topo.nodes[end.node]
        devs = {n.dev for n in end.neighbors}
        through = {r.prefix.network_address for r in router.routes if r.dev == end.vti}
        bgp_over_it = router.bgp is not None and any(n.address in through for n in router.bgp.neighbors)
        assert devs == ({"eth0", "r0"} if bgp_over_it else {"eth0"}), end.endpoint
        assert any(n.dev == end.wan_if and n.address == end.endpoint_address for n in router.neighbors)
