"""One running lab and everything done to it: `LabSession`, the facade that the command line, the
scenario runner, the pytest plugin, chaos runs and exercises act through.

For one lab, a session owns:
- the oracle's view: what is failed now (`failures`, `active`), what the oracle predicts for it
  (`prediction`, `expected_paths`), the failure catalogue (`targets`);
- convergence, in one definition (controller.converge: BGP sessions, FIBs and BFD against the
  prediction for the failures in effect): `differences()` looks once, `wait_converged()` polls;
- changes: `fail()` and `restore()` inject or undo, wait for convergence and measure the change in its
  own window, from it to the next change (controller.measure): with probes running, outage and loss
  per direction, paths before and after from the data plane beside the oracle's; convergence as the
  last FIB change (controller.fibmon), not the time the poll returned. Figures measured while the
  probes run are replaced by the final record's when they stop;
- probes: `with session.probes():`, or `start_probes()` / `stop_probes()`; `record()`;
- state for checks: `vtysh_json()`, `wait_json()` (a subset match, FRR topotests' json_cmp), `fib_paths()`.

Times are milliseconds since the session's `t0_ns` (the shared monotonic clock), as in every report.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from controller import converge
from controller.analysis import paths_in_window
from controller.converge import Difference, timeout_s_for
from controller.failures import current_failures, from_record, inject, load_active, resolve, restore, targets
from controller.fibmon import FibMonitor
from controller.jsoncmp import json_cmp
from controller.measure import AFTER_MS, BEFORE_MS, Change, ProbeRun, last_fib_change, measure
from controller.observe import current_paths
from controller.oracle import Failures, Prediction, predict
from controller.probes import ProbeSession
from controller.results import Arrival, FailureResult, FibChange, FlowStats, RestoreResult, RunReport
from lab.errors import GwlabError
from lab.poll import poll
from lab.runtime import frr, lifecycle
from lab.runtime.backends import DEFAULT
from lab.runtime.base import Progress, Runtime
from lab.runtime.running import RunningLab, attach
from lab.runtime.state import LabState
from lab.topology import Node, Topology

FIRST_PACKETS_S = 5.0  # how long starting probes waits for traffic in every direction
LIVE_LAG_MS = 250.0  # how far behind the live record is: the receivers' 100 ms spool, packets in flight
FIB_STAMP_SLACK_MS = 200.0  # a FIB monitor thread stamps a change when it reads it, late on a busy machine

Announce = Callable[[float, str], None]  # (delay s, what the platform does after it)


@dataclass
class Convergence:
    ok: bool
    seconds: float  # until the poll saw it (or gave up)
    differences: list[Difference]

    def lines(self) -> list[str]:
        return converge.describe(self.differences)


@dataclass
class JsonCheck:
    ok: bool
    differences: list[str]  # what of the expected state was not there (json_cmp), or why it was not read
    seconds: float
    value: Any  # the state read last


class LabSession:
    """A running lab (a RunningLab, or its name) and what is done to it. `owned`: `close()` takes the
    lab down (a session that brought it up with `LabSession.up`)."""

    def __init__(self, lab: RunningLab | str, *, owned: bool = False, t0_ns: int | None = None) -> None:
        self.lab = attach(lab) if isinstance(lab, str) else lab
        self.owned = owned
        self.t0_ns = time.monotonic_ns() if t0_ns is None else t0_ns
        self.started = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        self.history: list[FailureResult] = []  # the failures this session injected, in order
        self.notes: list[str] = []
        self._changes: list[Change] = []
        self._runs: list[ProbeRun] = []  # stopped probe runs
        self._probes: ProbeSession | None = None
        self._fibmon: FibMonitor | None = None
        self._fib: list[FibChange] = []  # what the monitor recorded once stopped
        self._closed = False

    @classmethod
    def up(
        cls,
        source: str,
        name: str | None = None,
        runtime: str = DEFAULT,
        timeout_s: float | None = None,
        progress: Progress | None = None,
    ) -> LabSession:
        """Bring lab `source` up until it has converged (controller.converge.up; a lab that does not
        converge is taken down again) and own it: `close()` takes it down."""
        started = converge.up(
            source, name=name, runtime=runtime, timeout_s=timeout_s, cleanup_on_failure=True, progress=progress
        )
        return cls(started.lab, owned=True)

    # -- the lab -------------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.lab.name

    @property
    def topo(self) -> Topology:
        return self.lab.topo

    @property
    def runtime(self) -> Runtime:
        return self.lab.runtime

    @property
    def state(self) -> LabState:
        return self.lab.state

    def node(self, name: str) -> Node:
        return self.lab.node(name)

    def now_ms(self) -> float:
        return (time.monotonic_ns() - self.t0_ns) / 1e6

    # -- the oracle ----------------------------------------------------------------------------------
    def failures(self) -> Failures:
        """What is failed now, as the oracle sees it (the lab's record: also failures made elsewhere)."""
        return current_failures(self.lab)

    def active(self) -> list[str]:
        """The targets failed now, in the order they were failed."""
        return [r.target for r in load_active(self.lab)]

    def targets(self) -> dict[str, tuple[str, ...]]:
        """The lab's failure catalogue: target -> its modes (the first is the default)."""
        return {target: kind.modes for target, kind in sorted(targets(self.lab).items())}

    def elements(self, target: str, mode: str | None = None) -> Failures:
        """What failing `target` takes out, as the oracle sees it (nodes, tunnels, links, flooded sites)."""
        into = Failures()
        resolve(self.lab, target, mode).elements(into)
        return into

    def prediction(self) -> Prediction:
        return predict(self.topo, self.failures())

    def expected_paths(self) -> dict[str, list[str]]:
        return self.prediction().paths

    # -- convergence ---------------------------------------------------------------------------------
    def differences(self) -> list[Difference]:
        """What differs now from the oracle's prediction for the failures in effect (one look)."""
        return self.wait_converged(0.0).differences

    def wait_converged(self, timeout_s: float | None = None, failures: Failures | None = None) -> Convergence:
        """Until BGP sessions, FIBs and BFD match the oracle for the failures in effect (default: as
        long as a lab's `up` may take)."""
        failures = failures or self.failures()
        wait_s = timeout_s_for(self.topo) if timeout_s is None else timeout_s
        ok, seconds, diffs = converge.wait(self.lab, predict(self.topo, failures), wait_s, skip=failures.nodes)
        return Convergence(ok, seconds, diffs)

    # -- changes -------------------------------------------------------------------------------------
    def fail(
        self,
        target: str,
        mode: str | None = None,
        *,
        timeout_s: float | None = None,
        wait: bool = True,
        observe_ms: float = AFTER_MS,
        announce: Announce | None = None,
    ) -> FailureResult:
        """Inject a failure, wait until the lab has converged to the oracle's prediction (default: the
        failure's detection time and a margin, Detection.timeout_s) and measure it; with probes running,
        `observe_ms` of traffic on the new paths is watched before returning."""
        failure = resolve(self.lab, target, mode)
        if target in self.active():
            raise GwlabError(f"{target} is already failed (restore it first: gwlab restore {target})")
        detection = failure.detection()
        self._monitor()
        result = FailureResult(
            target=target,
            mode=failure.mode,
            injected_ms=self.now_ms(),
            detection=detection.mechanism,
            expected_detection_ms=detection.expected_ms,
        )
        change = Change(result.injected_ms, result)
        self._changes.append(change)
        self.history.append(result)
        inject(self.lab, failure, announce)
        self._settle(change, detection.timeout_s if timeout_s is None else timeout_s, wait, observe_ms)
        return result

    def restore(
        self, target: str, *, timeout_s: float | None = None, wait: bool = True, observe_ms: float = AFTER_MS
    ) -> RestoreResult:
        """Undo the failure of `target` (made by this session or recorded by another, `gwlab fail`),
        wait until the lab has converged back and measure the restore like a failure."""
        record = next((r for r in load_active(self.lab) if r.target == target), None)
        if record is None:
            failed = ", ".join(self.active()) or "none"
            raise GwlabError(f"{target} is not failed (failed now: {failed})")
        self._monitor()
        result = RestoreResult(target=target, restored_ms=self.now_ms())
        origin = next((f for f in reversed(self.history) if f.target == target and f.restore is None), None)
        if origin is not None:
            origin.restored_ms, origin.restore = result.restored_ms, result
        change = Change(result.restored_ms, result)
        self._changes.append(change)
        restore(self.lab, from_record(self.lab, record))
        self._settle(change, timeout_s_for(self.topo) if timeout_s is None else timeout_s, wait, observe_ms)
        return result

    def restore_all(self, timeout_s: float | None = None) -> list[RestoreResult]:
        """Every failure in effect undone, the last one first; the lab waited for once, after the last."""
        active = self.active()
        return [
            self.restore(target, timeout_s=timeout_s, wait=i == len(active) - 1)
            for i, target in enumerate(reversed(active))
        ]

    @contextmanager
    def failed(self, target: str, mode: str | None = None, **options: Any) -> Iterator[FailureResult]:
        """`with session.failed("gw0", "crash") as outcome:` the failure in effect inside the block, and
        restored after it (an exercise's check leaves the student's lab as it was)."""
        result = self.fail(target, mode, **options)
        try:
            yield result
        finally:
            if target in self.active():
                self.restore(target)

    def _settle(self, change: Change, timeout_s: float, wait: bool, observe_ms: float) -> None:
        failures = self.failures()
        change.skip = frozenset(failures.nodes)
        change.result.expected_path_after = predict(self.topo, failures).paths
        if wait:
            done = self.wait_converged(timeout_s, failures)
            if done.ok:
                change.converged_until_ms = self.now_ms()
            else:
                change.result.differences = done.lines()
            if self._probes is not None and observe_ms > 0:
                time.sleep(observe_ms / 1000)  # traffic watched on the new paths: time passing, not synchronisation
        self.measure()

    # -- probes --------------------------------------------------------------------------------------
    def start_probes(self, flows: int = 8, rate: float = 200) -> ProbeSession:
        """UDP probes both ways between every site's host and the VNet VM (`flows` per direction)."""
        if self._probes is not None:
            raise GwlabError("probes are running already (one probe session per lab)")
        self._monitor()
        self._probes = ProbeSession(self.lab, flows_per_direction=flows, rate_pps=rate, t0_ns=self.t0_ns).start()
        self._first_packets(self._probes)
        return self._probes

    def _first_packets(self, probes: ProbeSession, timeout_s: float = FIRST_PACKETS_S) -> None:
        """Until every direction's first packet has arrived (or a few seconds: a direction may have no
        path while something is failed), so that a failure injected next has traffic before it to
        measure against."""

        direction = {f.flow: d.name for d in probes.directions for f in d.flows}  # the plan, known at start

        def seen() -> set[str]:
            return {direction[a.flow] for a in probes.snapshot()[1] if a.flow in direction}

        poll(seen, lambda got: got >= set(direction.values()), timeout_s=timeout_s, interval_s=0.1)

    def stop_probes(self) -> tuple[list[FlowStats], list[Arrival]]:
        """Stop the probes; the final record replaces the live one in every change's figures."""
        if self._probes is None:
            raise GwlabError("no probes are running")
        probes, self._probes = self._probes, None
        try:
            flows, arrivals = probes.stop()
        finally:
            probes.close()
        self._runs.append(ProbeRun(flows, arrivals))
        for direction, ms in probes.late_senders().items():
            self.notes.append(
                f"the {direction} probe sender fell behind its schedule by up to {ms:,.0f} ms (a busy machine):"
                " a silence of the sender is not counted as an outage"
            )
        self.measure()
        return flows, arrivals

    @contextmanager
    def probes(self, flows: int = 8, rate: float = 200) -> Iterator[ProbeSession]:
        probes = self.start_probes(flows, rate)
        try:
            yield probes
        except BaseException:
            if self._probes is probes:
                self._probes = None
                probes.close()
            raise
        self.stop_probes()

    @property
    def probing(self) -> bool:
        return self._probes is not None

    def record(self) -> tuple[list[FlowStats], list[Arrival]]:
        """Every probe run's flows and arrivals so far (the running one read live)."""
        runs = self._probe_runs()
        return [f for r in runs for f in r.flows], [a for r in runs for a in r.arrivals]

    def _probe_runs(self) -> list[ProbeRun]:
        runs = list(self._runs)
        if self._probes is not None:
            flows, arrivals = self._probes.snapshot()
            runs.append(ProbeRun(flows, arrivals, until_ms=self.now_ms() - LIVE_LAG_MS))
        return runs

    def measured_paths(self, start_ms: float, end_ms: float) -> dict[str, list[str]]:
        """The transit elements that carried each direction's probes received in [start, end)."""
        merged: dict[str, set[str]] = {}
        for run in self._probe_runs():
            for direction, elements in paths_in_window(run.flows, run.arrivals, start_ms, end_ms).items():
                merged.setdefault(direction, set()).update(elements)
        return {d: sorted(e) for d, e in sorted(merged.items())}

    def observe(self, ms: float) -> dict[str, list[str]]:
        """Watch the traffic for `ms`; the paths it took meanwhile (from the live record)."""
        start = self.now_ms()
        time.sleep(ms / 1000)  # the observation window itself
        time.sleep(LIVE_LAG_MS / 1000)  # until the receivers have spooled it
        return self.measured_paths(start, start + ms)

    def measure(self) -> None:
        """The changes' figures again, from the record as it is now. Once the probes have stopped,
        every change's, from the final record; while they run, the latest change's only, from the
        traffic since just before it (the others are final when the probes stop: a long chaos run
        stays linear in its length)."""
        fib = self._fibmon.since(0.0) if self._fibmon is not None else self._fib
        for change in self._changes:
            if change.converged_until_ms is not None:
                until = change.converged_until_ms + FIB_STAMP_SLACK_MS
                settled = last_fib_change(fib, change.t_ms, until, change.skip)
                change.settled_ms = settled
                change.result.converged_ms = settled - change.t_ms
        if self._probes is None or not self._changes:
            measure(self._changes, self._probe_runs(), fib, self.now_ms())
            return
        for earlier, later in pairwise(self._changes):
            earlier.result.window_end_ms = later.t_ms
        last = self._changes[-1]
        since = last.t_ms - BEFORE_MS
        recent = [
            ProbeRun(run.flows, [a for a in run.arrivals if a.received_ms >= since], run.until_ms)
            for run in self._probe_runs()
        ]
        measure([last], recent, [c for c in fib if c.t_ms >= last.t_ms], self.now_ms())

    # -- state for checks ----------------------------------------------------------------------------
    def vtysh_json(self, node: str, command: str, timeout_s: float = 5.0) -> Any:
        """`command` (a `show ... json`) on router `node`'s FRR, parsed."""
        self.lab.node(node)
        return frr.vtysh_json(self.runtime.frr_dir(node), command, timeout=timeout_s)

    def wait_json(
        self, node: str, command: str, expected: Any, timeout_s: float = 10.0, interval_s: float = 0.5
    ) -> JsonCheck:
        """Poll `command` on `node` until its JSON contains `expected` (json_cmp's subset match) or the
        deadline passes (FRR topotests' run_and_expect with json_cmp)."""

        def look() -> tuple[list[str], Any]:
            try:
                value = self.vtysh_json(node, command)
            except GwlabError as exc:
                return [str(exc)], None
            return json_cmp(value, expected), value

        result = poll(look, lambda seen: not seen[0], timeout_s=timeout_s, interval_s=interval_s)
        return JsonCheck(result.ok, result.value[0], result.seconds, result.value[1])

    def fib_paths(self) -> dict[str, list[str]]:
        """The transit elements each direction would take now, walking the kernel FIBs (all ECMP branches)."""
        return current_paths(self.lab)

    # -- the end -------------------------------------------------------------------------------------
    def report(self, scenario: str = "session") -> RunReport:
        """What this session did and measured, as the reports (controller.report) take it."""
        self.measure()
        flows, arrivals = self.record()
        return RunReport(
            self.name,
            scenario,
            self.topo.timing.profile,
            self.started,
            self.t0_ns,
            duration_ms=self.now_ms(),
            failures=list(self.history),
            flows=flows,
            arrivals=arrivals,
            notes=list(self.notes),
        )

    def _monitor(self) -> None:
        if self._fibmon is None and not self._closed:
            self._fibmon = FibMonitor(self.lab, self.t0_ns).start()

    def close(self) -> None:
        """Probes and FIB monitors stopped (the figures final); the lab taken down if the session owns it."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._probes is not None:
                self.stop_probes()
        finally:
            if self._fibmon is not None:
                self._fib = self._fibmon.stop()
                self._fibmon = None
            self.measure()
            if self.owned:
                lifecycle.down(self.name)

    def __enter__(self) -> LabSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def session_of(lab: LabSession | RunningLab | str) -> LabSession:
    """A session on `lab`: the one given, or a new one on a RunningLab or a running lab's name."""
    return lab if isinstance(lab, LabSession) else LabSession(lab)
