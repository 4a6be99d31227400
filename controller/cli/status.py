"""`gwlab status [NAME] [--json]`: nodes, processes, BGP sessions, failures in effect, and the path each
direction uses now."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import click
from rich.table import Table

from controller.cli.output import console, emit_json, json_option
from controller.cli.target import name_argument, one_name, pick, running_lab_options


@click.command("status")
@name_argument
@running_lab_options
@json_option
def status_command(name_arg: str | None, name: str | None, as_json: bool) -> None:
    """Show lab NAME (default: the only one up): daemons, BGP sessions, IPsec tunnels, failures, current
    paths."""
    from controller.failures import load_active
    from controller.observe import current_paths, node_status, sessions, tunnels

    lab = pick(one_name(name_arg, name))
    nodes = node_status(lab)
    bgp = sessions(lab)
    ends = tunnels(lab)
    paths = current_paths(lab)
    failed = [{"target": r.target, "mode": r.mode} for r in load_active(lab)]
    if as_json:
        emit_json(
            {
                "lab": lab.name,
                "phase": lab.state.phase,
                "profile": lab.topo.timing.profile,
                "nodes": [asdict(n) for n in nodes],
                "sessions": bgp,
                "tunnels": ends,
                "failures": failed,
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
    if ends:
        console.print(tunnel_table(ends))
    if failed:
        console.print("failed: " + ", ".join(f"[red]{f['target']}[/] ({f['mode']})" for f in failed))
    for direction, elements in sorted(paths.items()):
        console.print(f"{direction}: {', '.join(elements) or '[red]no path[/]'}")


def tunnel_table(ends: list[dict[str, Any]]) -> Table:
    table = Table("tunnel", "end", "charon", "IKE", "CHILD", "SAs", "problem")
    for e in ends:
        state = e["state"] or {}
        up = state.get("ike") == "ESTABLISHED" and state.get("child") == "INSTALLED"
        colour = "green" if up else "red"
        table.add_row(
            e["tunnel"],
            e["end"],
            "running" if e["running"] else "[red]stopped[/]",
            f"[{colour}]{state.get('ike', '-')}[/]",
            f"[{colour}]{state.get('child', '-')}[/]",
            str(state.get("ike_sas", 0)),
            e["problem"] or "",
        )
    return table


def register(app: click.Group) -> None:
    app.add_command(status_command)
