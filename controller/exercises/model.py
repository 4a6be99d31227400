"""The exercise format: one folder per exercise under controller/exercises/catalog/<name>/ with
`exercise.yaml` (below), `README.md` (the task a student reads) and, when it is not a built-in, its
lab file `lab.yaml`.

```yaml
title: Asymmetric routing over ExpressRoute and VPN
topic: local-preference
lab: er-vpn                      # a built-in lab, or lab.yaml beside this file
faults:                          # realistic mistakes, typed into the running FRR at start (vtysh)
  - node: s1-ce0
    vtysh: ["router bgp {{ asn('s1-ce0') }}", "address-family ipv4 unicast",
            "no neighbor {{ peer('s1-ce0', 'msee0') }} route-map LP-200-IN in"]
  # or made in a device's IPsec configuration: {tunnel: s1-vpn0~gw0, mismatch: key | selectors}
  # or a site announcing the lab's prefix flood (4,001 routes) for the whole exercise: {flood: s1}
hints: ["...", "..."]            # shown one at a time, in order
checks:                          # the goal, checked in order on the live lab; the first that fails stops
  - converged: {}                #   sessions, FIBs and BFD as the oracle predicts for the lab file
  - traffic: {paths: oracle, symmetric: true}      # probes: the paths the data plane took
  - json: {node: s1-ce0, command: show bgp ipv4 unicast json, expect: {...}}  # json_cmp subset match
  - failover: {target: s1-ce0~msee0, mode: blackhole, outage_ms: 1000}      # failed while checking
solution:                        # the reference fix, typed into vtysh as a student would
  - node: s1-ce0
    vtysh: [...]
explanation: "..."               # shown once every check passes
```
Each check takes `pass` and `fail` texts (what a student reads). Faults and solutions may only touch
on-prem routers: the Azure side is Microsoft's, as on Azure. In vtysh lines, `{{ peer(node, other) }}`
is the address `node` peers with `other` at, `{{ asn(node) }}` a router's ASN, `{{ local(node,
other) }}` the address `node` speaks from to `other` and `{{ hops(node, other) }}` its eBGP multihop
(Jinja, resolved on the lab's topology: the same exercise works over IPsec and VXLAN tunnels).
Errors are one line each naming the field (lab.load.validation_problem, as for lab files);
`exercise_problems` checks an exercise against its lab before anything is built.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Annotated, Any, Literal, cast

from pydantic import BeforeValidator, Field, ValidationError, model_validator
from pydantic_core import ErrorDetails, PydanticCustomError

from lab.errors import LabError, Problem
from lab.load import validation_problem
from lab.model import NAME_PATTERN, Strict

Seconds = Annotated[float, Field(gt=0, le=300)]
Text = Annotated[str, Field(min_length=1)]


class Check(Strict):
    pass_: str = Field("", alias="pass")  # said when it passes
    fail: str = ""  # said when it does not: what is wrong, in a student's words


class ConvergedCheck(Check):
    kind: Literal["converged"] = "converged"
    within_s: Seconds = 6.0  # a student's fix takes a few BGP timers to spread (fast profile: 1 s keepalives)


class TrafficCheck(Check):
    kind: Literal["traffic"] = "traffic"
    paths: Literal["oracle"] | dict[str, list[str]] | None = "oracle"
    symmetric: bool | None = None
    window_ms: Annotated[int, Field(ge=100, le=10_000)] = 600


class JsonCheck(Check):
    kind: Literal["json"] = "json"
    node: str
    command: Text
    expect: Any
    within_s: Seconds = 5.0


class FailoverCheck(Check):
    kind: Literal["failover"] = "failover"
    target: str
    mode: str | None = None
    outage_ms: Annotated[float, Field(gt=0, le=600_000)]  # the most either direction may lose
    paths: Literal["oracle"] | dict[str, list[str]] | None = "oracle"  # while it is failed


class MeasureCheck(Check):
    """The student measures a failure's outage and answers (`gwlab exercise check --answer MS`); the
    check measures it again and accepts an answer within `tolerance` of it (relative, at least 1 s)."""

    kind: Literal["measure"] = "measure"
    target: str
    mode: str | None = None
    tolerance: Annotated[float, Field(gt=0, le=1)] = 0.3


AnyCheck = ConvergedCheck | TrafficCheck | JsonCheck | FailoverCheck | MeasureCheck
CHECKS = (ConvergedCheck, TrafficCheck, JsonCheck, FailoverCheck, MeasureCheck)
KINDS = {cls.model_fields["kind"].default: cls for cls in CHECKS}
CHECK_KINDS = ", ".join(KINDS)
TEXTS = ("pass", "fail")


def _unwrap(raw: Any) -> Any:
    """`{converged: {within_s: 5}, fail: "..."}` -> `{kind: converged, within_s: 5, fail: "..."}`."""
    if not isinstance(raw, dict):
        raise PydanticCustomError("check_shape", "a check is a mapping with one of: {kinds}", {"kinds": CHECK_KINDS})
    kinds = [k for k in raw if k in KINDS]
    if len(kinds) > 1:
        raise PydanticCustomError("check_kind", "one check kind per check, not {found}", {"found": " and ".join(kinds)})
    if not kinds:
        unknown = [str(k) for k in raw if k not in TEXTS] or ["(none)"]
        close = difflib.get_close_matches(unknown[0], list(KINDS), n=1)
        fix = f"did you mean {close[0]}?" if close else f"use one of: {CHECK_KINDS}"
        raise PydanticCustomError("check_kind", "unknown check '{kind}' ({fix})", {"kind": unknown[0], "fix": fix})
    kind = kinds[0]
    args = raw[kind] if raw[kind] is not None else {}
    if not isinstance(args, dict):
        raise PydanticCustomError("check_args", "must be a mapping of fields (key: value)", {"kind": kind})
    texts = {k: v for k, v in raw.items() if k != kind}
    return {"kind": kind, **args, **texts}


CheckItem = Annotated[
    ConvergedCheck | TrafficCheck | JsonCheck | FailoverCheck | MeasureCheck,
    Field(discriminator="kind"),
    BeforeValidator(_unwrap),
]


class VtyshEdit(Strict):
    """Lines typed into `configure terminal` of router `node`'s vtysh (Jinja, see the module)."""

    node: str
    vtysh: Annotated[list[Text], Field(min_length=1)]


class IpsecEdit(Strict):
    """A fault: the device's end of IPsec `tunnel` with a wrong key or local traffic selectors. In a
    solution: that end made to match Azure's connection again (controller.exercises.ipsec)."""

    tunnel: str  # e.g. s1-vpn0~gw0
    mismatch: Literal["key", "selectors"]


class FloodEdit(Strict):
    """A fault: site `flood`'s core announces the lab's prefix flood (FLOOD_COUNT routes, as when a data
    centre's table is redistributed into BGP) for as long as the exercise runs. Faults only: a solution
    works with the flood, it does not stop it."""

    flood: str  # a site's name


Edit = VtyshEdit | IpsecEdit | FloodEdit


class Exercise(Strict):
    name: Annotated[str, Field(pattern=NAME_PATTERN, max_length=24)]
    title: Text
    topic: Text
    lab: Text
    faults: list[Edit] = Field(default_factory=list)
    hints: Annotated[list[Text], Field(min_length=1)]
    checks: Annotated[list[CheckItem], Field(min_length=1)]
    solution: list[Edit] = Field(default_factory=list)  # none only when a check asks for a measurement
    explanation: Text
    folder: Path = Path(".")  # where its README.md and lab file are
    task: str = ""  # README.md

    @model_validator(mode="after")
    def _solvable(self) -> Exercise:
        if not self.solution and not self.asks_measurement:
            raise ValueError("solution: is required (the vtysh lines that fix the faults), unless a check is a measure")
        return self

    @property
    def asks_measurement(self) -> bool:
        return any(isinstance(c, MeasureCheck) for c in self.checks)


INTERNAL = ("kind", "folder", "task", "name")


def parse_exercise(data: Any, source: str, folder: Path, name: str) -> Exercise:
    if not isinstance(data, dict):
        raise LabError(source, [Problem("", "an exercise is a mapping with title, lab, hints, checks and solution")])
    task = folder / "README.md"
    try:
        text = task.read_text(encoding="utf-8")
    except OSError:
        raise LabError(
            source, [Problem("", f"no README.md beside it (the task a student reads) in {folder}")]
        ) from None
    try:
        return Exercise.model_validate({**data, "name": name, "folder": folder, "task": text})
    except ValidationError as exc:
        problems = [_problem(e) for e in exc.errors()]
        raise LabError(source, list(dict.fromkeys(problems))) from None


def _problem(err: ErrorDetails) -> Problem:
    loc = list(err["loc"])
    kind = err["type"]
    if kind in ("check_shape", "check_kind", "check_args"):
        return Problem(_path(loc[:2]), str(err["msg"]))
    if len(loc) >= 2 and loc[0] == "checks":  # drop pydantic's union tag from the path
        loc = [loc[0], loc[1], *loc[3:]]
        if kind == "extra_forbidden" and len(loc) == 3:
            model = KINDS.get(str(err["loc"][2]))
            if model is not None:
                fields = [f.alias or n for n, f in model.model_fields.items() if n not in INTERNAL]
                close = difflib.get_close_matches(str(loc[-1]), fields, n=1)
                fix = f"did you mean {close[0]}?" if close else f"use one of: {', '.join(fields)}"
                return Problem(_path(loc), f"unknown field ({fix})")
    if kind == "extra_forbidden" and len(loc) == 1:
        fields = [f for f in Exercise.model_fields if f not in INTERNAL]
        close = difflib.get_close_matches(str(loc[0]), fields, n=1)
        fix = f"did you mean {close[0]}?" if close else f"use one of: {', '.join(fields)}"
        return Problem(_path(loc), f"unknown field ({fix})")
    return validation_problem(cast(ErrorDetails, {**err, "loc": tuple(loc)}))


def _path(loc: list[int | str]) -> str:
    return validation_problem(cast(ErrorDetails, {"loc": tuple(loc), "type": "value_error", "msg": ""})).path
