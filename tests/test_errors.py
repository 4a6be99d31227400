"""Bad lab files and the exact lines a user sees for them (netlab-style error tests).

Each case is tests/errors/<case>.yaml with tests/errors/<case>.txt beside it holding the expected
lines, one per problem, in order. To add a case, write both files; the .txt is the contract: check
each line reads as a fix a user can make.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from lab.errors import LabError
from lab.load import load

ROOT = Path(__file__).resolve().parent.parent
CASES = Path(__file__).resolve().parent / "errors"
CASE_FILES = sorted(CASES.glob("*.yaml"))


def expected_lines(case: Path) -> list[str]:
    return case.with_suffix(".txt").read_text(encoding="utf-8").splitlines()


def test_every_case_has_its_expected_output() -> None:
    assert len(CASE_FILES) >= 30
    yamls = {p.stem for p in CASE_FILES}
    txts = {p.stem for p in CASES.glob("*.txt")}
    assert yamls == txts, f"cases without .txt: {yamls - txts}; .txt without case: {txts - yamls}"


@pytest.mark.parametrize("case", CASE_FILES, ids=[p.stem for p in CASE_FILES])
def test_bad_lab_file(case: Path) -> None:
    with pytest.raises(LabError) as info:
        load(str(case))
    assert info.value.lines() == expected_lines(case)


@pytest.mark.parametrize("case", CASE_FILES, ids=[p.stem for p in CASE_FILES])
def test_lines_name_the_file(case: Path) -> None:
    for line in expected_lines(case):
        assert line.startswith(f"{case.name}: "), line


def test_65516_is_allowed_without_expressroute(tmp_path: Path) -> None:
    """The VPN FAQ leaves 65516 out of its reserved list; only the ExpressRoute page reserves it."""
    lab = tmp_path / "vpn-only.yaml"
    text = (
        "vnet: {address_space: [10.1.0.0/16], gateway_subnet: 10.1.255.0/27}\n"
        "onprem: {sites: [{name: s1, asn: 65516, prefixes: [192.168.10.0/24]}]}\n"
    )
    lab.write_text(text, encoding="utf-8")
    topo = load(str(lab))
    assert topo.nodes["s1-core"].bgp is not None and topo.nodes["s1-core"].bgp.asn == 65516


@pytest.mark.skipif(
    not (ROOT / "controller" / "cli" / "app.py").is_file(), reason="controller/cli/app.py not written yet"
)
@pytest.mark.parametrize("case", ["asn-reserved", "several-errors", "not-yaml"])
def test_cli_validate(case: str) -> None:
    path = CASES / f"{case}.yaml"
    run = subprocess.run(
        [sys.executable, "-m", "controller.cli.app", "validate", str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode != 0
    out = run.stdout + run.stderr
    assert "Traceback" not in out
    for line in expected_lines(path):
        assert line in out


# -- scenarios: tests/errors/scenarios/<case>.yaml and the exact lines, the same contract -----------

SCENARIO_CASES = sorted((CASES / "scenarios").glob("*.yaml"))


def scenario_lines(case: Path) -> list[str]:
    """What a user sees for a scenario file: its own problems, then those against its lab (no lab built)."""
    from controller.runner import checked, scenario_topology
    from controller.scenario import load_scenario

    with pytest.raises(LabError) as info:
        scenario = load_scenario(str(case))
        checked(scenario, scenario_topology(scenario))
    return info.value.lines()


def test_every_scenario_case_has_its_expected_output() -> None:
    assert len(SCENARIO_CASES) >= 15
    assert {p.stem for p in SCENARIO_CASES} == {p.stem for p in (CASES / "scenarios").glob("*.txt")}


@pytest.mark.parametrize("case", SCENARIO_CASES, ids=[p.stem for p in SCENARIO_CASES])
def test_bad_scenario(case: Path) -> None:
    lines = scenario_lines(case)
    assert lines == expected_lines(case)
    assert all(line.startswith(f"{case.name}: ") for line in lines)


@pytest.mark.parametrize("case", ["fail-unknown-target", "step-unknown-field"])
def test_cli_run_refuses_a_bad_scenario_before_building_anything(case: str) -> None:
    path = CASES / "scenarios" / f"{case}.yaml"
    run = subprocess.run(
        [sys.executable, "-m", "controller.cli.app", "run", str(path), "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert run.stderr.splitlines() == expected_lines(path)
