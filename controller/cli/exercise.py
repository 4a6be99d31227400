"""`gwlab exercise list | start NAME | check | hint | reset | solution | stop | grade`: training
exercises on a running lab (controller.exercises); `--json` on every one. The running lab is
`--name/-n` as everywhere (default: the only lab running an exercise)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click
from rich.table import Table

from controller.cli.output import console, emit_json, json_option
from controller.cli.target import name_option, the_only
from controller.exercises.catalog import exercise_names, lab_source, load_exercise, vtysh_lines
from controller.exercises.ipsec import fix_steps
from controller.exercises.model import Exercise, FloodEdit, IpsecEdit
from lab.errors import GwlabError
from lab.load import load
from lab.runtime.state import RUN_ROOT

if TYPE_CHECKING:
    from controller.exercises.course import ExerciseState

DEFAULT_NAME = "ex"  # the lab's name, or a classroom's prefix: ex1 .. exN


def current(name: str | None) -> tuple[ExerciseState, Exercise]:
    """The exercise on lab NAME (default: the only lab running one)."""
    from controller.exercises import course

    if name is None:
        labs = [s.lab for s in course.exercise_labs()]
        name = the_only(labs, "no exercise is running (gwlab exercise start EXERCISE)", "exercises run on several labs")
    return course.current(name)


@click.group("exercise")
def exercise_group() -> None:
    """Training exercises with automatic checking: start one, fix it in vtysh, check it."""


@exercise_group.command("list")
@json_option
def list_command(as_json: bool) -> None:
    """The shipped exercises."""
    exercises = [load_exercise(n) for n in exercise_names()]
    if as_json:
        emit_json([{"name": e.name, "title": e.title, "topic": e.topic, "lab": e.lab} for e in exercises])
        return
    table = Table("exercise", "topic", "lab", "title")
    for e in exercises:
        table.add_row(e.name, e.topic, e.lab, e.title)
    console.print(table)


@exercise_group.command("start")
@click.argument("exercise")
@name_option
@click.option(
    "--students",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="Independent copies, one per student: NAME1 .. NAMEN.",
)
@json_option
def start_command(exercise: str, name: str | None, students: int, as_json: bool) -> None:
    """Bring EXERCISE's lab up with its mistakes in it (gwlab exercise list names them)."""
    from controller.exercises import course

    ex = load_exercise(exercise)
    names = course.student_names(name or DEFAULT_NAME, students)
    started: list[course.ExerciseState] = []
    try:
        for lab in names:
            started.append(course.start(ex, lab))
            if not as_json:
                console.print(f"[green]started[/]: {ex.name} on lab {lab}")
    except BaseException:  # a classroom comes up whole or not at all
        for state in started:
            course.stop(state.lab)
        raise
    if as_json:
        emit_json({"exercise": ex.name, "labs": [s.lab for s in started], "task": ex.task})
        return
    console.print()
    console.print(ex.task.rstrip())
    console.print()
    one = f" -n {names[0]}" if len(names) > 1 else ""
    console.print(f"Work on the routers with `gwlab shell{one} NODE`; then `gwlab exercise check{one}`.")


@exercise_group.command("check")
@name_option
@click.option(
    "--answer", type=click.FloatRange(min=0), help="Your answer in ms, for an exercise that asks you to measure."
)
@json_option
def check_command(name: str | None, answer: float | None, as_json: bool) -> int:
    """Check the exercise on the live lab; exit 0 only when every check passes."""
    from controller.exercises.checks import run_checks
    from controller.session import LabSession

    state, ex = current(name)
    with LabSession(state.lab) as session:
        run = run_checks(session, ex, state.answer_ms if answer is None else answer)
    if answer is not None:
        state.answer_ms = answer  # kept: grade checks it again
    state.last_check = {"passed": run.passed, "score": run.score, "total": len(run.results)}
    state.save()
    if as_json:
        emit_json({**run.as_dict(), "explanation": ex.explanation if run.passed else None})
    else:
        console.print(f"exercise [bold]{ex.name}[/] on lab {state.lab}: {run.score}/{len(run.results)} checks pass")
        for r in run.results:
            mark = {True: "[green]✓[/]", False: "[red]✗[/]", None: "[dim]·[/]"}[r.ok]
            console.print(f"  {mark} {r.message}")
            for line in r.details:
                console.print(f"      {line}")
        if run.passed:
            console.print()
            console.print(f"[green]Well done.[/] {ex.explanation.rstrip()}")
        else:
            console.print("  (gwlab exercise hint for a hint)")
    return 0 if run.passed else 1


@exercise_group.command("hint")
@name_option
@click.option("--all", "show_all", is_flag=True, help="Every hint so far and the next.")
@json_option
def hint_command(name: str | None, show_all: bool, as_json: bool) -> None:
    """The next hint (one more each time)."""

    state, ex = current(name)
    state.hints_shown = min(state.hints_shown + 1, len(ex.hints))
    state.save()
    shown = ex.hints[: state.hints_shown]
    if as_json:
        emit_json({"exercise": ex.name, "lab": state.lab, "hints": shown, "left": len(ex.hints) - len(shown)})
        return
    for i, hint in enumerate(shown, start=1):
        if show_all or i == len(shown):
            console.print(f"hint {i}/{len(ex.hints)}: {hint}")
    if len(shown) == len(ex.hints):
        console.print("(no more hints: gwlab exercise solution shows the answer)")


@exercise_group.command("solution")
@click.argument("exercise", required=False)
@name_option
@json_option
def solution_command(exercise: str | None, name: str | None, as_json: bool) -> None:
    """The reference solution: what to type into vtysh on which router (the running exercise's, or EXERCISE's)."""

    if exercise is not None:
        ex, lab = load_exercise(exercise), None
        topo = load(lab_source(ex))
    else:
        state, ex = current(name)
        state.solution_shown = True
        state.save()
        lab, topo = state.lab, load(lab_source(ex))
    lab_dir = RUN_ROOT / (lab or "<lab>") / "ipsec"
    steps: list[dict[str, object]] = [
        {"tunnel": e.tunnel, "mismatch": e.mismatch, "steps": fix_steps(lab_dir, topo, e)}
        if isinstance(e, IpsecEdit)
        else {"node": e.node, "vtysh": ["configure terminal", *vtysh_lines(e, topo)]}
        for e in ex.solution
        if not isinstance(e, FloodEdit)  # refused in a solution by the catalog's checks
    ]
    if as_json:
        emit_json({"exercise": ex.name, "lab": lab, "solution": steps, "explanation": ex.explanation})
        return
    for step in steps:
        if "tunnel" in step:
            console.print(f"on {step['tunnel']}'s device end (IPsec, {step['mismatch']}):")
            lines = step["steps"]
        else:
            console.print(f"on {step['node']} (gwlab shell {step['node']}):")
            lines = step["vtysh"]
        for line in lines:  # type: ignore[attr-defined]
            console.print(f"  {line}")
    console.print()
    console.print(ex.explanation.rstrip())


@exercise_group.command("reset")
@name_option
@json_option
def reset_command(name: str | None, as_json: bool) -> None:
    """Back to the start: your changes undone, the mistakes in again."""
    from controller.exercises.course import reset

    state, ex = current(name)
    reset(state, ex)
    if as_json:
        emit_json({"exercise": ex.name, "lab": state.lab, "reset": True})
    else:
        console.print(f"[green]reset[/]: {ex.name} on lab {state.lab}")


@exercise_group.command("stop")
@name_option
@click.option("--class", "prefix", metavar="PREFIX", help="Every exercise lab whose name starts with PREFIX.")
@json_option
def stop_command(name: str | None, prefix: str | None, as_json: bool) -> None:
    """Take the exercise's lab down (or a classroom's, with --class)."""
    from controller.exercises.course import exercise_labs, stop

    if name is not None and prefix is not None:
        raise click.UsageError("give --name or --class, not both")
    labs = [s.lab for s in exercise_labs(prefix)] if prefix is not None else [current(name)[0].lab]
    if not labs:
        raise GwlabError(f"no exercise lab starts with {prefix}")
    for lab in labs:
        stop(lab)
        if not as_json:
            console.print(f"[green]down[/]: {lab}")
    if as_json:
        emit_json({"stopped": labs})


def register(app: click.Group) -> None:
    from controller.cli import grade

    grade.register(exercise_group)
    app.add_command(exercise_group)
