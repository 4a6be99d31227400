"""`gwlab validate LAB`: check a lab file against the model and Azure's rules."""

from __future__ import annotations

import click

from controller.cli.output import console, emit_json, json_option
from lab.load import Loaded, load_with_warnings
from lab.topology import Topology

lab_argument = click.argument("lab", metavar="LAB")

__all__ = ["json_option", "lab_argument", "print_warnings", "summary"]


def summary(topo: Topology) -> dict[str, object]:
    gw = topo.lab.vpn_gateway
    sessions = sum(len(n.bgp.neighbors) for n in topo.routers() if n.bgp)
    return {
        "name": topo.name,
        "profile": topo.timing.profile,
        "gateway": {"type": gw.type, "mode": gw.mode, "asn": gw.asn, "bgp": gw.bgp},
        "sites": [s.name for s in topo.lab.onprem.sites],
        "expressroute": topo.er_site is not None,
        "nodes": sorted(topo.nodes),
        "tunnels": len(topo.tunnels),
        "bgp_neighbors": sessions,
    }


def print_warnings(loaded: Loaded) -> None:
    """Each warning on its own line on stderr, as Azure's rules' errors are."""
    for line in loaded.warning_lines():
        click.echo(line, err=True)


@click.command("validate")
@lab_argument
@json_option
def validate(lab: str, as_json: bool) -> None:
    """Check LAB (a file or a built-in name) against the model and Azure's rules.

    Every problem is listed on its own line and the exit code is 2. Azure's traps the file falls into
    are warnings, one line each on stderr (and in --json): the file is still valid.
    """
    loaded = load_with_warnings(lab)
    topo = loaded.topo
    info = summary(topo)
    print_warnings(loaded)
    if as_json:
        emit_json({"valid": True, **info, "warnings": [w.as_dict() for w in loaded.warnings]})
        return
    gw = topo.lab.vpn_gateway
    er = "ExpressRoute, " if info["expressroute"] else ""
    console.print(
        f"[green]valid[/]: {topo.name}: {gw.mode} {gw.type} gateway, {er}"
        f"{len(topo.lab.onprem.sites)} site(s), {len(topo.nodes)} nodes, {info['tunnels']} tunnel(s), "
        f"profile {topo.timing.profile}"
    )


def register(app: click.Group) -> None:
    app.add_command(validate)
