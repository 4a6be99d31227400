"""`gwlab generate`: labs of N sites that pass Azure's rules, build with unique addresses, and converge."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from ipaddress import IPv4Address
from itertools import pairwise
from pathlib import Path

import pytest
import yaml

from lab.generate import MAX_SITES, generate, onprem_pool, site_asns
from lab.load import read
from lab.rules import RESERVED_ASNS, check
from lab.topology import SPEAKER_NET, Topology
from tests.helpers import REPO, topology_of

SIZES = (1, 5, 20, 50, 120)


def built(sites: int, **kwargs: object) -> Topology:
    return topology_of(generate(sites, **kwargs), "generated")  # type: ignore[arg-type]


def held_addresses(topo: Topology) -> list[IPv4Address]:
    """Every address a node holds now (a standby instance holds no shared one); the router<->speaker
    pair on each speaker node's lo is the same everywhere by design, so it is left out."""
    out = []
    for node in topo.nodes.values():
        for iface in node.interfaces:
            held = iface.addresses + ([] if node.standby else iface.shared_addresses)
            out += [a.ip for a in held if a.ip not in SPEAKER_NET]
    return out


@pytest.mark.parametrize("sites", SIZES)
def test_generated_lab_is_valid_and_builds_with_unique_addresses(sites: int) -> None:
    topo = built(sites)
    assert [s.name for s in topo.lab.onprem.sites] == [f"s{i}" for i in range(1, sites + 1)]
    twice = [ip for ip, n in Counter(held_addresses(topo)).items() if n > 1]
    assert twice == []
    # One core, host and device per site, on top of inet, vnet, vm and two gateway instances.
    assert len(topo.nodes) == 5 + 3 * sites
    assert len(topo.tunnels) == 2 * sites


@pytest.mark.parametrize("sites", SIZES)
def test_sites_get_distinct_unreservedsite_asns_and_disjoint_prefixes(sites: int) -> None:
    lab = built(sites, expressroute=True).lab
    asns = [s.asn for s in lab.onprem.sites]
    assert len(set(asns)) == sites
    assert not any(lo <= a <= hi for a in asns for lo, hi in (*RESERVED_ASNS, (65516, 65516)))
    assert all(64512 <= a <= 65534 for a in asns)
    prefixes = sorted(p for s in lab.onprem.sites for p in s.prefixes)
    assert all(not a.overlaps(b) for a, b in pairwise(prefixes))
    assert not any(p.overlaps(v) for p in prefixes for v in lab.vnet.address_space)


@pytest.mark.parametrize(
    ("sites", "devices", "er", "mode"),
    [
        (1, 2, True, "active-active"),
        (20, 2, True, "active-standby"),
        (120, 2, False, "active-active"),  # 240 devices: the default public pool, nearly full
        (130, 2, True, "active-active"),  # 260 devices: a wider pool
        (50, 1, False, "active-standby"),
    ],
)
def test_variants_are_valid(sites: int, devices: int, er: bool, mode: str) -> None:
    topo = built(sites, devices_per_site=devices, expressroute=er, mode=mode)
    assert len(topo.by_role("vpn")) == sites * devices
    assert (topo.er_site == "s1") is er
    assert [ip for ip, n in Counter(held_addresses(topo)).items() if n > 1] == []


def test_public_pool_grows_only_when_needed() -> None:
    assert str(onprem_pool(245)) == "198.51.100.0/24"
    assert str(onprem_pool(246)) == "100.64.0.0/23"
    assert str(onprem_pool(2 * MAX_SITES)) == "100.64.0.0/21"
    assert "pools" not in generate(100, devices_per_site=2)


def test_enoughsite_asns_for_the_largest_lab() -> None:
    asns = list(site_asns())
    assert len(set(asns)) == len(asns) >= MAX_SITES


@pytest.mark.parametrize(
    ("sites", "devices", "message"),
    [
        (0, 1, "sites must be between 1"),
        (MAX_SITES + 1, 1, "sites must be between 1"),
        (3, 3, "one or two VPN devices"),
    ],
)
def test_bad_arguments(sites: int, devices: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        generate(sites, devices_per_site=devices)


def gwlab(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "controller.cli.app", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_cli_writes_yaml_that_reads_back(tmp_path: Path) -> None:
    run = gwlab("generate", "--sites", "4", "--devices", "2", "--expressroute")
    assert run.returncode == 0, run.stderr
    assert yaml.safe_load(run.stdout) == generate(4, devices_per_site=2, expressroute=True)
    out = tmp_path / "four.yaml"
    run = gwlab("generate", "--sites", "4", "-o", str(out))
    assert run.returncode == 0 and run.stdout == ""
    model, _ = read(str(out))
    check(model, out.name)
    assert model.name == "gen4" and len(model.onprem.sites) == 4


def test_cli_profile_reaches_the_lab_and_its_timers() -> None:
    run = gwlab("generate", "--sites", "2", "--profile", "realistic")
    assert run.returncode == 0, run.stderr
    lab = yaml.safe_load(run.stdout)
    assert lab == generate(2, profile="realistic") and lab["profile"] == "realistic"
    topo = built(2, profile="realistic")
    assert topo.timing.profile == "realistic" and topo.timing.hold == 180
    bad = gwlab("generate", "--sites", "2", "--profile", "slow")
    assert bad.returncode == 2 and "'slow' is not one of 'fast', 'realistic'" in bad.stderr


@pytest.mark.parametrize("args", [["--sites", "0"], ["--sites", "2", "--devices", "3"], ["--sites", "x"]])
def test_cli_bad_input_is_one_line_and_exit_2(args: list[str]) -> None:
    run = gwlab("generate", *args)
    assert run.returncode == 2
    assert run.stdout == ""
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("gwlab generate: "), run.stderr


@pytest.mark.root
@pytest.mark.slow
def test_three_generated_sites_converge(tmp_path: Path) -> None:
    """More than one site through one gateway: each site's routes reach the others (and the VNet)."""
    from tests.helpers import require_root
    from tests.labs import leftovers, unique

    require_root()
    from controller.converge import up
    from lab.runtime.lifecycle import down

    path = tmp_path / "gen3.yaml"
    path.write_text(yaml.safe_dump(generate(3)), encoding="utf-8")
    name = unique("bng")
    try:
        result = up(str(path), name=name)
        assert result.state.phase == "up"
        assert result.prediction.paths["s3->azure"] == ["gw0", "gw1"]
    finally:
        down(name)
    assert leftovers(name) == []
