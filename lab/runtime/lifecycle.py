"""`up` and `down`: build a lab, start its daemons, wait for convergence; undo all of it, always.

`up` records what it will create before creating it (lab.runtime.state), so an error, Ctrl-C or
SIGTERM midway leads to the same `down` that a user runs later: processes found by namespace and
stopped by pid, namespaces removed (their veths and tunnels go with them), FRR socket dirs and the
run directory deleted.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import FrameType

from pyroute2 import netns

from controller.oracle import Prediction, predict
from lab.errors import GwlabError, LabError, Problem
from lab.load import load
from lab.model import MAX_LAB_NAME, NAME_PATTERN
from lab.render import render_all, write
from lab.runtime import converge
from lab.runtime.daemons import (
    check_frr,
    confirm,
    exabgp_binary,
    frr_daemons,
    launch_exabgp,
    launch_frr,
    prepare_frr_dir,
    zebra_ready,
)
from lab.runtime.netns import NetnsRuntime, destroy_namespaces
from lab.runtime.processes import pids_in, stop
from lab.runtime.state import FRR_RUN_ROOT, RUN_ROOT, LabState, load_state, namespace_name
from lab.topology import Node, Topology

Progress = Callable[[str, int, int], None]  # (phase, done, total)


class NotConverged(GwlabError):
    def __init__(self, name: str, seconds: float, diffs: list[converge.Difference]) -> None:
        self.name, self.seconds, self.diffs = name, seconds, diffs
        super().__init__(
            f"lab {name} did not converge within {seconds:.1f} s ({len(diffs)} differences); "
            f"it is left up for inspection ('gwlab status {name}', 'gwlab down {name}')"
        )


@dataclass
class UpResult:
    topo: Topology
    state: LabState
    prediction: Prediction
    timings: dict[str, float] = field(default_factory=dict)  # phase -> seconds


def check_name(name: str) -> None:
    if not re.match(NAME_PATTERN, name) or len(name) > MAX_LAB_NAME:
        raise LabError(
            "--name",
            [
                Problem(
                    "",
                    f"'{name}' is not a valid lab name (lower-case letters, digits "
                    f"and dashes, starting with a letter, at most {MAX_LAB_NAME} characters)",
                )
            ],
        )


def require_root() -> None:
    if os.geteuid() != 0:
        raise GwlabError("network namespaces need root (run as root or with sudo)")


INTERRUPTED = threading.Event()


def check_interrupted() -> None:
    """Raise KeyboardInterrupt at a safe point if Ctrl-C, SIGTERM or SIGHUP arrived."""
    if INTERRUPTED.is_set():
        raise KeyboardInterrupt


@contextmanager
def interrupts_at_safe_points() -> Iterator[None]:
    """Ctrl-C, SIGTERM and SIGHUP during `up` only set a flag, checked between steps and in every
    polling loop: an exception raised inside pyroute2's event loop is swallowed there and leaves its
    helper process wedged, and one inside a fork with preexec_fn can deadlock."""
    owner = os.getpid()

    def handler(signum: int, frame: FrameType | None) -> None:
        if os.getpid() != owner:  # a child forked meanwhile (pyroute2 forks helpers)
            os._exit(128 + signum)
        INTERRUPTED.set()

    INTERRUPTED.clear()
    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def up(
    source: str,
    name: str | None = None,
    timeout_s: float | None = None,
    cleanup_on_failure: bool = False,
    progress: Progress | None = None,
) -> UpResult:
    topo = load(source)
    if name is not None:
        check_name(name)
        topo.name = name
    require_root()
    check_frr()
    exabgp_binary()
    if load_state(topo.name) is not None:
        raise GwlabError(f"lab {topo.name} is already up (take it down first: gwlab down {topo.name})")
    state = LabState(topo.name, source, created=time.time(), owner_pid=os.getpid())
    result = UpResult(topo, state, predict(topo))
    report = progress or (lambda phase, done, total: None)
    owner = os.getpid()
    with interrupts_at_safe_points():
        try:
            _build(result, report, timeout_s or timeout_s_for(topo))
        except NotConverged:
            if cleanup_on_failure:
                down(topo.name)
            raise
        except BaseException:
            # Only the process that built the lab undoes it: a child that pyroute2 forked inherits
            # this frame, and its exit (SystemExit) must not tear the lab down under the parent.
            if os.getpid() == owner:
                down(topo.name)
            raise
    return result


def _build(result: UpResult, report: Progress, timeout_s: float) -> None:
    topo, state = result.topo, result.state
    clock = time.monotonic()

    def lap(phase: str) -> None:
        nonlocal clock
        now = time.monotonic()
        result.timings[phase] = now - clock
        clock = now

    state.save()
    write(render_all(topo), state.run_dir)
    lap("render")
    check_interrupted()
    report("namespaces", 0, len(topo.nodes))
    NetnsRuntime(topo, state).create()
    lap("namespaces")
    check_interrupted()
    state.phase = "starting"
    state.save()
    start_daemons(topo, state, report)
    lap("daemons")
    check_interrupted()
    state.phase = "converging"
    state.save()
    ok, seconds, diffs = converge.wait(
        topo,
        result.prediction,
        timeout_s,
        lambda done, total: report("converging", done, total),
        stop=INTERRUPTED.is_set,
    )
    check_interrupted()
    lap("convergence")
    if not ok:
        raise NotConverged(topo.name, seconds, diffs)
    state.phase = "up"
    state.up_seconds = sum(result.timings.values())
    state.save()


def timeout_s_for(topo: Topology) -> float:
    # Sessions come up within a few connect-retry intervals; realistic timers stay bounded by the
    # same, since nothing fails during `up`.
    return max(30.0, 10.0 * topo.timing.connect_retry + 5.0 * len(topo.nodes) / 10)


def start_daemons(topo: Topology, state: LabState, report: Progress, only: set[str] | None = None) -> None:
    """Every FRR daemon at once, then the ExaBGP speakers (they listen; bgpd connects to them).
    `only`: just these nodes (a restored node)."""
    routers = [n for n in topo.routers() if only is None or n.name in only]
    speakers = [n for n in topo.nodes.values() if n.speaker is not None and (only is None or n.name in only)]
    total = len(routers) + len(speakers)
    # zebra everywhere first: bgpd, staticd and bfdd connect to its socket, and a client that finds
    # no socket retries only 10 s later.
    launched: list[subprocess.Popen[bytes]] = []
    try:
        _start(topo, state, report, routers, speakers, total, launched)
    except BaseException:
        # A daemon launched but not yet daemonised would fork after `down` has swept the namespaces and
        # escape it: let every launcher finish first, so that everything it started is findable.
        for proc in launched:
            with contextlib.suppress(subprocess.TimeoutExpired, OSError):
                proc.wait(timeout=5)
        raise


def _start(
    topo: Topology,
    state: LabState,
    report: Progress,
    routers: list[Node],
    speakers: list[Node],
    total: int,
    launched: list[subprocess.Popen[bytes]],
) -> None:
    zebras = []
    for node in routers:
        ns = namespace_name(topo.name, node.name)
        prepare_frr_dir(ns)
        zebras.append(launch_frr(ns, node, state.run_dir / node.name, ["zebra"]))
        launched += [proc for _, proc in zebras[-1]]
    for group in zebras:
        confirm(group)
    waiting = [n.name for n in routers]
    deadline = time.monotonic() + 10.0
    while waiting:
        waiting = [n for n in waiting if not zebra_ready(namespace_name(topo.name, n))]
        if waiting and time.monotonic() > deadline:
            raise GwlabError(f"zebra did not open its socket on {', '.join(waiting)} (see zebra.log)")
        if waiting:
            check_interrupted()
            time.sleep(0.005)  # polling for zebra's socket with a deadline
    others = [
        launch_frr(namespace_name(topo.name, n.name), n, state.run_dir / n.name, frr_daemons(n)[1:]) for n in routers
    ]
    launched += [proc for group in others for _, proc in group]
    for done, group in enumerate(others, start=1):
        confirm(group)
        report("daemons", done, total)
    check_interrupted()
    # Speakers listen and bgpd connects to them, so they may start in any order. Launched from this
    # thread only (forks with preexec_fn from several threads can deadlock), then confirmed together.
    speakers_launched = [launch_exabgp(namespace_name(topo.name, n.name), n, state.run_dir / n.name) for n in speakers]
    launched += [proc for _, proc in speakers_launched]
    for done, speaker in enumerate(speakers_launched, start=len(routers) + 1):
        confirm([speaker])
        report("daemons", done, total)


@dataclass
class DownResult:
    name: str
    processes: int
    namespaces: int
    leftovers: list[str]
    was_up: bool = True


def down(name: str) -> DownResult:
    """Remove everything lab `name` created. Idempotent; works from the state file, or without it
    from the namespaces' names (`<lab>_<node>`; "_" never occurs in a lab name)."""
    require_root()
    state = load_state(name)
    found = [ns for ns in netns.listnetns() if ns.startswith(f"{name}_")]
    namespaces = sorted(set(state.namespaces if state else []) | set(found))
    if state is None and not found:
        return DownResult(name, 0, 0, [], was_up=False)
    pids = pids_in(namespaces)
    survivors = stop(sorted(pids))
    for _ in range(3):  # a process that forked while we swept (a daemon daemonising) shows up now
        late = pids_in(namespaces)
        if not late:
            break
        pids.update(late)
        survivors += stop(sorted(late))
    left = destroy_namespaces(namespaces)
    for ns in namespaces:
        shutil.rmtree(FRR_RUN_ROOT / ns, ignore_errors=True)
    leftovers = [f"process {p}" for p in survivors] + [f"namespace {n}" for n in left]
    if not leftovers:
        shutil.rmtree(RUN_ROOT / name, ignore_errors=True)
    return DownResult(name, len(pids), len(namespaces) - len(left), leftovers)
