"""The machine a benchmark ran on: cores, memory, kernel, FRR and ExaBGP versions, date, git commit."""

from __future__ import annotations

import os
import platform
import subprocess
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from lab.runtime.daemons import FRR_SBIN, exabgp_binary

REPO = Path(__file__).resolve().parents[1]


def _run(cmd: list[str], cwd: Path | None = None) -> str:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False, cwd=cwd)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return proc.stdout.strip() if proc.returncode == 0 else ""


def _meminfo_gib() -> float:
    with open("/proc/meminfo", encoding="ascii") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    return 0.0


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


def _os_name() -> str:
    try:
        with open("/etc/os-release", encoding="utf-8") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return platform.system()


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def frr_version() -> str:
    out = _run([str(FRR_SBIN / "zebra"), "--version"])
    first = out.splitlines()[0] if out else ""
    return first.replace("zebra version ", "") or "unknown"


def exabgp_version() -> str:
    version = _version("exabgp")
    if version != "not installed":
        return version
    out = _run([exabgp_binary(), "version"])
    return out.splitlines()[0] if out else "unknown"


def git_commit() -> dict[str, Any]:
    commit = _run(["git", "rev-parse", "HEAD"], cwd=REPO)
    dirty = bool(_run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO))
    return {"commit": commit or "unknown", "dirty": dirty}


def describe() -> dict[str, Any]:
    load1, load5, _ = os.getloadavg()
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cores": os.cpu_count() or 0,
        "usable_cores": len(os.sched_getaffinity(0)),
        "cpu": _cpu_model(),
        "memory_gib": _meminfo_gib(),
        "kernel": platform.release(),
        "os": _os_name(),
        "python": platform.python_version(),
        "frr": frr_version(),
        "exabgp": exabgp_version(),
        "pyroute2": _version("pyroute2"),
        "git": git_commit(),
        "load_at_start": [round(load1, 2), round(load5, 2)],
    }
