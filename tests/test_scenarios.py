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
- IPsec dead-peer detection (the built-in labs' tunnels): a DPD request every dpd_delay, then its
  retransmits; the peer is declared dead between the retransmits' sum and dpd_delay more after it fell
  silent (lab.ipsec.dpd.Dpd.detection_window: 1-2 s in the fast profile, below its 3 s hold timer);
- a link down or a withdraw has no timer: what is measured is the lab's own propagation.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from controller import analysis
from controller.results import FailureResult, RunReport
from controller.runner import run_scenario, scenario_topology
from controller.scenario import FailStep, builtin_scenarios, load_scenario, parse_scenario
from controller.scenario_check import check
from lab.ipsec import dpd
from lab.load import load
from lab.profiles import PROFILES, Timing
from tests.helpers import FULL_TESTS, require_root

pytestmark = [pytest.mark.root, pytest.mark.slow]

# Scenarios run by `make test-full` only: aa-instance-crash-realistic waits 100 s for Azure's DPD and a
# 90 s hold timer, a ninth of CI's 15 minutes on one worker (CI took 908 s with it); DPD before the hold
# timer is still proven at the fast profile's timers (aa-instance-crash, double-failure, v2v-transit).
FULL_ONLY: set[str] = {"aa-instance-crash-realistic"}
SCENARIOS = sorted(builtin_scenarios() if FULL_TESTS else set(builtin_scenarios()) - FULL_ONLY)
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
    """The failed expectations, and the run's notes (a late probe sender among them)."""
    wrong = [f"step {e.step} {e.kind}: {e.description} — {e.detail}" for e in report.expectations if not e.passed]
    return "; ".join([*wrong, *(f"note: {n}" for n in report.notes)])


# -- (a) every built-in scenario holds -----------------------------------------------------------


def test_every_topology_and_failure_kind_is_covered() -> None:
    scenarios = [load_scenario(n) for n in sorted(builtin_scenarios())]
    assert {s.lab for s in scenarios} >= {
        "active-standby",
        "active-active",
        "dual-redundancy",
        "er-vpn",
        "zone-redundant",
        "hybrid",
        "policy-based",
        "point-to-site",
        "vnet-to-vnet",
    }
    failures = {(step.target, step.mode) for s in scenarios for step in s.steps if isinstance(step, FailStep)}
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
        ("s1-vpn0~gw0", "psk-mismatch"),
        ("s1-vpn0~gw0", "selector-mismatch"),
        ("v2-gw0~gw0", "down"),  # VNet-to-VNet: a tunnel between the VNets, a remote instance
        ("v2-gw0", "crash"),
    }
    assert any(s.overrides.get("expressroute", {}).get("bfd") is False for s in scenarios)
    assert any(s.overrides.get("profile") == "realistic" for s in scenarios)  # Azure's DPD timeout


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.scenarios(n)) for n in SCENARIOS])
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


@pytest.mark.scenarios("er-failover", "msee-crash")
def test_link_down_is_seen_at_once() -> None:
    for name in ("er-failover", "msee-crash"):
        f = failure_of(name)
        assert f.detection == "link-down"
        assert f.outage_ms and max(f.outage_ms.values()) < 750, f"{name}: {f.outage_ms}"


@pytest.mark.scenarios("er-failover")
def test_the_site_core_moves_from_expressroute_to_vpn_in_one_step() -> None:
    """The VPN devices get only the site's prefixes from the core, so they always advertise their
    tunnels and the core holds them as its backup: when the circuit fails, the core's FIB goes from the
    customer edges straight to the VPN devices, never through a moment without a route."""
    f = failure_of("er-failover")
    topo = load("hybrid")
    core = topo.nodes["s1-core"]
    assert core.bgp is not None
    devices = {str(n.address) for n in core.bgp.neighbors if n.kind == "ibgp" and topo.nodes[n.peer].role == "vpn"}
    assert f.converged_ms is not None
    converged = f.injected_ms + f.converged_ms  # before the restore brings ExpressRoute back
    changes = [c for c in f.fib_changes if c.node == "s1-core" and c.prefix == "10.1.0.0/16" and c.t_ms <= converged]
    assert changes and all(c.action == "add" for c in changes), changes
    assert {hop.split("@")[0] for hop in changes[-1].next_hops} == devices, changes


@pytest.mark.scenarios("er-link-bfd")
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


@pytest.mark.scenarios("er-link-bfd", "er-link-no-bfd")
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


def dpd_window_ms(name: str) -> tuple[float, float]:
    """The DPD window of the scenario's lab's tunnels (all alike in the built-ins)."""
    topo = load(load_scenario(name).lab)
    windows = {t.ipsec.dpd.detection_window() for t in topo.tunnels if t.ipsec is not None}
    assert len(windows) == 1, windows
    low, high = windows.pop()
    return low * 1000, high * 1000


@pytest.mark.scenarios("aa-instance-crash")
def test_crashed_active_active_instance_is_seen_by_dead_peer_detection() -> None:
    report = report_of("aa-instance-crash")
    t = timing_of(report)
    f = failure_of("aa-instance-crash")
    low, high = dpd_window_ms("aa-instance-crash")
    assert f.detection == "dpd" and f.expected_detection_ms == high < t.hold * 1000
    ms = f.outage_ms["s1->azure"]  # on-prem has only DPD (no BFD on VPN), shorter than the hold timer
    assert low - 100 <= ms <= high + SLACK_MS + 500, f"{ms:.0f} ms, DPD window {low:.0f}-{high:.0f} ms"
    assert f.outage_ms["azure->s1"] < 1000  # the platform sees its own instance go
    # Only the flows that were on gw0 were hit: those on gw1 carried on.
    assert f.restored_ms is not None
    before = analysis.flow_paths(report.flows, report.arrivals, f.injected_ms - 500, f.injected_ms)
    gaps = analysis.flow_gaps(report.flows, report.arrivals, f.injected_ms, f.restored_ms)
    on_gw1 = [flow for flow, elements in before.items() if elements == ["gw1"]]
    hit = [f.flow for f in report.flows if f.direction == "s1->azure" and before[f.flow] == ["gw0"]]
    assert on_gw1 and hit, before
    assert all(gaps[flow][0] < 300 for flow in on_gw1), {flow: gaps[flow] for flow in on_gw1}
    assert all(gaps[flow][0] >= low - 100 for flow in hit), {f: gaps[f] for f in hit}


@pytest.mark.scenarios("graceful-maintenance")
def test_graceful_maintenance_is_near_zero() -> None:
    f = failure_of("graceful-maintenance")
    assert f.detection == "withdraw"
    assert f.outage_ms and max(f.outage_ms.values()) < 300, f.outage_ms


@pytest.mark.scenarios("as-failover", "as-maintenance")
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


@pytest.mark.scenarios("device-loss")
def test_device_loss_on_prem_at_once_azure_after_dead_peer_detection() -> None:
    f = failure_of("device-loss")
    low, high = dpd_window_ms("device-loss")
    assert f.detection == "dpd"
    assert f.outage_ms["s1->azure"] < 500, f.outage_ms  # the site core sees its link go
    ms = f.outage_ms["azure->s1"]  # the gateways wait for DPD on the device's tunnels
    assert low - 100 <= ms <= high + SLACK_MS + 500, f.outage_ms


# -- (d) two failures without a restore between them: each charged with its own outage -------------


def gaps_begun(report: RunReport, direction: str, start_ms: float, end_ms: float) -> float:
    """Straight from the probe record, independently of controller.analysis: the longest interval
    between a flow's arrivals that brought a packet newer than any before (in the order received),
    whose first missing packet (sent 1/rate after the packet before the gap) was due, at that packet's
    delay, in [start, end); less the time the sender itself fell behind its schedule in it."""
    interval = 1000.0 / load_scenario(report.scenario).probes.rate
    flows = {f.flow for f in report.flows if f.direction == direction}
    longest = 0.0
    for flow in flows:
        newest, fresh = -1, []
        for a in sorted((a for a in report.arrivals if a.flow == flow), key=lambda a: a.received_ms):
            if a.seq > newest:
                newest = a.seq
                fresh.append(a)
        for before, after in itertools.pairwise(fresh):
            if start_ms <= before.received_ms + interval < end_ms:
                late = max(0.0, after.sent_ms - before.sent_ms - (after.seq - before.seq) * interval)
                longest = max(longest, after.received_ms - before.received_ms - late)
    return longest


@pytest.mark.scenarios("double-failure")
def test_two_failures_each_measured_in_its_own_window() -> None:
    """double-failure: the circuit goes down, then gw0 crashes before anything is restored. The
    circuit is charged with its own outage only (a link down: well under a second), although flows
    it moved to gw0 are cut again by gw0's crash 1-2 s later (dead-peer detection); gw0 with its DPD
    gap; the restores with theirs; and every figure agrees with the record read directly."""
    report = report_of("double-failure")
    low, _ = dpd_window_ms("double-failure")
    assert report.passed, failed(report)
    circuit, gw0 = report.failures
    assert (circuit.target, gw0.target) == ("circuit", "gw0")
    assert circuit.window_end_ms == gw0.injected_ms, "the circuit's window ends where gw0's begins"
    assert gw0.restore is not None and circuit.restore is not None
    assert gw0.window_end_ms == gw0.restore.restored_ms
    dpd_gap = gaps_begun(report, "s1->azure", gw0.injected_ms, gw0.restore.restored_ms)
    assert dpd_gap >= low - 100, f"no dead-peer-detection gap after gw0's crash: {dpd_gap}"
    # The old measure (every gap overlapping the circuit's window, until the circuit's restore)
    # charged the circuit with gw0's gap; the circuit's own is its link-down outage.
    assert max(circuit.outage_ms.values()) < 1000 < dpd_gap, circuit.outage_ms
    windows = [
        (circuit, circuit.injected_ms, gw0.injected_ms),
        (gw0, gw0.injected_ms, gw0.restore.restored_ms),
        (gw0.restore, gw0.restore.restored_ms, circuit.restore.restored_ms),
        (circuit.restore, circuit.restore.restored_ms, report.duration_ms),
    ]
    for change, start, end in windows:
        assert set(change.outage_ms) == {"s1->azure", "azure->s1"}
        for direction, ms in change.outage_ms.items():
            # the gap's start is estimated from the rate here, from the flow's own sends there
            assert ms == pytest.approx(gaps_begun(report, direction, start, end), abs=10.0), (change, direction)
    assert gw0.restore.lost == {"s1->azure": 0, "azure->s1": 0} or max(gw0.restore.outage_ms.values()) < 1000
    untouched = [e for e in report.expectations if e.kind == "flows"]
    assert untouched and all(e.passed for e in untouched), untouched


# -- (e) on-prem routing policy moves traffic, measured per tunnel -----------------------------------


@pytest.mark.scenarios("device-loss", "prepend-steers")
def test_prepending_on_one_device_moves_azures_traffic_to_the_other() -> None:
    """prepend-steers: before vpn1 is lost every packet from the VNet crossed a tunnel to vpn1, after it
    a tunnel to vpn0; the same lab without prepending (device-loss, before its failure) used both."""
    report = report_of("prepend-steers")
    assert report.passed, failed(report)
    f = failure_of("prepend-steers")
    assert f.restored_ms is not None and f.converged_ms is not None

    def tunnels(name: str, start: float, end: float) -> list[str]:
        r = report_of(name)
        return analysis.paths_in_window(r.flows, r.arrivals, start, end, labels=True)["azure->s1"]

    assert tunnels("prepend-steers", 0, f.injected_ms) == ["gw0/t-s1-vpn1", "gw1/t-s1-vpn1"]
    after = f.injected_ms + f.converged_ms + 100
    assert tunnels("prepend-steers", after, f.restored_ms) == ["gw0/t-s1-vpn0", "gw1/t-s1-vpn0"]
    control = failure_of("device-loss")
    assert {t.split("/")[1] for t in tunnels("device-loss", 0, control.injected_ms)} == {"t-s1-vpn0", "t-s1-vpn1"}


# -- (e) IPsec: realistic DPD, IKE failures, point-to-site --------------------------------------------


@pytest.mark.scenarios("aa-instance-crash-realistic")
def test_realistic_dpd_sees_a_crashed_instance_long_before_the_hold_timer() -> None:
    if not FULL_TESTS:
        pytest.skip("make test-full runs it (100 s of Azure's timers)")
    report = report_of("aa-instance-crash-realistic")
    f = failure_of("aa-instance-crash-realistic")
    low, high = dpd.for_target(45, 2).detection_window()  # the realistic profile's DPD (Azure's 45 s)
    assert report.profile == "realistic+custom" and f.detection == "dpd" and f.expected_detection_ms == high * 1000
    hold_low_ms = 60_000  # hold 90 s, keepalive 30 s: the hold timer expires 60-90 s after the crash
    ms = f.outage_ms["s1->azure"]
    assert low * 1000 - 1000 <= ms <= high * 1000 + 2000 < hold_low_ms, f"{ms:.0f} ms, DPD window {low}-{high} s"


@pytest.mark.scenarios("psk-mismatch", "selector-mismatch", "tunnel-blackhole", "tunnel-down", "uplink-loss")
def test_ike_failures_are_named_in_the_report() -> None:
    assert failure_of("psk-mismatch").detection == "ike-auth"
    assert failure_of("selector-mismatch").detection == "ike-selectors"
    assert failure_of("tunnel-down").detection == "ike-delete"
    assert failure_of("tunnel-blackhole").detection == failure_of("uplink-loss").detection == "dpd"


@pytest.mark.scenarios("p2s-failover")
def test_each_point_to_site_client_reconnects_after_the_failover() -> None:
    report = report_of("p2s-failover")
    t = timing_of(report)
    f = failure_of("p2s-failover")
    assert f.detection == "failover"
    clients = sorted(d for d in f.outage_ms if d.startswith("p2s"))
    assert clients == ["p2s0->azure", "p2s1->azure"]
    for d in clients:  # the failover delay, then the standby's charon and the client's next attempt
        assert t.failover_unplanned_s * 1000 - 100 <= f.outage_ms[d] <= t.failover_unplanned_s * 1000 + 3500, (
            f.outage_ms
        )
    assert f.path_after["p2s0->azure"] == f.path_after["azure->p2s1"] == ["gw1"]


@pytest.mark.parametrize("name", sorted(builtin_scenarios()))
def test_builtin_scenario_checks_clean_against_its_lab(name: str) -> None:
    """Before anything is built: every built-in scenario's targets, directions (point-to-site clients'
    too) and path elements are its lab's."""
    scenario = load_scenario(name)
    assert check(scenario, scenario_topology(scenario)) == []


@pytest.mark.scenarios("v2v-transit")
def test_a_crashed_remote_instance_is_seen_by_dead_peer_detection_and_transit_carries_on() -> None:
    """VNet-to-VNet: v2-gw0 crashes. The lab's gateway sees it by DPD on its tunnels to it (the flows from
    s1 to v2 on those tunnels wait for it), v2's own VNet router at once; the flows between s1 and v2 that
    crossed only v2-gw1 carry on."""
    report = report_of("v2v-transit")
    f = failure_of("v2v-transit", 1)
    assert f.target == "v2-gw0"
    low, high = dpd_window_ms("v2v-transit")
    assert f.detection == "dpd" and f.expected_detection_ms == high
    ms = f.outage_ms["s1->v2"]
    assert low - 100 <= ms <= high + SLACK_MS + 500, f"{ms:.0f} ms, DPD window {low:.0f}-{high:.0f} ms"
    assert f.outage_ms["v2->s1"] < 1000  # the VNet v2 sees its own instance go
    assert f.path_after["s1->v2"] == ["gw0", "gw1", "v2-gw1"] == f.expected_path_after["s1->v2"]
    assert f.restored_ms is not None
    before = analysis.flow_paths(report.flows, report.arrivals, f.injected_ms - 500, f.injected_ms)
    gaps = analysis.flow_gaps(report.flows, report.arrivals, f.injected_ms, f.restored_ms)
    spared = [fl.flow for fl in report.flows if fl.direction == "s1->v2" and "v2-gw0" not in before[fl.flow]]
    assert spared, before
    assert all(gaps[flow][1] == 0 for flow in spared), {flow: gaps[flow] for flow in spared}  # nothing lost


@pytest.mark.scenarios("v2v-no-bgp")
def test_without_bgp_the_site_never_reaches_the_remote_vnet() -> None:
    """v2v-no-bgp: the VNets reach each other over static routes; s1 and v2 exchange nothing."""
    report = report_of("v2v-no-bgp")
    received: dict[str, int] = {}
    for fl in report.flows:
        received[fl.direction] = received.get(fl.direction, 0) + fl.received
    assert received["azure->v2"] > 0 and received["v2->azure"] > 0, received
    assert received["s1->v2"] == 0 and received["v2->s1"] == 0, received
