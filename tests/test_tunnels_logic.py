"""Tunnel kinds without bringing a lab up: the model's keys, the topology of IPsec ends, policy-based
selectors, point-to-site placement, the oracle's tunnel and P2S predictions, failure targets and their
detection, rendering without keys, and the strongSwan checks."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network
from pathlib import Path
from typing import Any

import pytest
import yaml

from controller.failures.base import silent_tunnel_detection
from controller.failures.ipsec import IpsecSelectorTunnelFailure, IpsecTunnelFailure, wrong_selectors
from controller.failures.link import TunnelFailure
from controller.oracle import Failures, predict
from lab.errors import GwlabError, LabError
from lab.ipsec import dpd
from lab.load import load
from lab.profiles import PROFILES
from lab.render import render_all
from lab.runtime.ipsec import charon
from tests.helpers import BUILTINS, REPO, builtin_with, topology_of

ERRORS = REPO / "tests" / "errors"


def builtin_data(name: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((REPO / "lab" / "topologies" / f"{name}.yaml").read_text())
    return data


# -- keys -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", ["psk-too-short", "psk-not-printable", "psk-not-text"])
def test_a_bad_key_is_never_repeated(case: str) -> None:
    given = str(yaml.safe_load((ERRORS / f"{case}.yaml").read_text())["onprem"]["sites"][0]["devices"][0]["psk"])
    with pytest.raises(LabError) as err:
        load(str(ERRORS / f"{case}.yaml"))
    assert all(given not in line for line in err.value.lines()), err.value.lines()


def test_a_given_key_is_hidden_in_the_model_and_absent_from_the_topology() -> None:
    key = "Azure-Lab-Key-0123456789"
    data = builtin_data("active-active")
    data["onprem"]["sites"][0]["devices"] = [{"psk": key}]
    topo = topology_of(data)
    device = topo.lab.onprem.sites[0].devices[0]
    assert device.psk is not None and device.psk.get_secret_value() == key
    assert key not in repr(topo.lab) and key not in topo.lab.model_dump_json() and key not in repr(topo.tunnels)
    assert all(t.ipsec is not None and t.ipsec.psk_given for t in topo.tunnels)
    assert all(key not in text for text in render_all(topo).values())


def test_rendering_leaves_every_private_file_out() -> None:
    for name in BUILTINS:
        files = render_all(load(name))
        ipsec = [rel for rel in files if rel.startswith("ipsec/")]
        assert ipsec and not [rel for rel in ipsec if "secrets.conf" in rel or "/private/" in rel]


# -- topology ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", BUILTINS)
def test_builtins_default_to_ipsec_with_an_endpoint_per_tunnel_end(name: str) -> None:
    topo = load(name)
    assert topo.tunnels and all(t.kind == "ipsec" for t in topo.tunnels)
    ends = [e for _, e in topo.tunnel_ends()] + (topo.p2s.ends if topo.p2s else [])
    assert len({e.endpoint for e in ends}) == len(ends)
    wans = [e.wan for e in ends]
    assert len(set(wans)) == len(wans) and all(
        w.prefixlen == 30 and w.subnet_of(topo.lab.pools.tunnel_endpoints) for w in wans
    )
    for e in ends:
        router = topo.nodes[e.node]
        assert router.interface(e.vti).kind == "vti" and router.interface(e.vti).mtu == 1400
        assert router.interface(e.wan_if).addresses[0].ip == e.router_address
    for node in topo.routers():
        assert node.bgp is not None
        assert all(n.multihop == 3 for n in node.bgp.neighbors if n.kind == "vpn")  # two endpoints forward


def test_vxlan_is_kept_as_it_was() -> None:
    topo = builtin_with("hybrid", tunnels={"kind": "vxlan"})
    assert {t.kind for t in topo.tunnels} == {"vxlan"} and not topo.tunnel_ends()
    assert all(i.kind != "vti" for n in topo.nodes.values() for i in n.interfaces)
    assert predict(topo).paths == predict(load("hybrid")).paths


def test_route_based_is_ikev2_0_0_and_policy_based_ikev1_with_the_prefixes() -> None:
    route = load("hybrid").tunnels[0].ipsec
    assert route is not None and (route.version, route.azure_ts, route.onprem_ts) == (2, [], [])
    policy = load("policy-based").tunnels[0].ipsec
    assert policy is not None and policy.version == 1
    assert policy.azure_ts == [IPv4Network("10.1.0.0/16")]
    assert policy.onprem_ts == [IPv4Network("192.168.10.0/24"), IPv4Network("192.168.11.0/24")]
    swanctl = render_all(load("policy-based"))["ipsec/gw0.s1-vpn0/swanctl/swanctl.conf"]
    assert "version = 1" in swanctl and swanctl.count("local_ts = 10.1.0.0/16") == 2  # one child per pair
    data = builtin_data("active-active")
    data["vpn_gateway"]["bgp"] = False
    data["onprem"]["sites"][0]["devices"] = [{"use_policy_based_traffic_selectors": True}]
    selectors = topology_of(data).tunnels[0].ipsec
    assert selectors is not None and (selectors.version, selectors.onprem_ts) == (2, [IPv4Network("192.168.10.0/24")])


def test_dpd_follows_the_profile_and_the_connection() -> None:
    fast = load("active-active").tunnels[0].ipsec
    assert fast is not None and fast.dpd.detection_s() == pytest.approx(PROFILES["fast"].dpd_s)
    data = builtin_data("active-active")
    data["profile"] = "realistic"
    data["onprem"]["sites"][0]["devices"] = [{"dpd_timeout_s": 30}]
    own = topology_of(data).tunnels[0].ipsec
    assert own is not None and own.dpd == dpd.for_target(30, 2)
    data["onprem"]["sites"][0]["devices"] = [{}]
    realistic = topology_of(data).tunnels[0].ipsec
    assert realistic is not None and realistic.dpd.detection_window() == pytest.approx((30.0, 45.0), abs=0.01)


def test_silent_tunnels_are_seen_by_dpd_when_it_is_shorter_than_the_hold_timer() -> None:
    topo = load("dual-redundancy")
    assert silent_tunnel_detection(topo, topo.tunnels).mechanism == "dpd"
    assert silent_tunnel_detection(topo, topo.tunnels).expected_ms == 2000
    vxlan = builtin_with("dual-redundancy", tunnels={"kind": "vxlan"})
    assert silent_tunnel_detection(vxlan, vxlan.tunnels).mechanism == "hold-timer"
    data = builtin_data("dual-redundancy")
    data["onprem"]["sites"][0]["devices"] = [{"name": "vpn0", "dpd_timeout_s": 9}, {"name": "vpn1"}]
    slow = topology_of(data)
    assert silent_tunnel_detection(slow, slow.tunnels).mechanism == "hold-timer"  # 9 s DPD > 3 s hold


def test_ipsec_tunnels_fail_the_ways_ike_can() -> None:
    from controller.failures import tunnel_failure

    assert tunnel_failure(load("active-active").tunnels[0]) is IpsecTunnelFailure
    assert tunnel_failure(load("policy-based").tunnels[0]) is IpsecSelectorTunnelFailure
    assert tunnel_failure(builtin_with("active-active", tunnels={"kind": "vxlan"}).tunnels[0]) is TunnelFailure
    assert "selector-mismatch" not in IpsecTunnelFailure.modes and "psk-mismatch" in IpsecTunnelFailure.modes
    wrong = wrong_selectors(load("policy-based").tunnels[0])
    assert wrong == [IPv4Network("192.168.9.0/24")]  # next to the site's prefixes, none of them


def test_the_oracle_knows_which_tunnels_carry_traffic() -> None:
    topo = load("active-standby")
    assert predict(topo).tunnels == {"s1-vpn0~gw0": True, "s1-vpn0~gw1": False}
    after = predict(topo, Failures(nodes={"gw0"}, standby_active=True))
    assert after.tunnels == {"s1-vpn0~gw0": False, "s1-vpn0~gw1": True}
    policy = load("policy-based")
    assert predict(policy, Failures(tunnels={"s1-vpn0~gw0"})).paths == {"s1->azure": [], "azure->s1": []}


# -- point-to-site ------------------------------------------------------------------------------------


def p2s_lab(mode: str, pool: str, clients: int, **extra: Any) -> dict[str, Any]:
    data = builtin_data("active-active")
    data["vpn_gateway"] = {"mode": mode, "p2s": {"address_pool": pool, "clients": clients, **extra}}
    return data


def test_p2s_clients_get_their_instance_and_a_fixed_address() -> None:
    standby = load("point-to-site")
    assert standby.p2s is not None
    assert [(c.node, str(c.public), str(c.vip)) for c in standby.p2s.clients] == [
        ("p2s0", "203.0.113.10", "172.16.201.1"),
        ("p2s1", "203.0.113.10", "172.16.201.2"),
    ]
    active = topology_of(p2s_lab("active-active", "172.16.201.0/28", 3))
    assert active.p2s is not None
    assert {k: str(v) for k, v in active.p2s.pools.items()} == {"gw0": "172.16.201.0/29", "gw1": "172.16.201.8/29"}
    assert [(str(c.public), str(c.vip)) for c in active.p2s.clients] == [
        ("203.0.113.10", "172.16.201.1"),
        ("203.0.113.11", "172.16.201.9"),
        ("203.0.113.10", "172.16.201.2"),
    ]
    vnet = active.nodes["vnet"]
    assert {(str(r.prefix), str(r.via)) for r in vnet.routes} == {
        ("172.16.201.0/29", "10.1.255.4"),
        ("172.16.201.8/29", "10.1.255.5"),
    }


def test_p2s_paths_follow_the_instance_holding_the_clients_ip() -> None:
    topo = load("point-to-site")
    assert predict(topo).p2s == {"p2s0": "gw0", "p2s1": "gw0"}
    assert predict(topo, Failures(nodes={"gw0"})).paths["p2s0->azure"] == []  # until the takeover
    after = predict(topo, Failures(nodes={"gw0"}, standby_active=True))
    assert after.p2s == {"p2s0": "gw1", "p2s1": "gw1"} and after.paths["azure->p2s1"] == ["gw1"]


def test_p2s_pool_is_advertised_to_onprem_only_when_switched_on() -> None:
    pool = IPv4Network("172.16.201.0/29")
    off = predict(load("point-to-site"))
    assert pool not in off.fib["s1-vpn0"]
    data = builtin_data("point-to-site")
    data["vpn_gateway"]["p2s"]["advertise_to_onprem"] = True
    on = predict(topology_of(data))
    assert pool in on.fib["s1-vpn0"] and pool not in on.fib["gw0"]  # the gateway's static route wins


# -- strongSwan on this host ---------------------------------------------------------------------------


def test_an_enforced_apparmor_profile_is_refused_in_one_line(tmp_path: Path) -> None:
    profiles = tmp_path / "profiles"
    profiles.write_text(f"{charon.CHARON} (enforce)\n/usr/sbin/tcpdump (enforce)\n", encoding="utf-8")
    if not charon.CHARON.exists():
        pytest.skip("strongSwan not installed")
    with pytest.raises(GwlabError, match="aa-complain") as err:
        charon.check_strongswan(profiles)
    assert "\n" not in str(err.value)
    profiles.write_text(f"{charon.CHARON} (complain)\n", encoding="utf-8")
    charon.check_strongswan(profiles)


def test_p2s_addresses_are_clear_of_the_endpoints() -> None:
    topo = load("point-to-site")
    assert topo.p2s is not None
    for c in topo.p2s.clients:
        assert not any(c.vip in e.wan for e in topo.p2s.ends) and c.vip != IPv4Address("172.16.201.0")
