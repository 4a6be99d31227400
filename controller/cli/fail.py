"""`gwlab fail TARGET [--mode M] [--measure]` and `gwlab restore TARGET|--all`: inject a failure into a
running lab, undo it; both wait until the lab has converged and say what it took (the LabSession)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import click

from controller.cli.output import console, emit_json, json_option
from controller.cli.target import pick, running_lab_options
from controller.measure import BEFORE_MS
from controller.results import Measured
from lab.errors import GwlabError


def _data(result: Measured) -> Any:
    from controller.report import rounded

    data = asdict(result)
    data["converged"] = result.converged
    return rounded(data)


def _print(result: Measured, measured: bool) -> None:
    if result.converged:
        console.print(f"  converged: last FIB change after {result.converged_ms:,.0f} ms")
    else:
        console.print("  [red]not converged[/]: " + "; ".join(result.differences))
    for direction in sorted(result.expected_path_after):
        oracle = ", ".join(result.expected_path_after[direction]) or "no path"
        if not measured:
            console.print(f"  {direction}: {oracle} (oracle)")
            continue
        before = ", ".join(result.path_before.get(direction, [])) or "none"
        after = ", ".join(result.path_after.get(direction, [])) or "[red]none[/]"
        outage = result.outage_ms.get(direction, 0.0)
        lost = result.lost.get(direction, 0)
        console.print(
            f"  {direction}: {before} → {after} (oracle: {oracle}); outage {outage:,.0f} ms, {lost} packets lost"
        )


@click.command("fail")
@running_lab_options
@click.argument("target")
@click.option(
    "--mode",
    help="How it fails (crash, graceful, down, blackhole, psk-mismatch, selector-mismatch, shutdown, flood: "
    "per target).",
)
@click.option("--no-wait", is_flag=True, help="Return at once instead of waiting for the lab to converge.")
@click.option("--measure", is_flag=True, help="Send probes around the failure: outage, loss and paths, measured.")
@json_option
def fail_command(name: str | None, target: str, mode: str | None, no_wait: bool, measure: bool, as_json: bool) -> None:
    """Fail TARGET: gw0, s1-vpn0, msee0, s1-vpn0~gw0 (tunnel), s1-vpn0~inet (uplink), s1-ce0~msee0,
    circuit, zone1, flood:s1. Waits until the lab matches the oracle and says how long that took (the
    last FIB change); with --measure, what the traffic saw, from the data plane."""
    from controller.session import LabSession

    if measure and no_wait:
        raise click.UsageError("--measure needs the wait (drop --no-wait)")
    with LabSession(pick(name)) as session:

        def announce(delay: float, what: str) -> None:
            if not as_json:
                console.print(f"waiting {delay:g} s: then the {what}")

        if measure:
            session.start_probes()
            session.observe(BEFORE_MS)  # the paths before it
        result = session.fail(target, mode, wait=not no_wait, announce=announce)
    if as_json:
        emit_json({"lab": session.name, **_data(result)})
        return
    profile = session.topo.timing.profile
    console.print(
        f"[red]failed[/]: {target} ({result.mode}); detected by {result.detection} "
        f"(about {result.expected_detection_ms:.0f} ms with profile {profile})"
    )
    if no_wait:
        console.print(f"  not waited for (gwlab status {session.name})")
        return
    _print(result, measure)


@click.command("restore")
@running_lab_options
@click.argument("target", required=False)
@click.option("--all", "restore_all", is_flag=True, help="Restore every failure in effect.")
@json_option
def restore_command(name: str | None, target: str | None, restore_all: bool, as_json: bool) -> None:
    """Undo the failure of TARGET (or --all) and wait for the lab to converge back."""
    from controller.session import LabSession

    if restore_all == (target is not None):
        raise click.UsageError("give a TARGET or --all")
    with LabSession(pick(name)) as session:
        if restore_all and not session.active():
            raise GwlabError("nothing is failed")
        results = session.restore_all() if restore_all else [session.restore(target or "")]
    if as_json:
        emit_json({"lab": session.name, "restored": [_data(r) for r in results]})
    else:
        for r in results:
            console.print(f"[green]restored[/]: {r.target}")
        _print(results[-1], measured=False)
    if not results[-1].converged:
        error = GwlabError(f"the lab did not converge back (gwlab status {session.name} shows what differs)")
        error.reported = as_json
        raise error


def register(app: click.Group) -> None:
    app.add_command(fail_command)
    app.add_command(restore_command)
