"""`gwlab down [NAME | --all] [--json]`: remove everything a lab created; idempotent, works after a crash."""

from __future__ import annotations

from dataclasses import asdict

import click

from controller.cli.output import console, emit_json, json_option
from controller.cli.target import name_argument, one_name, running_lab_options
from lab.errors import GwlabError
from lab.runtime.lifecycle import down
from lab.runtime.state import running_labs


@click.command("down")
@name_argument
@running_lab_options
@click.option("--all", "all_labs", is_flag=True, help="Take every lab down.")
@json_option
def down_command(name_arg: str | None, name: str | None, all_labs: bool, as_json: bool) -> None:
    """Take lab NAME down (processes, namespaces or containers, links, run directory)."""
    chosen = one_name(name_arg, name)
    if all_labs == (chosen is not None):
        raise click.UsageError("give a lab NAME or --all")
    names = running_labs() if all_labs else [chosen or ""]
    results = [down(lab) for lab in names]
    failed = [f"{r.name}: {', '.join(r.leftovers)}" for r in results if r.leftovers]
    if as_json:
        emit_json([asdict(r) for r in results])
    elif all_labs and not names:
        console.print("no labs are up")
    for r in results if not as_json else []:
        if not r.was_up:
            console.print(f"{r.name} is not up (nothing to do)")
        elif not r.leftovers:
            console.print(f"down: {r.name} ({r.runtime}: {r.processes} processes, {r.nodes} nodes removed)")
    if failed:
        error = GwlabError("could not remove " + "; ".join(failed))
        error.reported = as_json
        raise error


def register(app: click.Group) -> None:
    app.add_command(down_command)
