"""`gwlab status [NAME] [--json]`: nodes, processes, BGP sessions, and the path each direction uses now."""

from __future__ import annotations

from dataclasses import asdict

import click
from rich.table import Table

from controller.cli.output import console, emit_json
from controller.cli.target import pick
from controller.cli.validate import json_option


@click.command("status")
@click.argument("name", required=False)
@json_option
def status_command(name: str | None, as_json: bool) -> None:
    """Show lab NAME (default: the only one up): daemons, BGP sessions, current paths."""
    from controller.observe import current_paths, node_status, sessions

    lab = pick(name)
    nodes = node_status(lab)
    bgp = sessions(lab)
    paths = current_paths(lab)
    if as_json:
        emit_json(
            {
                "lab": lab.name,
                "phase": lab.state.phase,
                "profile": lab.topo.timing.profile,
                "nodes": [asdict(n) for n in nodes],
                "sessions": bgp,
                "paths": paths,
            }
        )
        return
    console.print(f"lab [bold]{lab.name}[/] ({lab.state.source}, {lab.state.phase}, profile {lab.topo.timing.profile})")
    table = Table("node", "role", "namespace", "daemons")
    for n in nodes:
        daemons = " ".join(f"[green]{d}[/]" if ok else f"[red]{d}:dead[/]" for d, ok in n.daemons.items())
        table.add_row(n.node, n.role, "ok" if n.namespace else "[red]missing[/]", daemons or "-")
    console.print(table)
    table = Table("node", "neighbor", "peer", "kind", "state", "prefixes")
    for s in bgp:
        colour = "green" if s["state"] == "Established" else "red"
        table.add_row(s["node"], s["neighbor"], s["peer"], s["kind"], f"[{colour}]{s['state']}[/]", str(s["prefixes"]))
    console.print(table)
    for direction, elements in sorted(paths.items()):
        console.print(f"{direction}: {', '.join(elements) or '[red]no path[/]'}")


def register(app: click.Group) -> None:
    app.add_command(status_command)
