"""Helpers for tests that bring real labs up: unique names, and a check that nothing is left behind."""

from __future__ import annotations

import os
from pathlib import Path

from pyroute2 import IPRoute, netns

from lab.runtime.processes import alive
from lab.runtime.state import FRR_RUN_ROOT, RUN_ROOT


def unique(prefix: str) -> str:
    """A lab name no other test run on this machine uses at the same time."""
    return f"{prefix}{os.getpid() % 10000}"


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
    return left
