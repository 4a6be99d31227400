"""The verdict, how a run is said, and `report.json`: `RunReport.to_json()` with every float rounded to
0.1 ms, keys sorted, and the overall verdict, lab, scenario and profile guaranteed at the top level."""

from __future__ import annotations

import json
import math
from typing import Any

from controller.analysis import elements
from controller.results import Measured, RunReport
from lab.topology import parse_direction


def overall_passed(report: RunReport) -> bool:
    """The run passed: the controller said so and no expectation failed."""
    return report.passed and all(e.passed for e in report.expectations)


def profile_text(profile: str) -> str:
    """How the timing profile is said in every report ("fast+custom": the lab file overrides timers)."""
    base, _, custom = profile.partition("+")
    text = {"fast": "timers scaled down", "realistic": "Azure's documented timers"}.get(base)
    if custom:
        text = f"{text}, some overridden by the lab file" if text else "timers from the lab file"
    return f"{profile} profile: {text}" if text else f"{profile} profile"


def direction_key(direction: str) -> tuple[str, int, str]:
    """Order directions per site, the site's way to Azure first: s1->azure, azure->s1, s2->azure..."""
    parsed = parse_direction(direction)
    if parsed is None:
        return (direction, 2, direction)
    site, to_azure = parsed
    return (site, 0 if to_azure else 1, direction)


def oracle_match(failure: Measured) -> bool | None:
    """Measured paths after the failure are the oracle's, per direction; None when there is no oracle.

    A measured element finer than the oracle's (a tunnel "gw0/t-s1-vpn0" where the oracle says "gw0")
    counts as its node. An empty expected list means the oracle predicts no path (black hole).
    """
    if not failure.expected_path_after:
        return None
    for direction, expected in failure.expected_path_after.items():
        measured = failure.path_after.get(direction)
        if measured is None:
            return False
        want = set(expected)
        got = {e for m in measured for e in ([m] if m in want else elements(m))}
        if got != want:
            return False
    return True


def rounded(value: Any) -> Any:
    """Every float to 0.1 ms; NaN/infinity (not JSON) to null; -0.0 to 0.0."""
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        return round(value, 1) + 0.0
    if isinstance(value, dict):
        return {str(k): rounded(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [rounded(v) for v in value]
    return value


def report_data(report: RunReport) -> dict[str, Any]:
    """The JSON document: `to_json()`, rounded, with the verdict and identity at the top level."""
    data: dict[str, Any] = rounded(report.to_json())
    data["passed"] = overall_passed(report)
    data["lab"] = report.lab
    data["scenario"] = report.scenario
    data["profile"] = report.profile
    data["profile_text"] = profile_text(report.profile)
    data.setdefault("failures", [])
    return data


def report_json(report: RunReport) -> str:
    return json.dumps(report_data(report), sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
