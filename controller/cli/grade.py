"""`gwlab exercise grade [--class PREFIX] [--csv FILE] [--junit FILE] [--json]`: every student's lab
checked (controller.exercises.grade), a table on the terminal, CSV and JUnit files for the gradebook."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import click
from rich.table import Table

from controller.cli.output import console, emit_json, json_option
from lab.errors import GwlabError


@click.command("grade")
@click.option(
    "--class", "prefix", metavar="PREFIX", help="The labs whose names start with PREFIX (default: every exercise lab)."
)
@click.option(
    "--csv", "csv_path", type=click.Path(dir_okay=False, path_type=Path), help="Write the grades as CSV here."
)
@click.option("--junit", "junit_path", type=click.Path(dir_okay=False, path_type=Path), help="Write JUnit XML here.")
@json_option
def grade_command(prefix: str | None, csv_path: Path | None, junit_path: Path | None, as_json: bool) -> int:
    """Check every student's lab; exit 0 only when all of them pass."""
    from controller.exercises.course import exercise_labs
    from controller.exercises.grade import grade, to_csv, to_junit

    labs = exercise_labs(prefix)
    if not labs:
        raise GwlabError("no exercise is running" + (f" on a lab starting with {prefix}" if prefix else ""))
    grades = grade([(s.lab, s.exercise) for s in labs])
    if csv_path is not None:
        csv_path.write_text(to_csv(grades), encoding="utf-8")
    if junit_path is not None:
        junit_path.write_text(to_junit(grades), encoding="utf-8")
    passed = sum(g.passed for g in grades)
    if as_json:
        emit_json({"passed": passed, "students": len(grades), "grades": [asdict(g) for g in grades]})
    else:
        table = Table("student", "exercise", "result", "checks", "still wrong", title=f"{passed}/{len(grades)} pass")
        for g in grades:
            result = "[green]pass[/]" if g.passed else "[red]fail[/]"
            table.add_row(g.lab, g.exercise, result, f"{g.score}/{g.total}", g.first_problem)
        console.print(table)
    return 0 if passed == len(grades) else 1


def register(group: click.Group) -> None:
    group.add_command(grade_command)
