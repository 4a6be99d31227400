"""The oracle's cost at scale: `predict` on generated labs of N sites, no lab brought up.

`python -m bench.oracle [--sizes 50,100,200] [--runs 3]` prints one line per size and, with --json,
writes the figures. Each figure is the median of --runs, timed with the process CPU clock beside the
wall clock (on a shared machine the CPU time is the fairer one), and the machine's load average is
recorded before and after: a figure taken while the machine was busy says so. `make bench` runs it
too (bench/__main__.py), at the default sizes.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from controller.oracle import Failures, predict
from lab.generate import generate
from lab.load import parse
from lab.rules import check
from lab.topology import Topology, build

SIZES = (50, 100, 200)


def _timed(fn: Callable[[], object]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def _topology(sites: int) -> Topology:
    model = parse(generate(sites), "generated.yaml", f"gen{sites}")
    check(model, "generated.yaml")
    return build(model)


def measure(sizes: tuple[int, ...] | list[int] = SIZES, runs: int = 3) -> dict[str, Any]:
    """Per size: the median wall and CPU seconds of building the topology, of `predict` with nothing
    failed, and of `predict` with one gateway instance failed (what the runner asks at each failure)."""
    out: dict[str, Any] = {"runs": runs, "load_before": _load(), "sizes": []}
    for sites in sizes:
        samples: dict[str, list[tuple[float, float]]] = {"build": [], "predict": [], "predict_gw0_failed": []}
        for _ in range(runs):
            topo: list[Topology] = []
            samples["build"].append(_timed(lambda: topo.append(_topology(sites))))
            samples["predict"].append(_timed(lambda: predict(topo[0])))
            samples["predict_gw0_failed"].append(_timed(lambda: predict(topo[0], Failures(nodes={"gw0"}))))
        row: dict[str, Any] = {"sites": sites, "nodes": len(topo[0].nodes)}
        for what, values in samples.items():
            row[f"{what}_s"] = round(statistics.median(v[0] for v in values), 4)
            row[f"{what}_cpu_s"] = round(statistics.median(v[1] for v in values), 4)
        out["sizes"].append(row)
    out["load_after"] = _load()
    return out


def _load() -> list[float]:
    return [round(v, 2) for v in os.getloadavg()]


def lines(data: dict[str, Any]) -> list[str]:
    out = [f"load average before {data['load_before']}, after {data['load_after']}; median of {data['runs']} run(s)"]
    for r in data["sizes"]:
        out.append(
            f"{r['sites']:>4} sites ({r['nodes']} nodes): build {r['build_s']:.3f} s, "
            f"predict {r['predict_s']:.3f} s (CPU {r['predict_cpu_s']:.3f} s), "
            f"predict with gw0 failed {r['predict_gw0_failed_s']:.3f} s"
        )
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.oracle", description=__doc__.splitlines()[0] if __doc__ else "")
    ap.add_argument("--sizes", default=",".join(map(str, SIZES)), help="comma-separated site counts")
    ap.add_argument("--runs", type=int, default=3, help="runs per size, median reported")
    ap.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = ap.parse_args(argv)
    try:
        sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    except ValueError:
        ap.error(f"--sizes: '{args.sizes}' is not a comma-separated list of numbers")
    if not sizes or min(sizes) < 1 or args.runs < 1:
        ap.error("--sizes and --runs must be at least 1")
    data = measure(sizes, args.runs)
    print("\n".join(lines(data)))
    if args.json is not None:
        args.json.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
