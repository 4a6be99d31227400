"""Warnings for Azure's traps: lab files that are valid but will not do what their author likely means.

Each case is tests/warnings/<case>.yaml with tests/warnings/<case>.txt beside it holding the exact lines,
one per warning, in order (an empty .txt: no warning). A warning says what will happen; the tests below
check with the oracle that the lab does what it says.
"""

from __future__ import annotations

import json
import subprocess
import sys
from ipaddress import IPv4Network
from pathlib import Path

import pytest
import yaml

from controller.oracle import Failures, predict
from controller.scenario import lab_data, load_scenario
from lab.load import load_with_warnings, parse
from lab.rules.warnings import too_many_prefixes, warnings
from lab.runtime.lifecycle import down
from lab.runtime.running import attach
from tests.helpers import BUILTINS, REPO, require_root
from tests.labs import leftovers, unique

CASES = Path(__file__).resolve().parent / "warnings"
CASE_FILES = sorted(CASES.glob("*.yaml"))


def expected_lines(case: Path) -> list[str]:
    return case.with_suffix(".txt").read_text(encoding="utf-8").splitlines()


def test_every_case_has_its_expected_output() -> None:
    assert len(CASE_FILES) >= 10
    assert {p.stem for p in CASE_FILES} == {p.stem for p in CASES.glob("*.txt")}


@pytest.mark.parametrize("case", CASE_FILES, ids=[p.stem for p in CASE_FILES])
def test_warning_lines(case: Path) -> None:
    assert load_with_warnings(str(case)).warning_lines() == expected_lines(case)
    for line in expected_lines(case):
        assert line.startswith(f"{case.name}: warning: "), line


@pytest.mark.parametrize("name", BUILTINS)
def test_the_builtin_labs_fall_into_no_trap(name: str) -> None:
    assert load_with_warnings(name).warnings == []


def test_cli_validate_prints_warnings_on_stderr_and_in_json_and_exits_0() -> None:
    case = CASES / "same-asn.yaml"

    def validate(*extra: str) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", "controller.cli.app", "validate", str(case), *extra]
        return subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=60, check=False)

    plain = validate()
    assert plain.returncode == 0 and "valid" in plain.stdout
    assert plain.stderr.splitlines() == expected_lines(case)
    as_json = validate("--json")
    assert as_json.returncode == 0
    data = json.loads(as_json.stdout)
    assert data["valid"] is True
    assert [w["code"] for w in data["warnings"]] == ["same-asn", "same-asn"]
    assert data["warnings"][0]["path"] == "onprem.sites[2].asn"


# -- what the warnings say will happen, as the oracle predicts it --------------------------------------


def test_same_asn_sites_never_hear_each_other() -> None:
    best = predict(load_with_warnings(str(CASES / "same-asn.yaml")).topo).best
    s1, s2 = IPv4Network("192.168.10.0/24"), IPv4Network("192.168.20.0/24")
    assert s1 not in best["s3-core"] and s2 not in best["s4-core"]  # loop prevention
    assert s1 in best["s2-core"] and s2 in best["s3-core"]  # distinct ASNs: transit through Azure


@pytest.mark.parametrize("case", ["er-local-preference", "er-local-preference-vpn-raised"])
def test_er_without_higher_local_preference_routes_asymmetrically(case: str) -> None:
    paths = predict(load_with_warnings(str(CASES / f"{case}.yaml")).topo).paths
    assert paths["azure->s1"] == ["msee0", "msee1"]
    assert paths["s1->azure"] and not set(paths["s1->azure"]) & {"msee0", "msee1"}


def test_one_tunnel_device_is_cut_off_with_its_instance() -> None:
    topo = load_with_warnings(str(CASES / "one-tunnel.yaml")).topo
    pred = predict(topo, Failures(nodes={"east"}))
    vpn0 = topo.nodes["s1-vpn0"]
    assert vpn0.bgp is not None
    tunnels = [n for n in vpn0.bgp.neighbors if n.kind == "vpn"]
    assert len(tunnels) == 1 and not pred.sessions[("s1-vpn0", tunnels[0].address)]
    assert pred.paths["s1->azure"] == ["gw0"]  # the site goes on through its other device only


def test_unused_apipa_is_not_what_azure_peers_from() -> None:
    topo = load_with_warnings(str(CASES / "unused-apipa.yaml")).topo
    for gw in topo.by_role("gateway"):
        assert gw.bgp is not None
        held = {str(a.ip) for i in gw.interfaces for a in i.addresses}
        assert not held & {"169.254.21.2", "169.254.22.2"}
        assert {str(n.update_source) for n in gw.bgp.neighbors if n.kind == "vpn"} <= {"10.1.255.4", "10.1.255.5"}


def test_zonal_gateway_is_lost_with_its_zone() -> None:
    topo = load_with_warnings(str(CASES / "zonal.yaml")).topo
    in_zone = [g.name for g in topo.by_role("gateway") if g.zone == 2]
    assert len(in_zone) == 2 and predict(topo, Failures(nodes=set(in_zone))).paths["s1->azure"] == []


def test_more_prefixes_than_azure_takes() -> None:
    """Checked on the model alone: a file of 4,001 prefixes takes the address rules seconds to check."""
    many = [str(n) for n in list(IPv4Network("10.64.0.0/12").subnets(new_prefix=24))[:4001]]
    data = {
        "vnet": {"address_space": ["10.1.0.0/16"], "gateway_subnet": "10.1.255.0/27"},
        "onprem": {"sites": [{"name": "s1", "asn": 65010, "prefixes": many, "summaries": []}]},
    }
    model = parse(data, "big.yaml", "big")
    assert [w.message for w in too_many_prefixes(model)] == [
        "site s1 advertises 4001 prefixes to the VPN gateway, above Azure's 4000: it drops the BGP session "
        "(summarise them)"
    ]
    data["onprem"]["sites"][0]["summaries"] = ["10.64.0.0/12"]  # type: ignore[index]
    assert list(too_many_prefixes(parse(data, "big.yaml", "big"))) == []


@pytest.mark.parametrize(("scenario", "code"), [("er-asymmetric", "er-local-preference"), ("er-link-no-bfd", "er-bfd")])
def test_scenarios_that_show_a_trap_warn_of_it(scenario: str, code: str) -> None:
    source, data = lab_data(load_scenario(scenario), None)
    model = parse(data if data is not None else yaml.safe_load(Path(source).read_text()), "s.yaml", "s")
    assert code in [w.code for w in warnings(model)]


@pytest.mark.root
@pytest.mark.slow
def test_cli_up_prints_the_warnings_and_builds_the_lab() -> None:
    """`gwlab up` on a lab with a trap: the warning on stderr first, the lab up and converged, exit 0; and
    what the warning says happens: the one-tunnel device has a tunnel to one instance only."""
    require_root()
    case = CASES / "one-tunnel.yaml"
    name = unique("tw")
    argv = [sys.executable, "-m", "controller.cli.app", "up", str(case), "--name", name]
    try:
        run = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=180, check=False)
        assert run.returncode == 0, run.stderr
        assert expected_lines(case)[0] in run.stderr.splitlines()
        assert "converged in" in run.stdout
        # The tunnel interface is named after its far end, whatever the tunnel kind (IPsec's VTI, VXLAN).
        links = attach(name).run("s1-vpn0", ["ip", "-o", "link", "show"]).stdout
        assert ": t-east" in links and ": t-gw0" not in links
    finally:
        down(name)
    assert leftovers(name) == []
