"""`gwlab fail TARGET [--mode M]` and `gwlab restore TARGET`: inject a failure into a running lab, undo it."""

from __future__ import annotations

import time

import click

from controller.cli.output import console, emit_json
from controller.cli.target import lab_option, pick
from controller.cli.validate import json_option
from lab.errors import GwlabError


@click.command("fail")
@lab_option
@click.argument("target")
@click.option(
    "--mode",
    help="How it fails (crash, graceful, down, blackhole, psk-mismatch, selector-mismatch, shutdown, flood: "
    "per target).",
)
@click.option("--no-wait", is_flag=True, help="Return at once instead of waiting for the lab to converge.")
@json_option
def fail_command(lab_name: str | None, target: str, mode: str | None, no_wait: bool, as_json: bool) -> None:
    """Fail TARGET: gw0, s1-vpn0, msee0, s1-vpn0~gw0 (tunnel), s1-vpn0~inet (uplink), s1-ce0~msee0,
    circuit, zone1, flood:s1. Waits until the lab matches the oracle and says how long that took."""
    from controller.converge import converge_now
    from controller.failures import current_failures, inject, load_active, resolve
    from controller.oracle import predict

    lab = pick(lab_name)
    failure = resolve(lab, target, mode)
    if any(r.target == target for r in load_active(lab)):
        raise GwlabError(f"{target} is already failed (gwlab restore {target})")
    detection = failure.detection()
    start = time.monotonic()
    inject(lab, failure, lambda delay, what: console.print(f"waiting {delay:g} s: then the {what}"))
    result: dict[str, object] = {
        "target": target,
        "mode": failure.mode,
        "detection": detection.mechanism,
        "expected_detection_ms": detection.expected_ms,
    }
    if not no_wait:
        ok, _ = converge_now(lab, detection.expected_ms / 1000 + 15)
        result["converged"] = ok
        result["converged_ms"] = round((time.monotonic() - start) * 1000, 1) if ok else None
    result["paths"] = predict(lab.topo, current_failures(lab)).paths
    if as_json:
        emit_json(result)
        return
    console.print(
        f"[red]failed[/]: {target} ({failure.mode}); detected by {detection.mechanism} "
        f"(about {detection.expected_ms:.0f} ms with profile {lab.topo.timing.profile})"
    )
    if "converged" in result:
        state = f"converged after {result['converged_ms']} ms" if result["converged"] else "[red]not converged[/]"
        console.print(f"  {state}")
    for direction, elements in sorted(result["paths"].items()):  # type: ignore[attr-defined]
        console.print(f"  {direction}: {', '.join(elements) or '[red]no path[/]'}")


@click.command("restore")
@lab_option
@click.argument("target", required=False)
@click.option("--all", "restore_all", is_flag=True, help="Restore every failure in effect.")
def restore_command(lab_name: str | None, target: str | None, restore_all: bool) -> None:
    """Undo the failure of TARGET (or --all) and wait for the lab to converge back."""
    from controller.converge import converge_now
    from controller.failures import from_record, load_active, restore

    if restore_all == (target is not None):
        raise click.UsageError("give a TARGET or --all")
    lab = pick(lab_name)
    active = load_active(lab)
    chosen = active if restore_all else [r for r in active if r.target == target]
    if not chosen:
        failed = ", ".join(r.target for r in active) or "none"
        raise GwlabError(f"{target} is not failed (failed now: {failed})")
    for record in reversed(chosen):
        restore(lab, from_record(lab, record))
        console.print(f"[green]restored[/]: {record.target}")
    ok, seconds = converge_now(lab, 30)
    console.print(f"  {'converged' if ok else '[red]not converged[/]'} after {seconds * 1000:.0f} ms")
    if not ok:
        raise GwlabError("the lab did not converge back (gwlab status shows what differs)")


def register(app: click.Group) -> None:
    app.add_command(fail_command)
    app.add_command(restore_command)
