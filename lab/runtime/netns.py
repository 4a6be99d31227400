"""The namespace runtime: one network namespace per node, `<lab>_<node>`, built with pyroute2.

Daemons run on the host's file system inside the node's namespace, FRR with the namespace's name as
its pathspace (-N: sockets in /var/run/frr/<ns>/). Everything of a lab is found again by the name
prefix alone ("_" never occurs in a lab name, so lab "a" never claims lab "a-b"'s namespaces).
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from pyroute2 import netns

from lab.errors import GwlabError
from lab.runtime import bgp_bfd
from lab.runtime.base import Launch, Progress, Removal, Runtime, require_root
from lab.runtime.daemons import (
    FRR_DAEMONS,
    FRR_ENV,
    FRR_SBIN,
    Daemon,
    check_frr,
    exabgp_binary,
    exabgp_env,
    expected_daemons,
    fd_limit,
    frr_argv,
    no_progress,
    reactor_speed,
    speaker_listen,
)
from lab.runtime.exabgp_forks import ForkServer
from lab.runtime.links import ipsec
from lab.runtime.nsenter import create_namespace, popen_in
from lab.runtime.processes import pids_in, read_pid, runs_in, stop
from lab.runtime.state import LabState
from lab.topology import Node

NETNS_DIR = "/run/netns"
FRR_RUN_ROOT = Path("/var/run/frr")
CREATE_THREADS = 4


def namespace_name(lab: str, node: str) -> str:
    # Also the node's FRR pathspace (-N), which refuses dots and slashes.
    return f"{lab}_{node}"


class NetnsRuntime(Runtime):
    name = "netns"

    @classmethod
    def check(cls) -> None:
        require_root()
        check_frr()
        exabgp_binary()

    @classmethod
    def present(cls) -> bool:
        return True  # namespaces need nothing but the kernel

    @classmethod
    def sweep(cls, lab: str, state: LabState | None) -> Removal | None:
        prefix = f"{lab}_"
        found = {ns for ns in netns.listnetns() if ns.startswith(prefix)}
        dirs = {p.name for p in FRR_RUN_ROOT.glob(f"{prefix}*")}
        if not found and not dirs:
            return None
        names = sorted(found | dirs | {namespace_name(lab, n) for n in (state.nodes if state else [])})
        paths = [f"{NETNS_DIR}/{ns}" for ns in names]
        pids = pids_in(paths)
        survivors = stop(sorted(pids))
        for _ in range(3):  # a process that forked while we swept (a daemon daemonising) shows up now
            late = pids_in(paths)
            if not late:
                break
            pids.update(late)
            survivors += stop(sorted(late))
        left = destroy_namespaces(names)
        for ns in names:
            shutil.rmtree(FRR_RUN_ROOT / ns, ignore_errors=True)
        leftovers = [f"process {p}" for p in survivors] + [f"namespace {n}" for n in left]
        return Removal(len(pids), len(found) - len(left), leftovers)

    def ns(self, node: str) -> str:
        return namespace_name(self.topo.name, node)

    def netns_path(self, node: str) -> str:
        return f"{NETNS_DIR}/{self.ns(node)}"

    def frr_dir(self, node: str) -> Path:
        return FRR_RUN_ROOT / self.ns(node)

    def create(self, progress: Progress) -> None:
        """Namespaces, sysctls, links, addresses and host routes; FRR adds the routers' routes later."""
        existing = set(netns.listnetns())
        for name in self.topo.nodes:
            if self.ns(name) in existing:
                raise GwlabError(f"namespace {self.ns(name)} already exists (gwlab down {self.topo.name})")
        self.state.nodes = list(self.topo.nodes)
        self.state.save()  # before anything exists, so that an interrupted up can be undone
        # Each made by a thread of its own (no fork per namespace), a few at a time.
        with ThreadPoolExecutor(max_workers=CREATE_THREADS) as pool:
            for done, _ in enumerate(pool.map(create_namespace, [self.ns(n) for n in self.topo.nodes]), start=1):
                progress("namespaces", done, len(self.topo.nodes))
        self.wire()
        progress("namespaces", len(self.topo.nodes), len(self.topo.nodes))

    def pids(self) -> list[int]:
        """The nodes' processes and the charons of the tunnel endpoints (not nodes, but the lab's)."""
        paths = [self.netns_path(n) for n in self.topo.nodes] + ipsec.endpoint_paths(self.topo)
        return sorted(pids_in(paths))

    def _pidfile(self, node: str, daemon: str) -> Path:
        if daemon in FRR_DAEMONS:
            return self.frr_dir(node) / f"{daemon}.pid"
        return self.state.run_dir / node / f"{daemon}.pid"  # ExaBGP speakers write theirs beside their config

    def launch_frr(self, node: Node, names: list[str]) -> list[Launch]:
        frr = pwd.getpwnam("frr")
        node_dir = self.state.run_dir / node.name
        confs = {name: node_dir / bgp_bfd.conf_name(node, name) for name in names}
        if "zebra" in names:  # the first of a node's daemons: its socket directory and files, frr's
            self.frr_dir(node.name).mkdir(parents=True, exist_ok=True)
            start = [node_dir / bgp_bfd.START_CONF] if bgp_bfd.runs_bfd(node) else []
            for path in (self.frr_dir(node.name), node_dir, node_dir / "frr.conf", *start):
                os.chown(path, frr.pw_uid, frr.pw_gid)
        launched: list[Launch] = []
        for name in names:
            argv = frr_argv(
                str(FRR_SBIN),
                name,
                str(confs[name]),
                str(self._pidfile(node.name, name)),
                str(node_dir / f"{name}.log"),
                pathspace=self.ns(node.name),
                fds=fd_limit(node),
            )
            launched.append((Daemon(node.name, name), self._launch(node.name, argv, {**os.environ, **FRR_ENV})))
        return launched

    def start_daemons(self, progress: Progress = no_progress, only: set[str] | None = None, bfd: bool = True) -> None:
        """As every runtime does, with the speakers forked from one ExaBGP fork server meanwhile."""
        python = fork_server_python()
        self._forks = ForkServer(python) if python else None
        try:
            super().start_daemons(progress, only, bfd)
        finally:
            forks, self._forks = self._forks, None
            if forks is not None:
                forks.close()

    def launch_exabgp(self, node: Node, name: str = "exabgp", listen: tuple[str, int] | None = None) -> Launch:
        node_dir = self.state.run_dir / node.name
        pidfile = self._pidfile(node.name, name)
        pidfile.unlink(missing_ok=True)  # a crashed speaker's stale pid file would stop the new one
        env = exabgp_env(
            str(pidfile),
            str(node_dir / f"{name}.log"),
            listen or speaker_listen(node),
            os.environ.get("PATH", "/usr/bin:/bin"),
            reactor_speed(node),
        )
        argv = [exabgp_binary(), "server", str(node_dir / f"{name}.conf")]
        forks = getattr(self, "_forks", None)
        if forks is not None:
            launch = forks.launch(self.netns_path(node.name), argv, env, node_dir / f"{name}.launch.err")
            return Daemon(node.name, name), launch
        return Daemon(node.name, name), self._launch(node.name, argv, env)

    def _launch(self, node: str, argv: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        # Spawned from a thread inside the node's namespace, which the child inherits: no preexec_fn,
        # so CPython uses vfork (0.3 ms) instead of forking this process (10 ms and more, growing with it).
        return popen_in(
            self.netns_path(node),
            argv,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

    def running_daemons(self) -> dict[str, dict[str, bool]]:
        out = {}
        for node in self.topo.nodes.values():
            path = self.netns_path(node.name)
            pids = {d: read_pid(self._pidfile(node.name, d)) for d in expected_daemons(node)}
            out[node.name] = {d: pid is not None and runs_in(pid, path) for d, pid in pids.items()}
        return out

    def stop_daemon(self, node: str, name: str) -> bool:
        pid = read_pid(self._pidfile(node, name))
        if pid is None or not runs_in(pid, self.netns_path(node)):
            return False
        if stop([pid]):
            raise GwlabError(f"{node}: {name} (pid {pid}) would not stop")
        return True

    def stop_node(self, node: str) -> int:
        pids = sorted(pids_in([self.netns_path(node)]))
        left = stop(pids, grace_s=0.0)  # SIGKILL at once: a crash sends no goodbyes
        if left:
            raise GwlabError(f"{node}: processes {left} survived SIGKILL")
        return len(pids)

    def exec_argv(self, node: str, argv: Sequence[str], tty: bool) -> list[str]:
        # ip netns exec also gives the command a /sys of the namespace.
        return ["ip", "netns", "exec", self.ns(node), *argv]


def fork_server_python() -> str | None:
    """The interpreter to fork speakers from: ours, when ExaBGP is installed beside it (`make setup`);
    None (one `exabgp` process per speaker) otherwise, or with GWLAB_EXABGP_FORKS=0."""
    if os.environ.get("GWLAB_EXABGP_FORKS", "1") == "0":
        return None
    return sys.executable if Path(exabgp_binary()).parent == Path(sys.executable).parent else None


def destroy_namespaces(names: list[str]) -> list[str]:
    """Remove the namespaces that exist; returns those that could not be removed."""
    existing = set(netns.listnetns())
    left = []
    for name in names:
        if name in existing:
            try:
                netns.remove(name)
            except OSError:
                left.append(name)
    return left
