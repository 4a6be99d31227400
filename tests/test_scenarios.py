"""The built-in scenarios, for real: every one passes, a broken on-prem policy is caught as asymmetric
routing, and the measured outages agree with what detects each failure.

Root, real namespaces, FRR and ExaBGP. Each scenario brings its own lab up and takes it down; a run's
report is kept for the module, so the timing tests read the figures of the runs the parametrized test
made (a timing test run alone runs its scenario itself).

Bounds are derived from the lab's timers, not from what one run measured:
- hold timer: the last keepalive arrived between 0 and one keepalive interval before the failure, so
  the timer expires between (hold - keepalive) and hold after it (2-3 s in the fast profile); the
  traffic then needs the withdraw to propagate (tens to a few hundred ms on a loaded machine);
- BFD: the detection timer (interval x multiplier) restarts with every packet received, and packets
  are sent every 75-100 % of the interval (jitter), so detection falls between about
  (multiplier - 1) x 0.75 x interval and interval x multiplier after the failure;
- a link down or a withdraw has no timer: what is measured is the lab's own propagation.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from controller import analysis
from controller.results import FailureResult, RunReport
from controller.runner import run_scenario
from controller.scenario import builtin_scenarios, load_scenario, parse_scenario
from lab.profiles import PROFILES, Timing
from tests.helpers import require_root

pytestmark = [pytest.mark.root, pytest.mark.slow]

SCENARIOS = sorted(builtin_scenarios())
SLACK_MS = 300.0  # the lab's own propagation after detection (BGP update, zebra, kernel), with load
_REPORTS: dict[str, RunReport] = {}


@pytest.fixture(autouse=True)
def _root() -> None:
    require_root()


def report_of(name: str) -> RunReport:
    if name not in _REPORTS:
        _REPORTS[name] = run_scenario(load_scenario(name))
    return _REPORTS[name]


def failure_of(name: str, index: int = 0) -> FailureResult:
    report = report_of(name)
    assert len(report.failures) > index, f"{name}: no failure {index} in the report"
    return report.failures[index]


def timing_of(report: RunReport) -> Timing:
    assert report.profile in PROFILES, f"{report.scenario}: profile {report.profile} has custom timers"
    return PROFILES[report.profile]


def failed(report: RunReport) -> str:
    return "; ".join(
        f"step {e.step} {e.kind}: {e.description} — {e.detail}" for e in report.expectations if not e.passed
    )


# -- (a) every built-in scenario holds -----------------------------------------------------------


def test_every_topology_and_failure_kind_is_covered() -> None:
    scenarios = [load_scenario(n) for n in SCENARIOS]
    assert {s.lab for s in scenarios} >= {
        "active-standby",
        "active-active",
        "dual-redundancy",
        "er-vpn",
        "zone-redundant",
        "hybrid",
    }
    failures = {(step.args.target, step.args.mode) for s in scenarios for step in s.steps if step.kind == "fail"}
    assert failures >= {
        ("gw0", "crash"),
        ("gw0", "graceful"),  # active/active and active/standby instance lost
        ("s1-vpn0", "crash"),
        ("s1-vpn0~gw0", "down"),
        ("s1-vpn0~gw1", "blackhole"),
        ("s1-vpn0~inet", "down"),
        ("s1-ce0~msee0", "blackhole"),
        ("circuit", "down"),
        ("circuit", "shutdown"),
        ("msee1", "crash"),
        ("zone1", None),
        ("flood:s1", None),
    }
    assert any(s.overrides.get("expressroute", {}).get("bfd") is False for s in scenarios)


@pytest.mark.parametrize("name", SCENARIOS)
def test_builtin_scenario_passes(name: str) -> None:
    report = report_of(name)
    assert report.expectations, f"{name}: nothing was checked"
    assert report.passed, f"{name}: {failed(report)}"
    assert all(e.kind != "restore" or e.passed for e in report.expectations)


# -- (b) a broken on-prem policy shows as asymmetric routing ----------------------------------------


def test_missing_local_preference_is_reported_as_asymmetric() -> None:
    data = {
        "name": "no-local-preference",
        "lab": "hybrid",
        "overrides": {"expressroute": {"local_preference": 100}},
        "probes": {"flows": 4, "rate": 200},
        "steps": [
            {"converge": {"within_ms": 30000}},
            {"probes": "start"},
            {"expect": {"paths": "oracle", "symmetric": True, "window_ms": 500}},
            {"probes": "stop"},
        ],
    }
    scenario = parse_scenario(data, "no-local-preference", Path(__file__).parent)
    report = run_scenario(scenario)
    assert not report.passed, "routing without local-preference on ExpressRoute routes passed as symmetric"
    sym = [e for e in report.expectations if e.kind == "symmetric"]
    assert len(sym) == 1 and not sym[0].passed
    assert "asymmetric" in sym[0].detail
    # The oracle knows it too: the measured paths are the predicted (asymmetric) ones.
    paths = [e for e in report.expectations if e.kind == "paths"]
    assert paths and all(e.passed for e in paths), failed(report)
    measured = analysis.paths_in_window(report.flows, report.arrivals, 0, report.duration_ms)
    assert measured["s1->azure"] and {analysis.kind(e) for e in measured["s1->azure"]} == {"vpn"}, measured
    assert measured["azure->s1"] and {analysis.kind(e) for e in measured["azure->s1"]} == {"expressroute"}, measured


# -- (c) outages agree with the detection mechanism ----------------------------------------------------


def test_link_down_is_seen_at_once() -> None:
    for name in ("er-failover", "msee-crash"):
        f = failure_of(name)
        assert f.detection == "link-down"
        assert f.outage_ms and max(f.outage_ms.values()) < 750, f"{name}: {f.outage_ms}"


def test_expressroute_blackhole_is_detected_by_bfd() -> None:
    report = report_of("er-link-bfd")
    t = timing_of(report)
    f = failure_of("er-link-bfd")
    assert f.detection == "bfd" and f.expected_detection_ms == t.bfd_detect_ms
    lo, hi = 0.5 * t.bfd_detect_ms, 3 * t.bfd_detect_ms + 200
    assert set(f.outage_ms) == {"s1->azure", "azure->s1"}
    for direction, ms in f.outage_ms.items():
        assert lo <= ms <= hi, f"{direction}: {ms:.0f} ms, BFD detects in {t.bfd_detect_ms} ms"
        assert ms < 0.5 * t.er_hold * 1000, f"{direction}: {ms:.0f} ms looks like the hold timer, not BFD"


def test_expressroute_blackhole_without_bfd_waits_for_the_hold_timer() -> None:
    report = report_of("er-link-no-bfd")
    t = timing_of(report)
    f = failure_of("er-link-no-bfd")
    assert f.detection == "hold-timer" and f.expected_detection_ms == t.er_hold * 1000
    lo, hi = (t.er_hold - t.er_keepalive) * 1000 - 100, 1.5 * t.er_hold * 1000 + SLACK_MS
    for direction, ms in f.outage_ms.items():
        assert lo <= ms <= hi, f"{direction}: {ms:.0f} ms, hold timer {t.er_hold} s"
    with_bfd = failure_of("er-link-bfd")
    assert min(f.outage_ms.values()) > 3 * max(with_bfd.outage_ms.values())


def test_crashed_active_active_instance_takes_the_hold_time() -> None:
    report = report_of("aa-instance-crash")
    t = timing_of(report)
    f = failure_of("aa-instance-crash")
    assert f.detection == "hold-timer"
    ms = f.outage_ms["s1->azure"]  # on-prem has only the hold timer (no BFD on VPN)
    assert (t.hold - t.keepalive) * 1000 - 100 <= ms <= 1.5 * t.hold * 1000 + SLACK_MS, f"{ms:.0f} ms, hold {t.hold} s"
    assert f.outage_ms["azure->s1"] < 1000  # the platform sees its own instance go
    # Only the flows that were on gw0 were hit: those on gw1 carried on.
    assert f.restored_ms is not None
    before = analysis.flow_paths(report.flows, report.arrivals, f.injected_ms - 500, f.injected_ms)
    gaps = analysis.flow_gaps(report.flows, report.arrivals, f.injected_ms, f.restored_ms)
    on_gw1 = [flow for flow, elements in before.items() if elements == ["gw1"]]
    hit = [f.flow for f in report.flows if f.direction == "s1->azure" and before[f.flow] == ["gw0"]]
    assert on_gw1 and hit, before
    assert all(gaps[flow][0] < 300 for flow in on_gw1), {flow: gaps[flow] for flow in on_gw1}
    assert all(gaps[flow][0] >= (t.hold - t.keepalive) * 1000 - 100 for flow in hit), {f: gaps[f] for f in hit}


def test_graceful_maintenance_is_near_zero() -> None:
    f = failure_of("graceful-maintenance")
    assert f.detection == "withdraw"
    assert f.outage_ms and max(f.outage_ms.values()) < 300, f.outage_ms


def test_active_standby_takeover_takes_the_failover_delay() -> None:
    for name, planned in (("as-failover", False), ("as-maintenance", True)):
        report = report_of(name)
        t = timing_of(report)
        f = failure_of(name)
        delay_ms = (t.failover_planned_s if planned else t.failover_unplanned_s) * 1000
        assert f.detection == "failover" and f.expected_detection_ms == delay_ms
        # The platform's delay, then BGP to the moved IP (connect-retry) and the FIBs.
        for direction, ms in f.outage_ms.items():
            assert delay_ms - 100 <= ms <= delay_ms + t.connect_retry * 1000 + 1500, f"{name} {direction}: {ms:.0f}"
        assert f.path_after == {"s1->azure": ["gw1"], "azure->s1": ["gw1"]}, f"{name}: standby did not take over"
    planned_out = max(failure_of("as-maintenance").outage_ms.values())
    assert planned_out < min(failure_of("as-failover").outage_ms.values())


def test_device_loss_on_prem_at_once_azure_after_the_hold_time() -> None:
    report = report_of("device-loss")
    t = timing_of(report)
    f = failure_of("device-loss")
    assert f.outage_ms["s1->azure"] < 500, f.outage_ms  # the site core sees its link go
    ms = f.outage_ms["azure->s1"]  # the gateways wait for the hold timer
    assert (t.hold - t.keepalive) * 1000 - 100 <= ms <= 1.5 * t.hold * 1000 + SLACK_MS, f.outage_ms
