"""pytest fixtures for your own convergence tests (registered as the `gwlab` pytest plugin).

```python
def test_instance_loss(gwlab_lab, gwlab_probes, gwlab_fail):
    lab = gwlab_lab("active-active")                # up, converged; taken down after the test
    with gwlab_probes(lab):
        outcome = gwlab_fail(lab, "gw0", "crash")   # waits for convergence; restored after the test
    assert outcome.paths == {"s1->azure": ["gw1"], "azure->s1": ["gw1"]}   # measured, data plane
    assert outcome.paths == outcome.expected_paths  # ... and what the oracle predicted
    assert outcome.outage_ms["azure->s1"] < 1000

def test_my_scenario(gwlab_scenario):
    report = gwlab_scenario("my-scenario.yaml")     # on its own lab, brought up and taken down
    assert report.passed, report.expectations
```
`gwlab_lab` gives a `controller.session.LabSession` (the facade: `fail`, `restore`, `probes`,
`wait_converged`, `vtysh_json`, `wait_json`...). `gwlab_fail` returns a FailureResult: with probes
running, outage and loss per direction, paths before and after measured from the data plane, the
oracle's paths beside them, convergence as the last FIB change; figures measured while probes run are
final once the `gwlab_probes` block has ended. Needs root (network namespaces) and FRR; see README.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field

import pytest

from controller.probes import ProbeSession
from controller.results import Arrival, FailureResult, FlowStats, RunReport
from controller.runner import Runner, run_scenario
from controller.scenario import load_scenario
from controller.session import LabSession
from lab.runtime.backends import DEFAULT
from lab.runtime.running import RunningLab

Lab = LabSession | RunningLab


@dataclass
class ProbeRun:
    session: ProbeSession
    result: tuple[list[FlowStats], list[Arrival]] = field(default_factory=lambda: ([], []))

    @property
    def flows(self) -> list[FlowStats]:
        return self.result[0]

    @property
    def arrivals(self) -> list[Arrival]:
        return self.result[1]


class _Sessions:
    """One LabSession per lab in a test: probes, failures and their measurements meet in it."""

    def __init__(self) -> None:
        self.by_name: dict[str, LabSession] = {}

    def of(self, lab: Lab) -> LabSession:
        if isinstance(lab, LabSession):
            return self.by_name.setdefault(lab.name, lab)
        if lab.name not in self.by_name:
            self.by_name[lab.name] = LabSession(lab)
        return self.by_name[lab.name]

    def close(self) -> None:
        for session in reversed(list(self.by_name.values())):
            session.close()
        self.by_name.clear()


@pytest.fixture
def _gwlab_sessions() -> Iterator[_Sessions]:
    sessions = _Sessions()
    yield sessions
    sessions.close()


@pytest.fixture
def gwlab_lab(_gwlab_sessions: _Sessions) -> Callable[..., LabSession]:
    """Factory: gwlab_lab(LAB, name=None, runtime="netns") brings LAB up (converged) and takes it down
    after the test; returns its LabSession."""
    made: list[str] = []

    def make(source: str, name: str | None = None, runtime: str = DEFAULT) -> LabSession:
        lab_name = name or f"pt{os.getpid() % 10000}{len(made)}"
        session = LabSession.up(source, name=lab_name, runtime=runtime)
        made.append(lab_name)
        return _gwlab_sessions.of(session)

    return make


@pytest.fixture
def gwlab_scenario(_gwlab_sessions: _Sessions) -> Callable[..., RunReport]:
    """gwlab_scenario(SCENARIO, lab=None): run a scenario file or built-in on a running lab, or, without
    one, on the scenario's own lab, brought up for it and taken down afterwards."""

    def run(scenario: str, lab: Lab | None = None) -> RunReport:
        loaded = load_scenario(scenario)
        if lab is None:
            return run_scenario(loaded)
        return Runner(_gwlab_sessions.of(lab), loaded).run()

    return run


@pytest.fixture
def gwlab_probes(_gwlab_sessions: _Sessions) -> Callable[..., AbstractContextManager[ProbeRun]]:
    """Context manager: traffic both ways between every site and the VNet VM while the block runs;
    `.flows` and `.arrivals` once it has ended."""

    @contextmanager
    def probes(lab: Lab, flows: int = 8, rate: float = 200) -> Iterator[ProbeRun]:
        session = _gwlab_sessions.of(lab)
        with session.probes(flows, rate) as probe_session:
            run = ProbeRun(probe_session)
            yield run
        run.result = session.record()

    return probes


@pytest.fixture
def gwlab_fail(_gwlab_sessions: _Sessions) -> Iterator[Callable[..., FailureResult]]:
    """gwlab_fail(lab, TARGET, MODE=None, timeout_s=None): inject, wait for convergence, measure; every
    failure still in effect is restored after the test."""
    injected: list[tuple[LabSession, str]] = []

    def fail(lab: Lab, target: str, mode: str | None = None, timeout_s: float | None = None) -> FailureResult:
        session = _gwlab_sessions.of(lab)
        injected.append((session, target))
        return session.fail(target, mode, timeout_s=timeout_s)

    yield fail
    for session, target in reversed(injected):
        if target in session.active():
            session.restore(target, observe_ms=0)
