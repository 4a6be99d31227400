"""How busy the shared machine was while a figure was taken, and the rule that takes it again when it was.

Every run records the 1-minute load average when it began and when it ended, and the CPU time others
used meanwhile: the machine's busy time (/proc/stat) minus what this process, the children it waited
for and the lab's own processes (with the children they reaped) used. Kernel threads working for the
lab (softirqs, namespace clean-up) count as others', so that share is an upper bound.

Before every attempt the machine is let settle (`settle`): until its CPU is idle over half a second,
so that a lab's start does not share the cores with the kernel still tearing down the previous lab's
namespaces. The rule (`Rule`): a run is *busy* when the machine was still busy as it began (it did not
settle in time) or others took more than `max_others` of the cores' time during it. A busy run is
taken again, up to `reruns` more times; the quietest attempt (the smallest share taken by others, then
the lowest load) is the run's figure, and every attempt is kept in the results with its load. The
1-minute load average is recorded but decides nothing: it counts the lab's own processes as they
start, so after a large lab it stays high for minutes on an idle machine (173 with others at 5%).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench import cpu

CORES = os.cpu_count() or 1
SETTLE_WINDOW_S = 0.5
SETTLE_TIMEOUT_S = 120.0


def settle(max_busy: float, timeout_s: float = SETTLE_TIMEOUT_S, window_s: float = SETTLE_WINDOW_S) -> dict[str, float]:
    """Wait until the machine's CPU was busy at most `max_busy` of a `window_s` window, or the deadline;
    the last window's busy share and the seconds waited. The windows are the measurement itself (a
    share of CPU time needs an interval), not a sleep standing in for a condition."""
    start = time.monotonic()
    while True:
        busy0, idle0 = cpu.machine_jiffies()
        time.sleep(window_s)
        busy1, idle1 = cpu.machine_jiffies()
        share = (busy1 - busy0) / max(1, busy1 - busy0 + idle1 - idle0)
        waited = time.monotonic() - start
        if share <= max_busy or waited >= timeout_s:
            return {"busy_before": round(share, 3), "settled_s": round(waited, 1)}


@dataclass(frozen=True)
class Rule:
    max_busy_before: float = 0.15  # of the cores' time in the half second before the run
    max_others: float = 0.25  # of the cores' time during the run
    reruns: int = 2

    @classmethod
    def from_dict(cls, rule: dict[str, Any]) -> Rule:
        """From results.json; a run of the earlier rule (max_load) shows this rule's other fields."""
        return cls(**{k: v for k, v in rule.items() if k in ("max_busy_before", "max_others", "reruns")})

    def busy(self, run: dict[str, Any]) -> bool:
        before = run.get("busy_before") or 0.0
        return before > self.max_busy_before or (run.get("others_share") or 0.0) > self.max_others

    def describe(self) -> str:
        return (
            f"before every attempt the machine is let settle until its CPU was busy at most "
            f"{self.max_busy_before:.0%} of half a second (up to {SETTLE_TIMEOUT_S:.0f} s: a large lab's namespaces "
            f"go on being torn down by the kernel after `down`); a run that began on a machine that did not "
            f"settle, or during which others took more than {self.max_others:.0%} of the {CORES} cores' time, is "
            f"taken again, up to {self.reruns} more times; the quietest attempt (least CPU taken by others, then "
            "lowest load) is the figure, and every attempt is listed in bench/results.json. The 1-minute load "
            "average is recorded but decides nothing: it counts the lab's own processes as they start"
        )

    def as_dict(self) -> dict[str, Any]:
        return {"max_busy_before": self.max_busy_before, "max_others": self.max_others, "reruns": self.reruns}


def others(cpu: dict[str, Any], wall_s: float) -> dict[str, float]:
    """Others' CPU during a run, from `bench.cpu.since`'s figures: seconds and share of the cores' time."""
    ours = cpu["gwlab_process_s"] + cpu["gwlab_children_s"] + sum(cpu["lab_processes_s"].values())
    ours += cpu.get("engine_daemons_s", 0.0)  # dockerd and containerd, working for the lab
    offered = CORES * wall_s
    spent = max(0.0, min(cpu["machine_busy_s"], offered) - ours)
    return {"others_cpu_s": round(spent, 2), "others_share": round(spent / offered, 3) if offered else 0.0}


def quietness(run: dict[str, Any]) -> tuple[float, float]:
    return (run.get("others_share") or 0.0, run.get("load1_start", 0.0))


ATTEMPT_FIELDS = (
    "ok",
    "up_s",
    "busy_before",
    "settled_s",
    "load1_start",
    "load1",
    "others_cpu_s",
    "others_share",
    "error",
)


def quietest(
    attempt: Callable[[], dict[str, Any]],
    rule: Rule,
    log: Callable[[str], None],
    settled: Callable[[float], dict[str, float]] = settle,
) -> dict[str, Any]:
    """attempt() on a settled machine until a run is not busy or the reruns are spent; the quietest
    successful run (or the last failure), with `attempts`: each attempt's figures and load."""

    def settled_attempt() -> dict[str, Any]:
        before = settled(rule.max_busy_before)
        return {**attempt(), **before}

    runs = [settled_attempt()]
    while rule.busy(runs[-1]) and len(runs) <= rule.reruns:
        last = runs[-1]
        log(
            f"  busy (before {last.get('busy_before') or 0:.0%}, others {last.get('others_share') or 0:.0%}, "
            f"load {last.get('load1_start', 0):.1f}): "
            f"again ({len(runs) + 1}/{rule.reruns + 1})"
        )
        runs.append(settled_attempt())
    ok = [r for r in runs if r.get("ok")]
    best: dict[str, Any] = min(ok, key=quietness) if ok else runs[-1]
    kept = dict(best)
    kept["attempts"] = [{k: r.get(k) for k in ATTEMPT_FIELDS if k in r} for r in runs]
    kept["busy"] = rule.busy(kept)
    return kept
