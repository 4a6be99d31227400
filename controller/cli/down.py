"""`gwlab down [NAME | --all]`: remove everything a lab created; idempotent, works after a crash."""

from __future__ import annotations

import click

from controller.cli.output import console
from lab.errors import GwlabError
from lab.runtime.lifecycle import down
from lab.runtime.state import running_labs


@click.command("down")
@click.argument("name", required=False)
@click.option("--all", "all_labs", is_flag=True, help="Take every lab down.")
def down_command(name: str | None, all_labs: bool) -> None:
    """Take lab NAME down (processes, namespaces, links, run directory)."""
    if all_labs == (name is not None):
        raise click.UsageError("give a lab NAME or --all")
    names = running_labs() if all_labs else [name or ""]
    if all_labs and not names:
        console.print("no labs are up")
        return
    failed = []
    for lab in names:
        result = down(lab)
        if not result.was_up:
            console.print(f"{lab} is not up (nothing to do)")
        elif result.leftovers:
            failed.append(f"{lab}: {', '.join(result.leftovers)}")
        else:
            console.print(f"down: {lab} ({result.runtime}: {result.processes} processes, {result.nodes} nodes removed)")
    if failed:
        raise GwlabError("could not remove " + "; ".join(failed))


def register(app: click.Group) -> None:
    app.add_command(down_command)
