"""`gwlab chaos [LAB | --name NAME] [--duration S] [--seed N] [--max-concurrent 2]`: random failures from
the lab's own catalogue, checked against the oracle after every step (controller.chaos)."""

from __future__ import annotations

import os
import random
from pathlib import Path

import click

from controller.cli.output import console, err_console, json_option
from controller.cli.reports import publish, report_option
from controller.cli.target import name_option, runtime_option


@click.command("chaos")
@click.argument("lab", metavar="[LAB]", required=False)
@name_option
@click.option("--duration", type=click.FloatRange(min=1), default=120.0, show_default=True, help="Seconds of steps.")
@click.option("--steps", type=click.IntRange(min=1), default=None, help="Run exactly this many steps (not a duration).")
@click.option(
    "--seed", type=int, default=None, help="The same seed gives the same steps (default: a random one, said)."
)
@click.option("--max-concurrent", type=click.IntRange(1, 4), default=2, show_default=True, help="Failures at once.")
@click.option("--flows", type=click.IntRange(1, 64), default=8, show_default=True, help="Probe flows per direction.")
@click.option("--rate", type=click.FloatRange(10, 2000), default=100.0, show_default=True, help="Packets/s per flow.")
@report_option("reports/chaos-<seed>")
@click.option("--keep", is_flag=True, help="Leave a lab it brought up running afterwards.")
@runtime_option
@json_option
def chaos_command(
    lab: str | None,
    name: str | None,
    duration: float,
    steps: int | None,
    seed: int | None,
    max_concurrent: int,
    flows: int,
    rate: float,
    report_dir: Path | None,
    keep: bool,
    runtime: str,
    as_json: bool,
) -> None:
    """Fail and restore random targets of LAB (brought up for the run, then taken down) or of the
    running lab --name NAME; after every step, check that the lab converged to what the oracle predicts
    and that traffic took the predicted paths. Stops at the first disagreement; exit 0 when none."""
    from controller.chaos import ChaosRun, planner_for
    from controller.session import LabSession

    if (lab is None) == (name is None):
        raise click.UsageError("give a LAB to bring up or the --name of a running lab")
    seed = random.SystemRandom().randrange(1 << 31) if seed is None else seed
    if name is not None:
        session = LabSession(name)
    else:
        own = f"chaos{os.getpid() % 100000}"
        if not as_json:
            console.print(f"bringing {lab} up as {own}")
        session = LabSession.up(lab or "", name=own, runtime=runtime)
        session.owned = not keep

    def log(line: str) -> None:
        if not as_json:
            err_console.print(line)

    with session:
        planner = planner_for(session, seed, max_concurrent)
        log(f"chaos on {session.name}: seed {seed}, {len(planner.catalogue)} targets")
        run = ChaosRun(session, planner, duration_s=None if steps else duration, steps=steps, log=log)
        report = run.run(flows, rate)
    if not as_json:
        console.print(f"seed {seed}: {len(report.steps)} steps")
    failed = f"chaos seed {seed}: {run.stopped or 'an expectation failed'}"
    publish(report, report_dir or Path("reports") / f"chaos-{seed}", as_json, failed, seed=seed)


def register(app: click.Group) -> None:
    app.add_command(chaos_command)
