"""A classroom graded: every student's lab checked at once (one `gwlab exercise check --json` process
per lab, a few at a time: each lab's checks are independent, and a process per lab keeps their probes
and FIB monitors apart), then written as a terminal table, CSV and JUnit."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

PARALLEL = 3  # labs checked at once: 2 cores; a check mostly waits for the lab
CHECK_TIMEOUT_S = 300.0


@dataclass
class Grade:
    lab: str
    exercise: str
    passed: bool
    score: int
    total: int
    checks: list[dict[str, Any]]
    seconds: float
    error: str = ""  # the check could not run

    @property
    def first_problem(self) -> str:
        if self.error:
            return self.error
        failing = next((c for c in self.checks if c["ok"] is False), None)
        return "" if failing is None else str(failing["message"])


def check_lab(lab: str, exercise: str) -> Grade:
    argv = [sys.executable, "-m", "controller.cli.app", "exercise", "check", "-n", lab, "--json"]
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=CHECK_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        return Grade(
            lab, exercise, False, 0, 0, [], CHECK_TIMEOUT_S, f"the check took longer than {CHECK_TIMEOUT_S:.0f} s"
        )
    try:
        data = json.loads(proc.stdout)
    except ValueError:
        said = proc.stderr.strip().splitlines()
        return Grade(lab, exercise, False, 0, 0, [], 0.0, said[-1] if said else f"exit {proc.returncode}")
    if data.get("ok") is False:
        return Grade(lab, exercise, False, 0, 0, [], 0.0, str(data.get("error")))
    seconds = sum(float(c.get("seconds", 0)) for c in data["checks"])
    return Grade(lab, data["exercise"], data["passed"], data["score"], data["total"], data["checks"], seconds)


def grade(labs: list[tuple[str, str]]) -> list[Grade]:
    """(lab, exercise) pairs checked, PARALLEL at a time; in the order given."""
    with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
        return list(pool.map(lambda pair: check_lab(*pair), labs))


def to_csv(grades: list[Grade]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["student", "exercise", "passed", "score", "total", "seconds", "still wrong"])
    for g in grades:
        writer.writerow(
            [g.lab, g.exercise, "yes" if g.passed else "no", g.score, g.total, f"{g.seconds:.1f}", g.first_problem]
        )
    return out.getvalue()


def to_junit(grades: list[Grade]) -> str:
    """One test suite per student, one test case per check (a check that could not run: one error)."""
    root = ET.Element("testsuites", name="gwlab.exercises")
    for g in grades:
        suite = ET.SubElement(root, "testsuite", name=f"{g.exercise}.{g.lab}", tests=str(max(g.total, 1)))
        failures = skipped = 0
        if g.error:
            case = ET.SubElement(suite, "testcase", classname=g.lab, name="check")
            ET.SubElement(case, "error", message=g.error)
        for i, c in enumerate(g.checks, start=1):
            case = ET.SubElement(
                suite, "testcase", classname=g.lab, name=f"{i}. {c['kind']}", time=f"{float(c.get('seconds', 0)):.3f}"
            )
            if c["ok"] is False:
                failures += 1
                ET.SubElement(case, "failure", message=str(c["message"])).text = "\n".join(c.get("details", []))
            elif c["ok"] is None:
                skipped += 1
                ET.SubElement(case, "skipped", message=str(c["message"]))
        suite.set("failures", str(failures))
        suite.set("skipped", str(skipped))
        suite.set("errors", "1" if g.error else "0")
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"
