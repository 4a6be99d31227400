"""`gwlab up LAB [--name NAME] [--runtime R]`: build the lab and return once it has converged."""

from __future__ import annotations

from dataclasses import asdict

import click
from rich.table import Table

from controller.cli.output import console, delayed_progress, emit_json, err_console, json_option
from controller.cli.target import runtime_option
from controller.cli.validate import lab_argument, print_warnings
from controller.converge import NotConverged, UpResult, up
from lab.load import load_with_warnings

UP_PHASES = ("render", "namespaces", "daemons", "converging")  # what `up` reports, in order


def differences_table(exc: NotConverged) -> Table:
    table = Table("node", "what", "item", "expected", "actual", title=f"{exc.name}: not converged")
    for d in exc.diffs:
        table.add_row(d.node, d.what, d.item, d.expected, d.actual)
    return table


@click.command("up")
@lab_argument
@click.option(
    "-n",
    "--name",
    metavar="NAME",
    help="Name of the running lab (default: the lab file's); two copies can run at once.",
)
@click.option("--timeout", type=click.FloatRange(min=1), default=None, help="Seconds to wait for convergence.")
@click.option("--cleanup-on-failure", is_flag=True, help="Take the lab down if it does not converge.")
@runtime_option
@json_option
def up_command(
    lab: str, name: str | None, timeout: float | None, cleanup_on_failure: bool, runtime: str, as_json: bool
) -> None:
    """Build LAB (network namespaces by default), start FRR and ExaBGP, wait until it matches Azure's rules.

    Returns when every BGP session is Established, every FIB holds the routes the model predicts and
    BFD runs at the profile's timers; on time-out prints what has not converged and exits 1, leaving
    the lab up for inspection. A terminal shows the phases and counts while it takes longer than 2 s.
    Azure's traps the lab file falls into are printed first, as warnings on stderr.
    """
    print_warnings(load_with_warnings(lab))
    try:
        with delayed_progress(err_console, enabled=not as_json, phases=len(UP_PHASES)) as progress:
            result = up(
                lab,
                name=name,
                runtime=runtime,
                timeout_s=timeout,
                cleanup_on_failure=cleanup_on_failure,
                progress=progress,
            )
    except NotConverged as exc:
        if as_json:
            diffs = [asdict(d) for d in exc.diffs]
            emit_json({"lab": exc.name, "converged": False, "seconds": round(exc.seconds, 3), "differences": diffs})
            exc.reported = True
        else:
            err_console.print(differences_table(exc))
        raise
    report(result, as_json)


def report(result: UpResult, as_json: bool) -> None:
    total = sum(result.timings.values())
    if as_json:
        emit_json(
            {
                "lab": result.topo.name,
                "runtime": result.lab.runtime.name,
                "converged": True,
                "seconds": round(total, 3),
                "phases": {k: round(v, 3) for k, v in result.timings.items()},
                "paths": result.prediction.paths,
            }
        )
        return
    phases = ", ".join(f"{k} {v:.2f}s" for k, v in result.timings.items())
    console.print(f"[green]up[/]: {result.topo.name} converged in {total:.2f} s ({phases})")
    for direction, elements in sorted(result.prediction.paths.items()):
        console.print(f"  {direction}: {', '.join(elements) or 'no path'}")


def register(app: click.Group) -> None:
    app.add_command(up_command)
