"""docs/benchmarks.md and its figure, from the results that bench/__main__.py gathered."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench import quiet, runtimes, scale
from bench.tables import HEADER
from bench.tables import fmt as _f
from bench.tables import gib as _gib
from bench.tables import mib as _mib
from bench.tables import row as _row
from bench.tables import share as _share
from bench.tables import spread as _spread


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
    rule = data["options"].get("rerun_rule")
    carried = data["options"].get("carried") or {}
    load_lines = [
        "- **load**: every run records the 1-minute load average as it began (*load at start*) and as its lab "
        "converged, and the CPU time others used during it (*others' CPU*: the machine's busy time from "
        "`/proc/stat` minus gwlab's process, the children it waited for, the lab's processes with the "
        "children they reaped and a container engine's daemons (dockerd, containerd), as a share of the "
        "cores' time; kernel threads working for the lab count as others', so it is an upper bound). "
        "The tables give the median over the runs kept (and the maximum "
        "load).",
    ]
    if rule:
        load_lines.append(
            f"- **busy runs are taken again**: {quiet.Rule.from_dict(rule).describe()}. *ok runs (attempts)* counts "
            "them; a figure whose kept runs were still busy says so in the targets."
        )
    if carried:
        load_lines.append(
            "- Not measured again in this run (`--carry`), from the run of "
            + ", ".join(f"{when}: {part}" for part, when in sorted(carried.items()))
            + "."
        )
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
        "*tunnels* (IPsec: every charon, forked beside FRR, waited for and loaded), *bfd* (labs with BFD: "
        "until the BGP sessions it guards are Established, then bgpd given its BFD lines), *convergence* (BGP, "
        "IPsec and BFD until the oracle is satisfied); *prepare* is what `up` does before them (parse, "
        "rules, topology, oracle prediction).",
        "- **down** is `lab.runtime.lifecycle.down()` until it returns; what it reports as left behind is "
        "listed after the scale table, run by run, whenever anything is.",
        "- **memory** is sampled right after `up` returns: the sum over every process in the lab's "
        "namespaces (`lab.runtime.processes.pids_in`) of `Pss` and of `Rss` from `/proc/<pid>/smaps_rollup`. "
        "**PSS is the figure used for targets**: RSS counts shared pages (libfrr, the Python interpreter) "
        "once per process and so overstates what the lab occupies. Kernel memory (namespaces, veths, "
        "routes, sockets) is in neither.",
        "- Generated labs come from `lab.generate.generate(N)` (`gwlab generate --sites N`): one VPN "
        "device per site, active-active gateway, no ExpressRoute, IPsec tunnels (the default). The largest "
        "(`--big`, 200 sites) runs once, after everything else, only when the memory it needs is free, "
        f"on the `{data['options'].get('big_profile', 'fast')}` timing profile (`--big-profile`; with "
        "`fast`'s IKE and DPD timers 800 charons on 2 cores retry faster than they answer); "
        "it is aborted and cleaned up if the machine's available memory falls under 4 GiB.",
        *load_lines,
        "",
    ]


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
        "`nsenter`, for each router and poll; gwlab reads its daemons' vty sockets from the host, no process). "
        "munet has "
        'no convergence wait of its own (it logs "Topology up" once namespaces and links exist).',
        "- **the tunnels**: VXLAN in both (the lab's `tunnels: {kind: vxlan}`): munet cannot run gwlab's "
        "IPsec endpoints (a namespace and a charon per tunnel end, beside the router), so the pair is timed "
        f"on `{lab}`, gwlab's run of it right before munet's; the default lab's own figure (IPsec) is in "
        "the built-in table.",
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
    paired = ratio(data)
    if paired is not None:
        out.append(
            f"**Ratio gwlab / munet: {paired:.2f}** (time to converged; the median over the rounds of each "
            "round's gwlab run divided by munet's run right after it, so that each pair shares the moment's "
            f"load); down {(s['down_s'] or 0) / (m['down_s'] or 1):.1f} times munet's."
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


TARGET_DEFAULT_S = 2.0  # hybrid, on a quiet machine
TARGET_RATIO = 0.2  # of munet's time, in the same run
TARGET_SITES_S = {50: 20.0, 100: 45.0}
TARGET_BIG_SITES, TARGET_BIG_GIB = 200, 12.0


def paired_ratios(data: dict[str, Any]) -> list[tuple[int, float, float]]:
    """(round, gwlab's up, munet's up) of the rounds where both came up: munet runs right after gwlab's
    run of the same lab, so each pair shares the moment's load."""
    mu = data["munet"]
    gw = next((g for g in data["gwlab"] if g["lab"] == mu["lab"]), None)
    if gw is None:
        return []
    ours = {r.get("round"): r for r in gw["runs"] if r.get("ok")}
    return [
        (r["round"], ours[r["round"]]["up_s"], r["up_s"])
        for r in mu.get("runs") or []
        if r.get("ok") and r.get("round") in ours
    ]


def ratio(data: dict[str, Any]) -> float | None:
    """The median of the paired rounds' gwlab / munet."""
    pairs = sorted(g / m for _, g, m in paired_ratios(data))
    return pairs[len(pairs) // 2] if pairs else None


def _at(s: dict[str, Any]) -> str:
    """The load a summary's figures were taken at, for a target's row."""
    if s.get("load1_start") is None:
        return ""
    busy = f"; {s['busy_runs']} of {s['ok_runs']} run(s) busy" if s.get("busy_runs") else ""
    return f" (load {s['load1_start']:.1f}, others {_share(s.get('others_share'))}{busy})"


def _targets(data: dict[str, Any]) -> tuple[list[str], list[str]]:
    gw = {g["lab"]: g for g in data["gwlab"]}
    mu = data["munet"]
    lab = mu.get("builtin", mu["lab"])  # the default lab itself (IPsec); munet's pair is its VXLAN variant
    rows: list[tuple[str, str, bool | None]] = []
    default = gw.get(lab, {}).get("summary", {})
    up = default.get("up_s")
    cores = data["machine"]["cores"]
    rows.append(
        (
            f"default lab (`{lab}`) converged in ≤ {TARGET_DEFAULT_S:.1f} s on a quiet machine ({cores} cores)",
            f"{_f(up)} s{_at(default)}",
            None if up is None else up <= TARGET_DEFAULT_S,
        )
    )
    r = ratio(data)
    pairs = paired_ratios(data)
    rows.append(
        (
            f"default lab in at most {TARGET_RATIO:g} of munet's time, same run (`{mu['lab']}`: munet has no IPsec)",
            "munet not measured"
            if r is None
            else f"{r:.3f} of munet's (median of {len(pairs)} paired round(s): "
            + ", ".join(f"{g:.2f}/{m:.2f} s" for _, g, m in pairs)
            + ")",
            None if r is None else r <= TARGET_RATIO,
        )
    )
    by_sites = {g["sites"]: g["summary"] for g in data["gwlab"] if g["kind"] == "generated"}
    for sites, limit in TARGET_SITES_S.items():
        s = by_sites.get(sites, {})
        got = s.get("up_s")
        rows.append(
            (
                f"{sites} sites converged in ≤ {limit:.0f} s",
                "not measured in this run" if got is None else f"{_f(got)} s{_at(s)}",
                None if got is None else got <= limit,
            )
        )
    s = by_sites.get(TARGET_BIG_SITES, {})
    big = data.get("big") or {}
    if s.get("up_s") is not None:
        got_big = f"up and converged in {_f(s['up_s'])} s, PSS {_gib(s['pss_mib'])} GiB{_at(s)}"
        met_big: bool | None = s["pss_mib"] / 1024 <= TARGET_BIG_GIB
    else:
        errors = [e for r in big.get("runs", []) for e in [r.get("error")] if e]
        got_big = big.get("skipped") or "; ".join(s.get("errors", errors)) or "not measured in this run"
        met_big = False if s.get("errors") else None
    rows.append((f"{TARGET_BIG_SITES} sites up and converged within {TARGET_BIG_GIB:.0f} GiB PSS", got_big, met_big))
    rows += runtimes.targets(data)
    out = ["## Targets (reported, not asserted)", "", "| target | measured | met |", "|---|---|---|"]
    missed: list[str] = []
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
            f"it waited for {cpu['gwlab_children_s']:.1f} s (mostly the four ExaBGP speakers' start-up), the "
            f"lab's processes (FRR, ExaBGP, charon and what they reaped) {lab_s:.1f} s; the other "
            f"{max(busy - own, 0):.1f} s went to the kernel and to whatever else ran on the machine."
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
    "Findings, and what was done about them (issue 13, item 2; the measured effect is in the tables above "
    "against the previous run's, and in the branch's commit messages):",
    "",
    "1. **Convergence polls cost more than the convergence they waited for.** vtysh's start-up (26-33 ms "
    "of CPU per call) was replaced earlier by bgpd's vty socket (0.4 ms). What remained: `differences` "
    "made a `ThreadPoolExecutor` per poll, and pyroute2 0.9 keeps its socket per thread, so every poll's "
    "fresh threads forked the namespace helper again for every router (`create_socket`, ≈ 14 ms each "
    "idle). Now each node has one thread that entered its namespace and holds one `IPRoute` opened and "
    "used there (`lab.runtime.netlink.NodeThread`: no fork at all, 0.5 ms to open), kept for the whole "
    "wait; a poll hands each router's read to its thread (`Handles.each`). And a poll reads again only "
    "the nodes that still differed, then every node once more before it says converged.",
    "2. **Daemons were spawned with `preexec_fn`**, which makes CPython fork the whole gwlab process and "
    "run Python in the child (10 ms and more per spawn, growing with the process). Now they are spawned "
    "from a thread that entered the node's namespace (`nsenter.popen_in`), with `start_new_session`: the "
    "child inherits the calling thread's namespace (checked by `tests/test_netlink.py`: the child's "
    "`/proc/<pid>/ns/net` is the node's, ours is not), and CPython uses vfork (0.3 ms).",
    "3. **ExaBGP speakers started only after every FRR daemon was confirmed.** They only listen (bgpd "
    "connects to them), so they are now launched right after zebra, and daemonise while FRR starts.",
    "4. **Namespaces were made by pyroute2's `netns.create`, which forks a helper each**, and every "
    "`NetNS` handle forked another. Now a thread unshares its network namespace and binds it to its name "
    "(as the IPsec endpoints already were), four at a time, and the links and addresses go through the "
    "nodes' own threads.",
    "5. **Done since**: the ExaBGP speakers are forked from one server that imported ExaBGP once "
    "(`lab.runtime.exabgp_forks`: ≈ 0.4 CPU-s less per speaker, its pages shared), and charon is spawned "
    "by vfork through util-linux `unshare` for its private mount namespace (no fork of gwlab).",
    "6. **The floor under an ExpressRoute lab's `up` is FRR's, not gwlab's.** bgpd first connects to a "
    "peer 1 s after reading its configuration (`BGP_INIT_START_TIMER`, compiled in), and BFD sends one "
    "packet a second until a session is up (RFC 5880 §6.8.3): BFD is up ≈ 0.75-1 s after its session is "
    "created. bgpd registers its BFD sessions at start without source address and interface, and again "
    "with them when BGP comes up, and bfdd takes any deregistration for the session going down "
    "(bfdd/ptm_adapter.c): a BFD session already up went down with the re-registration and bgpd reset "
    "the new BGP session (Cease/BFD Down, read in bgpd's log with millisecond stamps) and tried again 2 s "
    "later. Starting bfdd once BGP was up avoided that but put BFD's second after BGP's (`up` 2.9-3.0 s). "
    "Now bfdd starts with the other daemons with its sessions declared (`peer` under `bfd`), so BFD comes "
    "up during bgpd's first second; bgpd starts without its `neighbor ... bfd` lines and gets them once "
    "each session is Established, when it registers the session once, with its final key, and finds it "
    "up (`lab.runtime.bgp_bfd`). The MSEE's BFD is passive (it answers the customer edge's first packet at "
    "once). 12 runs on a quiet machine: `up` 2.06-2.22 s in 10, no BGP reset for BFD; the other two lost "
    "0.8-1 s to a BGP connection collision (both ends connect at once and each resets the other's "
    "connection), which FRR resolves with its connect-retry. Since: each router's bgpd and bfdd start as "
    "soon as its own zebra's socket is there, staticd after every one of them (the last bgpd reads its "
    "configuration 0.40-0.43 s after the first zebra socket instead of 0.45-0.49; bfdd after the staticds "
    "had left BFD in its slow start when BGP came up, +1 s), and bgpd gets its BFD lines on its vty socket "
    "instead of through vtysh: the `bfd` phase 0.92-0.94 -> 0.76-0.77 s, `up` 1.89-2.02 s in 9 of 10 quiet "
    "runs (median 1.97). What is left above the floor: rendering (≈ 0.03 s once compiled), namespaces "
    "(≈ 0.15 s) and the daemons' start (≈ 0.45 s) before the last bgpd starts its 1 s clock, and ≈ 0.3 s "
    "of BGP updates, BFD and FIB polls after it; about one `up` in eight still loses a second to a "
    "connection collision.",
    "7. **Memory**: bgpd is the largest consumer, then zebra, the ExaBGP speakers (≈ 10 MiB PSS each, "
    "forked), staticd and charon (≈ 2 MiB per tunnel end). FRR sized its event tables by the process's "
    "file limit (20,000 here) and gave each thread its own malloc arena: with `--limit-fds` (4 per "
    "neighbor + 256, at least 1,024) and `MALLOC_ARENA_MAX=1`, an idle zebra fell from 9.1 to 5.1 MiB "
    "PSS and bgpd from 13.2 to 9.3; 20 sites from 1,415 to 1,196 MiB. PSS grows linearly with the "
    "sites; RSS overstates it by the shared libraries.",
    "8. **At scale the machine is CPU-bound from the first namespace to the last tunnel** (`perf record -a`, "
    "50 sites: the CPU 97-100 % busy through the namespaces, daemons and tunnels phases). In the daemons "
    "phase bgpd took 41 % of it, zebra 20 %, the speakers 13 %, staticd 12 %, gwlab 4 %; the largest part of "
    "FRR's share (a third of bgpd's samples) is the kernel zeroing the pages each new daemon touches "
    "(`clear_page_erms`: a first touch costs more in this VM), not FRR's code. In the tunnels phase "
    "charon took 25 %, bgpd 15 %, the speakers 13 %, "
    "swanctl 12 % and the updown hook 12 % (its shell, flock, ip and date, with 4 processes a CHILD_SA event "
    "where it had 10). A run right after a large lab's `down` is not slower for the kernel still freeing "
    "that lab's namespaces (it takes about 2 minutes after 50 sites): `hybrid` 1.99-2.01 s then, 1.89-1.96 s "
    "once they were freed.",
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
    out += runtimes.section(data)
    out += scale.section(data, png, docdir)
    out += left_behind(data)
    out += _munet(data)
    targets, missed = _targets(data)
    out += targets
    out += _profile(data, missed)
    out += _failover(data)
    out += _ipsec(data)
    out += _oracle(data)
    return "\n".join(out).rstrip() + "\n"


def left_behind(data: dict[str, Any]) -> list[str]:
    """Every gwlab run whose `down` reported something left behind (nothing when none did)."""
    lines = []
    for g in data["gwlab"]:
        for number, run in enumerate(g.get("runs", []), start=1):
            left = run.get("leftovers") or []
            if left:
                shown = ", ".join(left[:3]) + (", ..." if len(left) > 3 else "")
                lines.append(f"- {g['lab']}, run {number}: {len(left)} left ({shown})")
    return ["**`down` reported something left behind** in these runs:", "", *lines, ""] if lines else []


def _ipsec(data: dict[str, Any]) -> list[str]:
    from bench import ipsec

    return ipsec.markdown(data.get("ipsec"))


def _oracle(data: dict[str, Any]) -> list[str]:
    from bench import oracle

    return oracle.markdown(data.get("oracle"))
