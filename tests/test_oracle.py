"""The oracle, pure: for each Azure pattern, the paths, ECMP sets and sessions it must predict."""

from __future__ import annotations

from ipaddress import IPv4Network
from typing import Any

import pytest

from controller.oracle import Failures, Prediction, predict
from lab.load import load
from lab.topology import MAX_PREFIXES, SPEAKER_IP
from tests.helpers import topology_of

VNET = IPv4Network("10.1.0.0/16")
SITE = IPv4Network("192.168.10.0/24")


def base(**extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "vnet": {"address_space": ["10.1.0.0/16"], "gateway_subnet": "10.1.255.0/27"},
        "vpn_gateway": {"mode": "active-active"},
        "onprem": {
            "sites": [
                {
                    "name": "s1",
                    "asn": 65010,
                    "prefixes": ["192.168.10.0/24"],
                    "devices": [{"name": "vpn0"}, {"name": "vpn1"}],
                }
            ]
        },
    }
    data.update(extra)
    return data


def peers(pred: Prediction, node: str, prefix: IPv4Network) -> set[str]:
    return {r.peer for r in pred.best[node][prefix]}


def test_expressroute_is_preferred_both_ways() -> None:
    pred = predict(load("hybrid"))
    assert pred.paths == {"s1->azure": ["msee0", "msee1"], "azure->s1": ["msee0", "msee1"]}
    assert peers(pred, "vnet", SITE) == {"ergw"}  # weight 32769 beats 32768
    assert {r.local_pref for r in pred.best["s1-core"][VNET]} == {200}


def test_vpn_devices_exit_through_their_tunnels_while_the_site_prefers_expressroute() -> None:
    # The core sends them only the site's own prefixes: the ExpressRoute routes never hide their paths.
    pred = predict(load("hybrid"))
    assert peers(pred, "s1-core", VNET) == {"s1-ce0", "s1-ce1"}
    for device in ("s1-vpn0", "s1-vpn1"):
        assert peers(pred, device, VNET) == {"gw0", "gw1"}
        assert peers(pred, device, SITE) == {"s1-core"}


def test_vpn_ecmp_across_instances_and_tunnels() -> None:
    pred = predict(load("dual-redundancy"))
    assert pred.paths == {"s1->azure": ["gw0", "gw1"], "azure->s1": ["gw0", "gw1"]}
    assert peers(pred, "vnet", SITE) == {"gw0", "gw1"}
    assert peers(pred, "gw0", SITE) == {"s1-vpn0", "s1-vpn1"}  # ECMP across tunnels
    assert peers(pred, "s1-vpn0", VNET) == {"gw0", "gw1"}
    assert len(pred.fib["s1-core"][VNET].next_hops) == 2


def test_azure_routes_reach_onprem_with_as_path_12076_over_expressroute_and_65515_over_vpn() -> None:
    pred = predict(load("hybrid"))
    assert {r.as_path for r in pred.best["s1-ce0"][VNET]} == {(12076,)}
    vpn = predict(load("dual-redundancy"))
    assert {r.as_path for r in vpn.best["s1-vpn0"][VNET]} == {(65515,)}


def test_expressroute_lost_traffic_moves_to_vpn() -> None:
    topo = load("hybrid")
    pred = predict(topo, Failures(links={"s1-ce0~msee0", "s1-ce1~msee1"}))
    assert pred.paths == {"s1->azure": ["gw0", "gw1"], "azure->s1": ["gw0", "gw1"]}


def test_one_expressroute_link_lost_the_other_carries_everything() -> None:
    pred = predict(load("hybrid"), Failures(links={"s1-ce0~msee0"}))
    assert pred.paths == {"s1->azure": ["msee1"], "azure->s1": ["msee1"]}
    assert not pred.sessions[
        (
            "msee0",
            next(
                n.address
                for n in load("hybrid").nodes["msee0"].bgp.neighbors  # type: ignore[union-attr]
                if n.peer == "s1-ce0"
            ),
        )
    ]


def test_active_active_instance_lost_the_other_carries_everything() -> None:
    pred = predict(load("active-active"), Failures(nodes={"gw0"}))
    assert pred.paths == {"s1->azure": ["gw1"], "azure->s1": ["gw1"]}


def test_active_standby_standby_holds_nothing_until_takeover() -> None:
    topo = load("active-standby")
    before = predict(topo)
    assert before.paths == {"s1->azure": ["gw0"], "azure->s1": ["gw0"]}
    # the standby's only session is to its own speaker: no public or BGP IP to peer from
    assert [a for (node, a), up in before.sessions.items() if node == "gw1" and up] == [SPEAKER_IP]
    lost = predict(topo, Failures(nodes={"gw0"}))
    assert lost.paths == {"s1->azure": [], "azure->s1": []}, "before the platform moves the IPs: no path"
    taken = predict(topo, Failures(nodes={"gw0"}, standby_active=True))
    assert taken.paths == {"s1->azure": ["gw1"], "azure->s1": ["gw1"]}


def test_zone_loss_takes_the_instances_in_that_zone() -> None:
    topo = load("zone-redundant")
    in_zone1 = {n.name for n in topo.by_role("gateway") if n.zone == 1}
    assert in_zone1 == {"gw0"}
    assert predict(topo, Failures(nodes=in_zone1)).paths == {"s1->azure": ["gw1"], "azure->s1": ["gw1"]}


def test_prefix_flood_drops_every_azure_session_of_the_site() -> None:
    topo = load("hybrid")
    pred = predict(topo, Failures(flooded={"s1"}))
    assert pred.paths == {"s1->azure": [], "azure->s1": []}
    limited = [
        (node.name, n.address)
        for node in topo.routers()
        for n in node.bgp.neighbors  # type: ignore[union-attr]
        if n.max_prefix == MAX_PREFIXES
    ]
    assert limited and not any(pred.sessions[k] for k in limited)
    assert len(pred.fib["s1-core"]) > MAX_PREFIXES  # the flood itself is inside the site


def test_missing_local_preference_on_prem_routes_asymmetrically() -> None:
    data = base(expressroute={"site": "s1", "local_preference": 100})
    pred = predict(topology_of(data))
    assert pred.paths["azure->s1"] == ["msee0", "msee1"]  # the VNet still prefers ExpressRoute
    assert pred.paths["s1->azure"] == ["gw0", "gw1"]  # on-prem: equal length, VPN wins the tie-break


def test_a_tunnel_down_leaves_the_other_three() -> None:
    pred = predict(load("dual-redundancy"), Failures(tunnels={"s1-vpn0~gw0"}))
    assert peers(pred, "gw0", SITE) == {"s1-vpn1"}
    assert peers(pred, "s1-vpn0", VNET) == {"gw1"}
    assert pred.paths == {"s1->azure": ["gw0", "gw1"], "azure->s1": ["gw0", "gw1"]}


def test_uplink_loss_kills_both_tunnels_of_that_device() -> None:
    pred = predict(load("dual-redundancy"), Failures(links={"s1-vpn0~inet"}))
    assert peers(pred, "gw0", SITE) == peers(pred, "gw1", SITE) == {"s1-vpn1"}


def test_sites_transit_through_the_vpn_gateway_with_a_longer_as_path() -> None:
    data = base()
    data["onprem"]["sites"].append({"name": "s2", "asn": 65020, "prefixes": ["192.168.20.0/24"]})
    pred = predict(topology_of(data))
    s2 = IPv4Network("192.168.20.0/24")
    assert {r.as_path for r in pred.best["s1-vpn0"][s2]} == {(65515, 65020)}


def test_expressroute_is_never_a_transit_for_vpn_routes() -> None:
    data = base(expressroute={"site": "s1"})
    data["onprem"]["sites"].append({"name": "s2", "asn": 65020, "prefixes": ["192.168.20.0/24"]})
    pred = predict(topology_of(data))
    s2 = IPv4Network("192.168.20.0/24")
    assert s2 not in pred.best["ergw"], "the ExpressRoute gateway learned a VPN site's prefix"
    assert s2 not in pred.best["msee0"], "on-prem passed a VPN-learned prefix to Microsoft"


def test_a_prefix_identical_to_the_vnet_is_dropped_on_receive() -> None:
    topo = load("hybrid")
    gw0 = topo.nodes["gw0"]
    assert gw0.bgp is not None
    inbound = gw0.bgp.prefix_lists["AZURE-IN"]
    assert inbound[0].action == "deny" and inbound[0].prefix == VNET
    pred = predict(topo)
    assert all(r.peer == "speaker" for r in pred.best["gw0"][VNET]), "a VNet prefix learned from on-prem"


@pytest.mark.parametrize(
    "name", ["active-standby", "active-active", "dual-redundancy", "er-vpn", "zone-redundant", "hybrid"]
)
def test_every_builtin_has_a_path_both_ways_and_every_session_up(name: str) -> None:
    topo = load(name)
    pred = predict(topo)
    assert all(pred.paths.values()), pred.paths
    standby = {n.name for n in topo.nodes.values() if n.standby}
    down = [k for k, up in pred.sessions.items() if not up and k[0] not in standby]
    flood = [(n.name, x.address) for n in topo.routers() for x in n.bgp.neighbors if x.kind == "flood"]  # type: ignore[union-attr]
    assert sorted(down) == sorted(flood)
