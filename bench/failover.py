"""Failover overhead: for every built-in scenario's failure, the outage the probes measured against the
detection time its mechanism implies with the lab's timers; the difference is the lab's own overhead
(BGP reaction and propagation, FIB programming, measurement)."""

from __future__ import annotations

import os
import statistics
from typing import Any

from bench import quiet
from controller.runner import run_scenario
from controller.scenario import builtin_scenarios, load_scenario

# Mechanisms whose detection time is fixed by the timers; the hold timer expires anywhere within one
# keepalive before its nominal time (the last keepalive's age), so it is reported apart.
EXACT = ("link-down", "next-hop-tracking", "withdraw", "bfd")
# The bench runs one lab at a time, so it can afford a finer resolution than the scenarios, which the
# tests run two at a time on 2 cores (userspace ESP costs one charon wakeup per packet per end): 200 pps
# (5 ms) wherever a scenario has at most 8 flows per direction, its own rate otherwise.
BENCH_RATE = 200.0
BENCH_MAX_FLOWS = 8
# A prefix flood leaves no surviving path (Azure drops every session of the site): its outage lasts
# until the restore, so it says nothing about the lab's reaction time.


def run(runs: int, log: Any, max_busy_before: float = quiet.Rule.max_busy_before) -> list[dict[str, Any]]:
    samples: list[dict[str, Any]] = []
    for rnd in range(1, runs + 1):
        for name in builtin_scenarios():
            scenario = load_scenario(name)
            if scenario.probes.flows <= BENCH_MAX_FLOWS:
                probes = scenario.probes.model_copy(update={"rate": max(scenario.probes.rate, BENCH_RATE)})
                scenario = scenario.model_copy(update={"probes": probes})
            busy_before = quiet.settle(max_busy_before)["busy_before"]  # the last lab's teardown done
            load1 = os.getloadavg()[0]  # how busy the shared machine was as the scenario began
            report = run_scenario(scenario)
            for f in report.failures:
                for direction, outage in f.outage_ms.items():
                    samples.append(
                        {
                            "round": rnd,
                            "scenario": name,
                            "target": f.target,
                            "mode": f.mode,
                            "detection": f.detection,
                            "expected_ms": f.expected_detection_ms,
                            "direction": direction,
                            "outage_ms": round(outage, 1),
                            "converged_ms": f.converged_ms,
                            "passed": report.passed,
                            "load1": round(load1, 2),
                            "busy_before": busy_before,
                        }
                    )
            log(f"failover round {rnd}/{runs} {name}: {'passed' if report.passed else 'FAILED'}")
    return samples


def p95(values: list[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def _hit(samples: list[dict[str, Any]], mechanisms: tuple[str, ...]) -> list[dict[str, Any]]:
    """The samples of directions the failure actually hit (a direction whose flows never crossed the
    failed element shows only the probes' own 5 ms spacing)."""
    return [s for s in samples if s["detection"] in mechanisms and s["outage_ms"] > 20]


def _overhead(samples: list[dict[str, Any]]) -> list[float]:
    return [s["outage_ms"] - s["expected_ms"] for s in samples]


def _mechanisms(samples: list[dict[str, Any]]) -> list[str]:
    """Overhead per detection mechanism, and over the four together."""
    out = [
        "| mechanism | scenarios | samples | overhead (ms), median | 95th percentile | max |",
        "|---|---|--:|--:|--:|--:|",
    ]
    for mechanism in (*EXACT, "all four"):
        group = _hit(samples, EXACT if mechanism == "all four" else (mechanism,))
        if not group:
            continue
        values = _overhead(group)
        names = ", ".join(sorted({s["scenario"] for s in group})) if mechanism != "all four" else ""
        label = f"**{mechanism}**" if mechanism == "all four" else mechanism
        out.append(
            f"| {label} | {names} | {len(values)} | {statistics.median(values):.0f} | {p95(values):.0f} | "
            f"{max(values):.0f} |"
        )
    return out


def markdown(samples: list[dict[str, Any]], profile: str) -> list[str]:
    if not samples:
        return []
    out = [
        "## Failover overhead",
        "",
        f"Every built-in scenario (`controller/scenarios`), `{profile}` profile; per failure and direction "
        "the longest gap across the direction's probe flows (up to 8 flows at 200 pps: 5 ms resolution; "
        "a scenario with more flows at its own rate), the "
        "detection time the mechanism implies, and the difference. A direction whose flows never crossed "
        "the failed element shows the probes' own jitter.",
        "",
        "| scenario | failure | detection | expected (ms) | direction | outage (ms), median | difference (ms) |",
        "|---|---|---|--:|---|--:|--:|",
    ]
    keyed: dict[tuple[str, str, str, str], list[dict[str, Any]]] = {}
    for s in samples:
        keyed.setdefault((s["scenario"], f"{s['target']} {s['mode']}", s["detection"], s["direction"]), []).append(s)
    for (scenario, failure, detection, direction), group in sorted(keyed.items()):
        outage = statistics.median(g["outage_ms"] for g in group)
        expected = group[0]["expected_ms"]
        out.append(
            f"| {scenario} | {failure} | {detection} | {expected:.0f} | {direction} | {outage:.0f} | "
            f"{outage - expected:+.0f} |"
        )
    exact = _overhead(_hit(samples, EXACT))
    hold = _overhead(_hit(samples, ("hold-timer",)))
    loads = [s["load1"] for s in samples if "load1" in s]
    rounds = max(s["round"] for s in samples)
    out += [
        "",
        f"Overhead on top of the mechanism over the directions the failure hit ({rounds} round(s) of every "
        "scenario"
        + (
            f"; load average (1 min) as each scenario began: median {statistics.median(loads):.1f}, "
            f"max {max(loads):.1f}, on {os.cpu_count()} cores"
            if loads
            else ""
        )
        + "):",
        "",
        *_mechanisms(samples),
        "",
        f"Over the four mechanisms: median {statistics.median(exact) if exact else 0:.0f} ms, 95th percentile "
        f"**{p95(exact) or 0:.0f} ms** (target: 50 ms).",
    ]
    flood = [s for s in samples if s["detection"] == "max-prefix"]
    if flood:
        out.append(
            f"Prefix flood: no surviving path by design (Azure drops every session of the site), so the "
            f"outage lasts until the restore ({statistics.median(s['outage_ms'] for s in flood):.0f} ms "
            "here); it is left out of the overhead."
        )
    if hold:
        out.append(
            f"Hold-timer failures ({len(hold)} samples): outage minus hold time, median "
            f"{statistics.median(hold):.0f} ms, 95th percentile {p95(hold):.0f} ms; negative because the "
            "timer runs from the last keepalive received, up to one keepalive before the failure."
        )
    missed = bool(exact) and (p95(exact) or 0) > 50
    out += ["", *(WHERE_IT_GOES + FAST_CONVERGENCE + (REMAINS if missed else []))]
    return out


WHERE_IT_GOES = [
    "### Where the milliseconds go",
    "",
    "Read from every router's FRR log (`debug bgp updates`, `debug bgp neighbor-events`, `debug zebra rib`, "
    "millisecond timestamps) against the FIB monitors' changes, failure by failure, hop by hop:",
    "",
    "- **bgpd holds every best-path decision 50 ms.** Whatever changes a route (an UPDATE or a withdraw "
    "received, a session going down, a next hop lost) is queued on bgpd's route-processing work queue, "
    "which runs 50 ms after its first item: `bgp_process_queue_init` in `bgpd/bgp_route.c` sets "
    "`spec.hold = 50` in the code, no command changes it (FRR 8.4.4, and still in FRR's master branch). "
    "A session that goes down passes its routes through the peer's clear queue first (10 ms more). The "
    "decision then sends the UPDATEs and programs zebra in the same run. So every router that has to "
    "decide adds about 50 ms, the first one about 60 ms.",
    "- **Each failure needs one to three such decisions in series** between the router that detects it "
    "and the one whose FIB must switch: ExpressRoute lost, towards on-prem (`azure->s1` of er-failover): "
    "MSEE, ExpressRoute gateway, VNet (3, about 160 ms); towards Azure (`s1->azure` of er-failover and "
    "msee-crash): customer edge, core (2, about 110 ms); er-link-bfd, after BFD: MSEE or customer edge, "
    "then ExpressRoute gateway or core (2); tunnel-down (`azure->s1`): the instance that lost the next "
    "hop, then the VNet (2); er-peering-disabled: the MSEE drops its route only as it sends its withdraw, "
    "so the ExpressRoute gateway and the VNet remain (2) towards on-prem and the core alone (1, about "
    "55 ms) towards Azure; graceful-maintenance: the VNet and the VPN devices in parallel (1), minus the "
    "20-50 ms the instance still forwards after its NOTIFICATIONs (the injector waits until its sessions "
    "have left Established). Kernel ECMP covers the rest at once: a crashed MSEE's far ends and a tunnel's "
    "device end drop their next hop without BGP (msee-crash `azure->s1`, tunnel-down `s1->azure`: no "
    "outage).",
    "- **Not in the path**: `coalesce-time` only delays a new update group's first full announcement "
    "(`subgroup_announce_all`), never an update after a failure (with `coalesce-time 0` every hop still "
    "took 50 ms). `bgp fast-external-failover` (FRR's default) already drops a directly connected eBGP "
    "session when its interface goes down; `advertisement-interval 0` sends at once; bgpd 8.4 has no "
    "next-hop-tracking delay. BFD declares a peer down interval x multiplier after the last packet it "
    "received, 200-300 ms after a silent failure at 100 ms x 3: a BFD sample's overhead is its two "
    "decisions minus up to 100 ms.",
    "- **Measurement**: the outage is the longest gap between two packets of a flow, so it includes one "
    "packet interval (5 ms at 200 pps).",
    "",
]

FAST_CONVERGENCE = [
    "### What the lab does for fast convergence, and what it means",
    "",
    "1. **A failure strikes all its ends at one instant.** A circuit down takes both links, each at both "
    "ends, a tunnel down both its ends, a crashed MSEE or device all its links, in one batch "
    "(`lab.runtime.nodeops.links_down`: every namespace's netlink handle is opened first, then the links "
    "go down back to back, within a millisecond); a disabled peering is shut on both MSEEs at once. The "
    "injector used to open one handle at a time (10-50 ms each), so the ends went down 30-150 ms apart and "
    "the probes counted the stagger as outage. *Fidelity*: a failed circuit or a tunnel deleted by IKE is "
    "one event, now injected as one. The two peering shutdowns go to the MSEEs' bgpd vty sockets in "
    "parallel (`lab.runtime.frr.configure`, about a millisecond each; vtysh processes had put them up to "
    "40 ms apart on a busy machine).",
    "2. **The site core holds the VPN paths as the backup before ExpressRoute fails.** The core sends the "
    "VPN devices only the site's own prefixes (`own_routes_only` on its sessions to them: AS path `^$`). "
    "Before, a VPN device's best path to the VNet was the core-reflected ExpressRoute route "
    "(local-preference 200), so it advertised its own tunnel path only once that route had been "
    "withdrawn (two more decisions in series), and meanwhile sent the traffic the core gave it back to "
    "the core. *Fidelity*: an exit needs no other exit's routes; a well-run enterprise core keeps its "
    "backup paths this way, as add-path or a best-external advertisement would (FRR's "
    "`addpath-tx-bestpath-per-AS` on the VPN devices was measured too: about 180 ms instead of 110 for "
    "er-failover `s1->azure`, as the VPN devices still routed to the core until the core's withdraw "
    "reached them). What users see is unchanged: the core and the VNet still prefer ExpressRoute, paths "
    "and symmetry are the same; only a VPN device's own FIB now sends the VNet prefixes into its tunnels "
    "(the oracle predicts it: it already models the filter). The same holds when on-prem prefers one "
    "device by local-preference: the other keeps its tunnels as its best path, so the core holds it as "
    "the backup instead of learning it only after the preferred device's withdraw.",
    "3. **zebra programs a route change at once** (`zebra work-queue 0`; by default zebra holds every RIB "
    "change 10 ms, and next-hop tracking waits for it too). *Fidelity*: the lab's own latency between a "
    "router's decision and its FIB; no rule or timer of Azure changes.",
    "4. **Deliberately unchanged**: the Microsoft side keeps its three BGP routers (MSEE, ExpressRoute "
    "gateway, VNet routing) and its detection: BFD 100 ms x 3 in `fast` (300 ms x 3 in `realistic`, as "
    "Azure), no BFD on VPN, the hold timers, and a tunnel's BGP session still ends at hold expiry (no "
    "`bgp fast-convergence`). The mechanism always detects; the lab's propagation, about 50 ms per BGP "
    "router, is the overhead, far faster than Azure's own (under 10 s to move to VPN in Microsoft's "
    "test), never faster than the mechanism.",
    "",
    "Measured when these changes were made (2026-12-01, the code before them: main at `ead1a0a`; runs "
    "interleaved on the same machine, so the load fell on both alike). All three together, 3 rounds of "
    "er-failover, er-link-bfd, er-peering-disabled, graceful-maintenance, msee-crash and tunnel-down, "
    "30 samples each, load (1 min) median 7.4, max 10.9: overhead median 130 -> 105 ms, 95th percentile "
    "230 -> 160 ms; per mechanism (median / 95th percentile) link-down 180 / 285 -> 110 / 160, "
    "next-hop-tracking 170 / 180 -> 125 / 130, withdraw 81 / 160 -> 50 / 105, bfd 92 / 150 -> 75 / 130. "
    "One at a time (medians, `azure->s1` / `s1->azure`): 1. er-failover 215 / 165 -> 160 / 110, "
    "tunnel-down 140 -> 120; 2. er-failover `s1->azure` 230-245 -> 130-140; 3. er-failover 180 / 130 "
    "-> 160 / 110. Again on main at `da2df05`, a busier hour (load median 12.7, max 49.8): median "
    "148 -> 110 ms, 95th percentile 330 -> 165 ms (main's tunnel-down broke its 500 ms bound once, at "
    "555 ms; this code's stayed at 120-125).",
    "",
]

REMAINS = [
    "### What remains",
    "",
    "**Target missed, and not reachable faithfully with FRR 8.4**: the floor is the number of decisions "
    "in series times bgpd's fixed 50 ms, about 60 ms for one, 110 for two, 160 for three, and every "
    "failure above is within about 20 ms of its floor (BFD samples: minus BFD's phase). A 95th "
    "percentile under 50 ms needs at most one decision everywhere; "
    "ExpressRoute failures need three towards on-prem by Azure's architecture (MSEE, ExpressRoute "
    "gateway, VNet routing) and two towards Azure by the site's (customer edge, core), a lost tunnel two "
    "(the instance, the VNet). Getting there would take a bgpd without its 50 ms hold (a patched FRR, "
    "not the installed one) or fewer BGP routers than Azure and a real site have.",
    "",
]
