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
  - expect: {paths: oracle}
  - probes: stop
```
Each step is a mapping with one key; errors name the step and field like lab-file errors do.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, Field, ValidationError

from lab.errors import LabError, Problem
from lab.load import resolve_named, validation_problem
from lab.model import Strict


class ProbeSettings(Strict):
    flows: Annotated[int, Field(ge=1, le=64)] = 8  # per direction and site
    rate: Annotated[float, Field(ge=10, le=2000)] = 200  # packets/s per flow


class Converge(Strict):
    within_ms: Annotated[int, Field(ge=100, le=3_600_000)] = 30_000


class Fail(Strict):
    target: str
    mode: str | None = None
    within_ms: Annotated[int, Field(ge=100, le=3_600_000)] | None = None  # default: detection + 15 s


class Restore(Strict):
    target: str
    within_ms: Annotated[int, Field(ge=100, le=3_600_000)] = 30_000


class Bounds(Strict):
    min: Annotated[float, Field(ge=0)] | None = None
    max: Annotated[float, Field(ge=0)] | None = None


class Expect(Strict):
    paths: Literal["oracle"] | dict[str, list[str]] | None = None
    symmetric: bool | None = None
    outage_ms: Bounds | None = None  # of the last failure, every direction (or `direction`)
    lost_max: Annotated[int, Field(ge=0)] | None = None
    direction: str | None = None
    window_ms: Annotated[int, Field(ge=50, le=60_000)] = 500  # how long the traffic is observed


class Observe(Strict):
    ms: Annotated[int, Field(ge=1, le=3_600_000)]


STEP_KINDS: dict[str, type[BaseModel] | None] = {
    "converge": Converge,
    "fail": Fail,
    "restore": Restore,
    "expect": Expect,
    "observe": Observe,
    "probes": None,
}


class Step(Strict):
    kind: str
    args: Any  # the model of its kind, or "start"/"stop" for probes


class Scenario(Strict):
    name: str
    description: str = ""
    lab: str
    overrides: dict[str, Any] = Field(default_factory=dict)
    probes: ProbeSettings = Field(default_factory=ProbeSettings)
    steps: list[Step]
    base_dir: Path = Path(".")


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
    problems: list[Problem] = []
    raw_steps = data.get("steps")
    steps: list[Step] = []
    if not isinstance(raw_steps, list) or not raw_steps:
        problems.append(Problem("steps", "is required: a list of steps (converge, probes, fail, restore, expect)"))
    else:
        for i, raw in enumerate(raw_steps):
            step = _step(raw, f"steps[{i}]", problems)
            if step is not None:
                steps.append(step)
    header = {k: v for k, v in data.items() if k != "steps"}
    try:
        scenario = Scenario.model_validate({**header, "steps": [], "base_dir": base_dir})
    except ValidationError as exc:
        problems[:0] = [validation_problem(e) for e in exc.errors()]
        raise LabError(source, problems) from None
    if problems:
        raise LabError(source, problems)
    return scenario.model_copy(update={"steps": steps})


def _step(raw: Any, path: str, problems: list[Problem]) -> Step | None:
    kinds = ", ".join(STEP_KINDS)
    if not isinstance(raw, dict) or len(raw) != 1:
        problems.append(Problem(path, f"a step is a mapping with one key ({kinds})"))
        return None
    kind, args = next(iter(raw.items()))
    if kind not in STEP_KINDS:
        problems.append(Problem(path, f"unknown step '{kind}' (use one of: {kinds})"))
        return None
    model = STEP_KINDS[kind]
    if model is None:  # probes: start | stop
        if args not in ("start", "stop"):
            problems.append(Problem(f"{path}.probes", f"{args!r} is not allowed (use start or stop)"))
            return None
        return Step(kind=kind, args=args)
    try:
        parsed = model.model_validate(args if args is not None else {})
    except ValidationError as exc:
        for e in exc.errors():
            p = validation_problem(e)
            problems.append(Problem(f"{path}.{kind}" + (f".{p.path}" if p.path else ""), p.message))
        return None
    return Step(kind=kind, args=parsed)


def lab_data(scenario: Scenario, lab_override: str | None) -> tuple[str, dict[str, Any] | None]:
    """The lab to run on: (source, merged data) — data is None when there is nothing to merge."""
    from lab.load import resolve_source

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
