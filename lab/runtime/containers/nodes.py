"""Node containers: what the docker and podman runtime backends build a lab from.

A node is a container `gwlab-<lab>-<node>` of the node image, labelled gwlab.lab, gwlab.node and
gwlab.runtime (so a lab's containers are found with no state file, also after kill -9 of gwlab),
with `--network none` (only lo: links are wired from the host into /proc/PID/ns/net with pyroute2),
`--init` (daemons started with -d are re-parented to PID 1, which must reap them) and the capabilities
FRR and charon need, never `--privileged` (runc cannot apply it here: no CAP_SYS_RESOURCE):
  NET_ADMIN, SYS_ADMIN  zebra and bgpd refuse to start without them (privs_init: cap_set_proc failed);
  NET_RAW               zebra, ping; docker grants it by default, podman 4 no longer does;
  NET_BIND_SERVICE      bgpd (179), charon (500/4500).
/dev/net/tun is passed for charon's kernel-libipsec (userspace ESP over TUN: this kernel has no xfrm).
/proc/sys is read-only inside; net.* sysctls are written from the host into the node's network
namespace (`write_sysctls`). The node's config dir is bound at /etc/gwlab and a host dir at /run/frr,
so FRR (run without -N) puts its vty sockets where the host reads them (lab.runtime.frr.vty).

A crash is `kill`: SIGKILL to the container's init, so every process in it dies at once and its network
namespace goes with it, taking its interfaces and the peer ends of its veths (a machine that lost power
and its NICs). The container stays, stopped; `start` runs it again from the same image and mounts in a
fresh namespace with only lo: the backend wires its links, writes its sysctls and starts its daemons
again, as after a reboot. `stop` is the graceful variant (SIGTERM, then SIGKILL after the grace time).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from lab.errors import GwlabError
from lab.runtime import nsenter
from lab.runtime.containers.engine import Engine, calling, said
from lab.runtime.containers.layout import CAPABILITIES, CONFIG_MOUNT, DEVICES, FRR_MOUNT

LAB_LABEL, NODE_LABEL, RUNTIME_LABEL = "gwlab.lab", "gwlab.node", "gwlab.runtime"
# 14 nodes on 2 cores (python -m bench.containers, two runs at load 7-12): serial 5.6-6.1 s docker, 4.1-5.7 s
# podman; all 14 at once 3.0-3.8 s and 1.7-2.3 s, the best or tied in both runs; 2-8 at a time in between.
# Capped so that a 50-site lab does not start hundreds of CLI processes at once.
CREATE_WORKERS = 16
_GONE = ("No such container", "no such container", "is not running", "state improper")


def container_name(lab: str, node: str) -> str:
    return f"gwlab-{lab}-{node}"


def netns_path(pid: int) -> str:
    return f"/proc/{pid}/ns/net"


@dataclass(frozen=True)
class NodeSpec:
    lab: str
    node: str
    image: str
    config_dir: Path  # bound at /etc/gwlab, read-write (daemons log there)
    frr_run_dir: Path  # bound at /run/frr: FRR's sockets and pid files, read from the host
    binds: tuple[tuple[str, str, str], ...] = ()  # more (host path, container path, "rw" or "ro")
    labels: tuple[tuple[str, str], ...] = ()  # more labels (the containerlab file's: role, site, zone)
    cgroup_parent: str | None = None  # see `own_cgroups`

    @property
    def name(self) -> str:
        return container_name(self.lab, self.node)


@dataclass(frozen=True)
class NodeContainer:
    engine: str
    lab: str
    node: str
    name: str
    id: str
    pid: int  # the container's init on the host; 0 when it is not running

    @property
    def netns(self) -> str:
        return netns_path(self.pid)


@dataclass(frozen=True)
class ExecResult:
    returncode: int
    stdout: str
    stderr: str


def run_args(engine: Engine, spec: NodeSpec) -> list[str]:
    """The engine's `run` arguments for a node: detached, never pulling, only lo, tini/catatonit as init."""
    labels = {**dict(spec.labels), LAB_LABEL: spec.lab, NODE_LABEL: spec.node, RUNTIME_LABEL: engine.name}
    volumes = [(str(spec.config_dir), CONFIG_MOUNT, "rw"), (str(spec.frr_run_dir), FRR_MOUNT, "rw"), *spec.binds]
    args = ["run", "--detach", "--name", spec.name, "--hostname", spec.node, "--network", "none"]
    args += ["--init", "--pull", "never"]
    if spec.cgroup_parent is not None:
        args += ["--cgroup-parent", spec.cgroup_parent]
    args += [arg for cap in CAPABILITIES for arg in ("--cap-add", cap)]
    args += [arg for device in DEVICES for arg in ("--device", device)]
    args += [arg for host, inside, mode in volumes for arg in ("--volume", f"{host}:{inside}:{mode}")]
    args += [arg for key, value in sorted(labels.items()) for arg in ("--label", f"{key}={value}")]
    return [*args, spec.image]


def own_cgroups(engine: Engine) -> str | None:
    """The cgroup parent that gives each node a CPU share of its own: "/" when the engine manages
    cgroups itself (cgroupfs), None (the engine's default) otherwise (systemd wants slice names).

    By default every container sits under one group (/docker, /libpod_parent) whose CPU weight is that
    of a single process: on a busy machine a whole lab then gets one process's share of the CPU, its
    daemons starve, and BFD (300 ms) and BGP timers fire as they would on an overloaded router. A
    group per node at the top is weighed against the host's processes one by one, as a namespace
    lab's daemons are. Its directory comes and goes with the container, as under /docker."""
    key = "{{.CgroupDriver}}" if engine.name == "docker" else "{{.Host.CgroupManager}}"
    proc = engine.run("info", "--format", key, timeout=30)
    return "/" if proc.returncode == 0 and proc.stdout.strip() == "cgroupfs" else None


def create(engine: Engine, spec: NodeSpec) -> str:
    """Run one node container; returns its id. Its config and FRR dirs are created if missing (docker
    would make them, podman refuses); their owner is the caller's choice (image.frr_owner).

    One CLI call (python-on-whales' run() makes two: run, then inspect): creating a lab's containers
    is the longest step of its `up`, and the pids of all of them come from one inspect afterwards."""
    for path in (spec.config_dir, spec.frr_run_dir):
        path.mkdir(parents=True, exist_ok=True)
    proc = engine.run(*run_args(engine, spec), timeout=120)
    if proc.returncode != 0:
        raise GwlabError(f"{engine.name}: create {spec.name}: {said(proc.stderr, proc.returncode)}")
    return proc.stdout.split()[-1]


def existing(engine: Engine, names: Iterable[str]) -> list[str]:
    """Which of these container names exist (running or not)."""
    wanted = set(names)
    proc = engine.run("ps", "-a", "--format", "{{.Names}}")
    if proc.returncode != 0:
        raise GwlabError(f"{engine.name} ps: {proc.stderr.strip() or proc.stdout.strip()}")
    return sorted(wanted & set(proc.stdout.split()))


def create_all(engine: Engine, specs: list[NodeSpec], workers: int = CREATE_WORKERS) -> dict[str, NodeContainer]:
    """Create the nodes, `workers` at a time; node name -> container. On any failure (or Ctrl-C) the
    containers of this call are removed again and the first error is raised: nothing half-built."""
    for image in sorted({s.image for s in specs}):
        with calling(engine.name, f"inspect {image}"):
            if not engine.client.image.exists(image):
                raise GwlabError(f"{engine.name}: image {image} not found (run 'gwlab image build')")
    taken = existing(engine, [s.name for s in specs])
    if taken:
        lab = specs[0].lab
        raise GwlabError(f"{engine.name}: container {taken[0]} already exists (take lab {lab} down: gwlab down {lab})")
    try:
        with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="create") as pool:
            ids = list(pool.map(lambda spec: create(engine, spec), specs))
        seen = inspect_all(engine, [s.name for s in specs])
    except BaseException:
        remove(engine, [s.name for s in specs])
        raise
    return {
        s.node: NodeContainer(engine.name, s.lab, s.node, s.name, cid, seen.get(s.name, (cid, 0))[1])
        for s, cid in zip(specs, ids, strict=True)
    }


def pid(engine: Engine, name: str) -> int:
    """The pid of the container's init on the host (0: not running)."""
    with calling(engine.name, f"inspect {name}"):
        return engine.client.container.inspect(name).state.pid or 0


def inspect_all(engine: Engine, names: Iterable[str]) -> dict[str, tuple[str, int]]:
    """name -> (container id, pid of its init on the host, 0 when stopped) for those of `names` that
    exist, in one engine call (~40 ms on docker, ~70 ms on podman)."""
    wanted = list(names)
    if not wanted:
        return {}
    proc = engine.run("container", "inspect", "--format", "{{.Name}} {{.Id}} {{.State.Pid}}", *wanted)
    found = {}
    for line in proc.stdout.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[2].isdigit():
            found[parts[0].lstrip("/")] = (parts[1], int(parts[2]))
    errors = [line for line in proc.stderr.splitlines() if line.strip() and "o such " not in line]
    if proc.returncode != 0 and errors:
        raise GwlabError(f"{engine.name} inspect: {errors[-1].strip()}")
    return found


def write_sysctls(container_pid: int, values: dict[str, str]) -> None:
    """Write net.* sysctls inside the container's network namespace, from a host thread that joined it
    (/proc/sys is read-only in the container)."""
    nsenter.write_sysctls(netns_path(container_pid), values)


def run_in(container_pid: int, fn: Callable[[], object]) -> object:
    """fn() in a host thread that joined the container's network namespace (e.g. reading /proc/net)."""
    return nsenter.call_in(netns_path(container_pid), fn)


def exec_in(
    engine: Engine, name: str, argv: list[str], env: dict[str, str] | None = None, timeout: float = 30.0
) -> ExecResult:
    """Run a command in the container and wait for it: exit code, stdout, stderr (~0.1 s on docker,
    ~0.2 s on podman). A container that is gone or stopped raises; the command's own failure does not."""
    proc = engine.run("exec", *_env_args(env), name, *argv, timeout=timeout)
    _raise_if_gone(engine, name, proc.returncode, proc.stderr)
    return ExecResult(proc.returncode, proc.stdout, proc.stderr)


def exec_argv(
    engine: Engine,
    name: str,
    argv: Sequence[str],
    env: dict[str, str] | None = None,
    interactive: bool = False,
    tty: bool = False,
) -> list[str]:
    """The engine's command line that runs argv in the container, for Popen or exec (a user's terminal:
    interactive, tty)."""
    flags = (["--interactive"] if interactive else []) + (["--tty"] if tty else [])
    return engine.command("exec", *flags, *_env_args(env), name, *argv)


def start_daemon(engine: Engine, name: str, argv: list[str], env: dict[str, str] | None = None) -> None:
    """Start a long-running command in the container without waiting for it (`exec --detach`)."""
    proc = engine.run("exec", "--detach", *_env_args(env), name, *argv)
    _raise_if_gone(engine, name, proc.returncode, proc.stderr)
    if proc.returncode != 0:
        raise GwlabError(f"{engine.name}: {name}: {argv[0]} did not start: {proc.stderr.strip()}")


def _env_args(env: dict[str, str] | None) -> list[str]:
    return [arg for key, value in (env or {}).items() for arg in ("--env", f"{key}={value}")]


def _raise_if_gone(engine: Engine, name: str, code: int, stderr: str) -> None:
    if code != 0 and any(marker in stderr for marker in _GONE):
        raise GwlabError(f"{engine.name}: {name} is not running ({stderr.strip().splitlines()[-1]})")


def kill(engine: Engine, name: str) -> None:
    """Crash the node: SIGKILL to its init; every process and its network namespace go at once."""
    with calling(engine.name, f"kill {name}"):
        engine.client.container.kill(name)


def stop(engine: Engine, name: str, grace_s: int = 2) -> None:
    """Shut the node down: SIGTERM, SIGKILL after grace_s seconds."""
    with calling(engine.name, f"stop {name}"):
        engine.client.container.stop(name, time=grace_s)


def start(engine: Engine, name: str) -> int:
    """Start a stopped or killed node again; returns its new pid (a fresh network namespace with only lo)."""
    with calling(engine.name, f"start {name}"):
        engine.client.container.start(name)
    return pid(engine, name)


def lab_containers(engine: Engine, lab: str) -> list[str]:
    """Ids of every container of the lab, running or not, found by label (no state needed)."""
    proc = engine.run("ps", "-a", "-q", "--no-trunc", "--filter", f"label={LAB_LABEL}={lab}")
    if proc.returncode != 0:
        raise GwlabError(f"{engine.name} ps: {proc.stderr.strip() or proc.stdout.strip()}")
    return proc.stdout.split()


def labs(engine: Engine) -> list[str]:
    """Every lab that has a container in this engine."""
    with calling(engine.name, "list containers"):
        containers = engine.client.container.list(all=True, filters=[("label", LAB_LABEL)])
    return sorted({c.config.labels[LAB_LABEL] for c in containers if c.config.labels})


def remove(engine: Engine, names_or_ids: list[str]) -> None:
    """Force-remove these containers (running ones are killed); missing ones are ignored."""
    if not names_or_ids:
        return
    # podman 4.3 removes nothing (and exits 0) when one of the names is missing, unless --ignore.
    ignore = ["--ignore"] if engine.name == "podman" else []
    proc = engine.run("rm", "--force", *ignore, *names_or_ids)
    if proc.returncode != 0:
        errors = [line for line in proc.stderr.splitlines() if line.strip() and not any(m in line for m in _GONE)]
        if errors:
            raise GwlabError(f"{engine.name} rm: {errors[-1].strip()}")


def remove_lab(engine: Engine, lab: str) -> list[str]:
    """Remove every container of the lab (by label; works after kill -9 of gwlab and without a state
    file); returns their ids. Their veths go with their network namespaces."""
    ids = lab_containers(engine, lab)
    remove(engine, ids)
    return ids
