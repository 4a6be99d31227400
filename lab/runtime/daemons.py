"""FRR and ExaBGP processes of a node: started in its namespace, with their own paths under the run dir.

FRR daemons each read the node's integrated frr.conf (-f) and keep their sockets in their own
pathspace (-N), so labs and nodes never share a socket. ExaBGP runs as root (it would drop to
`nobody`, who cannot write our logs), with its CLI pipes off and its own pid file.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from lab.errors import GwlabError
from lab.runtime.nsenter import call_in, preexec
from lab.runtime.state import FRR_RUN_ROOT
from lab.topology import SPEAKER_PORT, Node

FRR_SBIN = Path(os.environ.get("GWLAB_FRR_SBIN", "/usr/lib/frr"))


@dataclass(frozen=True)
class Daemon:
    node: str
    name: str  # zebra, bgpd, staticd, bfdd, exabgp
    pidfile: Path
    logfile: Path


def frr_daemons(node: Node) -> list[str]:
    names = ["zebra", "bgpd", "staticd"]
    if node.bgp is not None and any(n.bfd for n in node.bgp.neighbors):
        names.append("bfdd")
    return names


def exabgp_binary() -> str:
    beside = Path(sys.executable).parent / "exabgp"
    found = str(beside) if beside.exists() else shutil.which("exabgp")
    if found is None:
        raise GwlabError("exabgp not found (run 'make setup' or pip install 'exabgp>=5.0.13')")
    return found


def check_frr() -> None:
    missing = [d for d in ("zebra", "bgpd", "staticd", "bfdd") if not (FRR_SBIN / d).exists()]
    if missing or shutil.which("vtysh") is None:
        raise GwlabError(f"FRR not found in {FRR_SBIN} (run 'make setup' or apt-get install frr)")


def prepare_frr_dir(ns: str) -> Path:
    path = FRR_RUN_ROOT / ns
    path.mkdir(parents=True, exist_ok=True)
    frr = pwd.getpwnam("frr")
    os.chown(path, frr.pw_uid, frr.pw_gid)
    return path


def zebra_ready(ns: str) -> bool:
    """zebra's socket exists: the other daemons can connect (a refused client retries only after 10 s)."""
    return (FRR_RUN_ROOT / ns / "zserv.api").exists()


def launch_frr(ns: str, node: Node, node_dir: Path, daemons: list[str]) -> list[tuple[Daemon, subprocess.Popen[bytes]]]:
    """Launch some of the node's FRR daemons (-d: each returns once it has forked); confirm with `confirm`."""
    frr = pwd.getpwnam("frr")
    os.chown(node_dir, frr.pw_uid, frr.pw_gid)
    conf = node_dir / "frr.conf"
    os.chown(conf, frr.pw_uid, frr.pw_gid)
    launched = []
    for name in daemons:
        pidfile = FRR_RUN_ROOT / ns / f"{name}.pid"
        log = node_dir / f"{name}.log"
        cmd = [
            str(FRR_SBIN / name),
            "-d",
            "-N",
            ns,
            "-f",
            str(conf),
            "-i",
            str(pidfile),
            "--log",
            f"file:{log}",
            "-u",
            "frr",
            "-g",
            "frr",
            "-P",
            "0",
        ]  # -P 0: no vty TCP port
        proc = subprocess.Popen(
            cmd, preexec_fn=preexec(ns), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        launched.append((Daemon(node.name, name, pidfile, log), proc))
    return launched


def confirm(launched: list[tuple[Daemon, subprocess.Popen[bytes]]]) -> None:
    for daemon, proc in launched:
        _, err = proc.communicate(timeout=30)
        if proc.returncode != 0:
            raise GwlabError(f"{daemon.node}: {daemon.name} failed to start: {err.decode(errors='replace').strip()}")


def bgp_listening(ns: str) -> bool:
    """bgpd accepts connections in the namespace (port 179 in LISTEN)."""

    def read() -> bool:
        for table in ("tcp", "tcp6"):
            try:
                with open(f"/proc/thread-self/net/{table}", encoding="ascii") as f:
                    rows = f.read().splitlines()[1:]
            except OSError:
                continue
            for row in rows:
                fields = row.split()
                if fields[1].endswith(":00B3") and fields[3] == "0A":
                    return True
        return False

    return call_in(ns, read)


def start_exabgp(
    ns: str, node: Node, node_dir: Path, name: str = "exabgp", listen: tuple[str, int] | None = None
) -> Daemon:
    """Start an ExaBGP speaker and wait until it has daemonised."""
    launched = launch_exabgp(ns, node, node_dir, name, listen)
    confirm([launched])
    return launched[0]


def launch_exabgp(
    ns: str, node: Node, node_dir: Path, name: str = "exabgp", listen: tuple[str, int] | None = None
) -> tuple[Daemon, subprocess.Popen[bytes]]:
    """Launch an ExaBGP speaker from <node_dir>/<name>.conf, listening on `listen` (default: the node's
    speaker address and port); it daemonises itself, `confirm` waits for that.

    Call from one thread only: a fork with preexec_fn while other threads fork can deadlock."""
    pidfile = node_dir / f"{name}.pid"
    log = node_dir / f"{name}.log"
    address, port = listen or (str(node.speaker.local_address) if node.speaker else "", SPEAKER_PORT)
    pidfile.unlink(missing_ok=True)  # a crashed speaker's stale pid file would stop the new one
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "exabgp.daemon.user": "root",
        "exabgp.daemon.daemonize": "true",
        "exabgp.daemon.pid": str(pidfile),
        "exabgp.log.destination": str(log),
        "exabgp.api.cli": "false",
        "exabgp.api.ack": "false",
        # Listen only on the speaker's loopback address and port; bgpd connects to it.
        "exabgp.tcp.bind": address,
        "exabgp.tcp.port": str(port),
    }
    cmd = [exabgp_binary(), "server", str(node_dir / f"{name}.conf")]
    proc = subprocess.Popen(
        cmd,
        preexec_fn=preexec(ns),
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    return Daemon(node.name, name, pidfile, log), proc
