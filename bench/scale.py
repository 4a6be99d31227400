"""The cost of a lab against its size: generated labs of 1 to 200 sites, a least-squares line through
them (seconds and PSS per site), the figure, and the section of docs/benchmarks.md."""

from __future__ import annotations

import os
from itertools import pairwise
from pathlib import Path
from typing import Any

from bench.tables import HEADER, PHASES, dominant, row

TARGET_GIB_LINE = 12.0  # the 200-site target, drawn on the memory plot


def fit(xs: list[float], ys: list[float]) -> tuple[float, float] | None:
    """Least-squares line y = a + b x: (a, b)."""
    if len(xs) < 2 or len({*xs}) < 2:
        return None
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum((x - mx) ** 2 for x in xs)
    return my - b * mx, b


def generated(data: dict[str, Any]) -> list[dict[str, Any]]:
    """The generated labs that came up, smallest first."""
    gen = [g for g in data["gwlab"] if g["kind"] == "generated" and g["summary"]["up_s"] is not None]
    return sorted(gen, key=lambda g: g["sites"])


def per_site(data: dict[str, Any]) -> dict[str, tuple[float, float] | None]:
    """Fitted lines over every ok run of every generated lab (each run a point): up seconds, PSS MiB
    and down seconds against sites."""
    points: dict[str, tuple[list[float], list[float]]] = {"up_s": ([], []), "pss_mib": ([], []), "down_s": ([], [])}
    for g in generated(data):
        for r in g["runs"]:
            if not r.get("ok"):
                continue
            for key, value in (("up_s", r["up_s"]), ("pss_mib", r["memory"]["pss_mib"]), ("down_s", r.get("down_s"))):
                if value is not None:
                    points[key][0].append(float(g["sites"]))
                    points[key][1].append(float(value))
    return {key: fit(xs, ys) for key, (xs, ys) in points.items()}


def plot(data: dict[str, Any], path: Path) -> Path | None:
    gen = generated(data)
    if len(gen) < 2:
        return None
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    sites = [g["sites"] for g in gen]
    labels = [str(s) for s in sites]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    bottom = [0.0] * len(gen)
    colors = {
        "prepare": "#bbbbbb",
        "render": "#888888",
        "namespaces": "#4c72b0",
        "daemons": "#dd8452",
        "tunnels": "#8172b3",
        "bfd": "#937860",
        "convergence": "#55a868",
    }
    for phase in PHASES:
        values = [g["summary"]["phases"].get(phase) or 0.0 for g in gen]
        left.bar(labels, values, bottom=bottom, label=phase, color=colors[phase])
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    downs = [g["summary"]["down_s"] or 0.0 for g in gen]
    left.plot(labels, downs, "k--o", label="down")
    left.set_xlabel("on-prem sites (gwlab generate --sites N)")
    left.set_ylabel("seconds (median)")
    left.set_title("up until converged, by phase; down")
    left.legend(fontsize=8)
    right.plot(sites, [g["summary"]["pss_mib"] / 1024 for g in gen], "o-", label="PSS (all lab processes)")
    right.plot(sites, [g["summary"]["rss_mib"] / 1024 for g in gen], "s--", label="RSS (all lab processes)")
    lines = per_site(data)
    if lines["pss_mib"] is not None:
        a, b = lines["pss_mib"]
        right.plot(sites, [(a + b * s) / 1024 for s in sites], ":", color="grey", label="least squares (PSS)")
    right.axhline(TARGET_GIB_LINE, color="red", linewidth=0.8, linestyle=":", label="12 GiB target (200 sites)")
    right.set_xlabel("on-prem sites")
    right.set_ylabel("GiB")
    right.set_title("memory right after convergence")
    right.legend(fontsize=8)
    fig.suptitle(f"gwlab scale, {data['machine']['cores']} cores, {data['machine']['date']}", fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def section(data: dict[str, Any], png: Path | None, docdir: Path) -> list[str]:
    gen = [g for g in data["gwlab"] if g["kind"] == "generated"]
    if not gen:
        return []
    out = ["## Cost against size", "", HEADER]
    out += [row(g["lab"], g["shape"], g["summary"]) for g in sorted(gen, key=lambda g: g["sites"])]
    out.append("")
    big = data.get("big") or {}
    if big.get("skipped"):
        out += [f"The {big['sites']}-site lab was not run: {big['skipped']}.", ""]
    ok = generated(data)
    lines = per_site(data)
    up_line, pss_line, down_line = lines["up_s"], lines["pss_mib"], lines["down_s"]
    if up_line and pss_line:
        out.append(
            f"Least squares over every run of {', '.join(str(g['sites']) for g in ok)} sites: "
            f"**up ≈ {up_line[0]:.1f} s + {up_line[1]:.3f} s per site**, "
            f"**PSS ≈ {pss_line[0]:,.0f} MiB + {pss_line[1]:.1f} MiB per site**"
            + (f", down ≈ {down_line[0]:.1f} s + {down_line[1]:.3f} s per site." if down_line else ".")
        )
    steps = [(a, b) for a, b in pairwise(ok) if b["sites"] > a["sites"]]
    if steps:
        marginal = ", ".join(
            f"{a['sites']}→{b['sites']}: "
            f"{(b['summary']['up_s'] - a['summary']['up_s']) / (b['sites'] - a['sites']):.2f} s"
            for a, b in steps
        )
        out.append(
            f"Between sizes (medians), each added site costs {marginal} of `up`. Each site adds three nodes "
            "(core, host, VPN device), two FRR routers, one ExaBGP speaker and two tunnels (an IPsec "
            "tunnel end each: an endpoint namespace and a charon)."
        )
    if steps or up_line:
        out.append("")
    if ok:
        largest = ok[-1]
        s = largest["summary"]
        dom = dominant(s)
        shares = ", ".join(f"{k} {v / s['up_s']:.0%}" for k, v in s["phases"].items() if v is not None and k in PHASES)
        if dom:
            out.append(f"At {largest['sites']} sites the **{dom[0]}** phase dominates ({shares}).")
        cpu = s.get("cpu")
        if cpu:
            avail = data["machine"]["cores"] * cpu.get("up_s", s["up_s"])
            busy = min(cpu["machine_busy_s"], avail)  # jiffies and the monotonic clock differ slightly
            lab = ", ".join(f"{k} {v:.1f}" for k, v in sorted(cpu["lab_processes_s"].items(), key=lambda kv: -kv[1]))
            verdict = (
                "`up` is bound by CPU"
                if busy / avail >= 0.85
                else "CPU is not the only limit, the rest is waiting (BGP's connect retry, daemons' start-up)"
            )
            out.append(
                f"During that `up` the machine was busy for {busy:.1f} of the {avail:.1f} CPU-seconds "
                f"its {data['machine']['cores']} cores offered ({busy / avail:.0%}): {verdict}. "
                f"Of it: the gwlab process {cpu['gwlab_process_s']:.1f} s, the children it "
                f"waited for (ExaBGP until it daemonizes, FRR until it forks, vtysh for BFD, swanctl) "
                f"{cpu['gwlab_children_s']:.1f} s, the lab's processes (with the children they reaped) {lab} s; "
                f"the rest is the kernel and whatever else ran on the machine (the median run, up in "
                f"{cpu.get('up_s', s['up_s']):.1f} s)."
            )
        out.append("")
    if png is not None:
        out += [f"![gwlab cost against size]({os.path.relpath(png, docdir)})", ""]
    return out
