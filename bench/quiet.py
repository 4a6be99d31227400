"""How busy the shared machine was while a figure was taken, and the rule that takes it again when it was.

Every run records the 1-minute load average when it began and when it ended, and the CPU time others
used meanwhile: the machine's busy time (/proc/stat) minus what this process, the children it waited
for and the lab's own processes (with the children they reaped) used. Kernel threads working for the
lab (softirqs, namespace clean-up) count as others', so that share is an upper bound.

The rule (`Rule`): a run is *busy* when the load average at its start was above `max_load` or others
took more than `max_others` of the cores' time during it. A busy run is taken again, up to `reruns`
more times; the quietest attempt (the smallest share taken by others, then the lowest load) is the
run's figure, and every attempt is kept in the results with its load.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

CORES = os.cpu_count() or 1


@dataclass(frozen=True)
class Rule:
    max_load: float = 2.0 * CORES  # twice what the cores can run at once
    max_others: float = 0.25  # of the cores' time during the run
    reruns: int = 2

    def busy(self, run: dict[str, Any]) -> bool:
        return run.get("load1_start", 0.0) > self.max_load or (run.get("others_share") or 0.0) > self.max_others

    def describe(self) -> str:
        return (
            f"a run that began at a 1-minute load average above {self.max_load:g} or during which others took "
            f"more than {self.max_others:.0%} of the {CORES} cores' time is taken again, up to {self.reruns} more "
            "times; the quietest attempt (least CPU taken by others, then lowest load) is the figure, and every "
            "attempt is listed in bench/results.json"
        )

    def as_dict(self) -> dict[str, Any]:
        return {"max_load": self.max_load, "max_others": self.max_others, "reruns": self.reruns}


def others(cpu: dict[str, Any], wall_s: float) -> dict[str, float]:
    """Others' CPU during a run, from `bench.cpu.since`'s figures: seconds and share of the cores' time."""
    ours = cpu["gwlab_process_s"] + cpu["gwlab_children_s"] + sum(cpu["lab_processes_s"].values())
    offered = CORES * wall_s
    spent = max(0.0, min(cpu["machine_busy_s"], offered) - ours)
    return {"others_cpu_s": round(spent, 2), "others_share": round(spent / offered, 3) if offered else 0.0}


def quietness(run: dict[str, Any]) -> tuple[float, float]:
    return (run.get("others_share") or 0.0, run.get("load1_start", 0.0))


ATTEMPT_FIELDS = ("ok", "up_s", "load1_start", "load1", "others_cpu_s", "others_share", "error")


def quietest(attempt: Callable[[], dict[str, Any]], rule: Rule, log: Callable[[str], None]) -> dict[str, Any]:
    """attempt() until a run is not busy or the reruns are spent; the quietest successful run (or the
    last failure), with `attempts`: each attempt's figures and load."""
    runs = [attempt()]
    while rule.busy(runs[-1]) and len(runs) <= rule.reruns:
        last = runs[-1]
        log(
            f"  busy (load {last.get('load1_start', 0):.1f}, others {last.get('others_share') or 0:.0%}): "
            f"again ({len(runs) + 1}/{rule.reruns + 1})"
        )
        runs.append(attempt())
    ok = [r for r in runs if r.get("ok")]
    best: dict[str, Any] = min(ok, key=quietness) if ok else runs[-1]
    kept = dict(best)
    kept["attempts"] = [{k: r.get(k) for k in ATTEMPT_FIELDS if k in r} for r in runs]
    kept["busy"] = rule.busy(kept)
    return kept
