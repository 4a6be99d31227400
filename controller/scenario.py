"""The scenario file: a lab, probe settings, and steps (converge, probes, fail, restore, expect, observe).

```yaml
name: er-circuit-failover
lab: hybrid                       # built-in name or a path relative to this file
overrides: {expressroute: {bfd: false}}   # optional, deep-merged into the lab file
probes: {flows: 8, rate: 200}
steps:
  - converge: {within_ms: 30000}
  - probes: start
  - expect: {paths: oracle}       # or {s1->azure: [msee0, msee1], ...}, or per tunnel: [gw0/t-s1-vpn1]
  - fail: {target: circuit, mode: down}
  - expect: {paths: oracle, symmetric: true, outage_ms: {max: 1000}}
  - restore: {target: circuit}
  - expect: {outage_ms: {max: 500}}   # after a restore: the restore's own outage
  - probes: stop
```
Each step is a mapping with one key, its kind; in the model it is one of the typed steps below (a
pydantic discriminated union on `kind`). Traffic bounds (`outage_ms`, `lost_max`) judge the last change
before the step, a failure or a restore, measured in its own window (from it to the next change).
`flows` judges flows one by one: `untouched` ones whose paths in the half second before the change
did not cross the failed element (the target's nodes, tunnels and links), `touched` ones that did, or
`all` (`- expect: {flows: untouched, lost_max: 0}` after a gateway instance fails: the flows on the
other instance lose nothing). Errors name the step and field in one line, like lab-file errors;
controller.scenario_check finds the mistakes that need the lab (a target it does not have, a restore of
what is not failed) before anything is built.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Annotated, Any, Literal, cast

import yaml
from pydantic import BaseModel, BeforeValidator, Field, ValidationError
from pydantic_core import ErrorDetails, PydanticCustomError

from lab.errors import LabError, Problem
from lab.load import resolve_named, resolve_source, validation_problem
from lab.model import Strict

Ms = Annotated[int, Field(ge=100, le=3_600_000)]
PATHS_FORMS = "use oracle, or each direction's elements, e.g. {s1->azure: [gw0, gw1], azure->s1: [gw0, gw1]}"


class ProbeSettings(Strict):
    flows: Annotated[int, Field(ge=1, le=64)] = 8  # per direction and site
    rate: Annotated[float, Field(ge=10, le=2000)] = 200  # packets/s per flow


class ConvergeStep(Strict):
    kind: Literal["converge"] = "converge"
    within_ms: Ms = 30_000


class ProbesStep(Strict):
    kind: Literal["probes"] = "probes"
    action: Literal["start", "stop"]


class FailStep(Strict):
    kind: Literal["fail"] = "fail"
    target: str
    mode: str | None = None
    within_ms: Ms | None = None  # default: the failure's detection time and a margin (Detection.timeout_s)


class RestoreStep(Strict):
    kind: Literal["restore"] = "restore"
    target: str
    within_ms: Ms | None = None  # default: as long as the lab's `up` may take to converge


class Bounds(Strict):
    min: Annotated[float, Field(ge=0)] | None = None
    max: Annotated[float, Field(ge=0)] | None = None


FlowSelection = Literal["all", "touched", "untouched"]


class ExpectStep(Strict):
    kind: Literal["expect"] = "expect"
    paths: Literal["oracle"] | dict[str, list[str]] | None = None
    symmetric: bool | None = None
    outage_ms: Bounds | None = None  # of the last change, every direction (or `direction`)
    lost_max: Annotated[int, Field(ge=0)] | None = None
    direction: str | None = None
    flows: FlowSelection | None = None  # judge outage_ms and lost_max per flow, these flows only
    window_ms: Annotated[int, Field(ge=50, le=60_000)] = 500  # how long the traffic is observed

    @property
    def judges_traffic(self) -> bool:
        return self.paths is not None or self.symmetric is not None or self.judges_change

    @property
    def judges_change(self) -> bool:
        return self.outage_ms is not None or self.lost_max is not None or self.flows is not None


class ObserveStep(Strict):
    kind: Literal["observe"] = "observe"
    ms: Annotated[int, Field(ge=1, le=3_600_000)]


STEPS = (ConvergeStep, ProbesStep, FailStep, RestoreStep, ExpectStep, ObserveStep)
KINDS = {cls.model_fields["kind"].default: cls for cls in STEPS}
STEP_KINDS = ", ".join(KINDS)
INTERNAL = ("kind", "base_dir", "source")  # fields the file does not set


def _unwrap(raw: Any) -> Any:
    """`{fail: {target: gw0}}` -> `{kind: fail, target: gw0}`; `{probes: start}` -> `{kind: probes, action: start}`."""
    if not isinstance(raw, dict) or len(raw) != 1:
        raise PydanticCustomError("step_shape", "a step is a mapping with one key ({kinds})", {"kinds": STEP_KINDS})
    kind, args = next(iter(raw.items()))
    if kind not in KINDS:
        raise PydanticCustomError(
            "step_kind", "unknown step '{kind}' (use one of: {kinds})", {"kind": kind, "kinds": STEP_KINDS}
        )
    if kind == "probes":
        return {"kind": kind, "action": args}
    if args is None:
        args = {}
    if not isinstance(args, dict):
        raise PydanticCustomError("step_args", "must be a mapping of fields (key: value)", {"kind": kind})
    if "kind" in args:
        raise PydanticCustomError("step_args", "'kind' is not a field (the step's key is its kind)", {"kind": kind})
    return {"kind": kind, **args}


Step = Annotated[
    ConvergeStep | ProbesStep | FailStep | RestoreStep | ExpectStep | ObserveStep,
    Field(discriminator="kind"),
    BeforeValidator(_unwrap),
]


class Scenario(Strict):
    name: str
    description: str = ""
    lab: str
    overrides: dict[str, Any] = Field(default_factory=dict)
    probes: ProbeSettings = Field(default_factory=ProbeSettings)
    steps: Annotated[list[Step], Field(min_length=1)]
    base_dir: Path = Path(".")  # where the file is: its `lab` may be a path relative to it
    source: str = ""  # the file's name, for error lines


SCENARIOS_DIR = Path(__file__).resolve().parent / "scenarios"


def builtin_scenarios() -> dict[str, Path]:
    return {p.stem: p for p in sorted(SCENARIOS_DIR.glob("*.yaml"))}


def resolve_scenario(name: str) -> Path:
    return resolve_named(name, builtin_scenarios(), "scenario")


def load_scenario(name: str) -> Scenario:
    path = resolve_scenario(name)
    source = path.name
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise LabError(source, [Problem("", f"not valid YAML ({getattr(exc, 'problem', exc)})")]) from None
    return parse_scenario(data, source, path.parent)


def parse_scenario(data: Any, source: str, base_dir: Path) -> Scenario:
    if not isinstance(data, dict):
        raise LabError(source, [Problem("", "a scenario is a mapping with name, lab and steps")])
    try:
        return Scenario.model_validate({**data, "base_dir": base_dir, "source": source})
    except ValidationError as exc:
        problems = [p for e in exc.errors() if (p := _problem(e)) is not None]
        raise LabError(source, list(dict.fromkeys(problems))) from None


def _problem(err: ErrorDetails) -> Problem | None:
    """A validation error of a scenario as one line naming the step and field (None: said by another)."""
    loc = list(err["loc"])
    kind = err["type"]
    ctx = err.get("ctx", {})
    if loc == ["steps"]:
        return Problem("steps", f"is required: a list of steps ({STEP_KINDS})")
    step = loc[:2]
    if kind == "step_shape":
        return Problem(_path(step), str(err["msg"]))
    if kind == "step_args":
        return Problem(_path([*step, ctx["kind"]]), str(err["msg"]))
    if kind == "step_kind":
        return Problem(_path(step), str(err["msg"]))
    if loc[2:4] == ["expect", "paths"] and len(loc) > 4:  # one line for the two forms `paths` takes
        if loc[4] == "literal['oracle']":
            if isinstance(err.get("input"), dict):
                return None
            return Problem(_path(loc[:4]), f"{err.get('input')!r} is not allowed ({PATHS_FORMS})")
        if kind == "dict_type":
            return None
    if loc[2:4] == ["probes", "action"]:
        return Problem(_path(loc[:3]), f"{err.get('input')!r} is not allowed (use start or stop)")
    if kind == "extra_forbidden":
        tops: dict[int, type[BaseModel]] = {1: Scenario, 2: ProbeSettings}
        model = KINDS.get(str(loc[2])) if len(loc) == 4 else tops.get(len(loc))
        if model is not None and (len(loc) != 2 or loc[0] == "probes"):
            fields = [f for f in model.model_fields if f not in INTERNAL]
            close = difflib.get_close_matches(str(loc[-1]), fields, n=1)
            fix = f"did you mean {close[0]}?" if close else f"use one of: {', '.join(fields)}"
            return Problem(_path(loc), f"unknown field ({fix})")
    if kind in ("int_parsing", "int_from_float"):
        return Problem(_path(loc), f"{err.get('input')!r} is not a whole number (write it in digits, e.g. 30000)")
    return validation_problem(cast(ErrorDetails, {**err, "loc": tuple(loc)}))


def _path(loc: list[int | str]) -> str:
    return validation_problem(cast(ErrorDetails, {"loc": tuple(loc), "type": "value_error", "msg": ""})).path


def lab_data(scenario: Scenario, lab_override: str | None) -> tuple[str, dict[str, Any] | None]:
    """The lab to run on: (source, merged data) — data is None when there is nothing to merge."""
    source = lab_override or scenario.lab
    candidate = scenario.base_dir / source
    path = candidate if lab_override is None and candidate.is_file() else resolve_source(source)
    if not scenario.overrides:
        return str(path), None
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return str(path), _merge(data, scenario.overrides)


def _merge(base: Any, extra: Any) -> Any:
    if isinstance(base, dict) and isinstance(extra, dict):
        out = dict(base)
        for key, value in extra.items():
            out[key] = _merge(base.get(key), value) if key in base else value
        return out
    return extra
