"""pytest fixtures for your own convergence tests (registered as the `gwlab` pytest plugin).

```python
def test_my_failover(gwlab_lab, gwlab_scenario):
    lab = gwlab_lab("my-lab.yaml")                 # up, converged; taken down after the test
    report = gwlab_scenario("my-scenario.yaml", lab)
    assert report.passed, report.expectations

def test_instance_loss(gwlab_lab, gwlab_probes, gwlab_fail):
    lab = gwlab_lab("active-active")
    with gwlab_probes(lab) as probes:
        result = gwlab_fail(lab, "gw0", "crash")     # waits for convergence, returns timings
    flows, arrivals = probes.result
    assert result.converged_ms < 5000
```
Needs root (network namespaces) and FRR; see README.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest

from controller.converge import converge_now, up
from controller.failures import current_failures, from_record, inject, load_active, resolve, restore
from controller.oracle import predict
from controller.probes import ProbeSession
from controller.results import Arrival, FlowStats, RunReport
from controller.runner import Runner
from controller.scenario import load_scenario
from lab.runtime.backends import DEFAULT
from lab.runtime.lifecycle import down
from lab.runtime.running import RunningLab


@dataclass
class FailOutcome:
    target: str
    mode: str
    detection: str
    expected_detection_ms: float
    converged: bool
    converged_ms: float
    paths: dict[str, list[str]]


@dataclass
class ProbeRun:
    session: ProbeSession
    result: tuple[list[FlowStats], list[Arrival]] = field(default_factory=lambda: ([], []))


@pytest.fixture
def gwlab_lab() -> Iterator[Callable[..., RunningLab]]:
    """Factory: gwlab_lab(LAB, name=None, runtime="netns") brings LAB up (converged) and takes it down
    after the test."""
    names: list[str] = []

    def make(source: str, name: str | None = None, runtime: str = DEFAULT) -> RunningLab:
        lab_name = name or f"pt{os.getpid() % 10000}{len(names)}"
        lab = up(source, name=lab_name, runtime=runtime, cleanup_on_failure=True).lab
        names.append(lab_name)
        return lab

    yield make
    for lab_name in names:
        down(lab_name)


@pytest.fixture
def gwlab_scenario() -> Callable[..., RunReport]:
    """gwlab_scenario(SCENARIO, lab) runs a scenario file or built-in on a running lab."""

    def run(scenario: str, lab: RunningLab) -> RunReport:
        return Runner(lab, load_scenario(scenario)).run()

    return run


@pytest.fixture
def gwlab_probes() -> Callable[..., Any]:
    """Context manager: traffic both ways between every site and the VNet VM while the block runs."""

    @contextmanager
    def probes(lab: RunningLab, flows: int = 8, rate: float = 200) -> Iterator[ProbeRun]:
        run = ProbeRun(ProbeSession(lab, flows_per_direction=flows, rate_pps=rate).start())
        try:
            yield run
        finally:
            run.result = run.session.stop()

    return probes


@pytest.fixture
def gwlab_fail() -> Iterator[Callable[..., FailOutcome]]:
    """gwlab_fail(lab, TARGET, MODE=None) injects a failure, waits for convergence; restored after the test."""
    injected: list[tuple[RunningLab, str]] = []

    def fail(lab: RunningLab, target: str, mode: str | None = None, timeout_s: float | None = None) -> FailOutcome:
        failure = resolve(lab, target, mode)
        detection = failure.detection()
        start = time.monotonic()
        injected.append((lab, target))
        inject(lab, failure)
        ok, _ = converge_now(lab, timeout_s or detection.expected_ms / 1000 + 15)
        return FailOutcome(
            target,
            failure.mode,
            detection.mechanism,
            detection.expected_ms,
            ok,
            (time.monotonic() - start) * 1000,
            predict(lab.topo, current_failures(lab)).paths,
        )

    yield fail
    for lab, target in reversed(injected):
        for record in load_active(lab):
            if record.target == target:
                restore(lab, from_record(lab, record))
