"""docs/benchmarks.md and its figure, from the results that bench/__main__.py gathered."""

from __future__ import annotations

import os
from itertools import pairwise
from pathlib import Path
from typing import Any

PHASES = ("prepare", "render", "namespaces", "daemons", "convergence")
TARGET_DEFAULT_S = 3.0
TARGET_RATIO = 1 / 3
TARGET_50_S = 60.0
TARGET_50_GIB = 4.0


def _f(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _mib(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def _gib(value_mib: float | None) -> str:
    return "-" if value_mib is None else f"{value_mib / 1024:.2f}"


def _fit(xs: list[float], ys: list[float]) -> tuple[float, float] | None:
    """Least-squares line y = a + b x."""
    if len(xs) < 2 or len({*xs}) < 2:
        return None
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum((x - mx) ** 2 for x in xs)
    return my - b * mx, b


def dominant(summary: dict[str, Any]) -> tuple[str, float] | None:
    phases = {k: v for k, v in summary.get("phases", {}).items() if v is not None and k in PHASES}
    up = summary.get("up_s")
    if not phases or not up:
        return None
    name = max(phases, key=lambda k: phases[k])
    return name, phases[name] / up


def plot(data: dict[str, Any], path: Path) -> Path | None:
    gen = [g for g in data["gwlab"] if g["kind"] == "generated" and g["summary"]["up_s"] is not None]
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
    right.axhline(TARGET_50_GIB, color="red", linewidth=0.8, linestyle=":", label="4 GiB target (50 sites)")
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


def _spread(s: dict[str, Any]) -> str:
    """(min-max) of the runs, when there was more than one."""
    lo, hi = s.get("up_min_s"), s.get("up_max_s")
    return f" ({lo:.2f}-{hi:.2f})" if lo is not None and hi is not None and s.get("ok_runs", 0) > 1 else ""


def _row(label: str, shape: dict[str, int], s: dict[str, Any]) -> str:
    p = s.get("phases", {})
    dom = dominant(s)
    ok = f"{s['ok_runs']}/{s['runs']}"
    return (
        f"| {label} | {shape['nodes']} | {shape['routers']} | {shape['speakers']} | {shape['bgp_neighbors']} "
        f"| **{_f(s['up_s'])}**{_spread(s)} | {_f(p.get('prepare'))} | {_f(p.get('render'))} "
        f"| {_f(p.get('namespaces'))} "
        f"| {_f(p.get('daemons'))} | {_f(p.get('convergence'))} | {_f(s['down_s'])} | {_mib(s['pss_mib'])} "
        f"| {_mib(s['rss_mib'])} | {_f(s['processes'], 0)} | {dom[0] if dom else '-'} | {ok} |"
    )


HEADER = (
    "| lab | nodes | routers | speakers | BGP neighbors | up (s), median (min-max) | prepare | render "
    "| namespaces | daemons | convergence | down (s) | PSS (MiB) | RSS (MiB) | processes | dominant phase "
    "| ok runs |\n"
    "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|--:|"
)


def _loads(data: dict[str, Any]) -> str:
    """Median and maximum of the 1-minute load average sampled as each `up` converged."""
    loads = [r["load1"] for g in data["gwlab"] for r in g["runs"] if "load1" in r]
    loads += [r["load1"] for r in data["munet"].get("runs") or [] if "load1" in r]
    if not loads:
        return ""
    loads.sort()
    return f"; as each lab converged: median {loads[len(loads) // 2]:.1f}, max {loads[-1]:.1f}"


def _machine(m: dict[str, Any], munet: dict[str, Any], loads: str) -> list[str]:
    git = m["git"]
    return [
        "## Machine",
        "",
        "| | |",
        "|---|---|",
        f"| date | {m['date']} |",
        f"| git commit | `{git['commit'][:12]}`{' (with uncommitted changes)' if git['dirty'] else ''} |",
        f"| cores | {m['cores']} ({m['usable_cores']} usable), {m['cpu']} |",
        f"| memory | {m['memory_gib']} GiB |",
        f"| kernel / OS | {m['kernel']} / {m['os']} |",
        f"| Python | {m['python']} (pyroute2 {m['pyroute2']}) |",
        f"| FRR | {m['frr']} |",
        f"| ExaBGP | {m['exabgp']} |",
        f"| munet | {munet.get('version', 'not measured')} |",
        f"| load average (1 min) | {m['load_at_start'][0]} at start, {m['load_at_end'][0]} at end{loads} |",
        f"| other labs' namespaces on the machine at start / end | {m['other_namespaces_at_start']} / "
        f"{m['other_namespaces_at_end']} |",
        f"| benchmark duration | {m.get('total_seconds', m['bench_seconds']) / 60:.1f} min (runs "
        f"{m['bench_seconds'] / 60:.1f} min, the rest munet's install check and the profile) |",
        "",
        "The machine is shared: other labs running at the same time (counted above) take CPU, and their "
        "load is in every figure below. Runs go round-robin over the cases so that it spreads evenly.",
        "",
    ]


def _method(data: dict[str, Any]) -> list[str]:
    runs = data["options"]["runs"]
    return [
        "## Method",
        "",
        f"- Every figure is the **median of {runs} run(s)** of the case "
        "(`python -m bench --runs N`; `--quick` for one run of the default lab and small labs).",
        "- **up** is the wall-clock time from calling `lab.runtime.lifecycle.up()` until it returns converged: "
        "every BGP session the oracle (`controller/oracle` `predict`) expects is Established and every "
        "router's kernel FIB holds exactly the predicted BGP routes (polled every 100 ms). Its phases are "
        "`UpResult.timings`: *render* (configuration files), *namespaces* (namespaces, veths, bridges, "
        "VXLAN tunnels, addresses), *daemons* (FRR zebra/bgpd/staticd/bfdd and ExaBGP started), "
        "*convergence* (BGP until the oracle is satisfied); *prepare* is what `up` does before them "
        "(parse, rules, topology, oracle prediction).",
        "- **down** is `lab.runtime.lifecycle.down()` until it returns with nothing left (its leftovers "
        "list is checked empty).",
        "- **memory** is sampled right after `up` returns: the sum over every process in the lab's "
        "namespaces (`lab.runtime.processes.pids_in`) of `Pss` and of `Rss` from `/proc/<pid>/smaps_rollup`. "
        "**PSS is the figure used for targets**: RSS counts shared pages (libfrr, the Python interpreter) "
        "once per process and so overstates what the lab occupies. Kernel memory (namespaces, veths, "
        "routes, sockets) is in neither.",
        "- Generated labs come from `lab.generate.generate(N)` (`gwlab generate --sites N`): one VPN "
        "device per site, active-active gateway, no ExpressRoute.",
        "",
    ]


def _scale(data: dict[str, Any], png: Path | None, docdir: Path) -> list[str]:
    gen = [g for g in data["gwlab"] if g["kind"] == "generated"]
    if not gen:
        return []
    out = ["## Cost against size", "", HEADER]
    out += [_row(g["lab"], g["shape"], g["summary"]) for g in gen]
    out.append("")
    ok = [g for g in gen if g["summary"]["up_s"] is not None]
    xs = [float(g["sites"]) for g in ok]
    fit_m = _fit(xs, [g["summary"]["pss_mib"] for g in ok])
    fit_d = _fit(xs, [g["summary"]["down_s"] for g in ok if g["summary"]["down_s"] is not None])
    steps = [(a, b) for a, b in pairwise(sorted(ok, key=lambda g: g["sites"])) if b["sites"] > a["sites"]]
    if steps:
        marginal = ", ".join(
            f"{a['sites']}→{b['sites']}: "
            f"{(b['summary']['up_s'] - a['summary']['up_s']) / (b['sites'] - a['sites']):.2f}"
            for a, b in steps
        )
        first, last = steps[0], steps[-1]
        rate = [(b["summary"]["up_s"] - a["summary"]["up_s"]) / (b["sites"] - a["sites"]) for a, b in (first, last)]
        shape = (
            "it grows faster than the lab: the two cores are shared by more daemons and each convergence "
            "poll costs more (see below)"
            if rate[1] > 1.2 * rate[0]
            else "roughly linear"
        )
        out.append(
            f"Each added site costs (seconds of `up` per site, between sizes) {marginal}: {shape}. Each "
            "site adds three nodes (core, host, VPN device), two FRR routers, one ExaBGP speaker and two "
            "tunnels."
        )
    if fit_m:
        out.append(
            f"Memory grows linearly: **PSS ≈ {fit_m[0]:,.0f} MiB + {fit_m[1]:.0f} MiB per site**"
            + (f"; down ≈ {fit_d[0]:.1f} s + {fit_d[1]:.3f} s per site." if fit_d else ".")
        )
    if steps or fit_m:
        out.append("")
    if ok:
        big = max(ok, key=lambda g: g["sites"])
        dom = dominant(big["summary"])
        shares = ", ".join(
            f"{k} {v / big['summary']['up_s']:.0%}"
            for k, v in big["summary"]["phases"].items()
            if v is not None and k in PHASES
        )
        if dom:
            out.append(f"At {big['sites']} sites the **{dom[0]}** phase dominates ({shares}).")
        cpu = big["summary"].get("cpu")
        if cpu:
            avail = data["machine"]["cores"] * cpu.get("up_s", big["summary"]["up_s"])
            busy = min(cpu["machine_busy_s"], avail)  # jiffies and the monotonic clock differ slightly
            lab = ", ".join(f"{k} {v:.1f}" for k, v in sorted(cpu["lab_processes_s"].items(), key=lambda kv: -kv[1]))
            verdict = (
                "`up` is bound by CPU"
                if busy / avail >= 0.85
                else "CPU is the main limit, the rest is waiting (BGP's 1 s connect retry, daemons' start-up)"
            )
            out.append(
                f"During that `up` the machine was busy for {busy:.1f} of the {avail:.1f} CPU-seconds "
                f"its {data['machine']['cores']} cores offered ({busy / avail:.0%}): {verdict}. "
                f"Of it: the gwlab process {cpu['gwlab_process_s']:.1f} s, the children it "
                f"waited for (vtysh, ExaBGP until it daemonizes, FRR until it forks) "
                f"{cpu['gwlab_children_s']:.1f} s, the lab's daemons {lab} s; the rest is the kernel "
                f"and whatever else ran on the machine (the median run, up in "
                f"{cpu.get('up_s', big['summary']['up_s']):.1f} s)."
            )
        out.append("")
    if png is not None:
        out += [f"![gwlab cost against size]({os.path.relpath(png, docdir)})", ""]
    return out


def _munet(data: dict[str, Any]) -> list[str]:
    mu = data["munet"]
    out = ["## gwlab against munet (same lab, same machine, same run)", ""]
    if not mu["enabled"]:
        return [*out, "Skipped (`--no-munet`).", ""]
    if mu.get("unavailable"):
        return [*out, f"munet could not be run here: {mu['unavailable']}. No munet figures are given.", ""]
    lab = mu["lab"]
    gw = next(g for g in data["gwlab"] if g["lab"] == lab)
    s, m = gw["summary"], mu["summary"]
    out += [
        f"munet {mu.get('version', '?')} (FRR topotests' namespace emulator, from PyPI, installed by the "
        f"benchmark in `build/munet-venv`) brings up the `{lab}` lab from a munet configuration generated "
        f"from gwlab's topology (`bench/munet_lab.py`, written to `{mu.get('config', '?')}`):",
        "",
        "- **the same**: nodes (one namespace each), veth links with the same interface names, bridges, "
        "VXLAN tunnels, addresses, sysctls, permanent neighbours and host routes; every router's rendered "
        "`frr.conf`; every ExaBGP speaker with its rendered `exabgp.conf`, the same binary and environment. "
        "The speakers are included in both tools: without them the VNet and site prefixes are never "
        "originated, and the convergence condition (the oracle's FIBs) could not be the same.",
        "- **munet's own way**: munet creates the namespaces (network, mount, PID and UTS per node, under "
        "`unshare --pid --fork --mount-proc`, which it needs on these machines) and the veths from its "
        "`connections` (single addresses by its `ip:`); FRR starts as in munet's FRR examples: a per-node "
        "`/etc/frr` and `/var/run/frr` bind mount, a `daemons` file and `frrinit.sh start` (watchfrr starting "
        "zebra, bgpd, staticd, bfdd). The rest of each node's set-up is one `ip -batch` file run by the node's "
        "`cmd`, as a munet user would write it.",
        "- **the same finish line**: the clock starts when munet is launched and stops when "
        "`controller.converge.differences` finds nothing left against the same prediction, polled every "
        "100 ms as gwlab does; vtysh runs inside each munet node's network and mount namespaces (through "
        "`nsenter`, one exec more per router and poll than gwlab's `vtysh -N`). munet has "
        'no convergence wait of its own (it logs "Topology up" once namespaces and links exist).',
        "- **down**: Ctrl-C (SIGINT) to munet, until munet and every node process have exited.",
        "",
    ]
    if m is None or m["up_s"] is None:
        errors = "; ".join(e for r in mu["runs"] for e in [r.get("error")] if e)
        return [*out, f"munet did not converge in any run: {errors}", ""]
    mp, sp = m["phases"], s["phases"]
    out += [
        "| tool | up (s), median (min-max) | namespaces + links | daemons started | convergence | down (s) "
        "| PSS (MiB) | RSS (MiB) | PSS of FRR + ExaBGP (MiB) | processes | ok runs |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
        f"| gwlab | **{_f(s['up_s'])}**{_spread(s)} | {_f(sp.get('namespaces'))} | {_f(sp.get('daemons'))} "
        f"| {_f(sp.get('convergence'))} | {_f(s['down_s'])} | {_mib(s['pss_mib'])} | {_mib(s['rss_mib'])} "
        f"| {_mib(s['routing_pss_mib'])} | {_f(s['processes'], 0)} | {s['ok_runs']}/{s['runs']} |",
        f"| munet | **{_f(m['up_s'])}**{_spread(m)} | {_f(mp.get('namespaces'))} | {_f(mp.get('daemons'))} "
        f"| {_f(mp.get('convergence'))} | {_f(m['down_s'])} | {_mib(m['pss_mib'])} | {_mib(m['rss_mib'])} "
        f"| {_mib(m['routing_pss_mib'])} | {_f(m['processes'], 0)} | {m['ok_runs']}/{m['runs']} |",
        "",
    ]
    if s["up_s"] and m["up_s"]:
        out.append(
            f"**Ratio gwlab / munet: {s['up_s'] / m['up_s']:.2f}** (time to converged); "
            f"down {(s['down_s'] or 0) / (m['down_s'] or 1):.1f} times munet's."
        )
        out.append("")
    out += [
        'munet\'s phases come from its log ("Topology up": namespaces and links done) and from the '
        "process tree (every bgpd and ExaBGP running). Its process count and memory include what munet "
        "keeps running for the lab's lifetime (its own Python process, one `mutini` init and one shell per "
        "node, watchfrr per router); gwlab leaves only the daemons. munet's down is quick because the "
        "kernel ends the whole PID namespace when munet exits.",
        "",
        "What it took to run munet here:",
        "",
        "- `unshare --pid --fork --mount-proc` around `munet`; munet is then the init of that PID namespace "
        "and only receives the signals it handles, so it is started with SIGINT at its default (a shell's "
        "`&` would leave SIGINT ignored and Ctrl-C would do nothing; SIGKILL is the fallback).",
        "- `-f /etc/frr/frr.conf` in the `daemons` options. Without it watchfrr's start script applies "
        "`frr.conf` with `vtysh -b` once each daemon runs, bgpd already knows the node's addresses, and it "
        "refuses the ExaBGP speaker's session (`% Can not configure the local system as neighbor`: the "
        "speaker's address 169.254.255.2 sits on the router's own `lo`). gwlab gets away with it only "
        "because its daemons read the file at start-up, before zebra reports addresses; any later reload "
        "of a router's configuration (`vtysh -b`, `frr-reload.py`) would drop that router's speaker session.",
    ]
    failed = [e for r in mu["runs"] for e in r.get("failed_attempts", []) if e]
    failed += [r["error"] for r in mu["runs"] if r.get("error")]
    if failed:
        race = sum(1 for e in failed if "pgrep" in e)
        out.append(
            f"- munet failed {len(failed)} time(s) in this run and was retried (at most 3 attempts per "
            "run; only successful attempts are timed)."
        )
        if race:
            out.append(
                f"  {race} of them: munet 0.17's node creation runs `pgrep -o -P <nsenter pid>` right "
                "after spawning a node's `nsenter`; on a busy machine the child does not exist yet, "
                "pgrep exits 1, munet raises `CalledProcessError` and tears the topology down."
            )
        others = sorted({e.split(" (see ")[0][:200] for e in failed if "pgrep" not in e})
        if others:
            out.append("  Other errors: " + "; ".join(others) + ".")
    out.append("")
    return out


def _targets(data: dict[str, Any]) -> tuple[list[str], list[str]]:
    gw = {g["lab"]: g for g in data["gwlab"]}
    mu = data["munet"]
    lab = mu["lab"]
    rows: list[tuple[str, str, bool | None]] = []
    missed: list[str] = []
    default = gw.get(lab, {}).get("summary", {})
    up = default.get("up_s")
    cores = data["machine"]["cores"]
    rows.append(
        (
            f"default lab (`{lab}`) converged in ≤ {TARGET_DEFAULT_S:.0f} s on two cores",
            f"{_f(up)} s on {cores} cores",
            None if up is None else up <= TARGET_DEFAULT_S,
        )
    )
    m_up = (mu.get("summary") or {}).get("up_s")
    if up is not None and m_up:
        rows.append(
            (
                "default lab in at most a third of munet's time",
                f"{up / m_up:.3f} of munet's ({_f(up)} s vs {_f(m_up)} s)",
                up / m_up <= TARGET_RATIO,
            )
        )
    else:
        rows.append(("default lab in at most a third of munet's time", "munet not measured", None))
    fifty = next((g for g in data["gwlab"] if g["kind"] == "generated" and g["sites"] == 50), None)
    if fifty is not None and fifty["summary"]["up_s"] is not None:
        s = fifty["summary"]
        rows.append(("50 sites converged in < 60 s", f"{_f(s['up_s'])} s", s["up_s"] < TARGET_50_S))
        rows.append(
            (
                "50 sites in < 4 GiB",
                f"PSS {_gib(s['pss_mib'])} GiB (RSS {_gib(s['rss_mib'])} GiB)",
                s["pss_mib"] / 1024 < TARGET_50_GIB,
            )
        )
    else:
        rows.append(("50 sites converged in < 60 s and < 4 GiB", "not measured in this run", None))
    out = ["## Targets (reported, not asserted)", "", "| target | measured | met |", "|---|---|---|"]
    for what, got, ok in rows:
        out.append(f"| {what} | {got} | {'yes' if ok else 'no' if ok is not None else '-'} |")
        if ok is False:
            missed.append(what)
    out.append("")
    cpu = default.get("cpu")
    if cpu and up:
        avail = cores * cpu.get("up_s", up)
        busy = min(cpu["machine_busy_s"], avail)
        lab_s = sum(cpu["lab_processes_s"].values())
        own = cpu["gwlab_process_s"] + cpu["gwlab_children_s"] + lab_s
        out.append(
            f"CPU during the default lab's median run: the machine was busy {busy / avail:.0%} of "
            f"{avail:.1f} CPU-seconds. gwlab's process used {cpu['gwlab_process_s']:.1f} s, the children "
            f"it waited for {cpu['gwlab_children_s']:.1f} s (mostly vtysh, finding 1 below), the lab's "
            f"FRR and ExaBGP daemons {lab_s:.1f} s; the other {max(busy - own, 0):.1f} s went to the "
            "kernel and to whatever else ran on the machine."
        )
        out.append("")
    if fifty is not None and fifty["summary"]["rss_mib"] and fifty["summary"]["rss_mib"] / 1024 >= TARGET_50_GIB:
        out.append(
            "RSS at 50 sites is over 4 GiB, PSS under: the difference is shared pages (libfrr, "
            "Python and ExaBGP's modules) counted once per process by RSS."
        )
        out.append("")
    return out, missed


def _profile(data: dict[str, Any], missed: list[str]) -> list[str]:
    prof = data.get("profile")
    out = ["## Where the time goes", ""]
    if missed:
        out.append("Targets missed in this run: " + "; ".join(missed) + ". The profile and findings below say why.")
    else:
        out.append(
            "Every target was met in this run; the profile and findings below say where the remaining time goes."
        )
    out.append("")
    if prof and not prof.get("error"):
        t = prof.get("timings", {})
        out += [
            f"py-spy sampled one `up` of the {prof['lab']} lab at {prof['rate']} Hz, idle time included "
            f"(`python -m bench.profile_up`; raw stacks in `{prof.get('raw', '?')}`); "
            f"that `up` took {_f(t.get('up_s'))} s "
            f"(namespaces {_f(t.get('namespaces'))}, daemons {_f(t.get('daemons'))}, "
            f"convergence {_f(t.get('convergence'))}). Seconds spent inside each function (inclusive), "
            "on the main thread and summed over the worker threads:",
            "",
            "| main thread: function | s | | worker threads: function | thread-s |",
            "|---|--:|---|---|--:|",
        ]
        rows = max(len(prof["main"]), len(prof["workers"]))
        for i in range(rows):
            a = f"`{prof['main'][i][0]}` | {prof['main'][i][1]:.1f}" if i < len(prof["main"]) else " | "
            b = f"`{prof['workers'][i][0]}` | {prof['workers'][i][1]:.1f}" if i < len(prof["workers"]) else " | "
            out.append(f"| {a} | | {b} |")
        out.append("")
    elif prof:
        out += [f"No profile: {prof['error']}.", ""]
    out += FINDINGS
    return out


FINDINGS = [
    "Findings from profiling 50-site `up`s with py-spy on this machine (2026-11-22, commit dae1662), with "
    "micro-benchmarks where a cost per call is given. The fixes are changes in `lab/runtime/` (and one in the "
    "oracle), described for their owners rather than made here. Fixes 1 and 2 were tried by "
    "monkeypatching in a scratch script, alternating with unpatched runs on the same machine in the same "
    "quarter of an hour: 50 sites, 3 pairs, median **39.4 s → 25.3 s** (daemons 18.2 → 14.6 s, "
    "convergence 14.7 → 4.3 s); `hybrid`, 5 pairs, 4.5 → 3.8 s (the machine was under other labs' load).",
    "",
    "1. **Convergence polling costs more than the convergence it waits for** (`lab/runtime/converge.py`). "
    "(a) vtysh costs 26-33 ms of CPU per call, as much for `show version` as for the BGP summary: it is "
    "vtysh's own start-up. `differences` runs it for every router on every 100 ms poll: 103 routers at "
    "50 sites is ≈ 3 CPU-s per poll on two cores, taken from the daemons that are converging (the "
    "children gwlab waits for used ≈ 30 CPU-s during one 50-site `up`). Fix: read the same JSON from "
    "bgpd's vty socket as vtysh does (`/var/run/frr/<ns>/bgpd.vty`: send "
    "`show bgp ipv4 unicast summary json` and a NUL, read until three NUL bytes and a status byte): "
    "0.45 ms per call. (b) `differences` builds a new `ThreadPoolExecutor` on every poll and reads each "
    "FIB (`kernel.bgp_routes`) from those fresh threads; pyroute2 0.9's `NetNS` sets its transport up "
    "again in every new thread it is used from, through a forked helper (`create_socket`): ≈ 14 ms per "
    "router per poll on an idle machine, against ≈ 1 ms in the thread that opened the handle. Fix: read "
    "the FIBs in the calling thread, which opened the handles (≈ 0.1 s for 100 routers), or keep one "
    "pool for the whole `wait`.",
    "2. **Daemons are spawned with `preexec_fn`** (`daemons.launch_frr` and `launch_exabgp`, "
    "`preexec(ns)` doing setns + setsid). A `preexec_fn` makes CPython `fork()` the whole gwlab process "
    "and run Python in the child: 34 ms per FRR daemon and 160 ms per ExaBGP speaker in the main thread "
    "during a 50-site `up` (309 + 52 spawns: ≈ 18 s of the daemons phase). It is also why launching from "
    "several threads could deadlock (the comment in `launch_exabgp`). Fix: call `Popen` from a thread that "
    "has entered the namespace, `nsenter.call_in(ns, lambda: subprocess.Popen(cmd, "
    "start_new_session=True, ...))`: the child inherits the calling thread's network namespace, "
    "`start_new_session` replaces `os.setsid`, and CPython uses vfork (1.6 ms instead of 4.2 ms per spawn "
    "in a small idle process); with it the spawns took ≈ 8 s instead of ≈ 18 s.",
    "3. **ExaBGP speakers start only after every FRR daemon is confirmed** (`lifecycle.start_daemons`; "
    "since dae1662 they are no longer waited for one by one). They only listen (bgpd connects to them), "
    "so they could be launched right after the namespaces, while FRR starts. Each costs ≈ 0.15 CPU-s "
    "until it daemonizes and ≈ 0.2 CPU-s more until converged: at 50 sites the 52 speakers used more "
    "CPU than all the bgpd and zebra processes together.",
    "4. **Namespaces phase**: each `NetNS(...)` handle (`NetnsRuntime.create`, and again in "
    "`converge.wait`) forks the same pyroute2 helper, ≈ 8 ms each idle, most of the 4-7 s namespaces "
    "phase at 50 sites. Configuring each node inside `call_in(ns, ...)` with an `IPRoute()` created *and "
    "used* in that thread avoids it. Beware: an `IPRoute` created in such a thread but used from another "
    "silently talks to the host's namespace (checked).",
    "5. **The oracle's `predict` grew faster than the lab** (fixed since): 0.6-1.4 s at 50 sites, 9 s at "
    "100, 33 s at 200 (part of `up`'s *prepare*). The FIBs themselves grow as sites² (every site learns "
    "every other site's prefix), but most of the time was `Oracle.holds`, a scan of every interface "
    "address, called per prefix per neighbour through `peer_node`, and `owner_of`, a scan of every node. "
    "Now an address index, peer lookups cached per prediction, propagation that redoes only the prefixes "
    "that changed, and no cycle collection during `predict`: see *The oracle at scale* below.",
    "6. **The speaker session survives only a start-up read of `frr.conf`.** The speaker's address is on "
    "the router's own `lo`, and bgpd refuses such a neighbour once zebra has told it its addresses "
    "(`% Can not configure the local system as neighbor`): gwlab's `-f` read at start-up is accepted, "
    "but any later reload of a router's configuration (`vtysh -b`, `frr-reload.py`) would drop its "
    "speaker session. Found while running the same lab under munet (see above).",
    "7. **Memory**: bgpd is the largest consumer (≈ 13 MiB PSS each; FRR reports ≈ 0.7 MiB of I/O "
    "buffers per peer), then the ExaBGP speakers (≈ 19 MiB PSS each, a Python interpreter per speaker) "
    "and zebra (≈ 8 MiB). PSS grows linearly with the sites; RSS overstates it by the shared libraries.",
    "",
]


def _failover(data: dict[str, Any]) -> list[str]:
    from bench import failover

    return failover.markdown(data.get("failover") or [], "fast")


def markdown(data: dict[str, Any], png: Path | None, docdir: Path) -> str:
    m = data["machine"]
    builtins = [g for g in data["gwlab"] if g["kind"] == "builtin"]
    out = [
        "# Benchmarks",
        "",
        f"Generated by `make bench` (`python -m bench`) on {m['date']}, commit `{m['git']['commit'][:12]}`; "
        f"every figure is the median of {data['options']['runs']} run(s). The raw figures, every run, are in "
        "`bench/results.json`. Regenerate with `make bench` (this run: "
        f"{m.get('total_seconds', m['bench_seconds']) / 60:.1f} min) or `make bench BENCH_ARGS=--quick` "
        "(under a minute).",
        "",
    ]
    out += _machine(m, data["munet"], _loads(data))
    out += _method(data)
    if builtins:
        out += ["## Built-in labs", "", HEADER]
        out += [_row(g["lab"], g["shape"], g["summary"]) for g in builtins]
        out.append("")
        errors = [f"{g['lab']}: {e}" for g in builtins for e in g["summary"].get("errors", [])]
        if errors:
            out += ["Failed runs: " + "; ".join(errors), ""]
    out += _scale(data, png, docdir)
    out += _munet(data)
    targets, missed = _targets(data)
    out += targets
    out += _profile(data, missed)
    out += _failover(data)
    out += _ipsec(data)
    out += _oracle(data)
    return "\n".join(out).rstrip() + "\n"


def _ipsec(data: dict[str, Any]) -> list[str]:
    from bench import ipsec

    return ipsec.markdown(data.get("ipsec"))


def _oracle(data: dict[str, Any]) -> list[str]:
    from bench import oracle

    return oracle.markdown(data.get("oracle"))
