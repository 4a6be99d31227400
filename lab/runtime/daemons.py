"""FRR and ExaBGP daemons of a node: their command lines, and the order they start in on any runtime.

FRR daemons each read the node's integrated frr.conf (-f; the bgpd of a node with BFD reads it without
its BFD lines, lab.runtime.bgp_bfd) and keep their sockets in a directory of
their own (-N pathspace), so labs and nodes never share a socket. ExaBGP runs as root (it would drop
to `nobody`, who cannot write our logs), with its CLI pipes off and its own pid file.

A runtime launches them where its nodes live (Runtime.launch_frr, launch_exabgp), with the paths
as its nodes see them, through `frr_argv` and `exabgp_env`; `start` orders them the same way on
every runtime.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from lab import poll
from lab.errors import GwlabError
from lab.runtime import bgp_bfd
from lab.runtime.bgp_bfd import runs_bfd
from lab.runtime.interrupts import check_interrupted
from lab.topology import SPEAKER_PORT, Node, Speaker

if TYPE_CHECKING:
    from lab.runtime.base import Runtime

FRR_SBIN = Path(os.environ.get("GWLAB_FRR_SBIN", "/usr/lib/frr"))
FRR_DAEMONS = ("zebra", "bgpd", "staticd", "bfdd")
EARLY_DAEMONS = ("bgpd", "bfdd")  # started first once zebra is up: each has a 1 s clock before it acts
Progress = Callable[[str, int, int], None]  # (phase, done, total)


def no_progress(phase: str, done: int, total: int) -> None:
    """A Progress that reports nothing."""


@dataclass(frozen=True)
class Daemon:
    node: str
    name: str  # zebra, bgpd, staticd, bfdd, exabgp (or another speaker's name: flood)


class Launcher(Protocol):
    """A daemon's launcher: a process that exits once the daemon has daemonised (FRR's -d, ExaBGP's
    daemonize; `docker exec` of the same; a speaker forked by lab.runtime.exabgp_forks), with the
    daemon's error on stderr if it could not. A subprocess.Popen is one."""

    @property
    def returncode(self) -> int | None: ...

    def poll(self) -> int | None: ...

    def communicate(self, input: Any = None, timeout: float | None = None) -> tuple[Any, Any]: ...

    def wait(self, timeout: float | None = None) -> int: ...


Launch = tuple[Daemon, Launcher]


def frr_daemons(node: Node) -> list[str]:
    """The node's FRR daemons in start order."""
    names = ["zebra", "bgpd", "staticd"]
    if runs_bfd(node):
        names.append("bfdd")
    return names


def expected_daemons(node: Node) -> list[str]:
    """What runs on a node once it is up: FRR on routers, an ExaBGP speaker where it has one."""
    return (frr_daemons(node) if node.is_router else []) + (["exabgp"] if node.speaker is not None else [])


def exabgp_binary() -> str:
    beside = Path(sys.executable).parent / "exabgp"
    found = str(beside) if beside.exists() else shutil.which("exabgp")
    if found is None:
        raise GwlabError("exabgp not found (run 'make setup' or pip install 'exabgp>=5.0.13')")
    return found


def check_frr() -> None:
    missing = [d for d in FRR_DAEMONS if not (FRR_SBIN / d).exists()]
    if missing or shutil.which("vtysh") is None:
        raise GwlabError(f"FRR not found in {FRR_SBIN} (run 'make setup' or apt-get install frr)")


def fd_limit(node: Node) -> int:
    """The file descriptors a node's FRR daemons are sized for (--limit-fds): FRR sizes its event
    tables by the process's limit (20,000 here), 3.8 MiB of zebra's 9 MiB. A few per BGP neighbor
    (its connection, an accepted one while they collide) and a margin for zebra's clients and vtys."""
    neighbors = len(node.bgp.neighbors) if node.bgp is not None else 0
    return max(1024, 4 * neighbors + 256)


# One malloc arena for all of an FRR daemon's threads: each thread's own arena cost 1.5-2 MiB of an
# idle daemon; with --limit-fds, zebra and bgpd fell from 9.1 and 13.2 MiB PSS to 5.1 and 9.3.
FRR_ENV = {"MALLOC_ARENA_MAX": "1"}


def with_env(argv: list[str], env: dict[str, str]) -> list[str]:
    """The command through env(1), for a launcher that cannot set variables for one command (a container
    exec line); a runtime that spawns the daemon itself passes `env` instead (one exec less)."""
    return ["env", *(f"{k}={v}" for k, v in env.items()), *argv]


def frr_argv(sbin: str, name: str, conf: str, pidfile: str, log: str, pathspace: str | None, fds: int) -> list[str]:
    """One FRR daemon, daemonising (-d); -P 0: no vty TCP port. Paths as the node sees them; its
    environment is FRR_ENV's."""
    argv = [f"{sbin}/{name}", "-d"] + (["-N", pathspace] if pathspace else [])
    return [
        *argv,
        *("-f", conf, "-i", pidfile, "--log", f"file:{log}", "-u", "frr", "-g", "frr", "-P", "0"),
        *("--limit-fds", str(fds)),
    ]


def reactor_speed(node: Node) -> float:
    """The pace of the node's speakers (its flood speaker's too)."""
    return node.speaker.reactor_speed if node.speaker is not None else Speaker.reactor_speed


def speaker_listen(node: Node) -> tuple[str, int]:
    """Where a node's ExaBGP speaker listens: its loopback address (bgpd connects to it)."""
    return (str(node.speaker.local_address) if node.speaker else "", SPEAKER_PORT)


def exabgp_env(pidfile: str, log: str, listen: tuple[str, int], path: str, speed: float) -> dict[str, str]:
    address, port = listen
    return {
        "PATH": path,
        "exabgp.daemon.user": "root",
        "exabgp.daemon.daemonize": "true",
        "exabgp.daemon.pid": pidfile,
        "exabgp.log.destination": log,
        "exabgp.api.cli": "false",
        "exabgp.api.ack": "false",
        # Its reactor sleeps speed/100 s between loops when idle: lab.topology.builder paces it.
        "exabgp.reactor.speed": str(speed),
        # Listen only on the speaker's loopback address and port; bgpd connects to it.
        "exabgp.tcp.bind": address,
        "exabgp.tcp.port": str(port),
    }


def confirm(launched: list[Launch]) -> None:
    for daemon, proc in launched:
        _, err = proc.communicate(timeout=30)
        if proc.returncode != 0:
            raise GwlabError(f"{daemon.node}: {daemon.name} failed to start: {err.decode(errors='replace').strip()}")


def start(runtime: Runtime, progress: Progress, only: set[str] | None = None, bfd: bool = True) -> None:
    """zebra on every router and the ExaBGP speakers at once (they listen; bgpd connects to them), then
    each router's bgpd and bfdd once its zebra's socket exists, then staticd; bgpd's BFD lines once BGP
    is up (`bgp_bfd.enable`; bfd=False: the caller gives them). `only`: just these nodes (a restored
    node)."""
    topo = runtime.topo
    routers = [n for n in topo.routers() if only is None or n.name in only]
    speakers = [n for n in topo.nodes.values() if n.speaker is not None and (only is None or n.name in only)]
    launched: list[Launcher] = []
    try:
        _start(runtime, progress, routers, speakers, launched)
        if bfd:
            bgp_bfd.enable(runtime, routers)
    except BaseException:
        # A daemon launched but not yet daemonised would fork after `down` has swept the nodes and
        # escape it: let every launcher finish first, so that everything it started is findable.
        for proc in launched:
            with contextlib.suppress(subprocess.TimeoutExpired, OSError):
                proc.wait(timeout=5)
        raise


def _start(
    runtime: Runtime,
    progress: Progress,
    routers: list[Node],
    speakers: list[Node],
    launched: list[Launcher],
) -> None:
    total = len(routers) + len(speakers)
    # zebra everywhere first: bgpd, staticd and bfdd connect to its socket, and a client that finds
    # no socket retries only 10 s later.
    zebras = [launch for node in routers for launch in runtime.launch_frr(node, ["zebra"])]
    launched += [proc for _, proc in zebras]
    # The speakers alongside FRR, not after it: they only listen (bgpd connects to them) and need
    # nothing of FRR, and each takes about 0.15 CPU-s to daemonise, which it now does while FRR starts.
    speakers_launched = [runtime.launch_exabgp(n) for n in speakers]
    launched += [proc for _, proc in speakers_launched]
    # Each router's bgpd and bfdd as soon as its own zebra's socket is there, before any staticd (its
    # routes are wanted only at bgpd's first connect): bgpd connects to its peers 1 s after it has read
    # its configuration (FRR's compiled-in start timer) and bfdd sends one packet a second until a
    # session is up, so BGP and BFD are up about 1 s after the last of them started. Waiting for every
    # zebra first and starting the daemons router by router put hybrid's last bgpd 0.45-0.49 s after
    # the first zebra socket, this order 0.40-0.43 s; bfdd after the staticds left BFD in its 1 s
    # start-up when BGP came up (7 of 8 ups converged 1 s later).
    waiting = list(routers)
    early: list[Launch] = []

    def without_socket() -> list[str]:
        check_interrupted()
        for node in [n for n in waiting if (runtime.frr_dir(n.name) / "zserv.api").exists()]:
            group = runtime.launch_frr(node, [d for d in frr_daemons(node) if d in EARLY_DAEMONS])
            launched.extend(proc for _, proc in group)
            early.extend(group)
            waiting.remove(node)
        left = {n.name for n in waiting}
        confirm([(d, p) for d, p in zebras if d.node in left and p.poll() not in (None, 0)])  # its own error
        return sorted(left)

    waited = poll.poll(without_socket, lambda left: not left, timeout_s=10.0, interval_s=0.005)
    if not waited.ok:
        raise GwlabError(f"zebra did not open its socket on {', '.join(waited.value)} (see zebra.log)")
    others = [runtime.launch_frr(n, [d for d in frr_daemons(n)[1:] if d not in EARLY_DAEMONS]) for n in routers]
    launched += [proc for group in others for _, proc in group]
    confirm(zebras)
    confirm(early)
    for done, group in enumerate(others, start=1):
        confirm(group)
        progress("daemons", done, total)
    check_interrupted()
    for done, speaker in enumerate(speakers_launched, start=len(routers) + 1):
        confirm([speaker])
        progress("daemons", done, total)
