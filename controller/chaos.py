"""Chaos runs: random failures from the lab's own catalogue (controller.failures.targets and their
modes), one or a few at a time, restored again; after every step the lab must have converged to what
the oracle predicts for the failures in effect, and the probes (running throughout) must have taken
the predicted paths. The first disagreement stops the run; the report says the steps that led there.

Reproducible: a seeded `Planner` makes every choice from what is failed now, so the same seed gives the
same sequence of steps (the duration only decides how many of them run; `steps` fixes that too).

Which failures go together: a failure never overlaps one in effect (the same node, tunnel or link, a
node at an end of the other's tunnel or link, or an instance in a zone that is failed): restoring one
would undo part of the other. A prefix flood runs alone (its restore clears the site's sessions on
routers that must be alive). Active/standby: one instance (or zone holding one) at a time, the
platform's failover is modelled for one, and tunnels only while the first instance holds the shared
IPs. Everything else goes, both instances of an active/active gateway included: the oracle predicts
what happens, a total outage too.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from controller.analysis import UNKNOWN_PATH, elements
from controller.failures import load_active, targets
from controller.oracle import Failures
from controller.results import Expectation, Measured, RunReport, StepRecord
from controller.session import LabSession
from lab.errors import GwlabError

OBSERVE_MS = 700.0  # traffic watched after each step, once the lab has converged
FAIL_SHARE = 0.5  # when failing and restoring are both possible: the odds of failing


@dataclass(frozen=True)
class Action:
    kind: Literal["fail", "restore"]
    target: str
    mode: str = ""  # a failure's mode (a restore undoes the mode it was failed in)

    def __str__(self) -> str:
        return f"{self.kind} {self.target}{f' {self.mode}' if self.mode else ''}"


@dataclass(frozen=True)
class Footprint:
    """What a failure takes out: nodes, and tunnels or links by their two ends."""

    kind: str  # the failure kind (instance, zone, tunnel, flood...)
    nodes: frozenset[str]
    edges: frozenset[frozenset[str]]

    @classmethod
    def of(cls, kind: str, failed: Failures) -> Footprint:
        edges = {frozenset(e.split("~")) for e in failed.tunnels | failed.links}
        return cls(kind, frozenset(failed.nodes), frozenset(edges))

    def overlaps(self, other: Footprint) -> bool:
        if self.nodes & other.nodes or self.edges & other.edges:
            return True
        return any(end in other.nodes for e in self.edges for end in e) or any(
            end in self.nodes for e in other.edges for end in e
        )


@dataclass
class Planner:
    """The choices of a chaos run, from a seeded RNG and the failures in effect: pure (no lab)."""

    catalogue: dict[str, tuple[str, ...]]  # target -> modes
    footprints: dict[str, Footprint]
    seed: int
    max_concurrent: int = 2
    active_standby: bool = False
    rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def allowed(self, target: str, active: list[str], standby_active: bool) -> bool:
        mine = self.footprints[target]
        others = [self.footprints[t] for t in active]
        if target in active or any(mine.overlaps(o) for o in others):
            return False
        if mine.kind == "flood" or any(o.kind == "flood" for o in others):
            return not others
        if self.active_standby:
            gateway_kinds = ("instance", "zone")
            if mine.kind in gateway_kinds and any(o.kind in gateway_kinds for o in others):
                return False
            if mine.kind == "tunnel" and standby_active:
                return False
        return True

    def next(self, active: list[tuple[str, str]], standby_active: bool = False) -> Action:
        """The next step, given (target, mode) of every failure in effect, in the order injected."""
        targets = [t for t, _ in active]
        candidates = [t for t in sorted(self.catalogue) if self.allowed(t, targets, standby_active)]
        can_fail = len(active) < self.max_concurrent and bool(candidates)
        if active and (not can_fail or self.rng.random() >= FAIL_SHARE):
            target, mode = active[self.rng.randrange(len(active))]
            return Action("restore", target, mode)
        if not can_fail:
            raise ValueError("nothing can be failed in this lab")
        target = candidates[self.rng.randrange(len(candidates))]
        modes = self.catalogue[target]
        return Action("fail", target, modes[self.rng.randrange(len(modes))])


def plan(planner: Planner, steps: int) -> list[Action]:
    """The first `steps` actions of a seed, without a lab (the failures in effect simulated; an
    active/standby takeover is not, so this is what an active/active lab would run)."""
    active: list[tuple[str, str]] = []
    out = []
    for _ in range(steps):
        action = planner.next(active)
        if action.kind == "fail":
            active.append((action.target, action.mode))
        else:
            active = [a for a in active if a[0] != action.target]
        out.append(action)
    return out


def planner_for(session: LabSession, seed: int, max_concurrent: int) -> Planner:
    """The planner of a lab: its catalogue and what each target takes out."""
    kinds = targets(session.lab)
    catalogue = {target: kind.modes for target, kind in sorted(kinds.items())}
    footprints = {t: Footprint.of(kinds[t].kind, session.elements(t, modes[0])) for t, modes in catalogue.items()}
    active_standby = session.topo.lab.vpn_gateway.mode == "active-standby"
    return Planner(catalogue, footprints, seed, max_concurrent, active_standby)


def paths_disagree(result: Measured) -> list[str]:
    """Where the measured traffic left the oracle's paths, per direction: a packet on an element the
    oracle does not predict, no traffic where it predicts a path, traffic where it predicts none.
    (An ECMP branch no probe flow hashed onto is not a disagreement.)"""
    out = []
    for direction, expected in sorted(result.expected_path_after.items()):
        measured = result.path_after.get(direction, [])
        seen = {e for m in measured for e in ([m] if m in expected else elements(m))}
        if not expected and seen:
            out.append(f"{direction}: traffic via {', '.join(sorted(seen))}, the oracle predicts no path")
        elif expected and not seen:
            out.append(f"{direction}: no traffic, the oracle predicts {', '.join(expected)}")
        elif seen - set(expected) or UNKNOWN_PATH in seen:
            out.append(f"{direction}: via {', '.join(sorted(seen))}, the oracle predicts {', '.join(expected)}")
    return out


@dataclass
class ChaosRun:
    session: LabSession
    planner: Planner
    duration_s: float | None = None
    steps: int | None = None
    log: Callable[[str], None] = lambda line: None
    expectations: list[Expectation] = field(default_factory=list)
    records: list[StepRecord] = field(default_factory=list)
    stopped: str = ""  # why the run stopped early ("" if it ran its course)

    def run(self, flows: int = 8, rate: float = 100) -> RunReport:
        session = self.session
        session.notes.append(f"chaos: seed {self.planner.seed}, at most {self.planner.max_concurrent} at a time")
        start = time.monotonic()
        with session.probes(flows, rate):
            session.observe(500)  # the paths before the first step
            index = 0
            while self._more(index, start):
                index += 1
                if not self._step(index):
                    break
            if session.active():  # whatever is still failed comes back (checked, unless the run stopped)
                self.log(f"restoring {', '.join(session.active())}")
                begun = session.now_ms()
                try:
                    results = session.restore_all()
                except GwlabError as exc:  # the report of what led here matters more
                    session.notes.append(f"could not restore everything at the end: {exc}")
                    self.stopped = self.stopped or f"restore at the end: {exc}"
                else:
                    if not self.stopped:
                        self._judge(index + 1, "restore all", results[-1], begun)
        report = session.report(f"chaos-seed-{self.planner.seed}")
        report.expectations = self.expectations
        report.steps = self.records
        if self.stopped:
            report.notes.append(f"stopped at the first disagreement: {self.stopped}")
        report.passed = all(e.passed for e in report.expectations) and not self.stopped
        return report

    def _more(self, index: int, start: float) -> bool:
        if self.steps is not None:
            return index < self.steps
        return self.duration_s is None or time.monotonic() - start < self.duration_s

    def _step(self, index: int) -> bool:
        session = self.session
        active = [(r.target, r.mode) for r in load_active(session.lab)]
        action = self.planner.next(active, session.state.standby_active)
        self.log(f"step {index}: {action}")
        begun = session.now_ms()
        result: Measured
        if action.kind == "fail":
            result = session.fail(action.target, action.mode, observe_ms=OBSERVE_MS)
        else:
            result = session.restore(action.target, observe_ms=OBSERVE_MS)
        return self._judge(index, str(action), result, begun)

    def _judge(self, index: int, what: str, result: Measured, begun: float) -> bool:
        took = self.session.now_ms() - begun
        converged = Expectation(
            index, "converge", f"{what}: lab converges to the oracle", result.converged, "; ".join(result.differences)
        )
        wrong = paths_disagree(result) if result.converged else []
        paths = Expectation(index, "paths", f"{what}: traffic takes the oracle's paths", not wrong, "; ".join(wrong))
        self.expectations += [converged, paths] if result.converged else [converged]
        ok = result.converged and not wrong
        detail = "; ".join(result.differences + wrong)
        self.records.append(StepRecord(index, what.split()[0], what, begun, took, ok, detail))
        if not ok:
            self.stopped = f"step {index} ({what}): {detail}"
            self.log(f"  disagreement: {detail}")
        return ok
