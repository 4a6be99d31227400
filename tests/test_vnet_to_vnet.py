"""VNet-to-VNet, pure: the model, the topology, the oracle's transit (and its absence without BGP), the
probe directions and the path marks of the tunnels between VNets. The real lab: tests/test_scenarios.py
(v2v-transit, v2v-no-bgp)."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network
from typing import Any

import yaml

from controller.analysis import elements
from controller.attribution import build_codebook, crosses
from controller.failures import targets
from controller.oracle import Failures, predict
from controller.probes import plan
from lab.load import load
from lab.paths import builtin_topologies
from lab.topology import Topology
from tests.helpers import topology_of

V1, V2, SITE = IPv4Network("10.1.0.0/16"), IPv4Network("10.2.0.0/16"), IPv4Network("192.168.10.0/24")
ALL = ["gw0", "gw1", "v2-gw0", "v2-gw1"]


def lab_data() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(builtin_topologies()["vnet-to-vnet"].read_text(encoding="utf-8"))
    return data


def with_connection(**conn: Any) -> Topology:
    data = lab_data()
    data["remote_vnets"][0]["connections"] = [{"vnet": "azure", **conn}]
    return topology_of(data, "v2v")


def test_a_file_without_remote_vnets_is_the_one_vnet_lab() -> None:
    topo = load("active-active")
    assert topo.lab.remote_vnets == [] and not any(t.between_vnets for t in topo.tunnels)
    assert not any(n.vnet for n in topo.nodes.values())


def test_four_tunnels_between_two_active_active_gateways() -> None:
    topo = load("vnet-to-vnet")
    between = sorted(t.name for t in topo.tunnels if t.between_vnets)
    assert between == ["v2-gw0~gw0", "v2-gw0~gw1", "v2-gw1~gw0", "v2-gw1~gw1"]
    assert {n.name for n in topo.nodes.values() if n.vnet == "v2"} == {"v2-vnet", "v2-vm", "v2-gw0", "v2-gw1"}
    gw = topo.nodes["v2-gw0"]
    assert gw.bgp is not None and gw.bgp.asn == 65521
    peers = {n.peer: n.remote_as for n in gw.bgp.neighbors if n.kind == "vpn"}
    assert peers == {"gw0": 65515, "gw1": 65515}
    assert str(gw.address_on("vnet")) == "10.2.255.4"  # GatewaySubnet .4 and .5, as Azure


def test_transit_with_bgp_both_ways_with_azures_as_paths() -> None:
    pred = predict(load("vnet-to-vnet"))
    assert {r.as_path for r in pred.best["s1-vpn0"][V2]} == {(65515, 65521)}
    assert {r.as_path for r in pred.best["v2-vnet"][SITE]} == {(65515, 65010)}
    for direction in ("s1->v2", "v2->s1", "azure->v2", "v2->azure"):
        assert pred.paths[direction] == ALL, direction
    assert pred.paths["s1->azure"] == ["gw0", "gw1"]
    down = {(node, str(addr)) for (node, addr), up in pred.sessions.items() if not up}
    assert down == {("s1-core", "169.254.255.3")}  # only the idle flood speaker


def test_a_vnet_never_learns_its_own_prefix_back() -> None:
    pred = predict(load("vnet-to-vnet"))
    assert V1 not in pred.best["vnet"] or all(r.peer == "speaker" for r in pred.best["vnet"][V1])
    assert V2 not in pred.best["v2-vnet"]
    assert all(r.as_path == () for r in pred.best["v2-gw0"][V2])  # its own speaker's only


def test_without_bgp_only_the_vnets_reach_each_other() -> None:
    topo = with_connection(bgp=False)
    pred = predict(topo)
    assert pred.paths["azure->v2"] == ALL and pred.paths["v2->azure"] == ALL  # ECMP over the static routes
    assert pred.paths["s1->v2"] == [] and pred.paths["v2->s1"] == []
    assert V2 not in pred.best["s1-vpn0"] and SITE not in pred.best.get("v2-vnet", {})
    assert not any(n.kind == "vpn" and n.peer.startswith("v2-") for n in topo.nodes["gw0"].bgp.neighbors)  # type: ignore[union-attr]


def test_a_remote_instance_lost_leaves_the_other() -> None:
    pred = predict(load("vnet-to-vnet"), Failures(nodes={"v2-gw0"}))
    assert pred.paths["s1->v2"] == ["gw0", "gw1", "v2-gw1"]
    assert pred.paths["s1->azure"] == ["gw0", "gw1"]


def test_both_remote_instances_lost_cut_the_remote_vnet_only() -> None:
    pred = predict(load("vnet-to-vnet"), Failures(nodes={"v2-gw0", "v2-gw1"}))
    assert pred.paths["s1->v2"] == [] and pred.paths["azure->v2"] == []
    assert pred.paths["s1->azure"] == ["gw0", "gw1"]


def test_a_tunnel_between_vnets_down_leaves_the_other_three() -> None:
    pred = predict(load("vnet-to-vnet"), Failures(tunnels={"v2-gw0~gw0"}))
    assert not pred.tunnels["v2-gw0~gw0"] and sum(pred.tunnels.values()) == 5
    assert {r.next_hop for r in pred.best["gw0"][V2]} == {IPv4Address("10.2.255.5")}


def test_active_standby_lab_gateway_with_a_remote_vnet() -> None:
    data = lab_data()
    data["vpn_gateway"] = {"mode": "active-standby"}
    topo = topology_of(data, "v2v-as")
    # one public IP on the lab's side: each remote instance has one tunnel, served by both instances
    assert sorted(t.name for t in topo.tunnels if t.between_vnets) == [
        "v2-gw0~gw0",
        "v2-gw0~gw1",
        "v2-gw1~gw0",
        "v2-gw1~gw1",
    ]
    assert predict(topo).paths["s1->v2"] == ["gw0", "v2-gw0", "v2-gw1"]
    taken_over = predict(topo, Failures(nodes={"gw0"}, standby_active=True))
    assert taken_over.paths["s1->v2"] == ["gw1", "v2-gw0", "v2-gw1"]
    # v2-gw0's one tunnel interface serves the tunnels to both instances: only their ends mark them
    book = build_codebook(topo, (1000, 1001))
    assert {(m.element, m.label) for m in book.marks if m.label.startswith("v2-gw0~")} == {
        ("gw0", "v2-gw0~gw0"),
        ("gw1", "v2-gw0~gw1"),
    }


def test_vxlan_tunnels_between_vnets() -> None:
    data = lab_data()
    data["tunnels"] = {"kind": "vxlan"}
    topo = topology_of(data, "v2v-vx")
    assert all(t.kind == "vxlan" for t in topo.tunnels)
    assert predict(topo).paths["s1->v2"] == ALL


def test_three_vnets_in_a_chain_transit_through_the_middle() -> None:
    data = lab_data()
    data["remote_vnets"].append(
        {
            "name": "v3",
            "address_space": ["10.3.0.0/16"],
            "gateway_subnet": "10.3.255.0/27",
            "vpn_gateway": {"asn": 65522},
            "connections": [{"vnet": "v2"}],
        }
    )
    pred = predict(topology_of(data, "v2v3"))
    assert pred.paths["s1->v3"] == [*ALL, "v3-gw0", "v3-gw1"]
    assert {r.as_path for r in pred.best["s1-vpn0"][IPv4Network("10.3.0.0/16")]} == {(65515, 65521, 65522)}


def test_failure_catalogue_has_the_tunnels_and_remote_instances() -> None:
    catalogue = targets(load("vnet-to-vnet"))
    assert {"v2-gw0", "v2-gw1", "v2-gw0~gw0", "v2-gw1~gw1"} <= set(catalogue)


def test_probe_directions_between_vnets_and_sites() -> None:
    dirs = {d.name: d for d in plan(load("vnet-to-vnet"), 2)}
    assert set(dirs) == {"s1->azure", "azure->s1", "s1->v2", "v2->s1", "azure->v2", "v2->azure"}
    assert (dirs["s1->v2"].src, dirs["s1->v2"].dst, dirs["s1->v2"].dst_ip) == ("s1-host", "v2-vm", "10.2.0.4")
    assert (dirs["azure->v2"].src, dirs["azure->v2"].dst) == ("vm", "v2-vm")
    only_s1 = {d.name for d in plan(load("vnet-to-vnet"), 1, sites=["s1"])}
    assert only_s1 == {"s1->azure", "azure->s1", "s1->v2", "v2->s1"}


def test_a_tunnel_between_vnets_is_marked_once_at_both_ends_last() -> None:
    topo = load("vnet-to-vnet")
    book = build_codebook(topo, (1000, 1001))
    marks = [m for m in book.marks if m.label == "v2-gw0~gw0"]
    assert {(m.element, m.interface) for m in marks} == {("gw0", "t-v2-gw0"), ("v2-gw0", "t-gw0")}
    assert len({m.code for m in marks}) == 1
    assert [m.label for m in book.marks_of("gw0")][-2:] == ["v2-gw0~gw0", "v2-gw1~gw0"]  # after t-s1-vpn0
    assert not any(m.element == "v2-gw0" and "~" not in m.label for m in book.marks)
    assert elements("v2-gw0~gw0") == ["v2-gw0", "gw0"] and elements("gw0/t-s1-vpn0") == ["gw0"]
    assert crosses(topo, "v2-gw0~gw0", Failures(nodes={"v2-gw0"}))
    assert crosses(topo, "v2-gw0~gw0", Failures(tunnels={"v2-gw0~gw0"}))
    assert not crosses(topo, "v2-gw1~gw0", Failures(tunnels={"v2-gw0~gw0"}))
