"""`up` and `down` of a lab on its runtime: build it and start its daemons; undo all of it, always.

`up` records what it will create before creating it (lab.runtime.state), so an error, Ctrl-C or
SIGTERM midway leads to the same `down` that a user runs later. It returns once the daemons run:
waiting until the lab has converged is the controller's (controller.converge), which knows what
converged means. `down` asks the runtime the lab was built with or, when the state file is gone,
every runtime present on this host, to sweep the lab by its name.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from lab.errors import GwlabError, LabError, Problem
from lab.load import load
from lab.model import MAX_LAB_NAME, NAME_PATTERN
from lab.render import render_all, write
from lab.runtime.backends import DEFAULT, backend, installed
from lab.runtime.base import Laps, Progress, Removal, require_root
from lab.runtime.daemons import no_progress
from lab.runtime.interrupts import check_interrupted, interrupts_at_safe_points
from lab.runtime.links import ipsec
from lab.runtime.running import RunningLab
from lab.runtime.state import RUN_ROOT, LabState, load_state


@dataclass
class Started:
    lab: RunningLab
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


def up(source: str, name: str | None = None, runtime: str = DEFAULT, progress: Progress | None = None) -> Started:
    """Build lab `source` (a file or a built-in) on `runtime` and start its daemons; on any error or
    interrupt, take down whatever was built and re-raise."""
    topo = load(source)
    if name is not None:
        check_name(name)
        topo.name = name
    cls = backend(runtime)
    cls.check()
    ipsec.require_strongswan(topo)
    if load_state(topo.name) is not None:
        raise GwlabError(f"lab {topo.name} is already up (take it down first: gwlab down {topo.name})")
    state = LabState(topo.name, source, runtime=cls.name, created=time.time(), owner_pid=os.getpid())
    started = Started(RunningLab(cls(topo, state)))
    owner = os.getpid()
    with interrupts_at_safe_points():
        try:
            _build(started, progress or no_progress)
        except BaseException:
            # Only the process that built the lab undoes it: a child that pyroute2 forked inherits
            # this frame, and its exit (SystemExit) must not tear the lab down under the parent.
            if os.getpid() == owner:
                down(topo.name)
            raise
    return started


def _build(started: Started, report: Progress) -> None:
    runtime, state = started.lab.runtime, started.lab.state
    lap = Laps(started.timings)

    state.save()
    write(render_all(runtime.topo), state.run_dir)
    lap("render")
    check_interrupted()
    report("namespaces", 0, len(runtime.topo.nodes))
    runtime.create(report)
    if runtime.timings:  # the backend's own steps (containers: engine, image, containers, wire)
        started.timings.update(runtime.timings)
        lap.restart()
    else:
        lap("namespaces")
    check_interrupted()
    state.phase = "starting"
    state.save()
    runtime.start_daemons(report, bfd=False)
    lap("daemons")
    check_interrupted()
    if any(t.kind == "ipsec" for t in runtime.topo.tunnels):
        runtime.settle_links()
        lap("tunnels")
        check_interrupted()
    if runtime.enable_bfd():  # after the tunnels: it waits for BGP sessions, which need none of them
        lap("bfd")
        check_interrupted()
    state.phase = "started"
    state.save()


@dataclass
class DownResult:
    name: str
    runtime: str  # the backend(s) that held it; "" if none did
    processes: int
    nodes: int
    leftovers: list[str]
    was_up: bool = True


def down(name: str) -> DownResult:
    """Remove everything lab `name` created. Idempotent; works from the state file, or without it from
    what each runtime finds by the lab's name."""
    require_root()
    with _one_down_at_a_time(name):
        return _down(name)


@contextmanager
def _one_down_at_a_time(name: str) -> Iterator[None]:
    """A lock on the lab's run directory: an interrupted `up` cleaning after itself and a `gwlab down`
    run meanwhile each reported what the other removed as left over. The first removes the directory;
    the next, let in then, finds nothing left."""
    try:
        fd = os.open(RUN_ROOT / name, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:  # no run directory: nothing to share (what is found by name is swept as it is)
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _down(name: str) -> DownResult:
    state = load_state(name)
    # IPsec first, on any runtime: charons by their pid files, endpoint namespaces by name.
    charons, tunnel_leftovers = ipsec.sweep(name)
    if state is not None:
        swept = {state.runtime: backend(state.runtime).sweep(name, state) or Removal()}
    else:
        swept = {cls.name: found for cls in installed() if cls.present() and (found := cls.sweep(name, None))}
        if not swept and not charons and not tunnel_leftovers:
            return DownResult(name, "", 0, 0, [], was_up=False)
    leftovers = tunnel_leftovers + [item for r in swept.values() for item in r.leftovers]
    if not leftovers:
        shutil.rmtree(RUN_ROOT / name, ignore_errors=True)
    return DownResult(
        name,
        ", ".join(swept),
        charons + sum(r.processes for r in swept.values()),
        sum(r.nodes for r in swept.values()),
        leftovers,
    )
