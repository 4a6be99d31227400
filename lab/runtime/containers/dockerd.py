"""A Docker daemon that changes nothing on the host, started by gwlab when none runs, stopped when unused.

Started as `dockerd --iptables=false --ip-forward=false --bridge=none`: no firewall rules, no
forwarding sysctls, no docker0 (Docker's default mode sets all three and never undoes them, which
breaks bridged netns labs on the same host). No systemd is involved: dockerd runs its own containerd,
logs to its state dir, and its pid goes in a pid file there, which is how gwlab knows it started it.

Who stops it: every gwlab command that needs Docker holds `in_use()` (a shared flock); on leaving, a
daemon gwlab started is stopped when no other command holds it and no container runs on it. So
`image build` leaves nothing running, `up` leaves it running for its containers, and the `down` of the
last lab stops it. A daemon gwlab did not start is never stopped.

Readiness and the "does it answer" check are one HTTP GET of /_ping on the socket with a timeout: the
docker CLI has no deadline of its own (a hung daemon hangs it) and costs ~30 ms per call.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lab import poll
from lab.errors import GwlabError
from lab.runtime import processes
from lab.runtime.containers.fsutil import locked
from lab.runtime.state import RUN_ROOT

LAB_MODE = ("--iptables=false", "--ip-forward=false", "--bridge=none", "--ip-masq=false")
DEFAULT_SOCKET = Path("/var/run/docker.sock")
ANSWER_S = 3.0  # a daemon that takes longer to answer /_ping is not answering
START_S = 30.0
POLL_S = 0.02
_children: dict[int, subprocess.Popen[bytes]] = {}  # dockerds this process started (reaped on stop)


@dataclass(frozen=True)
class Daemon:
    """Where a Docker daemon listens and keeps its state. root None: the host's daemon (default socket
    or DOCKER_HOST, /var/lib/docker); a directory: a private daemon entirely under it (tests use one to
    show that starting a daemon changes nothing on the host, beside any daemon already running)."""

    root: Path | None = None

    @property
    def external(self) -> str | None:
        """DOCKER_HOST when it names the daemon: someone else's, gwlab never starts one there."""
        if self.root is not None:
            return None
        return os.environ.get("DOCKER_HOST") or None

    @property
    def socket(self) -> Path:
        if self.root is not None:
            return self.root / "docker.sock"
        host = self.external
        if host is None:
            return DEFAULT_SOCKET
        if not host.startswith("unix://"):
            raise GwlabError(f"DOCKER_HOST={host}: gwlab drives a local daemon only (unset DOCKER_HOST)")
        return Path(host.removeprefix("unix://"))

    @property
    def state_dir(self) -> Path:
        return RUN_ROOT / "_dockerd" if self.root is None else self.root / "gwlab"

    @property
    def pidfile(self) -> Path:
        return self.state_dir / "dockerd.pid"

    @property
    def log(self) -> Path:
        return self.state_dir / "dockerd.log"

    def args(self) -> list[str]:
        args = list(LAB_MODE)
        if self.root is not None:
            args += ["--data-root", str(self.root / "data"), "--exec-root", str(self.root / "exec")]
            args += ["--pidfile", str(self.root / "docker.pid"), "--host", f"unix://{self.socket}"]
        return args


def _get(sock: Path, path: str, timeout: float) -> tuple[str, Any]:
    """('ok', parsed JSON or text), ('absent', None) when nothing listens, ('hung', None) otherwise."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(timeout)
        try:
            conn.connect(str(sock))
        except (FileNotFoundError, ConnectionRefusedError):
            return "absent", None
        except PermissionError:
            raise GwlabError(f"no permission to use {sock} (run gwlab as root)") from None
        except OSError:
            return "hung", None
        reply = b""
        try:
            conn.sendall(f"GET {path} HTTP/1.0\r\nHost: docker\r\n\r\n".encode())
            while chunk := conn.recv(65536):
                reply += chunk
        except OSError:  # includes the timeout
            return "hung", None
    head, _, body = reply.partition(b"\r\n\r\n")
    status = head.split(b"\r\n", 1)[0].split()
    if len(status) < 2 or status[1] != b"200":
        return "hung", None
    try:
        return "ok", json.loads(body)
    except ValueError:
        return "ok", body.decode(errors="replace")


def answers(daemon: Daemon, timeout: float = ANSWER_S) -> str:
    """'ok', 'absent' or 'hung'."""
    return _get(daemon.socket, "/_ping", timeout)[0]


def _hung(daemon: Daemon) -> GwlabError:
    pid = gwlab_pid(daemon)
    fix = f"stop gwlab's dockerd (kill {pid}) and retry" if pid else "restart dockerd"
    return GwlabError(f"the Docker daemon at {daemon.socket} does not answer within {ANSWER_S:g} s ({fix})")


def check(daemon: Daemon) -> None:
    """Raise one line unless the daemon answers."""
    state = answers(daemon)
    if state == "hung":
        raise _hung(daemon)
    if state == "absent":
        where = f"DOCKER_HOST={daemon.external}" if daemon.external else str(daemon.socket)
        raise GwlabError(
            f"no Docker daemon answers at {where} (start one in lab mode: "
            f"dockerd {' '.join(LAB_MODE[:3])}; gwlab does that itself when DOCKER_HOST is unset)"
        )


def gwlab_pid(daemon: Daemon) -> int | None:
    """The pid of the dockerd gwlab started for `daemon`, if it still runs (a reused pid is not it)."""
    if daemon.external:
        return None  # DOCKER_HOST names someone else's daemon, whatever gwlab runs beside it
    try:
        pid = int(daemon.pidfile.read_text().split()[0])
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv0 = f.read().split(b"\0")[0]
    except (OSError, ValueError, IndexError):
        return None
    return pid if os.path.basename(argv0) == b"dockerd" and processes.alive(pid) else None


def ensure(daemon: Daemon | None = None, timeout_s: float = START_S) -> float | None:
    """Make sure a daemon answers; start one in lab mode if none does. Returns the seconds its start
    took (until the API answered), or None when one was already running."""
    daemon = daemon or Daemon()
    state = answers(daemon)
    if state == "ok":
        return None
    if state == "hung":
        raise _hung(daemon)
    if daemon.external:
        check(daemon)  # raises: gwlab never starts a daemon where DOCKER_HOST points
    exe = shutil.which("dockerd")
    if exe is None:
        raise GwlabError("dockerd not found (run 'make setup' or apt-get install docker.io)")
    daemon.state_dir.mkdir(parents=True, exist_ok=True)
    with locked(daemon.state_dir / "start.lock"):
        if answers(daemon) == "ok":  # another gwlab started it while we waited for the lock
            return None
        return _start(daemon, exe, timeout_s)


def _start(daemon: Daemon, exe: str, timeout_s: float) -> float:
    start = time.monotonic()
    with open(daemon.log, "ab") as log:
        # Its own session: a Ctrl-C meant for gwlab does not reach the daemon its containers live on.
        proc = subprocess.Popen(
            [exe, *daemon.args()], stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
        )
    _children[proc.pid] = proc
    daemon.pidfile.write_text(f"{proc.pid}\n")

    def exited() -> str | None:
        if proc.poll() is None:
            return None
        return f"dockerd exited at start (code {proc.returncode}): {_last_line(daemon.log)}"

    try:
        up = poll.poll(
            lambda: answers(daemon, timeout=1.0) == "ok",
            timeout_s=timeout_s,
            interval_s=POLL_S,
            stop=lambda: bool(exited()),
        )
        if not up.ok:
            raise GwlabError(exited() or f"dockerd did not answer within {timeout_s:g} s (log: {daemon.log})")
        return time.monotonic() - start
    except BaseException:
        _stop_pid(proc.pid)
        daemon.pidfile.unlink(missing_ok=True)
        raise


def _last_line(log: Path) -> str:
    try:
        lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return "no log"
    return f"{lines[-1][-300:]} (log: {log})" if lines else f"no output (log: {log})"


def _stop_pid(pid: int, grace_s: float = 15.0) -> None:
    left = processes.stop([pid], grace_s=grace_s)
    child = _children.pop(pid, None)
    if child is not None and not left:
        child.wait(timeout=5)


def running_containers(daemon: Daemon) -> list[str]:
    """Ids of the containers running on the daemon (none when it does not answer)."""
    state, data = _get(daemon.socket, "/containers/json", ANSWER_S)
    return [c["Id"] for c in data] if state == "ok" and isinstance(data, list) else []


def stop(daemon: Daemon | None = None) -> bool:
    """Stop the dockerd gwlab started (SIGTERM; it stops its containerd); False if there was none.
    Running containers stop with it: callers use `stop_if_unused`."""
    daemon = daemon or Daemon()
    pid = gwlab_pid(daemon)
    if pid is not None:
        _stop_pid(pid)
    daemon.pidfile.unlink(missing_ok=True)
    return pid is not None


def stop_if_unused(daemon: Daemon | None = None) -> bool:
    """Stop gwlab's dockerd when no gwlab command holds `in_use` and no container runs on it."""
    daemon = daemon or Daemon()
    if gwlab_pid(daemon) is None:
        return False
    fd = os.open(daemon.state_dir / "users.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False  # another gwlab command is using it
        if running_containers(daemon):
            return False
        return stop(daemon)
    finally:
        os.close(fd)


@contextlib.contextmanager
def in_use(daemon: Daemon | None = None, timeout_s: float = START_S) -> Iterator[float | None]:
    """The daemon answers while inside (started in lab mode if needed; yields its start time or None);
    on leaving, a daemon gwlab started is stopped if nothing uses it any more."""
    daemon = daemon or Daemon()
    daemon.state_dir.mkdir(parents=True, exist_ok=True)
    try:
        with locked(daemon.state_dir / "users.lock", fcntl.LOCK_SH):
            yield ensure(daemon, timeout_s)
    finally:
        stop_if_unused(daemon)
