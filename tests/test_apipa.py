"""APIPA BGP addresses in the combinations Microsoft documents: accepted, built as Azure peers them, and one
lab brought up for real, where the on-prem devices must open the sessions (Azure never initiates to APIPA).

Sources: configure-bgp.md (Azure's APIPA in 169.254.21.0-169.254.22.255, unique across devices and
gateways, on-prem initiates), vpn-gateway-howto-aws-bgp.md (the /30 pairs: AWS .1, Azure .2). The error
cases beside these are in tests/errors/apipa-*.yaml.
"""

from __future__ import annotations

from ipaddress import IPv4Address
from typing import Any

import pytest
import yaml

from controller.converge import up
from lab.runtime.frr import vtysh_json
from lab.runtime.lifecycle import down
from lab.runtime.running import attach
from lab.runtime.state import RUN_ROOT
from lab.topology import APIPA, Topology
from tests.helpers import require_root, topology_of
from tests.labs import leftovers, unique

VNET = {"address_space": ["10.1.0.0/16"], "gateway_subnet": "10.1.255.0/27"}


def lab(gateway: dict[str, Any], *devices: dict[str, Any]) -> dict[str, Any]:
    site = {"name": "s1", "asn": 65010, "prefixes": ["192.168.10.0/24"], "devices": list(devices)}
    return {"vnet": VNET, "vpn_gateway": gateway, "onprem": {"sites": [site]}}


def instances(*apipa: str | None) -> list[dict[str, str]]:
    return [{"apipa_bgp_ip": a} if a else {} for a in apipa]


AA = "active-active"
# name -> (lab, the Azure address each device peers with, per instance)
VALID: dict[str, tuple[dict[str, Any], list[list[str]]]] = {
    # configure-bgp.md, active/standby: the gateway's APIPA 169.254.21.2, the device's its /30 partner
    "standby-own": (
        lab({"instances": instances("169.254.21.2")}, {"bgp_ip": "169.254.21.1"}),
        [["169.254.21.2", "169.254.21.2"]],
    ),
    # active/standby holds one APIPA address: instance 1's default is nobody's
    "standby-default": (lab({}, {"bgp_ip": "169.254.22.1"}), [["169.254.21.1", "169.254.21.1"]]),
    # issue 12: both instances have their own, so the device may take 169.254.21.1 (a default nobody uses)
    "active-own-both": (
        lab({"mode": AA, "instances": instances("169.254.21.2", "169.254.22.2")}, {"bgp_ip": "169.254.21.1"}),
        [["169.254.21.2", "169.254.22.2"]],
    ),
    # AWS-style /30 pairs, one device per pair: 169.254.21.1/.2 and 169.254.22.1/.2
    "aws-pairs": (
        lab(
            {"mode": AA, "instances": instances("169.254.21.2", "169.254.22.2")},
            {"bgp_ip": "169.254.21.1"},
            {"bgp_ip": "169.254.22.1"},
        ),
        [["169.254.21.2", "169.254.22.2"], ["169.254.21.2", "169.254.22.2"]],
    ),
    # AWS's tunnels to instance 1 in vpn-gateway-howto-aws-bgp.md: 169.254.21.4/30 (AWS .5, Azure .6)
    "aws-second-connection": (
        lab(
            {"mode": AA, "instances": instances("169.254.21.2", "169.254.21.6")},
            {"bgp_ip": "169.254.21.1"},
            {"bgp_ip": "169.254.21.5"},
        ),
        [["169.254.21.2", "169.254.21.6"], ["169.254.21.2", "169.254.21.6"]],
    ),
    # one instance with its own, the other on its default; the device clear of both
    "active-own-and-default": (
        lab({"mode": AA, "instances": instances("169.254.21.2", None)}, {"bgp_ip": "169.254.21.1"}),
        [["169.254.21.2", "169.254.22.1"]],
    ),
    # on-prem APIPA outside Azure's range is the device's own business: only Azure's end is bounded
    "device-outside-azure-range": (lab({"mode": AA}, {"bgp_ip": "169.254.0.1"}), [["169.254.21.1", "169.254.22.1"]]),
    # one device on APIPA, one on a private address: Azure peers the second from the GatewaySubnet
    "mixed": (
        lab({"mode": AA, "instances": instances("169.254.21.2", "169.254.22.2")}, {"bgp_ip": "169.254.21.1"}, {}),
        [["169.254.21.2", "169.254.22.2"], ["10.1.255.4", "10.1.255.5"]],
    ),
}


def build_valid(name: str) -> Topology:
    return topology_of(VALID[name][0], name)


@pytest.mark.parametrize("name", sorted(VALID))
def test_documented_apipa_combination_is_accepted_and_peers_as_azure_does(name: str) -> None:
    topo = build_valid(name)
    wanted = VALID[name][1]
    devices = topo.by_role("vpn")
    assert len(devices) == len(wanted)
    gateways = topo.by_role("gateway")
    for device, azure_ips in zip(devices, wanted, strict=True):
        assert device.bgp is not None
        peers = [n for n in device.bgp.neighbors if n.kind == "vpn"]
        active_standby = gateways[1].standby
        # active/standby: one tunnel and one session, to the one address both instances can hold
        expected = azure_ips[:1] if active_standby else azure_ips
        assert [str(n.address) for n in peers] == expected, device.name
        own_apipa = device.bgp.router_id in APIPA
        for gw in gateways:
            assert gw.bgp is not None
            back = next(n for n in gw.bgp.neighbors if n.peer == device.name)
            assert back.address == device.bgp.router_id
            # Azure never initiates towards an APIPA peer; otherwise it does
            assert back.passive is own_apipa, (gw.name, device.name)
            held = {a.ip for i in gw.interfaces for a in i.addresses + i.shared_addresses}
            assert back.update_source in held


@pytest.mark.root
@pytest.mark.slow
def test_aws_style_pairs_come_up_with_on_prem_initiating() -> None:
    """Two devices on the AWS-style /30 pairs, four tunnels: every session Established (up waits for the
    oracle's prediction), and every gateway session accepted, never opened: its local port is BGP's."""
    require_root()
    name = unique("tap")
    RUN_ROOT.mkdir(parents=True, exist_ok=True)
    path = RUN_ROOT / f"{name}.lab.yaml"
    path.write_text(yaml.safe_dump(VALID["aws-pairs"][0]), encoding="utf-8")
    try:
        result = up(str(path), name=name)
        vpn = [(g.name, n.address) for g in result.topo.by_role("gateway") for n in g.bgp.neighbors if n.kind == "vpn"]
        assert len(vpn) == 4 and all(result.prediction.sessions[s] for s in vpn)
        running = attach(name)
        for gw in ("gw0", "gw1"):
            data = vtysh_json(running.runtime.frr_dir(gw), "show bgp neighbors json")
            for address in ("169.254.21.1", "169.254.22.1"):
                peer = data[address]
                assert peer["bgpState"] == "Established", (gw, address, peer["bgpState"])
                assert peer["portLocal"] == 179, (gw, address, "the gateway opened the session")
                assert IPv4Address(peer["hostLocal"]) in APIPA
    finally:
        down(name)
        path.unlink(missing_ok=True)
    assert leftovers(name) == []
