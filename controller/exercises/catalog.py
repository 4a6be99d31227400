"""The shipped exercises (one folder each under catalog/), loaded and checked against their labs, and
their vtysh lines resolved on a topology."""

from __future__ import annotations

from pathlib import Path

import jinja2
import yaml

from controller.exercises.model import (
    Exercise,
    FailoverCheck,
    FloodEdit,
    IpsecEdit,
    JsonCheck,
    MeasureCheck,
    VtyshEdit,
    parse_exercise,
)
from controller.failures import targets
from lab.errors import LabError, Problem
from lab.load import load, resolve_source
from lab.topology import Topology

CATALOG = Path(__file__).resolve().parent / "catalog"
ONPREM_ROLES = ("vpn", "ce", "core")  # what a student may configure: the Azure side is Microsoft's
ACTIVE = "active"  # a check's target: the active instance of an active/standby gateway, when it runs


def exercise_names() -> list[str]:
    return sorted(p.name for p in CATALOG.iterdir() if (p / "exercise.yaml").is_file())


def load_exercise(name: str) -> Exercise:
    """A shipped exercise by name, or an exercise folder (or its exercise.yaml) by path."""
    path = Path(name)
    folder = path.parent if path.name == "exercise.yaml" else path
    if not (folder / "exercise.yaml").is_file():
        if name not in exercise_names():
            known = ", ".join(exercise_names())
            raise LabError(name, [Problem("", f"no such exercise (gwlab exercise list: {known})")])
        folder = CATALOG / name
    return load_exercise_file(folder / "exercise.yaml", folder.resolve().name)


def load_exercise_file(path: Path, name: str | None = None) -> Exercise:
    source = f"{name}/exercise.yaml" if name else path.name
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise LabError(source, [Problem("", f"not valid YAML ({getattr(exc, 'problem', exc)})")]) from None
    exercise = parse_exercise(data, source, path.parent, name or path.stem)
    problems = exercise_problems(exercise, lab_topology(exercise, source))
    if problems:
        raise LabError(source, problems)
    return exercise


def lab_source(exercise: Exercise) -> str:
    """The lab file: lab.yaml (or the named file) beside the exercise, else a built-in."""
    own = exercise.folder / exercise.lab
    return str(own) if own.is_file() else str(resolve_source(exercise.lab))


def lab_topology(exercise: Exercise, source: str) -> Topology:
    try:
        return load(lab_source(exercise))
    except LabError as exc:
        raise LabError(source, [Problem("lab", line) for line in exc.lines()]) from None


def exercise_problems(exercise: Exercise, topo: Topology) -> list[Problem]:
    """What of the exercise its lab cannot do: a node it does not have or that a student may not
    configure, a failure target it lacks, a vtysh line that does not resolve."""
    problems: list[Problem] = []
    for field, edits in (("faults", exercise.faults), ("solution", exercise.solution)):
        for i, edit in enumerate(edits):
            where = f"{field}[{i}]"
            if isinstance(edit, IpsecEdit):
                problems += _ipsec_problems(edit, topo, where)
                continue
            if isinstance(edit, FloodEdit):
                problems += _flood_problems(edit, topo, where, field)
                continue
            node = topo.nodes.get(edit.node)
            if node is None or node.role not in ONPREM_ROLES:
                names = ", ".join(n.name for n in topo.nodes.values() if n.role in ONPREM_ROLES)
                problems.append(
                    Problem(f"{where}.node", f"'{edit.node}' is not an on-prem router of the lab ({names})")
                )
                continue
            try:
                vtysh_lines(edit, topo)
            except LabError as exc:
                problems += [Problem(f"{where}.vtysh", p.message) for p in exc.problems]
    catalogue = targets(topo)
    for i, check in enumerate(exercise.checks):
        if isinstance(check, FailoverCheck | MeasureCheck):
            if check.target == ACTIVE and topo.lab.vpn_gateway.mode == "active-standby":
                continue  # the instance active when the check runs (after a failover: the other)
            modes = catalogue.get(check.target)
            node = topo.nodes.get(check.target)
            if node is not None and node.role in ONPREM_ROLES:
                why = f"restoring {check.target} restarts its FRR and would undo the student's changes"
                problems.append(Problem(f"checks[{i}].target", f"{why} (fail Azure's side, a link or a tunnel)"))
                continue
            if modes is None:
                problems.append(Problem(f"checks[{i}].target", f"'{check.target}' is not a target of lab {topo.name}"))
            elif check.mode is not None and check.mode not in modes.modes:
                fix = ", ".join(modes.modes)
                problems.append(Problem(f"checks[{i}].mode", f"'{check.mode}' is not a mode of {check.target} ({fix})"))
        if isinstance(check, JsonCheck) and (
            topo.nodes.get(check.node) is None or not topo.nodes[check.node].is_router
        ):
            problems.append(Problem(f"checks[{i}].node", f"'{check.node}' is not a router of lab {topo.name}"))
    return problems


def _ipsec_problems(edit: IpsecEdit, topo: Topology, where: str) -> list[Problem]:
    ipsec = {t.name: t for t in topo.tunnels if t.ipsec is not None}
    if edit.tunnel not in ipsec:
        names = ", ".join(ipsec) or "none: the lab's tunnels are not IPsec"
        return [Problem(f"{where}.tunnel", f"'{edit.tunnel}' is not an IPsec tunnel of lab {topo.name} ({names})")]
    tunnel = ipsec[edit.tunnel]
    if edit.mismatch == "selectors" and tunnel.ipsec is not None and not tunnel.ipsec.onprem_ts:
        fix = "use a policy-based gateway or use_policy_based_traffic_selectors"
        return [Problem(f"{where}.mismatch", f"{edit.tunnel} has no traffic selectors to get wrong ({fix})")]
    return []


def _flood_problems(edit: FloodEdit, topo: Topology, where: str, field: str) -> list[Problem]:
    if field == "solution":
        return [Problem(f"{where}.flood", "a solution cannot stop a flood (fix the routers so that it does no harm)")]
    sites = [s.name for s in topo.lab.onprem.sites]
    if edit.flood not in sites:
        return [Problem(f"{where}.flood", f"'{edit.flood}' is not a site of lab {topo.name} ({', '.join(sites)})")]
    return []


def vtysh_lines(edit: VtyshEdit, topo: Topology) -> list[str]:
    """The edit's lines with peer(), local() and asn() resolved on `topo`."""

    def fail(message: str) -> None:
        raise LabError("", [Problem("", message)])

    def bgp_neighbor(node: str, other: str) -> tuple[str, str, int]:
        n = topo.nodes.get(node)
        if n is None or n.bgp is None:
            fail(f"peer('{node}', '{other}'): {node} is not a BGP router")
        assert n is not None and n.bgp is not None
        for neighbor in n.bgp.neighbors:
            if neighbor.peer == other:
                return str(neighbor.address), str(neighbor.update_source or ""), neighbor.multihop or 1
        fail(f"peer('{node}', '{other}'): {node} has no BGP session with {other}")
        raise AssertionError  # unreachable

    def asn(node: str) -> int:
        n = topo.nodes.get(node)
        if n is None or n.bgp is None:
            fail(f"asn('{node}'): {node} is not a BGP router")
        assert n is not None and n.bgp is not None
        return n.bgp.asn

    env = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)
    functions = {
        "peer": lambda node, other: bgp_neighbor(node, other)[0],
        "local": lambda node, other: bgp_neighbor(node, other)[1],
        "hops": lambda node, other: bgp_neighbor(node, other)[2],
        "asn": asn,
    }
    try:
        return [env.from_string(line).render(**functions) for line in edit.vtysh]
    except jinja2.TemplateError as exc:
        raise LabError(
            "", [Problem("", f"{exc} (use peer(node, other), local(node, other), hops(node, other), asn(node))")]
        ) from None
