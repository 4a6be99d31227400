"""Exercises (issue 10): every shipped one proven both ways on a real lab — its start state fails
`gwlab exercise check`, and its reference solution, typed into vtysh as a student would, passes it —
and a classroom of three graded with one copy solved. Plus the format's unit tests: every exercise
loads and fits its lab, bad exercise files give one line naming the field (tests/errors/exercises/).

The real-lab runs go through the command line (one `gwlab` process per step, several exercises at
once: the CI budget), the solution through vtysh on the node's sockets, as `gwlab shell` opens it."""

from __future__ import annotations

import json
import os
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from controller.exercises.catalog import exercise_names, lab_source, load_exercise, load_exercise_file, vtysh_lines
from controller.exercises.grade import Grade, to_csv, to_junit
from controller.exercises.model import IpsecEdit, VtyshEdit
from lab.errors import LabError
from lab.load import load
from tests.helpers import FULL_TESTS, require_root, run_gwlab

CASES = Path(__file__).resolve().parent / "errors" / "exercises"
CASE_FILES = sorted(CASES.glob("*.yaml"))
# `make test` proves a part of the course, one exercise of each kind of check and fault (CI's budget:
# all fifteen take about 6 minutes of one worker); `make test-full` proves every exercise.
CI_EXERCISES = ["aa-one-tunnel", "as-failover-cost", "er-bfd", "ipsec-key-mismatch", "prepend", "wrong-asn"]
EXERCISES = exercise_names()
PROVEN = EXERCISES if FULL_TESTS else CI_EXERCISES
AT_ONCE = 4  # exercises run concurrently (2 cores: the labs mostly wait for timers)


# -- the format -----------------------------------------------------------------------------------


def test_the_course_has_twelve_exercises_on_distinct_topics() -> None:
    exercises = [load_exercise(n) for n in EXERCISES]
    assert len(exercises) >= 12
    assert len({e.title for e in exercises}) == len(exercises)


@pytest.mark.parametrize("name", EXERCISES)
def test_exercise_fits_its_lab(name: str) -> None:
    ex = load_exercise(name)  # validated, and checked against the lab (nodes, targets, vtysh lines)
    topo = load(lab_source(ex))
    assert ex.task.startswith("# "), "README.md starts with the title"
    for edit in [*ex.faults, *ex.solution]:
        if isinstance(edit, VtyshEdit):
            assert all("{" not in line for line in vtysh_lines(edit, topo)), edit
    assert ex.faults or ex.asks_measurement


def test_every_error_case_has_its_expected_output() -> None:
    assert len(CASE_FILES) >= 6
    assert {p.stem for p in CASE_FILES} == {p.stem for p in CASES.glob("*.txt")}


@pytest.mark.parametrize("case", CASE_FILES, ids=[p.stem for p in CASE_FILES])
def test_bad_exercise(case: Path) -> None:
    with pytest.raises(LabError) as info:
        load_exercise_file(case)
    assert info.value.lines() == case.with_suffix(".txt").read_text(encoding="utf-8").splitlines()


def test_cli_refuses_a_bad_exercise_in_one_line(tmp_path: Path) -> None:
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "exercise.yaml").write_text((CASES / "check-unknown-kind.yaml").read_text(encoding="utf-8"))
    (folder / "README.md").write_text("# broken\n")
    run = run_gwlab("exercise", "start", str(folder), "-n", "never")
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert run.stderr.splitlines() == [
        "broken/exercise.yaml: checks[0]: unknown check 'convergd' (did you mean converged?)"
    ]
    listed = run_gwlab("exercise", "list", "--json")
    assert {e["name"] for e in json.loads(listed.stdout)} == set(EXERCISES)


def test_grades_as_csv_and_junit() -> None:
    ok = {"kind": "converged", "ok": True, "message": "fine", "details": [], "seconds": 1.0}
    bad = {"kind": "failover", "ok": False, "message": "traffic must be back", "details": ["lost 9 s"], "seconds": 2.0}
    grades = [Grade("ex1", "e", True, 2, 2, [ok, ok], 2.0), Grade("ex2", "e", False, 1, 2, [ok, bad], 3.0)]
    lines = to_csv(grades).splitlines()
    assert lines == [
        "student,exercise,passed,score,total,seconds,still wrong",
        "ex1,e,yes,2,2,2.0,",
        "ex2,e,no,1,2,3.0,traffic must be back",
    ]
    root = ET.fromstring(to_junit(grades))
    suites = root.findall("testsuite")
    assert [s.get("failures") for s in suites] == ["0", "1"]
    assert suites[1].find("testcase[2]/failure").get("message") == "traffic must be back"  # type: ignore[union-attr]


# -- both ways, on real labs ----------------------------------------------------------------------


@dataclass
class Proof:
    start: Any = None  # check's JSON on the start state
    start_rc: int | None = None
    solved: Any = None  # check's JSON after the solution
    solved_rc: int | None = None
    errors: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)  # per step, for the CI budget


def check_json(lab: str, *extra: str) -> tuple[int, Any]:
    run = run_gwlab("exercise", "check", "-n", lab, "--json", *extra, timeout=600)
    try:
        return run.returncode, json.loads(run.stdout)
    except ValueError:
        return run.returncode, {"stderr": run.stderr}


def apply_solution(lab: str, exercise: str) -> list[str]:
    """The reference solution typed into each node's vtysh (the one `gwlab shell NODE` opens)."""
    import subprocess

    from lab.runtime.frr import vtysh_argv
    from lab.runtime.running import attach

    running = attach(lab)
    shown = run_gwlab("exercise", "solution", "-n", lab, "--json")
    errors = []
    for step in json.loads(shown.stdout)["solution"]:
        if "tunnel" in step:  # the IPsec fix: the device's files edited, its charon reloaded, initiated
            from controller.exercises.ipsec import apply_fix

            apply_fix(running, IpsecEdit(tunnel=step["tunnel"], mismatch=step["mismatch"]))
            continue
        argv = vtysh_argv(running.runtime.frr_dir(step["node"]), *step["vtysh"])
        done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
        if done.returncode != 0 or done.stdout.strip():
            errors.append(f"{step['node']}: vtysh said {done.stdout.strip() or done.stderr.strip()}")
    return errors


def measure_and_answer(lab: str) -> tuple[int, Any]:
    """The student's way for a measure exercise: fail --measure, read the outage, restore, answer."""
    failed = run_gwlab("fail", "gw0", "--measure", "-n", lab, "--json", timeout=300)
    outage = max(json.loads(failed.stdout)["outage_ms"].values())
    run_gwlab("restore", "gw0", "-n", lab, timeout=300)
    return check_json(lab, "--answer", str(round(outage)))


STUDENT_LIFE = "aa-one-tunnel"  # the exercise whose student also asks for a hint and resets


def survived(proof: Proof, lab: str) -> None:
    """After a passing check (gw0 crashed and restored in it), the student's vtysh change is still in
    the running FRR; a hint is one more; reset undoes the change and check fails again."""
    from lab.runtime.frr import vtysh
    from lab.runtime.running import attach

    running = attach(lab)
    gw1 = next(n for n in running.node("s1-vpn0").bgp.neighbors if n.peer == "gw1")  # type: ignore[union-attr]
    config = vtysh(running.runtime.frr_dir("s1-vpn0"), "show running-config")
    if f"neighbor {gw1.address} remote-as 65515" not in config:
        proof.errors.append("the student's neighbor is gone from s1-vpn0's running config after check")
    hints = [json.loads(run_gwlab("exercise", "hint", "-n", lab, "--json").stdout)["hints"] for _ in range(2)]
    if [len(h) for h in hints] != [1, 2]:
        proof.errors.append(f"hints shown: {hints}")
    reset = run_gwlab("exercise", "reset", "-n", lab, "--json", timeout=240)
    if reset.returncode != 0:
        proof.errors.append(f"reset: {reset.stderr.strip()}")
    config = vtysh(running.runtime.frr_dir("s1-vpn0"), "show running-config")
    if f"neighbor {gw1.address} remote-as" in config:
        proof.errors.append("reset left the student's neighbor in s1-vpn0's config")
    rc, again = check_json(lab)
    if rc != 1 or again.get("passed") is not False:
        proof.errors.append(f"after reset, check: {rc} {again}")


def prove(exercise: str, lab: str) -> Proof:
    proof = Proof()
    clock = time.monotonic()

    def lap(step: str) -> None:
        nonlocal clock
        proof.seconds[step] = round(time.monotonic() - clock, 1)
        clock = time.monotonic()

    try:
        started = run_gwlab("exercise", "start", exercise, "-n", lab, "--json", timeout=600)
        lap("start")
        if started.returncode != 0:
            proof.errors.append(f"start: {started.stderr.strip()}")
            return proof
        proof.start_rc, proof.start = check_json(lab)
        lap("check")
        if load_exercise(exercise).asks_measurement:
            proof.solved_rc, proof.solved = measure_and_answer(lab)
        else:
            proof.errors += apply_solution(lab, exercise)
            proof.solved_rc, proof.solved = check_json(lab)
        lap("solved")
        if exercise == STUDENT_LIFE:
            survived(proof, lab)
            lap("reset")
    except Exception as exc:  # this exercise's failure, not the others' (they run in the same fixture)
        proof.errors.append(f"{type(exc).__name__}: {exc}")
    finally:
        stopped = run_gwlab("down", lab)  # `down`, not `exercise stop`: also after a start that was cut short
        if stopped.returncode != 0:
            proof.errors.append(f"down: {stopped.stderr.strip()}")
    return proof


@pytest.fixture(scope="session")  # session: built once even when xdist hands the module over in parts
def proofs() -> Iterator[dict[str, Proof]]:
    require_root()
    from tests.labs import leftovers, unique

    only = os.environ.get("GWLAB_EXERCISES")  # a few again, while writing one: GWLAB_EXERCISES=a,b
    names = only.split(",") if only else PROVEN
    labs = {name: f"{unique('x')}-{i}" for i, name in enumerate(names)}
    with ThreadPoolExecutor(max_workers=AT_ONCE) as pool:
        done = dict(zip(names, pool.map(lambda n: prove(n, labs[n]), names), strict=True))
    yield done
    assert [left for lab in labs.values() for left in leftovers(lab)] == []


@pytest.mark.root
@pytest.mark.slow
@pytest.mark.parametrize("name", PROVEN)
def test_exercise_both_ways(proofs: dict[str, Proof], name: str) -> None:
    if name not in proofs:
        pytest.skip("not in GWLAB_EXERCISES")
    proof = proofs[name]
    print(name, proof.seconds)
    assert proof.errors == []
    assert proof.start_rc == 1 and proof.start["passed"] is False, proof.start
    failing = [c for c in proof.start["checks"] if c["ok"] is False]
    assert failing and all(c["message"] for c in failing)
    assert proof.start["explanation"] is None  # nothing of the answer before it passes
    assert proof.solved_rc == 0 and proof.solved["passed"] is True, json.dumps(proof.solved, indent=1)
    assert proof.solved["explanation"]


@pytest.mark.root
@pytest.mark.slow
def test_a_classroom_of_three_graded_with_one_solved(tmp_path: Path) -> None:
    require_root()
    from tests.labs import leftovers, unique

    prefix = unique("c")
    started = run_gwlab("exercise", "start", "wrong-asn", "--students", "3", "-n", prefix, "--json", timeout=600)
    labs = [f"{prefix}{i}" for i in (1, 2, 3)]
    try:
        assert started.returncode == 0, started.stderr
        assert json.loads(started.stdout)["labs"] == labs
        assert apply_solution(labs[1], "wrong-asn") == []
        csv_path, junit_path = tmp_path / "grades.csv", tmp_path / "grades.xml"
        graded = run_gwlab(
            "exercise", "grade", "--class", prefix, "--csv", str(csv_path), "--junit", str(junit_path), "--json",
            timeout=600,
        )  # fmt: skip
        assert graded.returncode == 1, graded.stderr  # not everyone passes
        data = json.loads(graded.stdout)
        assert (data["passed"], data["students"]) == (1, 3)
        assert [g["passed"] for g in data["grades"]] == [False, True, False]
        rows = csv_path.read_text(encoding="utf-8").splitlines()
        assert [r.split(",")[:3] for r in rows[1:]] == [
            [labs[0], "wrong-asn", "no"],
            [labs[1], "wrong-asn", "yes"],
            [labs[2], "wrong-asn", "no"],
        ]
        assert "no working BGP session" in rows[1]
        suites = ET.parse(junit_path).getroot().findall("testsuite")
        assert [s.get("failures") for s in suites] == ["1", "0", "1"]
        table = run_gwlab("exercise", "grade", "--class", prefix, timeout=600)
        assert "1/3 pass" in table.stdout and labs[1] in table.stdout
    finally:
        stopped = run_gwlab("exercise", "stop", "--class", prefix, "--json")
        assert stopped.returncode == 0, stopped.stderr
    assert [left for lab in labs for left in leftovers(lab)] == []
