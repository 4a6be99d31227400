"""Each change measured in its own window (controller.measure) and a scenario's per-flow expectations
(controller.judge), on records made in code: an active/active lab's flows on gw0 and gw1, gw0 failed
(its flows cut for a hold time, then on gw1), then restored (back on both)."""

from __future__ import annotations

from controller import judge
from controller.measure import Change, ProbeRun, last_fib_change, measure
from controller.oracle import Failures
from controller.results import Arrival, FailureResult, FibChange, FlowStats, RestoreResult
from controller.scenario import ExpectStep
from lab.load import load

INTERVAL = 5.0
FAIL_AT, BACK_AT, RESTORE_AT, END = 1000.0, 3500.0, 6000.0, 8000.0


def flows() -> list[FlowStats]:
    out = []
    for i in range(4):
        direction = "s1->azure" if i < 2 else "azure->s1"
        out.append(FlowStats(i, direction, "a", "b", 1, 2, sent=1600, first_sent_ms=0.0, last_sent_ms=7995.0))
    return out


def arrivals() -> list[Arrival]:
    """Flows 0 and 2 on gw0 until it fails, cut until BACK_AT, then on gw1, back on gw0 after the
    restore; flows 1 and 3 on gw1 throughout."""
    out = []
    for flow in range(4):
        on_gw0 = flow in (0, 2)
        seq, t = 0, 0.0
        while t < END:
            if on_gw0 and FAIL_AT <= t < BACK_AT:
                pass  # lost
            else:
                path = "gw0/t-s1-vpn0" if on_gw0 and (t < FAIL_AT or t >= RESTORE_AT + 100) else "gw1/t-s1-vpn0"
                out.append(Arrival(flow, seq, t, t + 1.0, path))
            seq += 1
            t += INTERVAL
    return out


def changes() -> tuple[FailureResult, RestoreResult, list[Change]]:
    failure = FailureResult(target="gw0", mode="crash", injected_ms=FAIL_AT, detection="hold-timer",
                            expected_detection_ms=3000.0)  # fmt: skip
    restore = RestoreResult(target="gw0", restored_ms=RESTORE_AT)
    return failure, restore, [Change(FAIL_AT, failure, settled_ms=BACK_AT), Change(RESTORE_AT, restore)]


def test_each_change_gets_its_window_outage_and_paths() -> None:
    failure, restore, made = changes()
    fib = [FibChange("s1-vpn0", 3400.0, "10.1.0.0/16", "del"), FibChange("vnet", 6050.0, "192.168.10.0/24", "add")]
    measure(made, [ProbeRun(flows(), arrivals())], fib, END)
    assert failure.window_end_ms == RESTORE_AT and restore.window_end_ms is None
    assert failure.outage_ms == {"s1->azure": 2505.0, "azure->s1": 2505.0}
    assert failure.lost == {"s1->azure": 500, "azure->s1": 500}
    assert failure.path_before == {"s1->azure": ["gw0", "gw1"], "azure->s1": ["gw0", "gw1"]}
    assert failure.path_after == {"s1->azure": ["gw1"], "azure->s1": ["gw1"]}
    assert failure.symmetric_after is True
    assert [c.node for c in failure.fib_changes] == ["s1-vpn0"] and [c.node for c in restore.fib_changes] == ["vnet"]
    assert restore.outage_ms == {"s1->azure": 5.0, "azure->s1": 5.0} and restore.lost == {
        "s1->azure": 0,
        "azure->s1": 0,
    }
    assert restore.path_before == {"s1->azure": ["gw1"], "azure->s1": ["gw1"]}
    assert restore.path_after == {"s1->azure": ["gw0", "gw1"], "azure->s1": ["gw0", "gw1"]}


def test_without_probes_only_windows_and_fib_changes() -> None:
    failure, _, made = changes()
    measure(made, [], [], END)
    assert failure.window_end_ms == RESTORE_AT and failure.outage_ms == {} and failure.path_after == {}


def test_convergence_is_the_last_fib_change_of_the_nodes_that_run() -> None:
    fib = [
        FibChange("gw0", 1500.0, "p", "del"),
        FibChange("s1-vpn0", 3300.0, "p", "del"),
        FibChange("vnet", 9e3, "p", "add"),
    ]
    assert last_fib_change(fib, FAIL_AT, 4000.0, frozenset({"gw0"})) == 3300.0
    assert last_fib_change(fib, FAIL_AT, 3000.0, frozenset({"gw0"})) == FAIL_AT  # nothing changed: the change itself


def test_flows_a_failure_did_not_concern_are_judged_alone() -> None:
    failure, restore, made = changes()
    record = flows(), arrivals()
    measure(made, [ProbeRun(*record)], [], END)
    topo = load("active-active")
    change = judge.Change("gw0 crash", FAIL_AT, failure, Failures(nodes={"gw0"}), restore=False)
    assert judge.concerned(change, *record, topo, END) == {0: True, 1: False, 2: True, 3: False}

    def verdict(**expect: object) -> tuple[bool, str]:
        pending = judge.Pending(9, ExpectStep.model_validate(expect), 0.0, 0.0, {}, change)
        (result,) = judge.judge(pending, *record, topo, END)
        return result.passed, result.detail

    assert verdict(flows="untouched", lost_max=0) == (True, "2 flows")
    ok, detail = verdict(flows="touched", lost_max=0)
    assert not ok and "flow 0 (s1->azure): 500 lost, outage 2505.0 ms" in detail
    assert verdict(flows="touched", direction="s1->azure", outage_ms={"min": 2000, "max": 4000}) == (True, "1 flows")
    # a restore concerns the flows that cross the restored element after it: 0 and 2, back on gw0
    back = judge.Change("gw0 restored", RESTORE_AT, restore, Failures(nodes={"gw0"}), restore=True)
    assert judge.concerned(back, *record, topo, END) == {0: True, 1: False, 2: True, 3: False}


def test_the_paths_after_are_what_was_sent_once_settled() -> None:
    """A packet sent on gw0 just before the lab settled on gw1, and held 150 ms (userspace ESP on a
    busy machine), arrives inside the window of the paths after: it says nothing about them."""
    failure, _, made = changes()
    late = [*arrivals(), Arrival(0, 10_000, BACK_AT - 5.0, BACK_AT + 150.0, "gw0/t-s1-vpn0")]
    measure(made, [ProbeRun(flows(), late)], [], END)
    assert failure.path_after == {"s1->azure": ["gw1"], "azure->s1": ["gw1"]}


def test_a_direction_whose_prober_sent_nothing_once_settled_takes_its_next_packets() -> None:
    """The azure->s1 sender starved for the whole window of the paths after (nothing it sent then, so
    nothing to read): the paths after are those of what it sent next, before the restore, not
    "nothing (lost)"; and the silence is no outage or loss of the network."""
    failure, _, made = changes()
    quiet = (BACK_AT + 40.0, BACK_AT + 900.0)
    record = []
    for a in arrivals():
        if a.flow >= 2 and quiet[0] <= a.sent_ms < quiet[1]:
            continue  # not sent: the sequence numbers go on after the stall
        if a.flow >= 2 and a.sent_ms >= quiet[1]:
            a = Arrival(a.flow, a.seq - 172, a.sent_ms, a.received_ms, a.path)
        record.append(a)
    measure(made, [ProbeRun(flows(), record)], [], END)
    assert failure.path_after == {"s1->azure": ["gw1"], "azure->s1": ["gw1"]}
    assert failure.outage_ms["azure->s1"] == 2505.0  # gw0's cut, the stall's 860 ms not charged
