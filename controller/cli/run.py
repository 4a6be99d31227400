"""`gwlab run SCENARIO [--lab LAB | --name NAME] [--report DIR]`: run a scenario; exit 0 when every
expectation holds. `gwlab scenarios`: the built-in ones."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from controller.cli.output import console, emit_json, json_option
from controller.cli.reports import publish, report_option
from controller.cli.target import name_option, runtime_option


def _no_attach(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    if value is not None:
        raise click.UsageError(f"--attach is now --name (gwlab run SCENARIO --name {value})", ctx)


@click.command("run")
@click.argument("scenario")
@click.option("--lab", "lab_source", metavar="LAB", help="Run on this lab file or built-in instead of the scenario's.")
@name_option
@click.option("--attach", hidden=True, expose_value=False, callback=_no_attach)
@report_option("reports/<scenario>")
@click.option("--keep", is_flag=True, help="Leave the lab up afterwards (a lab it brought up).")
@click.option("--check", "check_only", is_flag=True, help="Check the scenario against its lab and stop.")
@runtime_option
@json_option
def run_command(
    scenario: str,
    lab_source: str | None,
    name: str | None,
    report_dir: Path | None,
    keep: bool,
    check_only: bool,
    runtime: str,
    as_json: bool,
) -> None:
    """Run SCENARIO (a file or a built-in name, see `gwlab scenarios`) on its own lab, brought up for it
    and taken down afterwards, or with --name on a running lab (which stays up)."""
    from controller.runner import checked, run_scenario, scenario_topology
    from controller.scenario import load_scenario

    loaded = load_scenario(scenario)
    if name and lab_source:
        raise click.UsageError("--lab (a lab to bring up) and --name (a running lab) exclude each other")
    if check_only:
        from lab.runtime.running import attach

        topo = attach(name).topo if name else scenario_topology(loaded, lab_source)
        checked(loaded, topo)
        if as_json:
            emit_json({"scenario": loaded.name, "lab": topo.name, "valid": True, "steps": len(loaded.steps)})
        else:
            console.print(f"[green]valid[/]: scenario {loaded.name}: {len(loaded.steps)} steps on lab {topo.name}")
        return
    report = run_scenario(loaded, lab_override=lab_source, attach_to=name, keep=keep, runtime=runtime)
    if keep and not name and not as_json:
        console.print(f"kept: lab {report.lab} is up (gwlab down {report.lab})")
    publish(report, report_dir or Path("reports") / loaded.name, as_json, f"scenario {loaded.name} failed")


@click.command("scenarios")
@json_option
def scenarios_command(as_json: bool) -> None:
    """List the built-in scenarios."""
    from rich.table import Table

    from controller.scenario import FailStep, builtin_scenarios, load_scenario

    rows: list[dict[str, Any]] = []
    for name in builtin_scenarios():
        s = load_scenario(name)
        failures = [f"{step.target} {step.mode or ''}".strip() for step in s.steps if isinstance(step, FailStep)]
        rows.append({"name": name, "lab": s.lab, "failures": failures, "description": " ".join(s.description.split())})
    if as_json:
        emit_json(rows)
        return
    table = Table("name", "lab", "fails", "description")
    for r in rows:
        table.add_row(r["name"], r["lab"], ", ".join(r["failures"]), r["description"])
    console.print(table)


def register(app: click.Group) -> None:
    app.add_command(run_command)
    app.add_command(scenarios_command)
