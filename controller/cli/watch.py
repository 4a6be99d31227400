"""`gwlab watch [NAME]`: a full-screen live view of a running lab (rich Live, refreshed every 150 ms):
each probe flow's current path and loss, the BGP sessions, the last failure and its outage so far.
It sends its own probes (a few flows, at a low rate) while it runs; a failure made from another
terminal (`gwlab fail`, an exercise's check) shows up at once."""

from __future__ import annotations

import sys
import time

import click
from rich.console import Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table

from controller.cli.output import emit_json_line, json_option, make_console
from controller.cli.target import name_argument, one_name, pick, running_lab_options
from controller.watch import WatchState

SESSIONS_EVERY = 4  # BGP sessions read every 4th refresh (one vty query per router)


def _flows_table(state: WatchState, now_ms: float) -> Table:
    table = Table("flow", "direction", "path now", "received", "lost", "loss", "state", title="probe flows")
    for view in sorted(state.flows.values(), key=lambda v: (v.direction, v.flow)):
        down = state.down(view, now_ms)
        status = f"[red]down {down:,.0f} ms[/]" if down else ("[green]ok[/]" if view.received else "[dim]waiting[/]")
        table.add_row(
            str(view.flow),
            view.direction,
            view.path or "-",
            str(view.received),
            str(view.lost),
            f"{view.loss_pct:.1f} %",
            status,
        )
    return table


def _sessions_table(rows: list[dict[str, object]]) -> Table:
    table = Table("node", "neighbor", "peer", "state", "prefixes", title="BGP sessions")
    for s in rows:
        colour = "green" if s["state"] == "Established" else "red"
        table.add_row(
            str(s["node"]), str(s["neighbor"]), str(s["peer"]), f"[{colour}]{s['state']}[/]", str(s["prefixes"])
        )
    return table


def _failure_panel(state: WatchState, now_ms: float) -> Panel:
    f = state.failure
    if f is None:
        return Panel("no failure yet (gwlab fail TARGET in another terminal)", title="last failure")
    outage = state.outage_so_far(now_ms)
    figures = ", ".join(f"{d} {ms:,.0f} ms" for d, ms in sorted(outage.items())) or "none"
    ago = (now_ms - f.since_ms) / 1000
    restored = f"; restored {(now_ms - f.restored_ms) / 1000:.1f} s ago" if f.restored_ms is not None else ""
    return Panel(f"{f.target} ({f.mode}), {ago:.1f} s ago{restored}\noutage so far: {figures}", title="last failure")


@click.command("watch")
@name_argument
@running_lab_options
@click.option(
    "--refresh-ms", type=click.IntRange(100, 200), default=150, show_default=True, help="How often the view is redrawn."
)
@click.option(
    "--flows", type=click.IntRange(1, 16), default=4, show_default=True, help="Probe flows per direction and site."
)
@click.option("--rate", type=click.FloatRange(10, 500), default=100, show_default=True, help="Packets/s per flow.")
@click.option(
    "--duration", type=click.FloatRange(min=1), default=None, help="Stop after this many seconds (default: Ctrl-C)."
)
@json_option
def watch_command(
    name_arg: str | None,
    name: str | None,
    refresh_ms: int,
    flows: int,
    rate: float,
    duration: float | None,
    as_json: bool,
) -> None:
    """A live full-screen view of lab NAME: flows' paths and loss, BGP sessions, the last failure's outage.
    With --json, one JSON document per line and refresh instead (for scripts)."""
    from controller.failures import load_active
    from controller.observe import sessions
    from controller.session import LabSession

    lab = pick(one_name(name_arg, name))
    screen = make_console(sys.stdout)
    state = WatchState(interval_ms=1000.0 / rate)
    onprem = {n.name for n in lab.topo.nodes.values() if n.site is not None}
    with LabSession(lab) as session, session.probes(flows, rate) as probes:
        seen = 0
        rows: list[dict[str, object]] = []
        end = None if duration is None else time.monotonic() + duration
        with Live(console=screen, screen=screen.is_terminal, auto_refresh=False, transient=as_json) as live:
            tick = 0
            while end is None or time.monotonic() < end:
                now = session.now_ms()
                flow_stats, arrivals = probes.snapshot()
                state.failures_now([(r.target, r.mode) for r in load_active(lab)], now)
                state.feed(flow_stats, arrivals[seen:])
                seen = len(arrivals)
                if tick % SESSIONS_EVERY == 0:  # each VPN and ExpressRoute session once, from on-prem
                    rows = [s for s in sessions(lab) if s["kind"] in ("vpn", "er") and s["node"] in onprem]
                if as_json:
                    emit_json_line(_snapshot(lab.name, state, rows, now))
                    tick += 1
                    time.sleep(refresh_ms / 1000)
                    continue
                title = f"gwlab watch {lab.name} ({lab.topo.timing.profile}) +{now / 1000:.1f} s   Ctrl-C to stop"
                live.update(
                    Group(title, _failure_panel(state, now), _flows_table(state, now), _sessions_table(rows)),
                    refresh=True,
                )
                tick += 1
                time.sleep(refresh_ms / 1000)  # the refresh period itself, not a wait for a condition


def _snapshot(lab: str, state: WatchState, rows: list[dict[str, object]], now: float) -> dict[str, object]:
    flows = [
        {
            "flow": v.flow,
            "direction": v.direction,
            "path": v.path,
            "received": v.received,
            "lost": v.lost,
            "down_ms": round(state.down(v, now)),
        }
        for v in sorted(state.flows.values(), key=lambda v: v.flow)
    ]
    failure: dict[str, object] | None = None
    if state.failure is not None:
        f = state.failure
        outage = {d: round(ms) for d, ms in state.outage_so_far(now).items()}
        failure = {"target": f.target, "mode": f.mode, "since_ms": round(f.since_ms), "outage_ms": outage}
        failure["restored_ms"] = None if f.restored_ms is None else round(f.restored_ms)
    return {"lab": lab, "t_ms": round(now), "flows": flows, "sessions": rows, "failure": failure}


def register(app: click.Group) -> None:
    app.add_command(watch_command)
