"""`gwlab run SCENARIO [--lab LAB] [--report DIR]`: run a scenario; exit 0 when every expectation holds."""

from __future__ import annotations

from pathlib import Path

import click

from controller.cli.output import console
from controller.cli.target import runtime_option
from lab.errors import GwlabError


@click.command("run")
@click.argument("scenario")
@click.option("--lab", "lab_source", help="Run on this lab file or built-in instead of the scenario's.")
@click.option("--attach", help="Run on this already running lab (it stays up).")
@click.option(
    "--report",
    "report_dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Write report.json, junit.xml and timeline.png here (default: reports/<scenario>).",
)
@click.option("--keep", is_flag=True, help="Leave the lab up afterwards.")
@runtime_option
def run_command(
    scenario: str, lab_source: str | None, attach: str | None, report_dir: Path | None, keep: bool, runtime: str
) -> None:
    """Run SCENARIO (a file or a built-in name, see `gwlab scenarios`)."""
    from controller.report import print_summary, write_report
    from controller.runner import run_scenario
    from controller.scenario import load_scenario

    loaded = load_scenario(scenario)
    if attach and lab_source:
        raise click.UsageError("--lab and --attach exclude each other")
    report = run_scenario(loaded, lab_override=lab_source, attach_to=attach, keep=keep, runtime=runtime)
    out = report_dir or Path("reports") / loaded.name
    paths = write_report(report, out)
    print_summary(report, console)
    console.print(f"report: {paths['json']} (also {paths['junit'].name}, {paths['timeline'].name})")
    if not report.passed:
        raise GwlabError(f"scenario {loaded.name} failed: see {paths['json']}")


@click.command("scenarios")
def scenarios_command() -> None:
    """List the built-in scenarios."""
    from rich.table import Table

    from controller.scenario import builtin_scenarios, load_scenario

    table = Table("name", "lab", "description")
    for name in builtin_scenarios():
        s = load_scenario(name)
        table.add_row(name, s.lab, " ".join(s.description.split()))
    console.print(table)


def register(app: click.Group) -> None:
    app.add_command(run_command)
    app.add_command(scenarios_command)
