"""The container engines gwlab drives, Docker and podman, each as a python-on-whales client.

python-on-whales runs the engine's CLI for every call. Docker's CLI is the first `docker` on PATH (a
newer static CLI may sit ahead of Debian's; both talk to Debian's 20.10 daemon, the newer one
faster per call), pointed at the daemon `dockerd.ensure` checked or started. Podman needs no daemon;
it reads gwlab's own containers.conf (CONTAINERS_CONF) so that its default ulimits, which need
CAP_SYS_RESOURCE, do not make every run fail.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from python_on_whales import DockerClient
from python_on_whales.client_config import ClientNotFoundError
from python_on_whales.exceptions import DockerException

from lab.errors import GwlabError
from lab.runtime.containers import dockerd

ENGINES = ("docker", "podman")
CONTAINERS_CONF = Path(__file__).with_name("containers.conf")
INSTALL_HINT = {
    "docker": "run 'make setup' or apt-get install docker.io",
    "podman": "run 'make setup' or apt-get install podman catatonit",
}


@dataclass(frozen=True)
class Engine:
    name: str  # "docker" or "podman": also the value of a node's gwlab.runtime label
    client: DockerClient

    def command(self, *args: str) -> list[str]:
        """The engine's CLI command line (with the client's host and config) followed by `args`."""
        return [str(part) for part in self.client.client_config.docker_cmd] + list(args)

    def run(self, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        """One CLI call with a deadline, for what python-on-whales does not return (exit code and stderr)."""
        try:
            return subprocess.run(
                self.command(*args),
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired:
            raise GwlabError(f"{self.name} {' '.join(args[:2])}: no answer within {timeout:g} s") from None


def binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise GwlabError(f"{name} not found ({INSTALL_HINT.get(name, 'run make setup')})")
    return path


def engine(name: str, daemon: dockerd.Daemon | None = None) -> Engine:
    """A client for `name`; for docker, of `daemon` (default: the host's), which must answer
    (see `dockerd.ensure` to start one in lab mode)."""
    if name == "docker":
        daemon = daemon or dockerd.Daemon()
        cli = binary("docker")
        dockerd.check(daemon)
        return Engine("docker", DockerClient(client_call=[cli], host=f"unix://{daemon.socket}", client_type="docker"))
    if name == "podman":
        podman = binary("podman")
        call = [binary("env"), f"CONTAINERS_CONF={CONTAINERS_CONF}", podman]
        return Engine("podman", DockerClient(client_call=call, client_type="podman"))
    raise GwlabError(f"unknown container engine '{name}' (use {' or '.join(ENGINES)})")


def installed() -> list[str]:
    """The engines whose CLI is on PATH (docker also needs its daemon, started on demand)."""
    return [name for name in ENGINES if shutil.which(name) is not None]


def first_line(exc: DockerException) -> str:
    """The engine's own words for a failed call: the last 'Error ...' line of its stderr."""
    return said(exc.stderr or exc.stdout or "", exc.return_code)


def said(output: str, code: int) -> str:
    """The last 'Error ...' line of an engine's output, without its prefix."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    errors = [line for line in lines if "rror" in line]
    text = (errors or lines or [f"exit code {code}"])[-1]
    for prefix in ("Error response from daemon: ", "Error: ", "error: "):
        text = text.removeprefix(prefix)
    return text


@contextlib.contextmanager
def calling(engine_name: str, what: str) -> Iterator[None]:
    """Turn a failed engine call into one GwlabError line: '<engine>: <what>: <the engine's message>'."""
    try:
        yield
    except ClientNotFoundError:
        raise GwlabError(f"{engine_name} not found ({INSTALL_HINT.get(engine_name, 'run make setup')})") from None
    except DockerException as exc:
        raise GwlabError(f"{engine_name}: {what}: {first_line(exc)}") from None
