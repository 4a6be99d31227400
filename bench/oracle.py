"""The oracle's cost at scale: `predict` on generated labs of N sites, no lab brought up.

`python -m bench.oracle [--sizes 50,100,200] [--runs 3]` prints one line per size and, with --json,
writes the figures. Each figure is the median of --runs, timed with the process CPU clock beside the
wall clock (on a shared machine the CPU time is the fairer one), and the machine's load average is
recorded before and after: a figure taken while the machine was busy says so. `make bench` runs it
too (bench/__main__.py), at the default sizes, and docs/benchmarks.md gets its table (`markdown`).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from controller.oracle import Failures, predict
from lab.generate import generate
from lab.load import parse
from lab.rules import check
from lab.topology import Topology, build

SIZES = (50, 100, 200)
T = TypeVar("T")


def _timed(fn: Callable[[], T]) -> tuple[T, tuple[float, float]]:
    """What one call returns, and its (wall seconds, CPU seconds of this process)."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return result, (time.perf_counter() - wall, time.process_time() - cpu)


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
        nodes = routes = 0
        for _ in range(runs):
            topo, took = _timed(partial(_topology, sites))
            samples["build"].append(took)
            pred, took = _timed(partial(predict, topo))
            samples["predict"].append(took)
            samples["predict_gw0_failed"].append(_timed(partial(predict, topo, Failures(nodes={"gw0"})))[1])
            nodes = len(topo.nodes)
            routes = sum(len(paths) for table in pred.best.values() for paths in table.values())
        row: dict[str, Any] = {"sites": sites, "nodes": nodes, "best_routes": routes}
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
            f"{r['sites']:>4} sites ({r['nodes']} nodes, {r['best_routes']} best routes): build {r['build_s']:.3f} s, "
            f"predict {r['predict_s']:.3f} s (CPU {r['predict_cpu_s']:.3f} s), "
            f"predict with gw0 failed {r['predict_gw0_failed_s']:.3f} s"
        )
    return out


def markdown(data: dict[str, Any] | None) -> list[str]:
    """The section of docs/benchmarks.md (nothing when the run did not measure it)."""
    if not data or not data.get("sizes"):
        return []
    out = [
        "## The oracle at scale",
        "",
        "`predict` (controller/oracle) on generated labs, no lab brought up (`python -m bench.oracle`); "
        f"median of {data['runs']} run(s), load average {data['load_before'][0]:.1f} before and "
        f"{data['load_after'][0]:.1f} after. Its output grows as sites² (every site learns every other "
        "site's prefix through Azure): the cost per best route is what stays flat.",
        "",
        "| sites | nodes | build s | predict s | predict CPU s | with gw0 failed s | µs CPU per best route |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in data["sizes"]:
        per_route = r["predict_cpu_s"] / r["best_routes"] * 1e6 if r.get("best_routes") else float("nan")
        out.append(
            f"| {r['sites']} | {r['nodes']} | {r['build_s']:.3f} | {r['predict_s']:.3f} | {r['predict_cpu_s']:.3f} "
            f"| {r['predict_gw0_failed_s']:.3f} | {per_route:.1f} |"
        )
    return [*out, ""]


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
