"""Helpers for tests that bring real labs up: unique names, and a check that nothing is left behind."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from pyroute2 import IPRoute, netns

from lab.paths import builtin_topologies
from lab.runtime.netns import FRR_RUN_ROOT
from lab.runtime.processes import alive
from lab.runtime.state import RUN_ROOT


def unique(prefix: str) -> str:
    """A lab name no other test run on this machine uses at the same time."""
    return f"{prefix}{os.getpid() % 10000}"


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
    """Everything of lab `name` still on the host; [] when it is all gone."""
    left = [f"namespace {ns}" for ns in netns.listnetns() if ns.startswith(f"{name}_")]
    if (RUN_ROOT / name).exists():
        left.append(f"run dir {RUN_ROOT / name}")
    left += [f"frr dir {p}" for p in Path(FRR_RUN_ROOT).glob(f"{name}_*")]
    left += [f"process {p}" for p in pids or [] if alive(p)]
    left += [f"process {p} ({cmd})" for p, cmd in processes_mentioning(f"/run/gwlab/{name}/") if p not in (pids or [])]
    return left


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
