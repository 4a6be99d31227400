"""An exercise's goal checked on the live lab, through the LabSession: nothing is reloaded, so what a
student typed into vtysh is what is checked, and it stays. A failure injected by a check is restored
before the check returns (Azure's side or a link: never a router the student configures)."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

from controller import analysis
from controller.converge import Difference
from controller.exercises.catalog import ACTIVE, ONPREM_ROLES
from controller.exercises.model import (
    AnyCheck,
    ConvergedCheck,
    Exercise,
    FailoverCheck,
    JsonCheck,
    MeasureCheck,
    TrafficCheck,
)
from controller.session import LabSession
from lab.errors import GwlabError

OBSERVE_MS = 400  # traffic watched before a failure, to know the paths it leaves
PROBE_FLOWS = 8  # per direction and site: 8 flows reach every ECMP branch (4 did not always)
PROBE_RATE = 100  # per flow: every packet crosses two charons (userspace ESP); at 200 a busy machine lost them


@dataclass
class CheckResult:
    kind: str
    ok: bool | None  # None: not checked, an earlier check did not pass
    message: str
    details: list[str] = field(default_factory=list)
    seconds: float = 0.0
    measured: dict[str, Any] = field(default_factory=dict)  # figures a check measured (outage_ms, paths)


@dataclass
class CheckRun:
    exercise: str
    lab: str
    results: list[CheckResult]

    @property
    def passed(self) -> bool:
        return all(r.ok for r in self.results)

    @property
    def score(self) -> int:
        return sum(1 for r in self.results if r.ok)

    def as_dict(self) -> dict[str, Any]:
        return {
            "exercise": self.exercise,
            "lab": self.lab,
            "passed": self.passed,
            "score": self.score,
            "total": len(self.results),
            "checks": [asdict(r) for r in self.results],
        }


def run_checks(session: LabSession, exercise: Exercise, answer_ms: float | None = None) -> CheckRun:
    """Every check in order; the first that fails stops the others (they build on it). `answer_ms`:
    the student's answer to a measure check."""
    results: list[CheckResult] = []
    active = session.active()
    for check in exercise.checks:
        if results and not results[-1].ok:
            results.append(CheckResult(check.kind, None, "not checked yet: " + (check.fail or _default_fail(check))))
            continue
        if active:
            restore = f"gwlab restore --all -n {session.name}"
            results.append(
                CheckResult(check.kind, False, f"{', '.join(active)} is failed: restore it first ({restore})")
            )
            continue
        start = time.monotonic()
        ok, details, measured = _run(session, check, answer_ms)
        message = (check.pass_ or _default_pass(check)) if ok else (check.fail or _default_fail(check))
        results.append(CheckResult(check.kind, ok, message, details, round(time.monotonic() - start, 2), measured))
    return CheckRun(exercise.name, session.name, results)


def _run(session: LabSession, check: AnyCheck, answer_ms: float | None) -> tuple[bool, list[str], dict[str, Any]]:
    if isinstance(check, ConvergedCheck):
        done = session.wait_converged(check.within_s)
        # The student's routers first: that is where the fix is.
        diffs = sorted(done.differences, key=lambda d: _role_rank(session, d.node))
        return done.ok, [say(session, d) for d in diffs[:6]], {}
    if isinstance(check, JsonCheck):
        found = session.wait_json(check.node, check.command, check.expect, timeout_s=check.within_s)
        return found.ok, [f"{check.node} '{check.command}': {d}" for d in found.differences[:6]], {}
    if isinstance(check, TrafficCheck):
        with session.probes(PROBE_FLOWS, PROBE_RATE):
            seen = session.observe(check.window_ms)
        return _judge_paths(session, check.paths, seen, check.symmetric)
    if isinstance(check, FailoverCheck):
        return _failover(session, check)
    if isinstance(check, MeasureCheck):
        return _measure(session, check, answer_ms)
    raise GwlabError(f"unknown check {check!r}")


def measure_outage(session: LabSession, target: str, mode: str | None) -> tuple[float, Any]:
    """The worst outage over both directions when `target` fails (restored afterwards), measured."""
    if target == ACTIVE:  # the instance holding the gateway's IPs now
        target = next(n.name for n in session.topo.by_role("gateway") if n.standby == session.state.standby_active)
    with session.probes(PROBE_FLOWS, PROBE_RATE):
        session.observe(OBSERVE_MS)
        with session.failed(target, mode) as outcome:
            pass
    return max(outcome.outage_ms.values(), default=0.0), outcome


def _measure(
    session: LabSession, check: MeasureCheck, answer_ms: float | None
) -> tuple[bool, list[str], dict[str, Any]]:
    if answer_ms is None:
        target = check.target if check.target != ACTIVE else "<the active instance: gwlab status>"
        how = f"gwlab fail {target} --measure -n {session.name}, then gwlab restore {target}"
        return False, [f"measure it ({how}) and answer: gwlab exercise check --answer MS"], {}
    worst, _ = measure_outage(session, check.target, check.mode)
    slack = max(check.tolerance * worst, 1000.0)
    measured = {"worst_outage_ms": round(worst), "answer_ms": answer_ms}
    if abs(answer_ms - worst) > slack:
        return (
            False,
            [f"your answer, {answer_ms:,.0f} ms, is not what the lab measured now (within {slack:,.0f} ms)"],
            measured,
        )
    return True, [f"measured now: {worst:,.0f} ms; your answer: {answer_ms:,.0f} ms"], measured


def _failover(session: LabSession, check: FailoverCheck) -> tuple[bool, list[str], dict[str, Any]]:
    _, outcome = measure_outage(session, check.target, check.mode)
    details: list[str] = []
    outage = {d: round(ms) for d, ms in outcome.outage_ms.items()}
    measured: dict[str, Any] = {"outage_ms": outage, "lost": dict(outcome.lost), "paths": outcome.paths}
    if not outcome.converged:
        details.append(
            f"with {check.target} failed, the lab did not settle as expected: " + "; ".join(outcome.differences[:3])
        )
    worst = max(outage.values(), default=0)
    for direction, ms in sorted(outage.items()):
        if ms > check.outage_ms:
            details.append(f"{direction}: traffic was lost for {ms:,} ms (at most {check.outage_ms:,.0f} ms allowed)")
    ok_paths, path_lines, _ = _judge_paths(session, check.paths, outcome.paths, None, outcome.expected_paths)
    details += [f"while {check.target} was failed, {line}" for line in path_lines]
    measured["worst_outage_ms"] = worst
    if not details:
        lost = ", ".join(f"{d} {ms:,} ms" for d, ms in sorted(outage.items()))
        details.append(f"measured: traffic lost for {lost}; then through {_paths_text(outcome.paths)}")
        return outcome.converged and worst <= check.outage_ms and ok_paths, details, measured
    return False, details, measured


def _judge_paths(
    session: LabSession,
    wanted: str | dict[str, list[str]] | None,
    seen: dict[str, list[str]],
    symmetric: bool | None,
    oracle: dict[str, list[str]] | None = None,
) -> tuple[bool, list[str], dict[str, Any]]:
    details = []
    expected: dict[str, list[str]] = {}
    if wanted == "oracle":
        expected = oracle if oracle is not None else session.expected_paths()
    elif isinstance(wanted, dict):
        expected = wanted
    for direction, elements in sorted(expected.items()):
        got = seen.get(direction, [])
        if sorted(got) != sorted(elements):
            want = ", ".join(elements) or "no path"
            details.append(
                f"{direction} went through {', '.join(got) or 'nothing (lost)'}; it should go through {want}"
            )
    if symmetric is not None:
        for site, same in analysis.symmetric(seen).items():
            if same != symmetric:
                to_azure = ", ".join(seen.get(f"{site}->azure", [])) or "nothing"
                back = ", ".join(seen.get(f"azure->{site}", [])) or "nothing"
                details.append(f"{site}: traffic to Azure goes through {to_azure} but comes back through {back}")
    return not details, details, {"paths": seen}


def say(session: LabSession, d: Difference) -> str:
    """A convergence difference as a student reads it."""
    if d.what == "session":
        peer = next((n.peer for n in _neighbors(session, d.node) if str(n.address) == d.item), "")
        who = f"{d.item} ({peer})" if peer else d.item
        return f"{d.node}: the BGP session with {who} should be {d.expected}, it is {d.actual}"
    if d.what == "fib":
        return f"{d.node}: the route to {d.item} should go via {d.expected}, it goes via {d.actual}"
    return f"{d.node}: {d.what} {d.item} should be {d.expected}, it is {d.actual}"


def _role_rank(session: LabSession, node: str) -> int:
    n = session.topo.nodes.get(node)
    return 0 if n is not None and n.role in ONPREM_ROLES else 1


def _paths_text(paths: dict[str, list[str]]) -> str:
    return "; ".join(f"{d}: {', '.join(e) or 'nothing'}" for d, e in sorted(paths.items()))


def _neighbors(session: LabSession, node: str) -> list[Any]:
    n = session.topo.nodes.get(node)
    return list(n.bgp.neighbors) if n is not None and n.bgp is not None else []


def _default_pass(check: AnyCheck) -> str:
    return {
        "converged": "every BGP session, route and BFD session is as it should be",
        "traffic": "traffic takes the paths it should",
        "json": "the router shows what it should",
        "failover": "traffic survives the failure in time",
        "measure": "your measurement matches the lab's",
    }[check.kind]


def _default_fail(check: AnyCheck) -> str:
    if isinstance(check, FailoverCheck):
        return f"when {check.target} fails, traffic must be back within {check.outage_ms:,.0f} ms"
    if isinstance(check, MeasureCheck):
        return f"how long is traffic lost when {check.target} fails? measure it and answer"
    return {
        "converged": "some BGP sessions or routes are not as they should be",
        "traffic": "traffic does not take the paths it should",
        "json": "the router does not show what it should",
    }[check.kind]
