"""`gwlab list`: the labs that are up on this machine."""

from __future__ import annotations

import time

import click
from rich.table import Table

from controller.cli.output import console, emit_json
from controller.cli.validate import json_option
from lab.runtime.state import load_state, running_labs


@click.command("list")
@json_option
def list_command(as_json: bool) -> None:
    """List running labs."""
    rows = []
    for name in running_labs():
        state = load_state(name)
        if state is not None:
            rows.append(
                {
                    "name": name,
                    "source": state.source,
                    "phase": state.phase,
                    "runtime": state.runtime,
                    "nodes": len(state.nodes),
                    "age_s": round(time.time() - state.created),
                }
            )
    if as_json:
        emit_json(rows)
        return
    if not rows:
        console.print("no labs are up")
        return
    table = Table("name", "lab", "phase", "runtime", "nodes", "age")
    for r in rows:
        cells = (r["name"], r["source"], r["phase"], r["runtime"], r["nodes"])
        table.add_row(*(str(c) for c in cells), f"{r['age_s']} s")
    console.print(table)


def register(app: click.Group) -> None:
    app.add_command(list_command)
