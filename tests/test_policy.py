"""On-prem routing policy (issue 12 item 2): AS-path prepending per device and per tunnel, local-preference
per device, summaries towards Azure, a device with chosen tunnels; as the builder renders it, as the oracle
predicts it, and, for the routing-policy lab, as FRR does it (the lab converges to the prediction).
"""

from __future__ import annotations

import copy
from ipaddress import IPv4Network
from typing import Any

import pytest
import yaml

from controller.converge import up
from controller.oracle import Failures, predict
from lab.paths import builtin_topologies
from lab.render import render_all
from lab.runtime.lifecycle import down
from lab.runtime.state import RUN_ROOT
from lab.topology import BLACKHOLE, Topology
from tests.helpers import ROUTING_POLICY, require_root, topology_of
from tests.labs import leftovers, unique

DUAL: dict[str, Any] = yaml.safe_load(builtin_topologies()["dual-redundancy"].read_text(encoding="utf-8"))
SITE = IPv4Network("192.168.10.0/24")
VNET = IPv4Network("10.1.0.0/16")


def dual(**device0: Any) -> Topology:
    data = copy.deepcopy(DUAL)
    data["onprem"]["sites"][0]["devices"][0].update(device0)
    return topology_of(data, "dual")


def senders(topo: Topology, node: str, prefix: IPv4Network, failures: Failures | None = None) -> list[str]:
    return sorted(r.peer for r in predict(topo, failures).best[node].get(prefix, []))


def test_without_policy_azure_uses_both_devices() -> None:
    topo = dual()
    assert senders(topo, "gw0", SITE) == ["s1-vpn0", "s1-vpn1"]
    assert senders(topo, "s1-core", VNET) == ["s1-vpn0", "s1-vpn1"]


def test_prepending_on_a_device_moves_azure_to_the_other_device() -> None:
    topo = dual(as_path_prepend=2)
    for gw in ("gw0", "gw1"):
        assert senders(topo, gw, SITE) == ["s1-vpn1"]
    best = predict(topo).best["vnet"][SITE]
    assert {r.peer for r in best} == {"gw0", "gw1"}  # the VNet still spreads over both instances
    # the prepended path is the backup: with vpn1 gone Azure takes it again
    assert senders(topo, "gw0", SITE, Failures(nodes={"s1-vpn1"})) == ["s1-vpn0"]
    lost = predict(topo, Failures(nodes={"s1-vpn1"})).best["gw0"][SITE][0]
    assert lost.as_path == (65010, 65010, 65010)


def test_a_tunnel_prepends_on_its_own_over_the_device() -> None:
    topo = dual(as_path_prepend=2, tunnels=["gw0", {"instance": "gw1", "as_path_prepend": 0}])
    assert senders(topo, "gw0", SITE) == ["s1-vpn1"]
    assert senders(topo, "gw1", SITE) == ["s1-vpn0", "s1-vpn1"]
    conf = render_all(topo)["s1-vpn0/frr.conf"]
    assert " set as-path prepend 65010 65010\n" in conf
    assert conf.count("route-map OWN-ROUTES-PREPEND-2-OUT out") == 1
    assert conf.count("route-map OWN-ROUTES-OUT out") == 1


def test_local_preference_on_a_device_moves_on_prem_to_it() -> None:
    topo = dual(local_preference=200)
    assert senders(topo, "s1-core", VNET) == ["s1-vpn0"]
    # the other device keeps exiting through its own tunnels (the core sends VPN devices only the site's
    # prefixes), so it keeps advertising them: the core holds it as the backup of the preferred one
    assert senders(topo, "s1-vpn1", VNET) == ["gw0", "gw1"]
    assert senders(topo, "gw0", SITE) == ["s1-vpn0", "s1-vpn1"]  # Azure's direction is untouched
    assert "route-map LP-200-IN in" in render_all(topo)["s1-vpn0/frr.conf"]


def test_a_device_with_one_tunnel_builds_one() -> None:
    topo = dual(tunnels=["gw1"])
    assert sorted((t.device, t.gateway) for t in topo.tunnels) == [
        ("s1-vpn0", "gw1"),
        ("s1-vpn1", "gw0"),
        ("s1-vpn1", "gw1"),
    ]
    assert senders(topo, "gw0", SITE) == ["s1-vpn1"]
    assert not any(i.name == "t-s1-vpn0" for i in topo.nodes["gw0"].interfaces)


def test_summaries_replace_the_prefixes_towards_azure_only() -> None:
    topo = topology_of(ROUTING_POLICY, "routing-policy")
    pred = predict(topo)
    summary = IPv4Network("192.168.10.0/23")
    specifics = [IPv4Network("192.168.10.0/24"), IPv4Network("192.168.11.0/24")]
    for node in ("gw0", "gw1"):
        assert summary in pred.best[node] and not any(p in pred.best[node] for p in specifics), node
    # ExpressRoute still carries the prefixes: the VNet routes them there, the summary over VPN
    assert all(p in pred.best["ergw"] for p in specifics) and summary not in pred.best["ergw"]
    assert {r.peer for r in pred.best["vnet"][specifics[0]]} == {"ergw"}
    assert {r.peer for r in pred.best["vnet"][summary]} == {"gw0", "gw1"}
    # the devices drop what the summary covers and nothing more specific does; the core never sees it
    for device in ("s1-vpn0", "s1-vpn1"):
        assert pred.fib[device][summary].next_hops == frozenset({(None, BLACKHOLE)})
    assert summary not in pred.best["s1-core"]
    # another site hears the summary through Azure (transit), not the prefixes
    assert summary in pred.best["s2-core"] and specifics[0] not in pred.best["s2-core"]


def test_a_summary_goes_when_nothing_it_covers_is_left() -> None:
    topo = topology_of(ROUTING_POLICY, "routing-policy")
    summary = IPv4Network("192.168.10.0/23")
    pred = predict(topo, Failures(nodes={"s1-core"}))
    assert summary not in pred.best["s1-vpn0"] and summary not in pred.best["gw0"]


@pytest.mark.root
@pytest.mark.slow
def test_routing_policy_lab_converges_to_the_prediction() -> None:
    """FRR does what the oracle says of every policy at once: `up` returns only when every FIB (the
    blackhole summaries on the devices included) and session matches the prediction."""
    require_root()
    name = unique("tpol")
    RUN_ROOT.mkdir(parents=True, exist_ok=True)
    path = RUN_ROOT / f"{name}.lab.yaml"
    path.write_text(yaml.safe_dump(ROUTING_POLICY), encoding="utf-8")
    try:
        result = up(str(path), name=name)
        assert result.prediction.paths["azure->s2"] == ["gw1"]
    finally:
        down(name)
        path.unlink(missing_ok=True)
    assert leftovers(name) == []


def test_a_device_advertises_only_what_its_filter_lets_through() -> None:
    topo = topology_of(ROUTING_POLICY, "routing-policy")
    best = predict(topo).best
    kept, withheld = IPv4Network("192.168.20.0/24"), IPv4Network("192.168.21.0/24")
    assert kept in best["gw1"] and withheld not in best["gw1"] and withheld not in best["vnet"]
    assert withheld in best["s2-vpn0"]  # the device has it from its core: the filter is towards Azure only
    conf = render_all(topo)["s2-vpn0/frr.conf"]
    assert "ip prefix-list TO-AZURE seq 5 permit 192.168.20.0/24\n" in conf
    assert "prefix-list TO-AZURE out" in conf
