"""A scenario checked against the lab it will run on, before anything is built: every failure target
and mode exists in the lab, a restore undoes something failed, traffic is expected only while probes
run, outages only after a change, directions and path elements are the lab's. One Problem per mistake,
naming the step and field (the scenario file's error lines)."""

from __future__ import annotations

from collections.abc import Iterator

from controller.attribution import TRANSIT_ROLES, build_codebook
from controller.failures import targets
from controller.probes import plan
from controller.scenario import ExpectStep, FailStep, ProbesStep, RestoreStep, Scenario
from lab.errors import Problem
from lab.topology import Topology


def _names(items: list[str]) -> str:
    return ", ".join(items) or "none"


def check(scenario: Scenario, topo: Topology) -> list[Problem]:
    return list(_walk(scenario, topo))


def _walk(scenario: Scenario, topo: Topology) -> Iterator[Problem]:
    catalogue = targets(topo)
    directions = [d.name for d in plan(topo, 1)]  # what the probes send: sites, point-to-site clients, remote VNets
    # transit elements ("gw0") or their paths through one ("gw0/t-s1-vpn1": a tunnel to vpn1)
    elements = sorted({n.name for n in topo.nodes.values() if n.role in TRANSIT_ROLES})
    labels = {m.label for m in build_codebook(topo, (1, 1)).marks} | set(elements)
    failed: dict[str, int] = {}  # target -> the step that failed it
    probing = False
    changed = False
    for i, step in enumerate(scenario.steps):
        at = f"steps[{i}].{step.kind}"
        if isinstance(step, ProbesStep):
            if (step.action == "start") == probing:
                fix = (
                    "running already at this point (stop them first)"
                    if probing
                    else "not running at this point (start them before)"
                )
                yield Problem(at, f"probes are {fix}")
            probing = step.action == "start"
        elif isinstance(step, FailStep):
            kind = catalogue.get(step.target)
            if kind is None:
                known = _names(sorted(catalogue))
                yield Problem(
                    f"{at}.target", f"'{step.target}' is not a failure target of lab {topo.name} (use one of: {known})"
                )
                continue
            if step.mode is not None and step.mode not in kind.modes:
                modes = ", ".join(kind.modes)
                yield Problem(f"{at}.mode", f"'{step.mode}' is not a mode of {step.target} (use one of: {modes})")
            if step.target in failed:
                yield Problem(
                    f"{at}.target",
                    f"{step.target} is failed already (by steps[{failed[step.target]}]; restore it first)",
                )
            failed[step.target] = i
            changed = True
        elif isinstance(step, RestoreStep):
            if failed.pop(step.target, None) is None:
                yield Problem(
                    f"{at}.target", f"{step.target} is not failed at this point (failed: {_names(sorted(failed))})"
                )
            changed = True
        elif isinstance(step, ExpectStep):
            yield from _expect(step, at, probing, changed, directions, elements, labels)


def _expect(
    step: ExpectStep,
    at: str,
    probing: bool,
    changed: bool,
    directions: list[str],
    elements: list[str],
    labels: set[str],
) -> Iterator[Problem]:
    if step.judges_traffic and not probing:
        yield Problem(at, "traffic is judged from the probes, which do not run here (add '- probes: start' before)")
    if step.judges_change and not changed:
        yield Problem(at, "outage and loss belong to a failure or restore, and none comes before this step")
    if step.direction is not None and step.direction not in directions:
        yield Problem(
            f"{at}.direction", f"'{step.direction}' is not a direction of this lab (use one of: {_names(directions)})"
        )
    if isinstance(step.paths, dict):
        for name, path in step.paths.items():
            if name not in directions:
                yield Problem(
                    f"{at}.paths", f"'{name}' is not a direction of this lab (use one of: {_names(directions)})"
                )
            for element in path:
                if element not in labels:
                    yield Problem(
                        f"{at}.paths.{name}",
                        f"'{element}' is not a transit element of this lab (use one of: {_names(elements)})",
                    )
