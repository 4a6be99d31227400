"""The docker runtime: every node a Docker container (lab.runtime.containers.runtime says how).

Docker needs its daemon. When none answers, gwlab starts one in lab mode (no firewall rules, no
forwarding sysctls, no docker0: lab.runtime.containers.dockerd) for as long as a lab's containers run:
`up` and `down` hold it while they work, and the `down` of the last lab stops the daemon gwlab started.
A daemon gwlab did not start is used as it is and never stopped; one that does not answer is an error.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager

from lab.errors import GwlabError
from lab.runtime import processes
from lab.runtime.containers import dockerd
from lab.runtime.containers.engine import INSTALL_HINT, Engine, binary, engine
from lab.runtime.containers.runtime import ContainerRuntime

HOST_PIDFILE = "/var/run/docker.pid"  # a dockerd gwlab did not start writes its pid there


class DockerRuntime(ContainerRuntime):
    name = "docker"
    engine_name = "docker"

    @classmethod
    def check_engine(cls) -> None:
        binary("docker")
        daemon = dockerd.Daemon()
        state = dockerd.answers(daemon)
        if state == "ok":
            return
        if state == "hung" or daemon.external:
            dockerd.check(daemon)  # raises: one line naming the fix
        if shutil.which("dockerd") is None:
            raise GwlabError(f"no Docker daemon runs and dockerd is not installed ({INSTALL_HINT['docker']})")

    @classmethod
    def present(cls) -> bool:
        """Docker is installed and its daemon answers, or gwlab could start one to look (a lab's stopped
        containers outlive the daemon that ran them)."""
        if shutil.which("docker") is None:
            return False
        daemon = dockerd.Daemon()
        try:
            state = dockerd.answers(daemon)
        except GwlabError:
            return False
        return state == "ok" or (state == "absent" and not daemon.external and shutil.which("dockerd") is not None)

    @classmethod
    def engine_daemons(cls) -> list[int]:
        """dockerd (gwlab's lab-mode one, or the host's from its pid file) and the containerd it runs."""
        pid = dockerd.gwlab_pid(dockerd.Daemon()) or processes.read_pid(HOST_PIDFILE)
        if pid is None or not processes.alive(pid):
            return []
        return [pid, *(child for child in processes.children(pid) if processes.command(child) == "containerd")]

    @classmethod
    @contextmanager
    def using(cls) -> Iterator[Engine]:
        with dockerd.in_use():  # started in lab mode if none runs; stopped on leaving when unused
            yield engine("docker")
