"""The runtime interface: what a backend does for a lab, so that nothing above lab/runtime knows how
its nodes are made. Backends are registered by name in lab/runtime/backends.py: `netns`
(lab/runtime/netns.py, one network namespace per node); `docker` and `podman` (lab/runtime/containers/,
one container per node).

What differs between backends, and what does not:
- A node's network namespace is what everything that looks at or acts on a node's network uses:
  probes, FIB monitors, netlink reads, nftables, `ip`, all host programs or threads that enter it
  (`netns_path`, `enter`, `run`, `popen`, `handles`). For a container: /proc/<pid>/ns/net of its init.
  Links are wired and addresses configured the same way, from the host (lab.runtime.links, configure).
- Daemons run inside the node proper (`launch_frr`, `launch_exabgp`): in a container that is its own
  file system (FRR and ExaBGP of the image, the rendered configs bind-mounted); in a namespace, the host's.
- A node's FRR sockets and pid files are in a host directory (`frr_dir`): /var/run/frr/<ns>/, or the
  host directory a container bind-mounts as its /run/frr; vty and `vtysh --vty_socket` reach both.
- A crash (`stop_node`) kills the node's processes at once and leaves its network (links, addresses)
  as it was; `start_node` starts its daemons again (a container whose init was killed must come back
  with its links: the backend's business).
- `sweep` finds a lab by its name alone (namespaces `<lab>_*`, containers by label), so `down` works
  after kill -9 and without the state file.
"""

from __future__ import annotations

import os
import subprocess
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from lab.errors import GwlabError
from lab.runtime import bgp_bfd, daemons, links
from lab.runtime.configure import configure_node, holds_shared, sysctls
from lab.runtime.daemons import Launch, Progress, no_progress
from lab.runtime.netlink import Handles, interface_index, open_handle
from lab.runtime.nsenter import preexec, setns, write_sysctls
from lab.runtime.state import LabState
from lab.topology import Node, Topology

__all__ = ["Laps", "Launch", "Progress", "Removal", "Runtime", "require_root"]


@dataclass
class Removal:
    """What `sweep` removed of a lab, and what it could not."""

    processes: int = 0
    nodes: int = 0  # namespaces or containers
    leftovers: list[str] = field(default_factory=list)


class Laps:
    """Seconds per phase into `timings`, each lap from the end of the one before."""

    def __init__(self, timings: dict[str, float]) -> None:
        self.timings = timings
        self.restart()

    def restart(self) -> None:
        self.clock = time.monotonic()

    def __call__(self, phase: str) -> None:
        now = time.monotonic()
        self.timings[phase] = now - self.clock
        self.clock = now


def require_root() -> None:
    if os.geteuid() != 0:
        raise GwlabError("network namespaces need root (run as root or with sudo)")


class Runtime(ABC):
    """One lab on one backend. Node arguments are node names of `topo`; the caller has checked them."""

    name: ClassVar[str]  # "netns", "docker", "podman": what LabState.runtime records
    # The shell `gwlab shell` opens on a host node: None, the user's own ($SHELL: a namespace shares the
    # host's file system); a container has its image's.
    shell: ClassVar[str | None] = None

    def __init__(self, topo: Topology, state: LabState) -> None:
        self.topo = topo
        self.state = state
        self.timings: dict[str, float] = {}  # what `create` timed of its own steps (phase -> seconds)
        self.deployed: list[links.LinkKind] = []  # what `wire` deployed, for `settle_links`

    # -- the backend on this host -------------------------------------------------------------------
    @classmethod
    @abstractmethod
    def check(cls) -> None:
        """Raise GwlabError, one line naming the fix, if this backend cannot build a lab here."""

    @classmethod
    @abstractmethod
    def present(cls) -> bool:
        """Could this backend hold a lab on this host now? Cheap: `down` without a state file asks each."""

    @classmethod
    @abstractmethod
    def sweep(cls, lab: str, state: LabState | None) -> Removal | None:
        """Destroy lab `lab`: remove everything this backend created of it, found by the lab's name (the
        state, when there is one, may add what it recorded); no topology needed, idempotent. None:
        nothing of that lab was there."""

    # -- the lab ------------------------------------------------------------------------------------
    @abstractmethod
    def create(self, progress: Progress) -> None:
        """Every node, then `wire`; records the nodes in the state before creating any. The rendered
        configs are in state.run_dir/<node>/. A backend may time its steps in `timings` (`up`
        reports them as its phases; otherwise the whole of it is "namespaces")."""

    def wire(self) -> None:
        """Once the nodes exist: their sysctls, links, addresses and the runtime's routes, written from the
        host through each node's namespace; the same on every backend (create calls it)."""
        nodes = list(self.topo.nodes.values())
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(lambda n: write_sysctls(self.netns_path(n.name), sysctls(n)), nodes))
        with self.handles() as handles:
            self.deployed = links.plan(self.topo)
            for link in self.deployed:
                link.deploy(handles)
            # Every node in its own thread at once (raw rtnetlink on the thread's socket: no call forwarded
            # between threads, no pyroute2 per change; 50 sites: 2,500 changes, 1.3-2.5 CPU-s before).
            standby_active = self.state.standby_active
            done = handles.each(
                lambda name, _: configure_node(
                    self.topo.nodes[name], holds_shared(self.topo.nodes[name], standby_active)
                ),
                [n.name for n in nodes],
            )
            failed = [r for r in done.values() if isinstance(r, BaseException)]
            if failed:
                raise failed[0]

    def settle_links(self) -> None:
        """Once the daemons run: what the links deployed by `wire` finish on their own (IPsec tunnels:
        their charons, forked by `wire` to start beside FRR, waited for and loaded)."""
        links.settle(self.deployed)

    def start_daemons(self, progress: Progress = no_progress, only: set[str] | None = None, bfd: bool = True) -> None:
        """FRR and ExaBGP on every node (or the nodes in `only`), in lab.runtime.daemons' order; bfd=False:
        bgpd's BFD lines are left to `enable_bfd`."""
        daemons.start(self, progress, only, bfd)

    def enable_bfd(self) -> bool:
        """bgpd's BFD lines on the routers that have them, once their BGP sessions are up
        (lab.runtime.bgp_bfd); False if none has."""
        return bgp_bfd.enable(self, self.topo.routers())

    @abstractmethod
    def pids(self) -> list[int]:
        """Every live process of the lab's nodes (memory figures, leftover checks)."""

    def support_pids(self) -> tuple[list[int], list[int]]:
        """The processes the backend itself keeps running beside the nodes, for memory figures: (the
        lab's own, e.g. one container shim per node; shared with other labs, e.g. a daemon)."""
        return [], []

    @classmethod
    def engine_daemons(cls) -> list[int]:
        """The engine's own long-lived processes, shared by every lab on it (none without an engine's
        daemon: namespaces, podman)."""
        return []

    # -- a node, as seen from the host --------------------------------------------------------------
    @abstractmethod
    def netns_path(self, node: str) -> str:
        """A path to the node's network namespace, for setns(2) and pyroute2."""

    @abstractmethod
    def frr_dir(self, node: str) -> Path:
        """The host directory holding the node's FRR vty sockets, zserv.api and pid files."""

    def node_present(self, node: str) -> bool:
        try:
            return os.path.exists(self.netns_path(node))
        except GwlabError:  # a backend that cannot find the node any more
            return False

    # -- daemons in a node --------------------------------------------------------------------------
    @abstractmethod
    def launch_frr(self, node: Node, names: list[str]) -> list[Launch]:
        """Launch FRR daemons in the node (daemons.frr_argv); `daemons.confirm` waits for them."""

    @abstractmethod
    def launch_exabgp(self, node: Node, name: str = "exabgp", listen: tuple[str, int] | None = None) -> Launch:
        """Launch an ExaBGP speaker from the node's <name>.conf, listening on `listen` (default:
        daemons.speaker_listen). Call from one thread only (launchers may fork with preexec_fn)."""

    @abstractmethod
    def running_daemons(self) -> dict[str, dict[str, bool]]:
        """node -> {daemon: running} for every node's daemons.expected_daemons."""

    @abstractmethod
    def stop_daemon(self, node: str, name: str) -> bool:
        """Stop one daemon of the node (SIGTERM, then SIGKILL); False if it was not running. Raises
        GwlabError if it survives."""

    # -- crash failures -----------------------------------------------------------------------------
    @abstractmethod
    def stop_node(self, node: str) -> int:
        """A crash: every process of the node killed at once (no goodbyes), its network left as it is;
        returns how many. Raises GwlabError if any survives."""

    def start_node(self, node: str) -> None:
        """After stop_node: the node's daemons again, as `up` started them."""
        self.start_daemons(only={node})

    # -- commands in a node -------------------------------------------------------------------------
    def run(
        self, node: str, argv: Sequence[str], timeout: float | None = 30.0, check: bool = False, **kwargs: Any
    ) -> subprocess.CompletedProcess[str]:
        """A host program with the node's network view (its namespace), never through a shell: what
        nft, ip, ping and the probe agents need, on every backend, without a container CLI per call."""
        return subprocess.run(
            list(argv),
            preexec_fn=preexec(self.netns_path(node)),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=check,
            **kwargs,
        )

    def popen(self, node: str, argv: Sequence[str], **kwargs: Any) -> subprocess.Popen[bytes]:
        """As `run`, without waiting (kwargs go to subprocess.Popen)."""
        return subprocess.Popen(list(argv), preexec_fn=preexec(self.netns_path(node)), **kwargs)

    @abstractmethod
    def exec_argv(self, node: str, argv: Sequence[str], tty: bool) -> list[str]:
        """The command line that runs argv inside the node proper, for `gwlab exec` and `gwlab shell` to
        exec (ip netns exec, docker exec -it ...); `tty`: the user's terminal is attached."""

    # -- the node's network namespace ---------------------------------------------------------------
    def enter(self, node: str) -> None:
        """Move the calling thread into the node's network namespace (a FIB monitor's own thread)."""
        setns(self.netns_path(node))

    def handles(self) -> Handles:
        """pyroute2 handles on the nodes' namespaces, opened on first use; close it (or use `with`)."""
        return Handles(self.netns_path)

    @contextmanager
    def netlink(self, node: str) -> Iterator[Any]:
        """One pyroute2 handle on the node's namespace, closed afterwards."""
        handle = open_handle(self.netns_path(node))
        try:
            yield handle
        finally:
            handle.close()

    def set_links(self, node: str, names: Iterable[str], up: bool) -> None:
        """Administratively up or down the node's interfaces `names` (absent ones are skipped)."""
        with self.netlink(node) as ns:
            index = interface_index(ns)
            for name in sorted(set(names)):
                if name in index:
                    ns.link("set", index=index[name], state="up" if up else "down")
