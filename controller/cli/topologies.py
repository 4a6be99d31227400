"""`gwlab topologies`: the built-in labs, usable by name wherever a LAB is expected."""

from __future__ import annotations

import click
from rich.table import Table

from controller.cli.output import console, emit_json
from controller.cli.validate import json_option
from lab.load import read
from lab.paths import builtin_topologies


@click.command("topologies")
@json_option
def topologies(as_json: bool) -> None:
    """List the built-in topologies."""
    rows = []
    for name in builtin_topologies():
        model, _ = read(name)
        rows.append(
            {
                "name": name,
                "description": model.description,
                "mode": model.vpn_gateway.mode,
                "expressroute": model.expressroute is not None,
            }
        )
    if as_json:
        emit_json(rows)
        return
    table = Table("name", "gateway", "ExpressRoute", "description")
    for r in rows:
        table.add_row(str(r["name"]), str(r["mode"]), "yes" if r["expressroute"] else "", str(r["description"]))
    console.print(table)


def register(app: click.Group) -> None:
    app.add_command(topologies)
