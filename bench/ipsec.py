"""IPsec tunnels against VXLAN: the default lab's `up` with each kind (round-robin, median), what a tunnel
end costs (charon's PSS, its CPU while the lab idles) and what one tunnel carries (iperf3 TCP through the
active/standby lab's single tunnel, each kind). Targets (reported, not asserted): IPsec adds at most 1 s
to the default lab's `up` and at most 10 MiB PSS per tunnel end."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

import yaml

from bench import cpu
from bench.gwlab_runs import Case, run_once
from bench.memory import sample
from controller.converge import up
from lab.paths import builtin_topologies
from lab.runtime import links
from lab.runtime.lifecycle import down
from lab.runtime.running import RunningLab

LAB, ONE_TUNNEL = "hybrid", "active-standby"
IDLE_S = 20.0
IPERF_S = 5
TARGET_UP_S, TARGET_PSS_MIB = 1.0, 10.0


def variant(builtin: str, kind: str, workdir: Path) -> str:
    """A built-in lab with the given tunnel kind, written to a file `up` can take."""
    data = yaml.safe_load(builtin_topologies()[builtin].read_text(encoding="utf-8"))
    path = workdir / f"{builtin}-{kind}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump({**data, "tunnels": {"kind": kind}}, sort_keys=False), encoding="utf-8")
    return str(path)


def charon_pids(lab: RunningLab) -> list[int]:
    pids = [e.recorded(lab.runtime.netns_path).pid for e in links.charons_of(lab.topo)]
    return [p for p in pids if p is not None]


def idle(lab: RunningLab) -> dict[str, Any]:
    """CPU of the charons (and of the whole lab) while nothing happens but keepalives and DPD."""
    charons = charon_pids(lab)
    everything = lab.runtime.pids()
    before_c, before_all = cpu.process_seconds(charons), cpu.process_seconds(everything)
    time.sleep(IDLE_S)  # the idle period measured: time passing, not synchronisation
    after_c, after_all = cpu.process_seconds(charons), cpu.process_seconds(everything)
    used_c = sum(after_c.values()) - sum(before_c.values())
    used_all = sum(after_all.values()) - sum(before_all.values())
    mem = sample(charons)
    return {
        "seconds": IDLE_S,
        "charons": len(charons),
        "charon_cpu_percent_each": round(100 * used_c / IDLE_S / max(len(charons), 1), 3),
        "lab_cpu_percent": round(100 * used_all / IDLE_S, 2),
        "charon_pss_mib_each": round(mem.pss_mib / max(len(charons), 1), 2),
        "charon_rss_mib_each": round(mem.rss_mib / max(len(charons), 1), 2),
    }


def throughput(source: str, name: str) -> dict[str, Any]:
    """iperf3 TCP from the site's host to the VNet VM through the lab's one tunnel."""
    lab = up(source, name=name).lab
    try:
        server = lab.popen("vm", ["iperf3", "-s", "-1", "-J"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            vm = str(lab.node("vm").address_on("vnet"))
            client = ready_client(lab, vm)
            report = json.loads(client.stdout)
            end = report["end"]
            return {
                "seconds": IPERF_S,
                "sent_mbit_s": round(end["sum_sent"]["bits_per_second"] / 1e6, 1),
                "received_mbit_s": round(end["sum_received"]["bits_per_second"] / 1e6, 1),
                "retransmits": end["sum_sent"].get("retransmits"),
            }
        finally:
            server.kill()
            server.wait(timeout=10)
    finally:
        down(name)


def ready_client(lab: RunningLab, vm: str) -> subprocess.CompletedProcess[str]:
    """The client, once the server listens (polled with a deadline: iperf3 refuses until then)."""
    deadline = time.monotonic() + 10
    while not lab.run("vm", ["ss", "-Hltn", "sport = :5201"]).stdout.strip():
        if time.monotonic() > deadline:
            raise RuntimeError("iperf3's server did not listen within 10 s")
        time.sleep(0.05)  # polling for the server with a deadline
    run = lab.run("s1-host", ["iperf3", "-c", vm, "-t", str(IPERF_S), "-J"], timeout=IPERF_S + 30)
    if run.returncode != 0 or "sum_sent" not in json.loads(run.stdout or "{}").get("end", {}):
        raise RuntimeError(f"iperf3: {run.stdout[-300:]} {run.stderr[-300:]}")
    return run


def measure(prefix: str, runs: int, workdir: Path, log: Any) -> dict[str, Any]:
    sources = {kind: variant(LAB, kind, workdir) for kind in ("ipsec", "vxlan")}
    cases = {kind: Case(f"{LAB} ({kind})", "builtin", src, f"{prefix}-t{kind}", 1) for kind, src in sources.items()}
    ups: dict[str, list[dict[str, Any]]] = {kind: [] for kind in cases}
    for rnd in range(1, runs + 1):
        for kind, case in cases.items():
            run = run_once(case)
            ups[kind].append(run)
            state = f"up {run['up_s']:.2f} s" if run.get("ok") else f"FAILED ({run.get('error')})"
            log(f"ipsec round {rnd}/{runs} {case.label}: {state}")
    out: dict[str, Any] = {"lab": LAB, "runs": ups}
    out["up_s"] = {k: _median([r["up_s"] for r in v if r.get("ok")]) for k, v in ups.items()}
    # Each round brings up both kinds back to back: their difference is steadier than the medians' when
    # the shared machine's load drifts across the rounds.
    pairs = [
        i["up_s"] - v["up_s"] for i, v in zip(ups["ipsec"], ups["vxlan"], strict=True) if i.get("ok") and v.get("ok")
    ]
    out["added_s"] = _median(pairs)
    ok_runs = [r for v in ups.values() for r in v if r.get("ok")]
    loads = [r["load1"] for r in ok_runs]
    out["load_during"] = [round(min(loads), 1), round(max(loads), 1)] if loads else None
    out["tunnels_phase_s"] = _median([r["phases"].get("tunnels", 0.0) for r in ups["ipsec"] if r.get("ok")])
    log(f"ipsec: {LAB} idle for {IDLE_S:.0f} s")
    lab = up(sources["ipsec"], name=f"{prefix}-tidle").lab
    try:
        out["idle"] = idle(lab)
    finally:
        down(lab.name)
    out["throughput"] = {}
    for kind in ("ipsec", "vxlan"):
        log(f"ipsec: iperf3 through {ONE_TUNNEL}'s one tunnel, {kind}")
        out["throughput"][kind] = throughput(variant(ONE_TUNNEL, kind, workdir), f"{prefix}-tput{kind[0]}")
    out["load_at_end"] = [round(v, 2) for v in os.getloadavg()[:2]]
    return out


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _f(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def markdown(data: dict[str, Any] | None) -> list[str]:
    if not data:
        return []
    ups = data["up_s"]
    added = data.get("added_s")
    idle_, tput = data["idle"], data["throughput"]
    pss = idle_["charon_pss_mib_each"]
    out = [
        "## IPsec tunnels against VXLAN",
        "",
        f"`{data['lab']}` brought up with each tunnel kind in turn ({len(data['runs']['ipsec'])} round(s), "
        "median): IPsec adds one endpoint namespace and one charon per tunnel end (8 here), forked beside FRR "
        "and loaded once the daemons run (the `tunnels` phase), and up waits until every tunnel has IKE and a "
        f"CHILD_SA. Then the lab idled {idle_['seconds']:.0f} s (keepalives, DPD), and iperf3 pushed TCP for "
        f"{tput['ipsec']['seconds']} s through `{ONE_TUNNEL}`'s single tunnel, each kind "
        "(kernel-libipsec: ESP in user space, AES-NI through openssl).",
        "",
        "| | ipsec | vxlan |",
        "|---|---|---|",
        f"| `{data['lab']}` up (s) | {_f(ups.get('ipsec'))} | {_f(ups.get('vxlan'))} |",
        f"| of which the `tunnels` phase (s) | {_f(data.get('tunnels_phase_s'))} | - |",
        f"| PSS per tunnel end (MiB) | {_f(pss)} (RSS {_f(idle_['charon_rss_mib_each'])}) | - |",
        f"| CPU per charon, idle | {idle_['charon_cpu_percent_each']:.3f} % of a core | - |",
        f"| TCP through one tunnel (Mbit/s received) | {_f(tput['ipsec']['received_mbit_s'], 1)} | "
        f"{_f(tput['vxlan']['received_mbit_s'], 1)} |",
        "",
        "| target | measured | met |",
        "|---|---|---|",
        f"| IPsec adds at most {TARGET_UP_S:.0f} s to `{data['lab']}`'s up (median of the rounds' differences) | "
        f"{_f(added)} s | {'-' if added is None else 'yes' if added <= TARGET_UP_S else 'no'} |",
        f"| at most {TARGET_PSS_MIB:.0f} MiB PSS per tunnel end | {_f(pss)} MiB | "
        f"{'yes' if pss <= TARGET_PSS_MIB else 'no'} |",
        "",
        f"Load average (1 min) during the up runs: {data.get('load_during')}; at the end: {data['load_at_end']}.",
        "",
    ]
    return out
