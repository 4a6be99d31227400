"""munet bringing up the same lab: installed in its own venv, run under `unshare`, timed to the same
convergence condition as gwlab (controller.converge.differences against the oracle's prediction).

munet has no convergence wait of its own (it reports "Topology up" once namespaces and links exist,
then runs each node's `cmd`), so the clock runs from launching munet until the oracle finds every
expected BGP session Established and every FIB as predicted, polled every 100 ms exactly as gwlab's
`up` polls. The FRR state is read with vtysh inside each node's network and mount namespaces (munet
bind-mounts /var/run/frr per node), the FIBs through /proc/<pid>/ns/net.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from bench import cpu, munet_lab, quiet
from bench.gwlab_runs import ROUTING_COMMANDS
from bench.memory import descendants, parents, sample
from controller import converge
from controller.oracle import Prediction
from lab.poll import poll
from lab.runtime.daemons import exabgp_binary
from lab.runtime.netlink import Handles
from lab.runtime.processes import alive, command
from lab.topology import Topology

MUNET_SPEC = "munet>=0.17,<0.18"  # the release measured; its config schema is the one written here
LOG_TIME = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}): \w+: (.*)$")


class MunetUnavailable(Exception):
    """munet cannot be installed or run here; the message says exactly why."""


@dataclass
class Munet:
    binary: Path
    version: str
    unshare: str


def ensure(venv: Path) -> Munet:
    """munet in its own venv (created and installed with pip on first use)."""
    unshare = "/usr/bin/unshare"
    if not os.access(unshare, os.X_OK):
        raise MunetUnavailable("unshare (util-linux) is not installed: munet needs its own PID namespace")
    venv = venv.resolve()
    binary = venv / "bin" / "munet"
    if not binary.exists():
        if not (venv / "bin" / "python").exists():
            made = subprocess.run(
                [sys.executable, "-m", "venv", str(venv)], capture_output=True, text=True, check=False, timeout=300
            )
            if made.returncode != 0:
                raise MunetUnavailable(f"cannot create {venv}: {made.stderr.strip()[-300:]}")
        pip = subprocess.run(
            [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", MUNET_SPEC],
            capture_output=True,
            text=True,
            check=False,
            timeout=600,
        )
        if pip.returncode != 0 or not binary.exists():
            raise MunetUnavailable(f"pip install {MUNET_SPEC} failed: {pip.stderr.strip()[-300:]}")
    got = subprocess.run([str(binary), "--version"], capture_output=True, text=True, check=False, timeout=60)
    if got.returncode != 0:
        raise MunetUnavailable(f"munet --version failed: {(got.stderr or got.stdout).strip()[-300:]}")
    return Munet(binary, got.stdout.strip(), unshare)


def _node_pids(root: int, rundir: Path, names: list[str]) -> dict[str, int]:
    """node -> pid of the node's `cmd` shell, which runs in the node's network and mount namespaces."""
    wanted = {str(rundir / name / "cmd.shebang"): name for name in names}
    found: dict[str, int] = {}
    for pid in descendants(root):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                args = f.read().decode(errors="replace").split("\0")
        except OSError:
            continue
        for arg in args:
            if arg in wanted:
                found.setdefault(wanted[arg], pid)
    return found


def _peers(pid: int) -> dict[str, dict[str, Any]]:
    """`show bgp ipv4 unicast summary json` inside the node (its own /var/run/frr), like frr.bgp_peers."""
    try:
        proc = subprocess.run(
            [
                "nsenter",
                f"--net=/proc/{pid}/ns/net",
                f"--mount=/proc/{pid}/ns/mnt",
                "vtysh",
                "-c",
                "show bgp ipv4 unicast summary json",
            ],
            capture_output=True,
            text=True,
            timeout=3.0,
            check=False,
        )
        data = json.loads(proc.stdout) if proc.returncode == 0 and proc.stdout.strip() else {}
    except (subprocess.TimeoutExpired, ValueError, OSError):
        return {}
    peers: dict[str, dict[str, Any]] = data.get("peers", {}) if isinstance(data, dict) else {}
    return peers


def _log_times(log: Path) -> dict[str, float]:
    """Wall-clock times (epoch seconds) of munet's milestones, from its INFO log."""
    out: dict[str, float] = {}
    try:
        lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return out
    for line in lines:
        m = LOG_TIME.match(line)
        if m is None:
            continue
        stamp = datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
        if m.group(2).startswith("Topology up"):
            out.setdefault("topology_up", stamp)
    return out


def _last_error(log: Path) -> str:
    """munet's own last CRITICAL/ERROR line, without its timestamp."""
    try:
        lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return "no log"
    for line in reversed(lines):
        m = LOG_TIME.match(line)
        if m is not None and (": CRITICAL: " in line or ": ERROR: " in line):
            return m.group(2)[:300]
    return "no error logged"


def _munet_process(unshare_pid: int) -> int | None:
    """munet's own process: the child of `unshare --fork`."""
    kids = [pid for pid, ppid in parents().items() if ppid == unshare_pid]
    return min(kids) if kids else None


def run_once(
    munet: Munet, topo: Topology, pred: Prediction, config: Path, rundir: Path, timeout_s: float = 120.0
) -> dict[str, Any]:
    rundir, config = rundir.resolve(), config.resolve()
    routers = [n.name for n in topo.routers()]
    speakers = sum(1 for n in topo.nodes.values() if n.speaker is not None)
    rundir.parent.mkdir(parents=True, exist_ok=True)
    log = rundir.parent / f"{rundir.name}.log"
    stray = {p.name for p in Path("/tmp").glob("mu-*-proc")}
    out: dict[str, Any] = {"ok": False, "load1_start": os.getloadavg()[0]}
    cmd = [
        munet.unshare,
        "--pid",
        "--fork",
        "--mount-proc",
        str(munet.binary),
        "--no-cli",
        "-c",
        str(config),
        "-d",
        str(rundir),
    ]
    wall0, start, cpu_start = time.time(), time.monotonic(), cpu.mark()
    with open(log, "wb") as logf:
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=logf,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_default_sigint,
        )
    pids: dict[str, int] = {}
    # The same reads as gwlab's wait: a thread and handle per node, kept for the whole wait.
    handles = Handles(lambda name: f"/proc/{pids[name]}/ns/net")
    try:
        daemons_at: float | None = None

        def look() -> list[converge.Difference] | None:
            """What still differs once munet's daemons run (None before they do)."""
            nonlocal pids, daemons_at
            if proc.poll() is not None:
                raise RuntimeError(
                    f"munet exited with {proc.returncode} before converging: {_last_error(log)} (see {log})"
                )
            if len(pids) < len(topo.nodes):
                pids = _node_pids(proc.pid, rundir, list(topo.nodes))
            if len(pids) == len(topo.nodes) and daemons_at is None:
                comms = [command(p) for p in descendants(proc.pid)]
                if comms.count("bgpd") >= len(routers) and comms.count("exabgp") >= speakers:
                    daemons_at = time.monotonic()
            if daemons_at is None:
                return None
            # The same comparison as gwlab's, with FRR read inside munet's nodes.
            found = dict(pids)
            return converge.differences(topo, pred, handles, lambda node: _peers(found[node]))

        waited = poll(look, lambda diffs: diffs == [], timeout_s=timeout_s, interval_s=converge.POLL_S)
        if not waited.ok or daemons_at is None:
            found = f"{len(pids)}/{len(topo.nodes)} nodes found, daemons {'up' if daemons_at else 'not up'}"
            diffs = waited.value or []
            left = "; ".join(f"{d.node} {d.what} {d.item}: {d.actual} (want {d.expected})" for d in diffs[:5])
            raise RuntimeError(f"not converged within {timeout_s:.0f} s ({found}; {left}; see {log})")
        out["up_s"] = time.monotonic() - start
        out["load1"] = os.getloadavg()[0]
        topo_up = _log_times(log).get("topology_up")
        namespaces_s = (topo_up - wall0) if topo_up is not None else None
        out["phases"] = {
            "namespaces": namespaces_s,
            "daemons": (daemons_at - start) - (namespaces_s or 0.0),
            "convergence": out["up_s"] - (daemons_at - start),
        }
        tree = descendants(proc.pid)
        # munet's whole tree is "the lab" here: its own Python, inits and shells, and the daemons.
        out["cpu"] = cpu.since(cpu_start, [proc.pid, *tree])
        out.update(quiet.others(out["cpu"], out["up_s"]))
        mem = sample(tree)
        out["memory"] = mem.as_dict()
        out["routing_memory"] = mem.only(ROUTING_COMMANDS).as_dict()
        out["ok"] = True
    except Exception as exc:  # reported in the results, never hidden
        out["error"] = f"{type(exc).__name__}: {exc}"
    finally:
        handles.close()
        out["down_s"], out["leftovers"] = _stop(proc)
        for leftover in Path("/tmp").glob("mu-*-proc"):
            if leftover.name not in stray:  # munet's own empty mount point of this run
                with contextlib.suppress(OSError):
                    leftover.rmdir()
    return out


def _default_sigint() -> None:
    """munet is the init of its PID namespace: it gets only the signals it handles, and Python handles
    SIGINT only if it was not ignored at start (as it is under a shell's `&`)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _stop(proc: subprocess.Popen[bytes]) -> tuple[float, list[str]]:
    """Ctrl-C to munet, as a user stops it; its PID namespace takes every node process with it."""
    tree = descendants(proc.pid)
    start = time.monotonic()
    target = _munet_process(proc.pid)
    for sig, wait in ((signal.SIGINT, 30.0), (signal.SIGKILL, 30.0)):
        with contextlib.suppress(ProcessLookupError):
            os.kill(target if target is not None else proc.pid, sig)
        try:
            proc.wait(timeout=wait)
            break
        except subprocess.TimeoutExpired:
            continue
    # The kernel reaps the PID namespace: poll with a deadline.
    poll(lambda: not any(alive(p) for p in tree), timeout_s=30, interval_s=0.02)
    seconds = time.monotonic() - start
    return seconds, [f"process {p}" for p in tree if alive(p)]


def prepare(topo: Topology, workdir: Path, with_speakers: bool = True) -> Path:
    return munet_lab.write(topo, workdir, exabgp_binary() if with_speakers else None)
