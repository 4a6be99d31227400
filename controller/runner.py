"""Run a scenario on a lab session: steps in order, each change measured in its own window, expectations
judged, a report made.

Control-plane convergence is checked live against the oracle (the session's one definition: sessions,
FIBs and BFD as the model predicts for the failures in effect). Data-plane expectations (paths,
symmetry, outage, loss, per-flow bounds) are judged on the probe record afterwards (controller.judge),
on the window that followed the step that asked for them.
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from controller import judge
from controller.results import Expectation, RunReport, StepRecord
from controller.scenario import (
    ConvergeStep,
    ExpectStep,
    FailStep,
    ObserveStep,
    ProbesStep,
    RestoreStep,
    Scenario,
    Step,
    lab_data,
)
from controller.scenario_check import check
from controller.session import LabSession
from lab.errors import GwlabError, LabError
from lab.ipsec.psk import write_private
from lab.load import load
from lab.runtime.backends import DEFAULT
from lab.runtime.state import RUN_ROOT
from lab.topology import Topology


@dataclass
class Runner:
    session: LabSession
    scenario: Scenario
    expectations: list[Expectation] = field(default_factory=list)
    steps: list[StepRecord] = field(default_factory=list)
    pending: list[judge.Pending] = field(default_factory=list)
    last: judge.Change | None = None  # the last change (failure or restore) made so far

    def run(self) -> RunReport:
        checked(self.scenario, self.session.topo)
        if self.session.topo.timing.profile.startswith("fast"):
            self.session.notes.append("fast profile: BGP, BFD and failover timers are scaled down from Azure's")
        try:
            for index, step in enumerate(self.scenario.steps, start=1):
                start = self.session.now_ms()
                what = self._step(index, step)
                ok = all(e.passed for e in self.expectations if e.step == index)
                self.steps.append(StepRecord(index, step.kind, what, start, self.session.now_ms() - start, ok))
        finally:
            if self.session.probing:
                self.session.stop_probes()
        report = self.session.report(self.scenario.name)
        for p in self.pending:
            self.expectations += judge.judge(p, report.flows, report.arrivals, self.session.topo, report.duration_ms)
        report.expectations = sorted(self.expectations, key=lambda e: e.step)
        report.steps = self.steps
        report.passed = all(e.passed for e in report.expectations)
        return report

    def _expect(
        self, step: int, kind: str, description: str, passed: bool, detail: str = "", duration_ms: float = 0.0
    ) -> None:
        self.expectations.append(Expectation(step, kind, description, passed, detail, duration_ms))

    def _step(self, index: int, step: Step) -> str:
        """Carry out one step; what it did, in a few words."""
        session = self.session
        match step:
            case ConvergeStep(within_ms=within):
                done = session.wait_converged(within / 1000)
                description = f"lab matches the oracle within {within} ms"
                self._expect(index, "converge", description, done.ok, "; ".join(done.lines()), done.seconds * 1000)
                return f"within {within} ms"
            case ProbesStep(action="start"):
                session.start_probes(self.scenario.probes.flows, self.scenario.probes.rate)
                return "start"
            case ProbesStep():
                session.stop_probes()
                return "stop"
            case FailStep():
                return self._fail(index, step)
            case RestoreStep():
                return self._restore(index, step)
            case ExpectStep():
                start = session.now_ms()
                oracle = session.expected_paths()
                time.sleep(step.window_ms / 1000)  # the observation window itself
                self.pending.append(judge.Pending(index, step, start, session.now_ms(), oracle, self.last))
                return f"{step.window_ms} ms observed"
            case ObserveStep(ms=ms):
                time.sleep(ms / 1000)  # traffic is observed for this long: time passing, not synchronisation
                return f"{ms} ms"
        raise AssertionError(f"unhandled step {step!r}")

    def _fail(self, index: int, step: FailStep) -> str:
        session = self.session
        concerns = session.elements(step.target, step.mode)
        result = session.fail(
            step.target,
            step.mode,
            timeout_s=step.within_ms / 1000 if step.within_ms else None,
            observe_ms=0,  # the expect steps that follow watch the traffic themselves
            announce=lambda delay_s, what: session.notes.append(f"step {index}: after {delay_s:g} s the {what}"),
        )
        label = f"{step.target} {result.mode}"
        self.last = judge.Change(label, result.injected_ms, result, concerns, restore=False)
        self._expect(
            index,
            "fail",
            f"{label}: lab converges to the oracle's prediction ({result.detection})",
            result.converged,
            "; ".join(result.differences),
            session.now_ms() - result.injected_ms,
        )
        return label

    def _restore(self, index: int, step: RestoreStep) -> str:
        session = self.session
        failed = next((f for f in reversed(session.history) if f.target == step.target and f.restore is None), None)
        if failed is None:
            raise GwlabError(f"step {index}: {step.target} is not failed in this scenario (nothing to restore)")
        concerns = session.elements(step.target, failed.mode)
        result = session.restore(step.target, timeout_s=step.within_ms / 1000 if step.within_ms else None, observe_ms=0)
        self.last = judge.Change(f"{step.target} restored", result.restored_ms, result, concerns, restore=True)
        self._expect(
            index,
            "restore",
            f"{step.target} restored: lab converges back",
            result.converged,
            "; ".join(result.differences),
            session.now_ms() - result.restored_ms,
        )
        return step.target


def checked(scenario: Scenario, topo: Topology) -> None:
    """Raise a LabError, one line per problem, if the scenario cannot run on this lab."""
    problems = check(scenario, topo)
    if problems:
        raise LabError(scenario.source or scenario.name, problems)


def scenario_topology(scenario: Scenario, lab_override: str | None = None) -> Topology:
    """The lab the scenario would run on, its overrides merged in (nothing is built)."""
    source, data = lab_data(scenario, lab_override)
    if data is None:
        return load(source)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{scenario.name}.yaml"
        write_private(path, yaml.safe_dump(data, sort_keys=False).encode())  # may carry a pre-shared key
        return load(str(path))


def run_scenario(
    scenario: Scenario,
    lab_override: str | None = None,
    attach_to: str | None = None,
    keep: bool = False,
    runtime: str = DEFAULT,
) -> RunReport:
    """Run the scenario on the running lab `attach_to` (it stays up), or bring its lab up on `runtime`
    (checked against the scenario first: nothing is built for a scenario that cannot run on it), run
    it and take the lab down (unless kept)."""
    if attach_to is not None:
        with LabSession(attach_to) as session:
            return Runner(session, scenario).run()
    source, data = lab_data(scenario, lab_override)
    name = f"scn{os.getpid() % 100000}"
    merged: Path | None = None
    if data is not None:
        RUN_ROOT.mkdir(parents=True, exist_ok=True)
        merged = RUN_ROOT / f"{name}.lab.yaml"
        # 0600: overrides may carry a connection's pre-shared key
        write_private(merged, yaml.safe_dump(data, sort_keys=False).encode())
        source = str(merged)
    try:
        checked(scenario, load(source))
        session = LabSession.up(source, name=name, runtime=runtime)
        session.owned = not keep
        with session:
            return Runner(session, scenario).run()
    finally:
        if merged is not None and not keep:
            merged.unlink(missing_ok=True)
