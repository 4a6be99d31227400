"""What the docker and podman runtimes share: one container per node, everything else from the host.

A node is a container `gwlab-<lab>-<node>` of the node image (lab.runtime.containers.nodes: labels,
`--network none`, the capabilities FRR needs, never privileged), created in parallel. Its network is
built from the host exactly as on the namespace runtime (Runtime.wire: sysctls, links, addresses
through /proc/<pid>/ns/net). FRR and ExaBGP run inside it, started with the engine's exec and the
command lines of lab.runtime.containers.layout (the containerlab file starts them with the same lines).

Files of a node on the host, under the lab's run dir (bound into the container, layout.py says where):
  <node>/      the rendered configs, 0700 root (no keys: IPsec's stay on the host, lab.runtime.links.ipsec)
  <node>/frr/  the node's run dir: FRR's sockets, the daemons' pid files and logs, 0700 and owned by
               the image's frr user

A crash (`stop_node`) is SIGKILL to the container's init: every process in it dies at once (their
TCP sessions closed by the kernel, as a dying machine's kernel closes them), its network namespace
goes and with it its interfaces, and the far ends of its veths (a machine that lost power). The
interfaces are deleted from the host right after, so that the far ends go at once even while
something holds the namespace open (a FIB monitor's socket in it). The container stays,
stopped. `start_node` starts it again: a fresh namespace with only lo, so its sysctls are written,
its links created again (the far ends too) and configured, the nftables ruleset it had (the
controller's probe marks and counters, which are instrumentation, not part of the crashed machine)
loaded back, and its daemons started, as after a reboot.

`sweep` finds a lab's containers by label alone (no state file needed, also after kill -9).
"""

from __future__ import annotations

import contextlib
import functools
import os
import subprocess
import threading
import time
from abc import abstractmethod
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, ClassVar

from lab.errors import GwlabError
from lab.runtime import bgp_bfd, links
from lab.runtime.base import Laps, Launch, Progress, Removal, Runtime, require_root
from lab.runtime.configure import configure_node, holds_shared, sysctls
from lab.runtime.containers import image, nodes
from lab.runtime.containers.engine import Engine, engine
from lab.runtime.containers.layout import FRR_ETC, exabgp_command, frr_command, labels, run_steps, start_steps
from lab.runtime.daemons import Daemon, confirm, expected_daemons, no_progress
from lab.runtime.interrupts import check_interrupted
from lab.runtime.links import ipsec
from lab.runtime.links.ipsec import EndpointEnd
from lab.runtime.netlink import Handles, interface_index
from lab.runtime.nsenter import write_sysctls
from lab.runtime.processes import alive, pids_in, read_pid, stat_fields, stop
from lab.runtime.state import LabState
from lab.topology import Node, Topology

STOP_S = 10.0  # a killed container's processes are gone within this, or stop_node fails
SAVED_RULESET = "nftables.saved"  # a crashed node's ruleset, in its config dir until start_node
STALE_FILES = ("*.pid", "*.vty", "zserv.api")  # what killed daemons leave in the node's run dir


class ContainerRuntime(Runtime):
    """A lab whose nodes are containers of one engine (`engine_name`, also the gwlab.runtime label)."""

    engine_name: ClassVar[str]
    shell = "/bin/bash"

    def __init__(self, topo: Topology, state: LabState) -> None:
        super().__init__(topo, state)
        self._engine: Engine | None = None
        self._containers: dict[str, tuple[str, int]] = {}  # node -> (container id, init pid), as last seen
        self._lock = threading.Lock()

    # -- the engine ---------------------------------------------------------------------------------
    @classmethod
    @abstractmethod
    def using(cls) -> AbstractContextManager[Engine]:
        """The engine, ready for the duration (docker: a lab-mode daemon started if none runs)."""

    @classmethod
    @abstractmethod
    def check_engine(cls) -> None:
        """One line naming the fix if the engine cannot be used here."""

    @classmethod
    def check(cls) -> None:
        require_root()
        cls.check_engine()

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = engine(self.engine_name)
        return self._engine

    @classmethod
    def sweep(cls, lab: str, state: LabState | None) -> Removal | None:
        with cls.using() as eng:
            ids = nodes.lab_containers(eng, lab)
            if not ids:
                return None
            inits = [pid for _, pid in nodes.inspect_all(eng, ids).values() if pid]
            processes = pids_in([nodes.netns_path(pid) for pid in inits])
            nodes.remove(eng, ids)
            left = nodes.lab_containers(eng, lab)
        return Removal(len(processes), len(ids) - len(left), [f"container {c[:12]}" for c in left])

    # -- the lab ------------------------------------------------------------------------------------
    def container(self, node: str) -> str:
        return nodes.container_name(self.topo.name, node)

    def create(self, progress: Progress) -> None:
        """The image (built if missing: never pulled), the containers, then `wire`; times each step."""
        lap = Laps(self.timings)
        total = len(self.topo.nodes)
        with self.using() as eng:
            self._engine = eng
            lap("engine")
            if image.inspect(eng, image.node_image_tag()) is None:
                progress("image build", 0, 1)  # the first up on this engine: 1-1.5 min (mmdebstrap)
            built = image.build(eng)  # a tag that is there: one inspect; missing: mmdebstrap or an import
            lap("image" if built.built else "image check")
            check_interrupted()
            uid, gid = image.frr_owner(eng, built.tag)
            parent = nodes.own_cgroups(eng)
            self.state.nodes = list(self.topo.nodes)
            self.state.save()  # before anything exists, so that an interrupted up can be undone
            progress("containers", 0, total)
            specs = [self._spec(node, built.tag, uid, gid, parent) for node in self.topo.nodes.values()]
            made = nodes.create_all(eng, specs)
            self._containers = {name: (c.id, c.pid) for name, c in made.items()}
            progress("containers", total, total)
            lap("containers")
            check_interrupted()
            self.wire()
            lap("wire")

    def _spec(self, node: Node, tag: str, uid: int, gid: int, cgroup_parent: str | None) -> nodes.NodeSpec:
        config, frr = self.state.run_dir / node.name, self.frr_dir(node.name)
        frr.mkdir(parents=True, exist_ok=True)
        os.chown(config, 0, 0)
        config.chmod(0o700)
        os.chown(frr, uid, gid)
        frr.chmod(0o700)
        binds: list[tuple[str, str, str]] = []
        if node.is_router:
            for name in dict.fromkeys(["frr.conf", bgp_bfd.conf_name(node, "bgpd")]):  # in order, once each
                conf = config / name
                os.chown(conf, 0, gid)
                conf.chmod(0o640)
                binds.append((str(conf), f"{FRR_ETC}/{name}", "ro"))
        return nodes.NodeSpec(
            self.topo.name,
            node.name,
            tag,
            config,
            frr,
            tuple(binds),
            tuple(sorted(labels(node).items())),
            cgroup_parent,
        )

    def pids(self) -> list[int]:
        """The containers' processes (and host programs in their namespaces: a point-to-site client's
        charon), and the charons of the IPsec endpoint namespaces beside them (host namespaces)."""
        paths = [nodes.netns_path(pid) for pid in self._running().values()]
        return sorted(pids_in(paths + ipsec.endpoint_paths(self.topo)))

    def support_pids(self) -> tuple[list[int], list[int]]:
        """Each node's monitor (docker's containerd-shim, podman's conmon: the parent of its init),
        and the engine's daemons (docker: dockerd and its containerd)."""
        monitors = sorted({ppid for pid in self._running().values() if (ppid := _parent(pid)) > 1})
        return monitors, self.engine_daemons()

    # -- a node, as seen from the host --------------------------------------------------------------
    def _refresh(self) -> None:
        names = {self.container(n): n for n in self.topo.nodes}
        found = nodes.inspect_all(self.engine, names)
        self._containers = {names[name]: seen for name, seen in found.items()}

    def _current(self, node: str) -> tuple[str, int]:
        """(id, pid) of the node's container; the cached pid while it is still that container's init
        (its cgroup names the id: a pid reused by another process does not), else asked again."""
        with self._lock:
            seen = self._containers.get(node)
            if seen is None or not _is_init_of(*seen):
                self._refresh()
                seen = self._containers.get(node)
            if seen is None:
                raise GwlabError(f"{node}: no container {self.container(node)} ({self.engine_name})")
            return seen

    def _running(self) -> dict[str, int]:
        """node -> init pid of every running container of the lab."""
        with self._lock:
            self._refresh()
            return {node: pid for node, (_, pid) in self._containers.items() if pid}

    def netns_path(self, node: str) -> str:
        _, pid = self._current(node)
        if not pid:
            raise GwlabError(f"{node}: container {self.container(node)} is not running")
        return nodes.netns_path(pid)

    def frr_dir(self, node: str) -> Path:
        return self.state.run_dir / node / "frr"

    def _pidfile(self, node: str, daemon: str) -> Path:
        return self.frr_dir(node) / f"{daemon}.pid"  # the node's run dir, FRR's and the speakers' (layout)

    def _inside(self, running: dict[str, int]) -> dict[str, dict[int, int]]:
        """node -> {pid inside the container: pid on the host} of every process in its pid namespace
        (not the host programs run in its network namespace: probes, nft)."""
        out: dict[str, dict[int, int]] = {node: {} for node in running}
        by_path = {nodes.netns_path(pid): node for node, pid in running.items()}
        for pid, path in pids_in(list(by_path)).items():
            node = by_path[path]
            inner = _pid_inside(pid, running[node])
            if inner is not None:
                out[node][inner] = pid
        return out

    # -- daemons in a node --------------------------------------------------------------------------
    def _exec(self, node: str, argv: Sequence[str]) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            nodes.exec_argv(self.engine, self.container(node), argv),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

    def start_daemons(self, progress: Progress = no_progress, only: set[str] | None = None, bfd: bool = True) -> None:
        """One exec per node running its start steps (layout.start_steps: zebra, then its clients and
        the speaker), bgpd's BFD lines once BGP is up (lab.runtime.bgp_bfd). What
        lab.runtime.daemons.start orders across nodes only matters within a node here, and an exec
        costs more than all the daemons it starts."""
        targets = [n for n in self.topo.nodes.values() if (only is None or n.name in only) and start_steps(n)]
        launched: list[Launch] = []
        try:
            for node in targets:
                self._clear_stale(node)
                steps = run_steps(start_steps(node))
                launched.append((Daemon(node.name, "daemons"), self._exec(node.name, steps)))
            for done, item in enumerate(launched, start=1):
                confirm([item])
                progress("daemons", done, len(launched))
            if bfd:
                bgp_bfd.enable(self, [n for n in targets if n.is_router])
        except BaseException:
            for _, proc in launched:  # nothing left daemonising after `down` swept the containers
                with contextlib.suppress(subprocess.TimeoutExpired, OSError):
                    proc.wait(timeout=30)
            raise

    def _clear_stale(self, node: Node) -> None:
        """What killed daemons of a restarted node left: sockets (zebra's would fool the wait for the new
        one), pid files (a speaker's would stop the new one)."""
        for pattern in STALE_FILES:
            for stale in self.frr_dir(node.name).glob(pattern):
                stale.unlink(missing_ok=True)

    def launch_frr(self, node: Node, names: list[str]) -> list[Launch]:
        if "zebra" in names:
            self._clear_stale(node)
        return [(Daemon(node.name, name), self._exec(node.name, frr_command(node, name))) for name in names]

    def launch_exabgp(self, node: Node, name: str = "exabgp", listen: tuple[str, int] | None = None) -> Launch:
        self._pidfile(node.name, name).unlink(missing_ok=True)  # a stale one would stop the new speaker
        return Daemon(node.name, name), self._exec(node.name, exabgp_command(node, name, listen))

    def running_daemons(self) -> dict[str, dict[str, bool]]:
        inside = self._inside(self._running())
        return {
            node.name: {
                d: read_pid(self._pidfile(node.name, d)) in inside.get(node.name, {}) for d in expected_daemons(node)
            }
            for node in self.topo.nodes.values()
        }

    def stop_daemon(self, node: str, name: str) -> bool:
        _, init = self._current(node)
        if not init:
            return False
        host = self._inside({node: init})[node].get(read_pid(self._pidfile(node, name)) or -1)
        if host is None:
            return False
        if stop([host]):
            raise GwlabError(f"{node}: {name} (pid {host}) would not stop")
        return True

    def exec_argv(self, node: str, argv: Sequence[str], tty: bool) -> list[str]:
        return nodes.exec_argv(self.engine, self.container(node), argv, interactive=True, tty=tty)

    # -- crash failures -----------------------------------------------------------------------------
    def stop_node(self, node: str) -> int:
        cid, init = self._current(node)
        if not init:
            return 0
        victims = sorted(self._inside({node: init})[node].values())
        saved = self.state.run_dir / node / SAVED_RULESET
        ruleset = self.run(node, ["nft", "list", "ruleset"], timeout=10)
        if ruleset.returncode == 0 and ruleset.stdout.strip():
            saved.write_text(ruleset.stdout, encoding="utf-8")
        # The handle's helper holds the namespace: once the processes are gone (their sockets closed
        # while the links were still there, as a dying machine's kernel closes them), the interfaces
        # are deleted through it, so that the far ends go at once whoever else holds it open.
        with self.netlink(node) as ns:
            nodes.kill(self.engine, self.container(node))
            deadline = time.monotonic() + STOP_S
            while any(alive(p) for p in victims):
                if time.monotonic() > deadline:
                    raise GwlabError(f"{node}: processes {[p for p in victims if alive(p)]} survived SIGKILL")
                time.sleep(0.02)  # polling for exit with a deadline
            with self._lock:
                self._containers[node] = (cid, 0)
            index = interface_index(ns)
            ifaces = self.topo.nodes[node].interfaces
            # Tunnels first: deleting an underlay takes the VXLAN devices on it along. An IPsec end's
            # veths (VTI and WAN) go too: its endpoint namespace stays, as the host's, with its charon
            # (the failure stops that, tunnelops.stop), and start_node connects it again.
            order = ("vxlan", "veth", "vti", "endpoint")
            for iface in sorted((i for i in ifaces if i.kind in order), key=lambda i: order.index(i.kind)):
                if iface.name in index:
                    ns.link("del", index=index[iface.name])
        return len(victims)

    def start_node(self, node: str) -> None:
        """The container started again and, in its fresh namespace, everything `up` gave it."""
        nodes.start(self.engine, self.container(node))
        target = self.topo.nodes[node]
        write_sysctls(self.netns_path(node), sysctls(target))
        with self.handles() as handles:
            self._rewire(handles, node)
        saved = self.state.run_dir / node / SAVED_RULESET
        if saved.exists():
            loaded = self.run(node, ["nft", "-f", str(saved)], timeout=10)
            if loaded.returncode != 0:
                raise GwlabError(f"{node}: nft refused its saved ruleset: {loaded.stderr.strip()}")
            saved.unlink()
        self.start_daemons(only={node})
        self._restart_charons(node)

    def _restart_charons(self, node: str) -> None:
        """Charons of the node that outlived its old namespace (a crash that did not stop them, as a
        failure's does): started again, as the node's own reboot would, and loaded as `up` loads them.
        Those a failure stopped are its restore's to start (tunnelops.start: a standby's stay stopped)."""
        ends = [e for e in links.charons_of(self.topo) if e.node == node]
        alive_ends = [e for e in ends if e.recorded(self.netns_path).running()]
        for e in alive_ends:
            e.charon = e.recorded(self.netns_path)
            e.charon.stop(grace_s=0)
            e.charon.launch()
        ipsec.settle(alive_ends)

    def _rewire(self, handles: Handles, node: str) -> None:
        """The links ending in `node` created again (those whose other end runs), then configured at
        both ends."""
        up = {n for n in self.topo.nodes if n == node or self.node_present(n)}
        for kind in links.plan_for(self.topo, node):
            if isinstance(kind, links.IpsecNat):
                continue  # nftables: in the ruleset start_node loads back
            if isinstance(kind, links.Charons):
                # Its IPsec ends' endpoint namespaces outlived it: connected again, charons left to the
                # failure's restore (tunnelops.start), which knows whether they should run (a standby's not).
                for end in kind.ends:
                    if isinstance(end, EndpointEnd) and end.end.vti not in interface_index(handles[node]):
                        end.connect(handles)
                continue
            if set(links.ends(kind)) <= up and not _deployed(handles, kind):
                kind.deploy(handles)
        standby_active = self.state.standby_active
        target = self.topo.nodes[node]
        handles.call(node, lambda _: configure_node(target, holds_shared(target, standby_active)))
        for _, other, ifname in links.far_ends(self.topo, node):
            if other in up:
                far = self.topo.nodes[other]
                shared = holds_shared(far, standby_active)
                handles.call(other, functools.partial(_configure_in_thread, far, shared, {ifname}))

    def set_links(self, node: str, names: Iterable[str], up: bool) -> None:
        if not self.node_present(node):
            return  # a stopped container has no interfaces left (start_node wires them again)
        super().set_links(node, names, up)


def _parent(pid: int) -> int:
    fields = stat_fields(pid)
    return int(fields[1]) if len(fields) > 1 else 0


def _is_init_of(container_id: str, pid: int) -> bool:
    if not pid:
        return False
    with contextlib.suppress(OSError):
        return container_id in Path(f"/proc/{pid}/cgroup").read_text(encoding="ascii", errors="replace")
    return False


def _pid_inside(pid: int, init: int) -> int | None:
    """The pid of host process `pid` inside the container whose init is `init` (NSpid's last field),
    or None if it is not in that container's pid namespace."""
    try:
        if os.stat(f"/proc/{pid}/ns/pid").st_ino != os.stat(f"/proc/{init}/ns/pid").st_ino:
            return None
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as f:
            line = next(line for line in f if line.startswith("NSpid:"))
    except (OSError, StopIteration):
        return None
    return int(line.split()[-1])


def _deployed(handles: Handles, kind: links.LinkKind) -> bool:
    """The link's interface exists already (at its first end)."""
    if isinstance(kind, links.Veth):
        node, ifname = kind.link.a, kind.link.a_ifname
    else:
        assert isinstance(kind, links.Bridge | links.Vxlan)
        node, ifname = kind.node, kind.iface.name
    return ifname in interface_index(handles[node])


def _configure_in_thread(node: Node, shared: bool, only: set[str] | None, _: Any) -> None:
    configure_node(node, shared, only=only)
