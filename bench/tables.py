"""The tables of docs/benchmarks.md: number formats, and a lab's row (its figures and the load they
were taken at)."""

from __future__ import annotations

from typing import Any

PHASES = ("prepare", "render", "namespaces", "daemons", "tunnels", "bfd", "convergence")


def fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def mib(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def gib(value_mib: float | None) -> str:
    return "-" if value_mib is None else f"{value_mib / 1024:.2f}"


def share(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def dominant(summary: dict[str, Any]) -> tuple[str, float] | None:
    phases = {k: v for k, v in summary.get("phases", {}).items() if v is not None and k in PHASES}
    up = summary.get("up_s")
    if not phases or not up:
        return None
    name = max(phases, key=lambda k: phases[k])
    return name, phases[name] / up


def spread(s: dict[str, Any]) -> str:
    """(min-max) of the runs, when there was more than one."""
    lo, hi = s.get("up_min_s"), s.get("up_max_s")
    return f" ({lo:.2f}-{hi:.2f})" if lo is not None and hi is not None and s.get("ok_runs", 0) > 1 else ""


def load(s: dict[str, Any]) -> str:
    """The load the kept runs began at (median, max) and the share of CPU others took (median)."""
    if s.get("load1_start") is None:
        return "- | -"
    top = f" ({s['load1_max']:.1f})" if s.get("load1_max") is not None and s.get("ok_runs", 0) > 1 else ""
    return f"{s['load1_start']:.1f}{top} | {share(s.get('others_share'))}"


def row(label: str, shape: dict[str, int], s: dict[str, Any]) -> str:
    p = s.get("phases", {})
    dom = dominant(s)
    ok = f"{s['ok_runs']}/{s['runs']}" + (f" ({s['attempts']})" if s.get("attempts", 0) > s["runs"] else "")
    return (
        f"| {label} | {shape['nodes']} | {shape['routers']} | {shape['speakers']} | {shape['bgp_neighbors']} "
        f"| **{fmt(s['up_s'])}**{spread(s)} | {fmt(p.get('prepare'))} | {fmt(p.get('render'))} "
        f"| {fmt(p.get('namespaces'))} | {fmt(p.get('daemons'))} | {fmt(p.get('tunnels'))} "
        f"| {fmt(p.get('bfd'))} | {fmt(p.get('convergence'))} | {fmt(s['down_s'])} | {mib(s['pss_mib'])} "
        f"| {mib(s['rss_mib'])} | {fmt(s['processes'], 0)} | {dom[0] if dom else '-'} | {load(s)} | {ok} |"
    )


HEADER = (
    "| lab | nodes | routers | speakers | BGP neighbors | up (s), median (min-max) | prepare | render "
    "| namespaces | daemons | tunnels | bfd | convergence | down (s) | PSS (MiB) | RSS (MiB) | processes "
    "| dominant phase | load at start, median (max) | others' CPU | ok runs (attempts) |\n"
    "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|--:|--:|--:|"
)
