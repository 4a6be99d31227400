"""`python -m bench.classroom`: how many students fit on this machine, for three exercises.

For each exercise, N copies are started one after the other as `gwlab exercise start --students N`
does (lab up until converged, then the faults), and then measured together: the PSS of every process
of every copy (FRR, ExaBGP, charon: bench.memory), the CPU they use while idle (keepalives, BFD, DPD)
over IDLE_S, each copy's start time and the machine's load average. A few sizes only (the brief:
measure, do not soak); the estimate of what fits is linear in the measured figures and says so.
Writes bench/classroom.json; the figures go into docs/classrooms.md by hand, with the load."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from bench import cpu, machine
from bench.ipsec import charon_pids
from bench.memory import sample
from controller.exercises import course
from controller.exercises.catalog import load_exercise
from lab.runtime import lifecycle
from lab.runtime.running import attach

EXERCISES = ("wrong-asn", "aa-one-tunnel", "er-bfd")  # active/standby, active/active, ExpressRoute + VPN
COPIES = (1, 4, 8)
IDLE_S = 10.0
MEMORY_GIB, CORES = 24, 2  # the target machine
CPU_BUDGET = 0.5  # of the cores, left to the students' labs when idle (checks and vtysh need the rest)
OUT = Path(__file__).resolve().parent / "classroom.json"


def measure(exercise: str, copies: int) -> dict[str, Any]:
    ex = load_exercise(exercise)
    names = [f"bc{os.getpid() % 1000}x{i}" for i in range(1, copies + 1)]
    load_before = os.getloadavg()
    starts = []
    try:
        for name in names:
            clock = time.monotonic()
            course.start(ex, name)
            starts.append(round(time.monotonic() - clock, 2))
        labs = [attach(n) for n in names]
        pids = [p for lab in labs for p in {*lab.runtime.pids(), *charon_pids(lab)}]
        mem = sample(pids)
        before = cpu.process_seconds(pids)
        time.sleep(IDLE_S)  # the idle period measured: time passing, not synchronisation
        after = cpu.process_seconds(pids)
        idle_cores = (sum(after.values()) - sum(before.values())) / IDLE_S
    finally:
        for name in names:
            lifecycle.down(name)
    per_copy_mib = mem.pss_mib / copies
    return {
        "exercise": exercise,
        "copies": copies,
        "start_s": starts,
        "start_s_max": max(starts),
        "pss_mib": round(mem.pss_mib, 1),
        "pss_mib_per_copy": round(per_copy_mib, 1),
        "processes": mem.processes,
        "idle_cores": round(idle_cores, 3),
        "idle_cores_per_copy": round(idle_cores / copies, 4),
        "load_before": [round(x, 1) for x in load_before],
        "load_after": [round(x, 1) for x in os.getloadavg()],
    }


def fits(rows: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """Students per exercise on MEMORY_GIB and CORES, from the largest size measured (linear)."""
    out = {}
    for exercise in EXERCISES:
        row = max((r for r in rows if r["exercise"] == exercise), key=lambda r: r["copies"])
        by_memory = int(MEMORY_GIB * 1024 * 0.8 // row["pss_mib_per_copy"])  # 20 % for the kernel and checks
        by_cpu = int(CORES * CPU_BUDGET // max(row["idle_cores_per_copy"], 1e-6))
        out[exercise] = {"by_memory": by_memory, "by_idle_cpu": by_cpu, "fit": min(by_memory, by_cpu)}
    return out


def main(argv: list[str]) -> int:
    sizes = tuple(int(x) for x in argv[1:]) or COPIES
    rows = []
    for exercise in EXERCISES:
        for copies in sizes:
            row = measure(exercise, copies)
            print(json.dumps(row), flush=True)
            rows.append(row)
    result = {"machine": machine.describe(), "rows": rows, "fits": fits(rows)}
    OUT.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result["fits"], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
