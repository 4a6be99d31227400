"""Reports from RunReports built in code: report.json, junit.xml, timeline.png and the terminal table.

No lab, no root: `synthetic_report` plays a run on an hybrid lab (ExpressRoute preferred, VPN as
backup) with probe flows at a fixed rate, gaps where a failure hits a flow's path, and the FIB
changes a real run would record.
"""

from __future__ import annotations

import json
import struct
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import pytest
from rich.console import Console

from controller.report import (
    UNKNOWN_PATH,
    junit_xml,
    oracle_match,
    overall_passed,
    path_colors,
    print_summary,
    profile_text,
    report_json,
    summary_table,
    write_report,
)
from controller.results import Arrival, Expectation, FailureResult, FibChange, FlowStats, RunReport

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@dataclass
class Hit:
    """A failure as the flows see it: from `at`, flows on `old` paths stop for `gap` ms, then use `new`."""

    at: float
    gap: float
    moves: dict[str, str]  # old path -> new path


def _flows(count: int) -> list[FlowStats]:
    half = max(count // 2, 1)
    flows = []
    for i in range(count):
        out = i < half
        flows.append(
            FlowStats(
                flow=i,
                direction="s1->azure" if out else "azure->s1",
                src="s1-host" if out else "vm",
                dst="vm" if out else "s1-host",
                sport=40000 + i,
                dport=5001,
            )
        )
    return flows


def _play(report: RunReport, pps: int, seconds: float, first_paths: list[str], hits: list[Hit]) -> None:
    """Fill arrivals and flow statistics: every flow sends at `pps`, hits move and interrupt it."""
    interval = 1000.0 / pps
    for flow in report.flows:
        path = first_paths[flow.flow % len(first_paths)]
        pending = sorted(hits, key=lambda h: h.at)
        seq = 0
        t = 1.0 + flow.flow * 0.37  # flows do not start in lockstep
        last: float | None = None
        longest, gap_start = 0.0, None
        blocked_until = -1.0
        while t < seconds * 1000:
            while pending and t >= pending[0].at:
                hit = pending.pop(0)
                if path in hit.moves:
                    blocked_until = hit.at + hit.gap
                    path = hit.moves[path]
            flow.sent += 1
            if t >= blocked_until:
                received = t + 1.5
                report.arrivals.append(Arrival(flow.flow, seq, t, received, path))
                flow.received += 1
                flow.paths[path] = flow.paths.get(path, 0) + 1
                if last is not None and received - last > longest:
                    longest, gap_start = received - last, last
                last = received
            else:
                flow.lost += 1
            seq += 1
            t += interval
        flow.longest_gap_ms = longest
        flow.gap_start_ms = gap_start


def passing_report(pps: int = 50, seconds: float = 6.0, flows: int = 4) -> RunReport:
    """Active/active gateway, gw0 killed: flows on its tunnel move to gw1 after the hold timer."""
    report = RunReport(
        lab="active-active",
        scenario="gw0-kill",
        profile="fast",
        started="2024-05-02T10:00:00+00:00",
        t0_ns=123_456_789,
        duration_ms=seconds * 1000,
        flows=_flows(flows),
    )
    report.failures.append(
        FailureResult(
            target="gw0",
            mode="kill",
            injected_ms=2000.0,
            detection="hold-timer",
            expected_detection_ms=3000.0,
            restored_ms=5500.0,
            converged_ms=3012.345,
            outage_ms={"s1->azure": 3004.96, "azure->s1": 2987.04},
            lost={"s1->azure": 150, "azure->s1": 149},
            path_before={"s1->azure": ["gw0", "gw1"], "azure->s1": ["gw0", "gw1"]},
            path_after={"s1->azure": ["gw1"], "azure->s1": ["gw1"]},
            expected_path_after={"s1->azure": ["gw1"], "azure->s1": ["gw1"]},
            symmetric_after=True,
            fib_changes=[
                FibChange("s1-vpn0", 5005.0, "10.1.0.0/16", "del", []),
                FibChange("s1-core", 5007.5, "10.1.0.0/16", "add", ["172.31.0.5@eth1"]),
                FibChange("vnet", 5009.0, "192.168.10.0/24", "add", ["10.1.255.5@eth0"]),
            ],
        )
    )
    report.expectations = [
        Expectation(1, "converge", "every node matches the oracle", True, duration_ms=3012.3),
        Expectation(2, "paths", "traffic leaves through gw1 only", True, duration_ms=12.0),
        Expectation(3, "outage", "outage under 4 s", True, duration_ms=0.4),
    ]
    _play(
        report,
        pps,
        seconds,
        ["gw0/t-s1-vpn0", "gw1/t-s1-vpn1"],
        [Hit(2000.0, 3000.0, {"gw0/t-s1-vpn0": "gw1/t-s1-vpn1"})],
    )
    return report


def failing_report(pps: int = 200, seconds: float = 10.0, flows: int = 8) -> RunReport:
    """Hybrid lab: msee0 fails silently (BFD), then msee1 too (hold timer, VPN takes over), then back."""
    report = RunReport(
        lab="hybrid",
        scenario="er-double-failure",
        profile="fast",
        started="2024-05-02T10:15:30.250000+02:00",
        t0_ns=987_654_321,
        duration_ms=seconds * 1000,
        passed=False,
        flows=_flows(flows),
        notes=["msee1 hold timer fired 190 ms late"],
    )
    report.failures = [
        FailureResult(
            target="msee0",
            mode="blackhole",
            injected_ms=2000.0,
            detection="bfd",
            expected_detection_ms=300.0,
            restored_ms=None,
            converged_ms=341.26,
            outage_ms={"s1->azure": 318.25, "azure->s1": 305.0},
            lost={"s1->azure": 250, "azure->s1": 240},
            path_before={"s1->azure": ["msee0", "msee1"], "azure->s1": ["msee0", "msee1"]},
            path_after={"s1->azure": ["msee1"], "azure->s1": ["msee1"]},
            expected_path_after={"s1->azure": ["msee1"], "azure->s1": ["msee1"]},
            symmetric_after=True,
            fib_changes=[
                FibChange("s1-ce0", 2300.0, "10.1.0.0/16", "del", []),
                FibChange("s1-core", 2310.0, "10.1.0.0/16", "add", ["172.31.0.9@eth2"]),
                FibChange("ergw", 2305.0, "192.168.10.0/24", "del", []),
            ],
        ),
        FailureResult(
            target="msee1",
            mode="blackhole",
            injected_ms=4500.0,
            detection="hold-timer",
            expected_detection_ms=3000.0,
            restored_ms=8500.0,
            converged_ms=3190.0,
            outage_ms={"s1->azure": 3187.55, "azure->s1": 3195.05},
            lost={"s1->azure": 2550, "azure->s1": 2556},
            path_before={"s1->azure": ["msee1"], "azure->s1": ["msee1"]},
            path_after={"s1->azure": ["gw0/t-s1-vpn0", "gw1/t-s1-vpn1"], "azure->s1": ["gw0/t-s1-vpn0"]},
            expected_path_after={"s1->azure": ["gw0", "gw1"], "azure->s1": ["gw0", "gw1"]},
            symmetric_after=False,
            fib_changes=[
                FibChange("s1-ce1", 7690.0, "10.1.0.0/16", "del", []),
                FibChange("s1-core", 7695.0, "10.1.0.0/16", "add", ["172.31.0.1@eth0", "172.31.0.3@eth1"]),
                FibChange("ergw", 7692.0, "192.168.10.0/24", "del", []),
                FibChange("vnet", 7693.0, "192.168.10.0/24", "add", ["10.1.255.4@eth0"]),
                FibChange("s1-vpn0", 7699.0, "10.1.0.0/16", "add", ["169.254.21.1@vti0"]),
            ],
        ),
    ]
    report.expectations = [
        Expectation(1, "converge", "msee0 blackhole: converged within BFD detection", True, duration_ms=341.3),
        Expectation(2, "paths", "msee0 blackhole: all traffic on msee1", True, duration_ms=5.0),
        Expectation(
            3,
            "converge",
            "msee1 blackhole: converged within the hold time",
            False,
            detail="converged after 3190.0 ms, limit 3000 ms\nlast node: s1-core",
            duration_ms=3190.0,
        ),
        Expectation(
            4,
            "paths",
            "msee1 blackhole: VPN carries both directions over gw0 and gw1",
            False,
            detail="azure->s1 uses gw0 only",
            duration_ms=8.0,
        ),
        Expectation(
            5,
            "symmetric",
            "msee1 blackhole: symmetric after failover",
            False,
            detail="s1->azure gw0+gw1, azure->s1 gw0",
            duration_ms=0.0,
        ),
    ]
    _play(
        report,
        pps,
        seconds,
        ["msee0", "msee1"],
        [
            Hit(2000.0, 310.0, {"msee0": "msee1"}),
            Hit(4500.0, 3190.0, {"msee1": "gw0/t-s1-vpn0"}),
            Hit(8500.0, 0.0, {"gw0/t-s1-vpn0": "msee0"}),
        ],
    )
    # Half the flows of the way out hash to the other tunnel, a few arrivals lack a mark.
    for a in report.arrivals:
        if a.path == "gw0/t-s1-vpn0" and a.flow % 2 == 1 and a.flow < flows // 2:
            a.path = "gw1/t-s1-vpn1"
        if a.seq % 997 == 0:
            a.path = ""
    return report


def empty_report() -> RunReport:
    return RunReport(lab="active-standby", scenario="idle", profile="realistic", started="not a date", t0_ns=0)


# --------------------------------------------------------------------------------------------------
# report.json


def test_json_top_level_and_failures(tmp_path: Path) -> None:
    report = failing_report(pps=20, seconds=10.0, flows=4)
    files = write_report(report, tmp_path / "out")
    assert set(files) == {"json", "junit", "timeline"}
    assert all(p.parent == tmp_path / "out" and p.is_file() for p in files.values())

    data = json.loads(files["json"].read_text(encoding="utf-8"))
    assert data["passed"] is False
    assert (data["lab"], data["scenario"], data["profile"]) == ("hybrid", "er-double-failure", "fast")
    assert data["profile_text"] == "fast profile: timers scaled down"
    assert data["arrival_count"] == len(report.arrivals)
    assert "arrivals" not in data
    assert len(data["failures"]) == 2
    for item in data["failures"]:
        for key in ("target", "mode", "outage_ms", "converged_ms", "path_before", "path_after"):
            assert key in item
    first, second = data["failures"]
    assert first["target"] == "msee0" and first["mode"] == "blackhole"
    # floats to 0.1 ms, everywhere
    assert first["converged_ms"] == 341.3
    assert first["outage_ms"] == {"azure->s1": 305.0, "s1->azure": 318.2}  # 318.25 is 318.249... in binary
    assert second["outage_ms"] == {"azure->s1": 3195.1, "s1->azure": 3187.6}
    assert second["restored_ms"] == 8500.0 and first["restored_ms"] is None
    assert second["path_after"]["azure->s1"] == ["gw0/t-s1-vpn0"]
    assert second["symmetric_after"] is False
    assert data["t0_ns"] == 987_654_321  # integers stay integers
    assert [e["passed"] for e in data["expectations"]] == [True, True, False, False, False]

    def floats(value: object) -> list[float]:
        if isinstance(value, float):
            return [value]
        if isinstance(value, dict):
            return [f for v in value.values() for f in floats(v)]
        if isinstance(value, list):
            return [f for v in value for f in floats(v)]
        return []

    assert all(round(f, 1) == f for f in floats(data))
    gaps = [f["longest_gap_ms"] for f in data["flows"]]
    assert all(isinstance(g, float) for g in gaps) and max(gaps) > 3000


def test_json_is_deterministic_and_sorted() -> None:
    report = passing_report()
    text = report_json(report)
    assert text == report_json(report)
    assert text.endswith("}\n")
    data = json.loads(text)
    assert list(data) == sorted(data)
    assert list(data["failures"][0]) == sorted(data["failures"][0])
    assert data["passed"] is True and data["failures"][0]["converged_ms"] == 3012.3


def test_json_verdict_follows_expectations_and_survives_non_finite_values() -> None:
    report = passing_report(pps=10)
    report.expectations[1].passed = False  # the controller forgot to clear `passed`
    report.failures[0].outage_ms["s1->azure"] = float("inf")  # never came back
    report.failures[0].converged_ms = -0.04
    data = json.loads(report_json(report))
    assert data["passed"] is False
    assert data["failures"][0]["outage_ms"]["s1->azure"] is None
    assert data["failures"][0]["converged_ms"] == 0.0
    assert "-0.0" not in report_json(report)


# --------------------------------------------------------------------------------------------------
# junit.xml


def _suite(path: Path) -> ET.Element:
    root = ET.parse(path).getroot()
    assert root.tag == "testsuites"
    suites = root.findall("testsuite")
    assert len(suites) == 1
    return suites[0]


def test_junit_failing(tmp_path: Path) -> None:
    report = failing_report(pps=20, flows=4)
    suite = _suite(write_report(report, tmp_path)["junit"])
    assert suite.get("name") == "gwlab.er-double-failure"
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("5", "3", "0")
    assert suite.get("time") == "10.000"
    assert suite.get("timestamp") == "2024-05-02T08:15:30"
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert props["lab"] == "hybrid" and props["profile"] == "fast"
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases][:2] == [
        "step 1: msee0 blackhole: converged within BFD detection",
        "step 2: msee0 blackhole: all traffic on msee1",
    ]
    assert {c.get("classname") for c in cases} == {"hybrid"}
    assert cases[2].get("time") == "3.190"
    failed = [c for c in cases if c.find("failure") is not None]
    assert len(failed) == 3
    failure = cases[2].find("failure")
    assert failure is not None
    assert failure.get("message") == "converged after 3190.0 ms, limit 3000 ms"
    assert failure.get("type") == "converge"
    assert failure.text == "converged after 3190.0 ms, limit 3000 ms\nlast node: s1-core"
    out = suite.find("system-out")
    assert out is not None and "hold timer" in (out.text or "")
    root = ET.parse(tmp_path / "junit.xml").getroot()
    assert (root.get("tests"), root.get("failures")) == ("5", "3")


def test_junit_passing_and_empty(tmp_path: Path) -> None:
    suite = _suite(write_report(passing_report(pps=10), tmp_path / "pass")["junit"])
    assert (suite.get("tests"), suite.get("failures")) == ("3", "0")
    assert all(c.find("failure") is None for c in suite.findall("testcase"))

    suite = _suite(write_report(empty_report(), tmp_path / "empty")["junit"])
    assert (suite.get("tests"), suite.get("failures")) == ("0", "0")
    assert suite.get("timestamp") is None  # "not a date"
    assert suite.findall("testcase") == []


def test_junit_failed_run_without_failed_expectation_is_not_green() -> None:
    report = passing_report(pps=10)
    report.passed = False
    report.notes = ["lab did not come up: gw1 FRR exited"]
    suite = ET.fromstring(junit_xml(report)).find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures")) == ("4", "1")
    run = suite.findall("testcase")[-1]
    assert run.get("name") == "run"
    failure = run.find("failure")
    assert failure is not None and failure.get("message") == "lab did not come up: gw1 FRR exited"


def test_junit_escapes_and_drops_illegal_characters() -> None:
    report = empty_report()
    report.expectations = [Expectation(1, "paths", 'a <b> & "c"', False, detail="bell\x07 <x>")]
    text = junit_xml(report)
    case = ET.fromstring(text).find("testsuite/testcase")
    assert case is not None and case.get("name") == 'step 1: a <b> & "c"'
    failure = case.find("failure")
    assert failure is not None and failure.get("message") == "bell\ufffd <x>"


# --------------------------------------------------------------------------------------------------
# timeline.png


def _png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == PNG_MAGIC
    assert head[12:16] == b"IHDR"
    width, height = struct.unpack(">II", head[16:24])
    return width, height


@pytest.mark.parametrize("make", [passing_report, failing_report, empty_report])
def test_timeline_png(tmp_path: Path, make: object) -> None:
    assert callable(make)
    report: RunReport = make()
    path = write_report(report, tmp_path)["timeline"]
    assert _png_size(path) == (1400, 800)
    assert 5_000 < path.stat().st_size < 2_000_000
    assert not list(tmp_path.glob(".*.tmp"))


def test_timeline_scales_to_32_flows_at_200_pps(tmp_path: Path) -> None:
    report = failing_report(pps=200, seconds=10.0, flows=32)
    assert len(report.arrivals) > 40_000  # 64,000 sent, 3 s of them lost
    path = write_report(report, tmp_path)["timeline"]
    assert _png_size(path) == (1400, 800)
    assert path.stat().st_size < 2_000_000


def test_path_colors_are_stable_and_unknown_is_grey() -> None:
    colors = path_colors(["msee1", UNKNOWN_PATH, "gw0/t-s1-vpn0"])
    assert colors == path_colors(["gw0/t-s1-vpn0", "msee1"]) | {UNKNOWN_PATH: colors[UNKNOWN_PATH]}
    assert len(set(colors.values())) == 3


# --------------------------------------------------------------------------------------------------
# terminal


def _render(report: RunReport, table: bool = True) -> str:
    console = Console(record=True, width=200, color_system=None)
    if table:
        console.print(summary_table(report))
    else:
        print_summary(report, console)
    return console.export_text()


def test_summary_table_rows() -> None:
    report = failing_report(pps=20, flows=4)
    table = summary_table(report)
    assert table.row_count == 2
    text = _render(report)
    lines = text.splitlines()
    assert "hybrid — scenario er-double-failure" in text
    msee0 = next(i for i, line in enumerate(lines) if line.startswith("│ msee0 "))
    assert "blackhole" in lines[msee0] and "bfd" in lines[msee0]
    assert "s1->azure" in lines[msee0] and "318.2" in lines[msee0] and "250" in lines[msee0]
    assert "341.3" in lines[msee0] and "msee0, msee1 → msee1" in lines[msee0] and "PASS" in lines[msee0]
    assert "azure->s1" in lines[msee0 + 1] and "305.0" in lines[msee0 + 1]
    assert "(300.0 ms)" in lines[msee0 + 1]
    msee1 = next(i for i, line in enumerate(lines) if line.startswith("│ msee1 "))
    assert "hold-timer" in lines[msee1] and "3,187.6" in lines[msee1] and "3,190.0" in lines[msee1]
    assert "gw0/t-s1-vpn0, gw1/t-s1-vpn1" in lines[msee1] and "gw0, gw1" in lines[msee1]
    assert "FAIL" in lines[msee1] and "no" in lines[msee1]
    assert "azure->s1" in lines[msee1 + 1] and "msee1 → gw0/t-s1-vpn0" in lines[msee1 + 1]
    assert "fast profile: timers scaled down" in text
    assert "expectations 2/5 passed" in text
    assert text.rstrip().endswith("FAILED")


def test_summary_passing_and_print_summary() -> None:
    report = passing_report(pps=10)
    text = _render(report)
    assert "gw0, gw1 → gw1" in text and "PASS" in text and "FAIL" not in text
    assert text.rstrip().endswith("PASSED")

    failing = _render(failing_report(pps=10, flows=2), table=False)
    assert "FAIL step 3: msee1 blackhole: converged within the hold time" in failing
    assert "azure->s1 uses gw0 only" in failing

    empty = _render(empty_report(), table=False)
    assert "no failures injected" in empty
    assert "realistic profile: Azure's documented timers" in empty and "PASSED" in empty


def test_print_summary_narrow_terminal_uses_compact_table() -> None:
    report = failing_report(pps=10, flows=2)
    assert summary_table(report, compact=True).row_count == 2
    console = Console(record=True, width=100, color_system=None)
    print_summary(report, console)
    lines = console.export_text().splitlines()
    assert max(len(line) for line in lines) <= 100
    msee1 = next(i for i, line in enumerate(lines) if line.startswith("│msee1 blackhole"))
    assert "3,187.6" in lines[msee1] and "msee1 → gw0/t-s1-vpn0, gw1/t-s1-vpn1" in lines[msee1]
    assert "FAIL" in lines[msee1] and "asym." in lines[msee1 + 1] and "hold-timer" in lines[msee1 + 1]
    assert any("FAILED" in line for line in lines)


def test_oracle_match_and_verdict_helpers() -> None:
    report = failing_report(pps=10, flows=2)
    assert [oracle_match(f) for f in report.failures] == [True, False]
    assert oracle_match(FailureResult("x", "kill", 0.0, "bfd", 0.0)) is None
    tunnel = FailureResult(
        "gw0",
        "kill",
        0.0,
        "bfd",
        0.0,
        path_after={"s1->azure": ["gw1/t-s1-vpn1"]},
        expected_path_after={"s1->azure": ["gw1"]},
    )
    assert oracle_match(tunnel) is True
    hole = FailureResult("gw0", "kill", 0.0, "bfd", 0.0, path_after={}, expected_path_after={"s1->azure": []})
    assert oracle_match(hole) is False
    assert overall_passed(passing_report(pps=10)) and not overall_passed(report)
    assert profile_text("fast+custom") == "fast+custom profile: timers scaled down, some overridden by the lab file"
    assert profile_text("realistic+custom").startswith("realistic+custom profile: Azure's documented timers,")
    assert profile_text("lab") == "lab profile"
