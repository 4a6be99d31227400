"""`python -m bench.containers`: what the container primitives cost on this machine, docker and podman.

Lab-mode dockerd start (a private daemon beside any running one), the image's cached-tag hit, node
creation serial and in parallel, exec, crash (kill) and start, removal by label. Prints one table
and the figures as JSON; each figure is the median of --runs, with the machine's load beside it.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from lab.runtime.containers import dockerd, image, nodes
from lab.runtime.containers.engine import Engine, engine
from lab.runtime.containers.fsutil import remove_tree


def timed(fn: Callable[[], object]) -> float:
    start = time.monotonic()
    fn()
    return time.monotonic() - start


def median(fn: Callable[[], object], runs: int) -> float:
    return statistics.median(timed(fn) for _ in range(runs))


def dockerd_start(runs: int) -> list[float]:
    """Seconds until a fresh lab-mode dockerd answers (its own data root: the first run initialises it)."""
    root = Path(f"/tmp/gwb{os.getpid()}")
    private = dockerd.Daemon(root)
    times = []
    try:
        for _ in range(runs):
            started = dockerd.ensure(private)
            assert started is not None
            times.append(started)
            dockerd.stop(private)
    finally:
        dockerd.stop(private)
        remove_tree(root)
    return times


def node_costs(client: Engine, tag: str, count: int, runs: int, workdir: Path) -> dict[str, float]:
    lab = f"bc{os.getpid() % 10000}{client.name[0]}"
    specs = [nodes.NodeSpec(lab, f"n{i}", tag, workdir / f"n{i}", workdir / f"n{i}-frr") for i in range(count)]
    out: dict[str, float] = {"image_hit_s": median(lambda: image.build(client), 5)}
    try:
        serial, removal = [], []
        for _ in range(runs):
            serial.append(timed(lambda: [nodes.create(client, s) for s in specs]))
            removal.append(timed(lambda: nodes.remove_lab(client, lab)))
        out["create_serial_each_s"] = statistics.median(serial) / count
        out["remove_all_s"] = statistics.median(removal)
        for workers in sorted({2, 4, 8, count}):
            parallel = []
            for _ in range(runs):
                parallel.append(timed(functools.partial(nodes.create_all, client, specs, workers=workers)))
                nodes.remove_lab(client, lab)
            out[f"create_parallel_{workers}w_s"] = statistics.median(parallel)
        made = nodes.create_all(client, specs[:1])
        name = made["n0"].name
        out["exec_true_s"] = median(lambda: nodes.exec_in(client, name, ["true"]), 10)
        out["kill_s"] = timed(lambda: nodes.kill(client, name))
        out["start_after_kill_s"] = timed(lambda: nodes.start(client, name))
        out["stop_s"] = timed(lambda: nodes.stop(client, name, grace_s=2))
    finally:
        nodes.remove_lab(client, lab)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(
        prog="python -m bench.containers", description=__doc__.splitlines()[0] if __doc__ else ""
    )
    ap.add_argument("--nodes", type=int, default=14, help="containers per creation run (default 14, as containers.md)")
    ap.add_argument("--runs", type=int, default=3, help="runs per figure, median reported (default 3)")
    args = ap.parse_args()
    results: dict[str, object] = {"load_before": os.getloadavg()[0], "nodes": args.nodes}
    results["dockerd_start_s"] = dockerd_start(args.runs)
    with dockerd.in_use(), tempfile.TemporaryDirectory(prefix="gwb") as tmp:
        for name in ("docker", "podman"):
            client = engine(name)
            tag = image.build(client).tag
            results[name] = node_costs(client, tag, args.nodes, args.runs, Path(tmp) / name)
    results["load_after"] = os.getloadavg()[0]
    for name in ("docker", "podman"):
        figures = results[name]
        assert isinstance(figures, dict)
        print(f"{name:7s} " + "  ".join(f"{k}={v * 1000:.0f}ms" for k, v in figures.items()))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
