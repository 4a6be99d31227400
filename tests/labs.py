"""Helpers for tests that bring real labs up: unique names, and a check that nothing is left behind."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml
from pyroute2 import IPRoute, netns

from lab.paths import builtin_topologies
from lab.runtime.netns import FRR_RUN_ROOT
from lab.runtime.processes import alive
from lab.runtime.state import RUN_ROOT, load_state


def unique(prefix: str) -> str:
    """A lab name no other test run on this machine uses at the same time."""
    return f"{prefix}{os.getpid() % 10000}"


def reached(name: str, phase: str) -> bool:
    """Has lab `name` got to `phase` of its up (LabState.phase)?"""
    state = load_state(name)
    return state is not None and state.phase == phase


def lab_file(directory: Path, builtin: str, **fields: Any) -> str:
    """A built-in lab written to `directory` with some top-level fields replaced, for `up`."""
    data = yaml.safe_load(builtin_topologies()[builtin].read_text(encoding="utf-8"))
    path = directory / f"{builtin}.yaml"
    path.write_text(yaml.safe_dump({**data, **fields}), encoding="utf-8")
    return str(path)


def host_links() -> set[str]:
    with IPRoute() as ipr:
        return {link.get_attr("IFLA_IFNAME") for link in ipr.get_links()}


def leftovers(name: str, pids: list[int] | None = None) -> list[str]:
    """Everything of lab `name` still on the host, on every runtime; [] when it is all gone."""
    left = [f"namespace {ns}" for ns in netns.listnetns() if ns.startswith(f"{name}_")]
    if (RUN_ROOT / name).exists():
        left.append(f"run dir {RUN_ROOT / name}")
    left += [f"frr dir {p}" for p in Path(FRR_RUN_ROOT).glob(f"{name}_*")]
    left += [f"process {p}" for p in pids or [] if alive(p)]
    left += [f"process {p} ({cmd})" for p, cmd in processes_mentioning(f"/run/gwlab/{name}/") if p not in (pids or [])]
    left += containers_of(name)
    return left


def containers_of(name: str) -> list[str]:
    """The lab's containers (by label) on docker, when its daemon answers, and on podman."""
    from lab.runtime.containers import dockerd, nodes
    from lab.runtime.containers.engine import engine

    found = []
    for kind in ("docker", "podman"):
        if shutil.which(kind) is None or (kind == "docker" and dockerd.answers(dockerd.Daemon()) != "ok"):
            continue  # no daemon: no container of the lab can be there to run
        found += [f"{kind} container {c[:12]}" for c in nodes.lab_containers(engine(kind), name)]
    return found


def host_state() -> dict[str, object]:
    """What a lab or a Docker daemon must leave in the host's own namespace as it found it (Docker's default
    mode changes all three): forwarding sysctls (and bridge netfilter), the nftables ruleset, links."""
    sysctls = {}
    for pattern in (
        "/proc/sys/net/ipv4/ip_forward",
        "/proc/sys/net/ipv[46]/conf/*/forwarding",
        "/proc/sys/net/bridge/*",
    ):
        for path in sorted(glob.glob(pattern)):
            with open(path, encoding="ascii") as f:
                sysctls[path] = f.read().strip()
    ruleset = subprocess.run(["nft", "list", "ruleset"], capture_output=True, text=True, check=True).stdout
    with IPRoute() as ipr:
        links = sorted(
            (link.get_attr("IFLA_IFNAME"), (link.get_attr("IFLA_LINKINFO") or {}).get("attrs", [("", "")])[0][1])
            for link in ipr.get_links()
        )
    return {"sysctls": sysctls, "nft": ruleset, "links": links}


def processes_mentioning(text: str) -> list[tuple[int, str]]:
    """Live processes whose command line names `text` (a daemon that escaped its namespace's sweep)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmd and alive(int(entry)):
            found.append((int(entry), cmd.split(" ")[0]))
    return found
