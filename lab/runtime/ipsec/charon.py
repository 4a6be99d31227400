"""One charon per tunnel end, started inside a given network namespace with a /run of its own.

The namespace is a path: /run/netns/<name> for the namespace runtime, /proc/<pid>/ns/net for a
container. Either way charon runs from the host's binaries, entered into that network namespace, in a
fresh mount namespace where <root>/run is bound over /run (charon's pid file is hard-coded to
/var/run/charon.pid, and several charons must coexist). Running it from the host, not inside the
container, means no image needs strongSwan, keys never enter a container, and the pid is the host's:
stopped by pid, also after the container is gone (a process keeps its network namespace alive).

Configuration goes in with `swanctl --load-all --file ... --uri ...` from the host; SA state comes back
with `swanctl --list-sas --raw`. No secret is ever on a command line: swanctl reads secrets.conf (0600).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pyroute2 import IPRoute

from lab import poll
from lab.errors import GwlabError
from lab.ipsec.render import INSIDE_RUN, Layout
from lab.ipsec.sas import IkeSa, parse_list_sas
from lab.runtime.nsenter import call_in, popen_in
from lab.runtime.processes import alive, started_before, stop

CHARON = Path(os.environ.get("GWLAB_CHARON", "/usr/lib/ipsec/charon"))
SWANCTL = os.environ.get("GWLAB_SWANCTL", "swanctl")
START_TIMEOUT_S = 10.0  # vici is up after ~0.12 s on an idle machine
STATUS_TIMEOUT_S = 5.0  # a hung charon must not hold `gwlab status` for long
APPARMOR_PROFILES = Path("/sys/kernel/security/apparmor/profiles")
ROUTING_RULE_PREF = 220  # charon's "from all lookup 220", added at start (ipsec.md §2a)
UNSHARE = "/usr/bin/unshare"  # util-linux, on every Debian
# A constant script (no input in it): its arguments are the run directory, /run and charon's path.
BIND_RUN = 'mount --bind "$1" "$2" && exec "$3"'
ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "STRONGSWAN_CONF": f"{INSIDE_RUN}/strongswan.conf"}


def check_strongswan(apparmor_profiles: Path = APPARMOR_PROFILES) -> None:
    """strongSwan present, and not confined by its AppArmor profile: the bad-input check for `ipsec`
    tunnels. Debian's profile (usr.lib.ipsec.charon), enforced, would keep charon from its files under
    /run/gwlab; this kernel has no AppArmor, hosts that enforce it need the profile in complain mode."""
    if not CHARON.exists() or shutil.which(SWANCTL) is None:
        raise GwlabError(
            "strongSwan not found (run 'make setup', or apt-get install strongswan-charon strongswan-swanctl "
            "libcharon-extra-plugins libstrongswan-standard-plugins; or use tunnel kind vxlan)"
        )
    try:
        profiles = apparmor_profiles.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return  # no AppArmor
    if f"{CHARON} (enforce)" in profiles:
        raise GwlabError(
            f"strongSwan's AppArmor profile {CHARON} is enforced and would keep charon from the lab's files "
            f"(run 'aa-complain {CHARON}', or use tunnel kind vxlan)"
        )


@dataclass
class Charon:
    """A running (or stopped) charon: its files and the pid we started."""

    name: str
    netns: str  # a path: /run/netns/<name> or /proc/<pid>/ns/net
    layout: Layout
    pid: int | None = None
    _proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def uri(self) -> str:
        return f"unix://{self.layout.vici}"

    def start(self, keep_rule_220: bool = False) -> None:
        """Start charon and wait for its vici socket; a road warrior (client) keeps charon's routing rule
        220, a tunnel endpoint drops it (route-based: `install_routes = no` is ignored by libipsec)."""
        self.launch()
        self.wait_started(keep_rule_220)

    def launch(self) -> None:
        """Start charon and return at once: a lab launches all its charons, then waits for them together.
        Spawned (vfork, no fork of this process) from a thread inside the endpoint's network namespace,
        through util-linux's unshare: a private mount namespace (slave: our bind stays out of the host's
        /run) where the instance's run directory is /run, then charon itself (exec: same pid)."""
        lay = self.layout
        lay.run.mkdir(parents=True, exist_ok=True, mode=0o700)
        # Left by kill -9: a reused pid would stop charon; a new charon has no CHILD_SA to count.
        for stale in (lay.charon_pidfile, lay.vici, lay.updown_count):
            stale.unlink(missing_ok=True)
        argv = [UNSHARE, "--mount", "--propagation", "slave", "/bin/sh", "-c", BIND_RUN, "charon", str(lay.run)]
        with open(lay.stdout, "ab") as out:
            self._proc = popen_in(
                self.netns,
                [*argv, INSIDE_RUN, str(CHARON)],
                env=ENV,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.pid = self._proc.pid
        lay.pidfile.write_text(f"{self.pid}\n", encoding="ascii")

    def wait_started(self, keep_rule_220: bool = False, timeout_s: float = START_TIMEOUT_S) -> None:
        proc = self._proc
        assert proc is not None, "launch() first"
        try:
            failed = lambda: self._not_started(proc)  # noqa: E731
            wait_for(self._vici_listens, timeout_s, f"{self.name}: charon's vici socket", failed)
            if not keep_rule_220:
                wait_for(self._drop_rule_220, timeout_s, f"{self.name}: charon's routing rule 220", failed)
        except BaseException:
            self.stop(grace_s=0)
            raise

    def _vici_listens(self) -> bool:
        """The socket accepts a connection: it exists between charon's bind and listen too, and a
        swanctl that came then was refused (the suite saw it once, with swanctl 8 ms to start); a
        missing socket refuses too."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            try:
                probe.connect(str(self.layout.vici))
            except OSError:
                return False
        return True

    def _not_started(self, proc: subprocess.Popen[bytes]) -> str | None:
        if proc.poll() is None:
            return None
        return f"{self.name}: charon exited with {proc.returncode}: {_last_line(self.layout.stdout, self.layout.log)}"

    def _drop_rule_220(self) -> bool:
        def drop() -> bool:
            with IPRoute() as ipr:
                rules = [r for r in ipr.get_rules(family=2) if r.get_attr("FRA_PRIORITY") == ROUTING_RULE_PREF]
                for _ in rules:
                    ipr.rule("del", priority=ROUTING_RULE_PREF)
                return bool(rules)

        return call_in(self.netns, drop)

    def load(self) -> str:
        """swanctl --load-all; returns its output (names of what was loaded, never a key)."""
        out = self.swanctl("--load-all", "--noprompt", "--file", str(self.layout.swanctl_conf))
        if "failed" in out:
            raise GwlabError(f"{self.name}: swanctl --load-all: {out.strip().splitlines()[-1]}")
        return out

    def sas(self) -> list[IkeSa]:
        return parse_list_sas(self.swanctl("--list-sas", "--raw", timeout_s=STATUS_TIMEOUT_S))

    def swanctl(self, *args: str, timeout_s: float = 30.0) -> str:
        try:
            proc = subprocess.run(
                [SWANCTL, *args, "--uri", self.uri],
                capture_output=True,
                text=True,
                timeout=timeout_s,
                check=False,
                env=self._swanctl_env(),
            )
        except subprocess.TimeoutExpired:
            raise GwlabError(
                f"{self.name}: swanctl {args[0]}: no answer from charon within {timeout_s:.0f} s"
            ) from None
        if proc.returncode != 0:
            raise GwlabError(f"{self.name}: swanctl {args[0]} failed: {(proc.stderr or proc.stdout).strip()}")
        return proc.stdout

    def _swanctl_env(self) -> dict[str, str] | None:
        """swanctl with its own strongswan.conf (only the plugins it needs), when the instance has one
        (files written before it had: the host's, every plugin)."""
        conf = self.layout.swanctl_strongswan_conf
        return {**os.environ, "STRONGSWAN_CONF": str(conf)} if conf.exists() else None

    def running(self) -> bool:
        return self.pid is not None and alive(self.pid)

    def stop(self, grace_s: float = 2.0) -> None:
        """By pid, never by name; grace_s 0 is kill -9 (a crash that says no goodbye)."""
        pid = self.pid if self.pid is not None else read_pid(self.layout)
        if pid is not None and is_charon(pid):
            left = stop([pid], grace_s)
            if left:
                raise GwlabError(f"{self.name}: charon {pid} did not stop")
        self.pid = None
        self.layout.pidfile.unlink(missing_ok=True)

    def pss_kib(self) -> int:
        """Proportional set size of the charon process (what it really costs the machine)."""
        assert self.pid is not None
        with open(f"/proc/{self.pid}/smaps_rollup", encoding="ascii") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
        raise GwlabError(f"{self.name}: no Pss in /proc/{self.pid}/smaps_rollup")


def read_pid(layout: Layout) -> int | None:
    """The pid gwlab recorded for an instance (for `down` after a crash of gwlab itself); None when no
    process started before it was recorded has it now. A run directory left behind keeps its pid files,
    and their numbers are reused: a later `down` of that lab took 4 charons of another lab, started since
    with the same pids (checking the binary alone cannot tell them apart)."""
    try:
        pid = int(layout.pidfile.read_text(encoding="ascii"))
        recorded = layout.pidfile.stat().st_mtime
    except (OSError, ValueError):
        return None
    return pid if started_before(pid, recorded) else None


def is_charon(pid: int) -> bool:
    """The recorded pid is still our charon, not a process that reused the number."""
    try:
        return os.readlink(f"/proc/{pid}/exe") == str(CHARON)
    except OSError:
        return False


def wait_for(
    ready: Callable[[], bool], timeout_s: float, what: str, failed: Callable[[], str | None] | None = None
) -> float:
    """Poll `ready` every 10 ms until it holds (returns the seconds it took) or the deadline passes;
    `failed` returning a message ends the wait early with that message (lab.poll.wait_for)."""
    start = time.monotonic()
    poll.wait_for(ready, timeout_s, what, interval_s=0.01, failed=failed)
    return time.monotonic() - start


def _last_line(*paths: Path) -> str:
    for path in paths:
        with contextlib.suppress(OSError):
            lines = path.read_text(errors="replace").strip().splitlines()
            if lines:
                return lines[-1]
    return "no output"
