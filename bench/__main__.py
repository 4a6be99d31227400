"""`python -m bench`: bring labs up and down, measure, and write docs/benchmarks.md and bench/results.json.

Every case runs --runs times and the median is reported. Runs go round-robin (each round brings
every case up once, munet right after gwlab's run of the same lab) so that load from anything else
on the machine spreads over all cases instead of skewing one.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import shutil
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pyroute2 import netns

from bench import failover, ipsec, machine, munet_runs, oracle, profile, quiet, report, scale
from bench.gwlab_runs import (
    MIN_AVAILABLE_MIB,
    Case,
    available_mib,
    builtin_case,
    generated_case,
    run_once,
    runtime_case,
    shape,
    vxlan_case,
)
from controller.oracle import predict
from lab.errors import GwlabError, LabError
from lab.model import PROFILE_NAMES
from lab.paths import builtin_topologies

REPO = Path(__file__).resolve().parents[1]
FULL_SIZES = (1, 5, 20, 50, 100)
QUICK_SIZES = (1, 5)
CARRIABLE = {"failover", "ipsec", "oracle"}
BIG_SITES = 200  # run once, last, and only when the memory it needs is free (the machine is shared)
# Azure's own timers: with fast's (DPD after 2 s, IKE retransmits after 0.4 s) 800 charons on 2 cores
# retry faster than they answer and never converge (measured 2026-12-02).
BIG_PROFILE = "realistic"
BIG_NEED_MIB_PER_SITE = 70  # without smaller labs to go by: 67 MiB PSS per site in the 2026-11-22 run


def _ints(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a comma-separated list of numbers") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError("site counts must be at least 1")
    return values


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0] if __doc__ else "")
    ap.add_argument("--runs", type=int, default=None, help="runs per case, median reported (default 3; 1 with --quick)")
    ap.add_argument(
        "--quick",
        action="store_true",
        help=f"only the default lab and {', '.join(map(str, QUICK_SIZES))} sites, no profile",
    )
    ap.add_argument(
        "--sizes",
        type=_ints,
        default=None,
        help=f"generated labs, comma-separated site counts (default {','.join(map(str, FULL_SIZES))})",
    )
    ap.add_argument(
        "--big",
        type=int,
        default=None,
        help=f"one run of a lab this large, after everything else, if memory allows (default {BIG_SITES}; "
        "0: none; none with --quick)",
    )
    ap.add_argument(
        "--big-profile",
        choices=PROFILE_NAMES,
        default=BIG_PROFILE,
        help=f"the big lab's timing profile (default {BIG_PROFILE}: fast's IKE and DPD timers are too short "
        "for that many charons on 2 cores)",
    )
    ap.add_argument(
        "--busy-before",
        type=float,
        default=quiet.Rule.max_busy_before,
        help="rerun rule: the machine's CPU share, just before a run, under which it counts as settled",
    )
    ap.add_argument(
        "--busy-others", type=float, default=quiet.Rule.max_others, help="rerun rule: others' share of the CPU"
    )
    ap.add_argument("--reruns", type=int, default=quiet.Rule.reruns, help="rerun rule: at most this many more")
    ap.add_argument(
        "--carry",
        default="",
        help="comma-separated parts (failover, ipsec, oracle) not measured again: taken from the --json results",
    )
    ap.add_argument("--builtins", default=None, help="comma-separated built-in labs, or 'all' (default)")
    ap.add_argument("--munet-lab", default="hybrid", help="lab brought up by munet too (default hybrid)")
    ap.add_argument(
        "--runtimes",
        default="docker,podman",
        help="container runtimes the munet lab is also brought up on, beside netns (default docker,podman; 'none')",
    )
    ap.add_argument("--no-munet", action="store_true", help="skip the munet comparison")
    ap.add_argument("--no-profile", action="store_true", help="skip the py-spy profile of the largest lab")
    ap.add_argument("--prefix", default="bn", help="prefix of the labs' names (default bn)")
    ap.add_argument("--workdir", type=Path, default=REPO / "build" / "bench")
    ap.add_argument("--munet-venv", type=Path, default=REPO / "build" / "munet-venv")
    ap.add_argument("--doc", type=Path, default=REPO / "docs" / "benchmarks.md")
    ap.add_argument("--json", type=Path, default=REPO / "bench" / "results.json")
    ap.add_argument("--png", type=Path, default=REPO / "docs" / "benchmarks-scale.png")
    ap.add_argument(
        "--failover-runs",
        type=int,
        default=None,
        help="rounds of every built-in scenario for the failover overhead (default 2; 1 with --quick)",
    )
    ap.add_argument(
        "--failover-only",
        action="store_true",
        help="measure only the failover overhead; the other figures come from the --json results",
    )
    ap.add_argument(
        "--ipsec-only",
        action="store_true",
        help="measure only IPsec against VXLAN; the other figures come from the --json results",
    )
    ap.add_argument(
        "--report-only", action="store_true", help="measure nothing: rewrite the doc and figure from the --json results"
    )
    args = ap.parse_args(argv)
    if args.runs is None:
        args.runs = 1 if args.quick else 3
    if args.runs < 1:
        ap.error("--runs must be at least 1")
    if args.sizes is None:
        args.sizes = list(QUICK_SIZES if args.quick else FULL_SIZES)
    known = sorted(builtin_topologies())
    if args.builtins is None:
        args.builtins = [args.munet_lab] if args.quick else known
    else:
        args.builtins = known if args.builtins == "all" else [b for b in args.builtins.split(",") if b]
    unknown = [b for b in [*args.builtins, args.munet_lab] if b not in known]
    if unknown:
        ap.error(f"not built-in labs: {', '.join(unknown)} (known: {', '.join(known)})")
    if args.munet_lab not in args.builtins:
        args.builtins.append(args.munet_lab)  # the ratio needs gwlab's figure for the same lab
    args.runtimes = [] if args.runtimes == "none" else [r for r in args.runtimes.split(",") if r]
    wrong = [r for r in args.runtimes if r not in ("docker", "podman")]
    if wrong:
        ap.error(f"not container runtimes: {', '.join(wrong)} (use docker, podman or none)")
    if args.quick:
        args.no_profile = True
    if args.big is None:
        args.big = 0 if args.quick else BIG_SITES
    args.carry = {c for c in args.carry.split(",") if c}
    if args.carry - CARRIABLE:
        ap.error(f"--carry: not a part: {', '.join(sorted(args.carry - CARRIABLE))} (parts: {', '.join(CARRIABLE)})")
    if "ipsec" not in args.carry and shutil.which("iperf3") is None:  # before anything is measured
        ap.error("iperf3 not found, needed for IPsec throughput (apt-get install iperf3, or --carry ipsec)")
    args.rule = quiet.Rule(args.busy_before, args.busy_others, args.reruns)
    return args


def _said(run: dict[str, Any]) -> str:
    state = f"up {run['up_s']:.2f} s" if run.get("ok") else f"FAILED ({run.get('error')})"
    tries = len(run.get("attempts", [])) or 1
    return (
        f"{state} at load {run.get('load1_start', 0):.1f}, busy before {run.get('busy_before') or 0:.0%}, "
        f"others {run.get('others_share') or 0:.0%} "
        f"({tries} attempt(s)), down {run.get('down_s', 0):.2f} s"
    )


def predicted_pss_mib(results: dict[str, list[dict[str, Any]]], cases: list[Case], sites: int) -> float:
    """The PSS a lab of `sites` sites should take, by the least-squares line through this run's generated
    labs (without two sizes to go by: BIG_NEED_MIB_PER_SITE per site)."""
    points = [
        (float(c.sites), float(r["memory"]["pss_mib"]))
        for c in cases
        if c.kind == "generated"
        for r in results[c.label]
        if r.get("ok")
    ]
    line = scale.fit([x for x, _ in points], [y for _, y in points])
    return line[0] + line[1] * sites if line else BIG_NEED_MIB_PER_SITE * sites


def run_big(args: argparse.Namespace, pss_mib: float, say: Callable[[str], None]) -> dict[str, Any]:
    """One run of the big lab, last, if the memory it needs (its predicted PSS and a fifth more, plus
    what must stay free) is available; otherwise why not."""
    case = generated_case(args.prefix, args.big, args.workdir / "labs", args.big_profile)
    free = available_mib()
    need = 1.2 * pss_mib + MIN_AVAILABLE_MIB
    if free < need:
        say(f"{case.label}: skipped, {free:,.0f} MiB available, {need:,.0f} needed")
        return {"sites": args.big, "skipped": f"{free:,.0f} MiB available at the time, {need:,.0f} MiB needed"}
    say(f"{case.label}: one run ({free:,.0f} MiB available)")
    before = quiet.settle(args.rule.max_busy_before)
    run = {**run_once(case), **before}
    run["round"] = 1
    run["available_mib_before"] = round(free)
    say(f"{case.label}: {_said(run)}")
    return {"case": case, "run": run}


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    ok = [r for r in runs if r.get("ok")]
    phases = sorted({k for r in ok for k, v in r["phases"].items() if v is not None})
    out: dict[str, Any] = {
        "runs": len(runs),
        "ok_runs": len(ok),
        "up_s": median([r["up_s"] for r in ok]),
        "up_min_s": min((r["up_s"] for r in ok), default=None),
        "up_max_s": max((r["up_s"] for r in ok), default=None),
        "down_s": median([r["down_s"] for r in ok if "down_s" in r]),
        "phases": {k: median([r["phases"][k] for r in ok if r["phases"].get(k) is not None]) for k in phases},
        "pss_mib": median([r["memory"]["pss_mib"] for r in ok]),
        "rss_mib": median([r["memory"]["rss_mib"] for r in ok]),
        "routing_pss_mib": median([r["routing_memory"]["pss_mib"] for r in ok]),
        "processes": median([r["memory"]["processes"] for r in ok]),
        # How busy the machine was for the figures kept, and how many busy runs were taken again.
        "load1_start": median([r["load1_start"] for r in ok if "load1_start" in r]),
        "load1_max": max((r["load1_start"] for r in ok if "load1_start" in r), default=None),
        "others_share": median([r["others_share"] for r in ok if r.get("others_share") is not None]),
        "attempts": sum(len(r.get("attempts", [])) or 1 for r in runs),
        "busy_runs": sum(1 for r in ok if r.get("busy")),
    }
    with_runtime = [r for r in ok if "runtime_memory" in r]
    if with_runtime:
        out["runtime_pss_mib"] = {
            part: median([r["runtime_memory"][part]["pss_mib"] for r in with_runtime]) for part in ("per_lab", "shared")
        }
    if ok:
        middle = sorted(ok, key=lambda r: r["up_s"])[len(ok) // 2]  # the median run, for its details
        out["by_command"] = middle["memory"]["by_command"]
        if "cpu" in middle:
            out["cpu"] = {**middle["cpu"], "up_s": middle["up_s"]}
    errors = [r["error"] for r in runs if r.get("error")]
    if errors:
        out["errors"] = errors
    return out


def other_labs(prefix: str) -> int:
    """Namespaces of labs that are not ours: the machine is shared, their load is in the figures."""
    return sum(1 for ns in netns.listnetns() if not ns.startswith(prefix))


def write_outputs(data: dict[str, Any], args: argparse.Namespace) -> None:
    png = scale.plot(data, args.png)
    args.doc.parent.mkdir(parents=True, exist_ok=True)
    args.doc.write_text(report.markdown(data, png, args.doc.parent), encoding="utf-8")
    log(f"wrote {args.doc}" + (f", {png}" if png else ""))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.report_only:
        saved: dict[str, Any] = json.loads(args.json.read_text(encoding="utf-8"))
        for case in saved["gwlab"]:  # summaries again from the runs, as this version computes them
            case["summary"] = summarize(case["runs"])
        if saved["munet"].get("runs"):
            saved["munet"]["summary"] = summarize(saved["munet"]["runs"])
        write_outputs(saved, args)
        return 0
    if os.geteuid() != 0:
        print("python -m bench: needs root (network namespaces)", file=sys.stderr)
        return 2
    failover_runs = args.failover_runs or (1 if args.quick else 2)
    if args.ipsec_only:
        saved = json.loads(args.json.read_text(encoding="utf-8"))
        saved["ipsec"] = ipsec.measure(args.prefix, args.runs, args.workdir / "ipsec", log)
        args.json.write_text(json.dumps(saved, indent=1, default=str) + "\n", encoding="utf-8")
        write_outputs(saved, args)
        return 0
    if args.failover_only:
        saved = json.loads(args.json.read_text(encoding="utf-8"))
        saved["failover"] = failover.run(failover_runs, log, args.rule.max_busy_before)
        saved.pop("failover_overhead_pending", None)
        args.json.write_text(json.dumps(saved, indent=1, default=str) + "\n", encoding="utf-8")
        write_outputs(saved, args)
        return 0
    begun = time.monotonic()
    meta = machine.describe()
    meta["other_namespaces_at_start"] = other_labs(args.prefix)
    log(
        f"{meta['cores']} cores, {meta['memory_gib']} GiB, kernel {meta['kernel']}, FRR {meta['frr']}, "
        f"ExaBGP {meta['exabgp']}; {args.runs} run(s) per case"
    )
    cases: list[Case] = [builtin_case(args.prefix, b) for b in args.builtins]
    # munet has no IPsec endpoints: both tools are timed on the lab with VXLAN tunnels, right after the
    # built-in itself (IPsec, the default: the default lab's own figure).
    paired = vxlan_case(args.prefix, args.munet_lab, args.workdir / "labs")
    if not args.no_munet:
        cases.insert(next(i for i, c in enumerate(cases) if c.label == args.munet_lab) + 1, paired)
    cases += [generated_case(args.prefix, n, args.workdir / "labs") for n in args.sizes]
    # Right after the same lab on netns (and munet's run of it): the three runtimes side by side.
    after = max(i for i, c in enumerate(cases) if c.label in (args.munet_lab, paired.label)) + 1
    cases[after:after] = [runtime_case(args.prefix, args.munet_lab, r) for r in args.runtimes]
    shapes = {c.label: shape(c.topology()) for c in cases}

    munet: munet_runs.Munet | None = None
    munet_info: dict[str, Any] = {"lab": paired.label, "builtin": args.munet_lab, "enabled": not args.no_munet}
    munet_topo = munet_pred = munet_config = None
    if not args.no_munet:
        log(f"munet: preparing {args.munet_venv}")
        t0 = time.monotonic()
        try:
            munet = munet_runs.ensure(args.munet_venv)
            munet_info.update(version=munet.version, setup_s=time.monotonic() - t0)
            munet_topo = paired.topology()
            munet_topo.name = f"{args.prefix}-munet"
            munet_pred = predict(munet_topo)
            munet_config = munet_runs.prepare(munet_topo, args.workdir / "munet" / args.munet_lab)
            munet_info["config"] = str(
                munet_config.relative_to(REPO) if munet_config.is_relative_to(REPO) else munet_config
            )
        except (munet_runs.MunetUnavailable, OSError) as exc:
            munet_info["unavailable"] = str(exc)
            log(f"munet unavailable: {exc}")
            munet = None

    results: dict[str, list[dict[str, Any]]] = {c.label: [] for c in cases}
    munet_results: list[dict[str, Any]] = []
    started = time.monotonic()

    def munet_attempt(rnd: int) -> dict[str, Any]:
        assert munet is not None and munet_topo is not None and munet_pred is not None and munet_config is not None
        attempts = []
        for attempt in range(1, 4):  # munet's node creation can race (see the report); retry
            got = munet_runs.run_once(
                munet,
                munet_topo,
                munet_pred,
                munet_config,
                args.workdir / "munet-run" / f"{args.munet_lab}-{rnd}-{attempt}",
            )
            attempts.append(got)
            if got.get("ok") or "before converging" not in str(got.get("error", "")):
                break
        final = dict(attempts[-1])
        final["failed_attempts"] = [a.get("error") for a in attempts[:-1]]
        return final

    for rnd in range(1, args.runs + 1):
        for case in cases:
            run = quiet.quietest(functools.partial(run_once, case), args.rule, log)
            run["round"] = rnd
            results[case.label].append(run)
            log(f"round {rnd}/{args.runs} gwlab {case.label}: {_said(run)}")
            if case.label == paired.label and munet is not None:
                # Right after gwlab's run of the same lab: the pair shares the moment's load (the ratio).
                final = quiet.quietest(functools.partial(munet_attempt, rnd), args.rule, log)
                final["round"] = rnd
                munet_results.append(final)
                log(f"round {rnd}/{args.runs} munet {paired.label}: {_said(final)}")
    big: dict[str, Any] | None = None
    if args.big:
        big = run_big(args, predicted_pss_mib(results, cases, args.big), log)
        if big.get("case") is not None:
            cases.append(big.pop("case"))
            shapes[cases[-1].label] = shape(cases[-1].topology())
            results[cases[-1].label] = [big.pop("run")]
    meta["bench_seconds"] = time.monotonic() - started
    meta["other_namespaces_at_end"] = other_labs(args.prefix)
    meta["load_at_end"] = [round(v, 2) for v in os.getloadavg()[:2]]

    prof: dict[str, Any] | None = None
    if not args.no_profile and args.sizes:
        largest = max((c for c in cases if c.kind == "generated" and c.sites in args.sizes), key=lambda c: c.sites)
        log(f"profiling one up of {largest.label} with py-spy")
        prof = profile.profile(largest.source, largest.lab_name, args.workdir / "profile")
        prof["lab"] = largest.label

    saved = json.loads(args.json.read_text(encoding="utf-8")) if args.carry and args.json.exists() else {}
    earlier = saved.get("options", {}).get("carried") or {}  # carried already: from the run before that
    when = saved.get("machine", {}).get("date", "an earlier run")
    carried = {part: earlier.get(part, when) for part in args.carry if part in saved}
    if args.carry - set(carried):
        log(f"--carry: {', '.join(sorted(args.carry - set(carried)))} not in {args.json}: measured again")
    failover_samples = (
        saved["failover"] if "failover" in carried else failover.run(failover_runs, log, args.rule.max_busy_before)
    )
    if "ipsec" in carried:
        ipsec_figures = saved["ipsec"]
    else:
        ipsec_figures = ipsec.measure(args.prefix, args.runs, args.workdir / "ipsec", log)
    if "oracle" in carried:
        oracle_figures = saved["oracle"]
    else:
        log("oracle: predict on generated labs of " + ", ".join(map(str, oracle.SIZES)) + " sites")
        oracle_figures = oracle.measure(oracle.SIZES, args.runs)
    meta["total_seconds"] = time.monotonic() - begun
    data: dict[str, Any] = {
        "machine": meta,
        "options": {
            "runs": args.runs,
            "quick": args.quick,
            "sizes": args.sizes,
            "builtins": args.builtins,
            "runtimes": args.runtimes,
            "prefix": args.prefix,
            "big": args.big,
            "big_profile": args.big_profile,
            "rerun_rule": args.rule.as_dict(),
            "carried": carried,  # part -> the date of the run it comes from
        },
        "big": big,
        "memory_metric": "PSS (sum over the lab's processes, /proc/<pid>/smaps_rollup); RSS alongside",
        "gwlab": [
            {
                "lab": c.label,
                "kind": c.kind,
                "sites": c.sites,
                "shape": shapes[c.label],
                "summary": summarize(results[c.label]),
                "runs": results[c.label],
            }
            for c in cases
        ],
        "munet": {**munet_info, "summary": summarize(munet_results) if munet_results else None, "runs": munet_results},
        "profile": prof,
        "failover": failover_samples,
        "ipsec": ipsec_figures,
        "oracle": oracle_figures,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(data, indent=1, default=str) + "\n", encoding="utf-8")
    log(f"wrote {args.json}")
    write_outputs(data, args)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (GwlabError, LabError) as exc:
        print(f"python -m bench: {exc}", file=sys.stderr)
        sys.exit(1)
