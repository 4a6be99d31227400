"""A node container as its processes see it: the mounts, the capabilities, and the command lines that
start its daemons inside it. One source for the docker and podman runtimes (which run these commands
with the engine's exec) and for the containerlab file (templates/clab: its `exec` lines), so both
deploy the same thing. No engine and no pyroute2 needed: `gwlab render` uses it.

Paths inside a node:
  /etc/gwlab         the node's rendered configs (exabgp.conf), root's; only read
  /etc/frr/frr.conf  the rendered frr.conf, bound on its own and read-only: FRR runs as user frr,
                     who cannot enter /etc/gwlab (0700, root's); bgpd-start.conf beside it, the
                     same for a node with BFD (lab.runtime.bgp_bfd)
  /run/frr           the node's run dir: FRR's vty sockets and zserv.api, and every daemon's pid file
                     and log (ExaBGP's too). FRR runs without -N, so it is FRR's default. The
                     runtimes bind a host dir there (the host's vty, vtysh --vty_socket and pid
                     checks read it); under containerlab it is the container's own. Nothing is
                     written under /etc: clabernetes mounts the bound files read-only.
"""

from __future__ import annotations

import json

from lab.runtime.bgp_bfd import conf_name, guarded
from lab.runtime.daemons import (
    FRR_ENV,
    exabgp_env,
    fd_limit,
    frr_argv,
    frr_daemons,
    reactor_speed,
    speaker_listen,
    with_env,
)
from lab.topology import Node

# Why each (nodes.py says more): zebra and bgpd refuse to start without NET_ADMIN and SYS_ADMIN;
# NET_RAW for zebra and ping (podman 4 no longer grants it by default); NET_BIND_SERVICE for bgpd
# (179) and charon (500/4500). Never --privileged: runc cannot apply it here (no CAP_SYS_RESOURCE).
CAPABILITIES = ("NET_ADMIN", "SYS_ADMIN", "NET_RAW", "NET_BIND_SERVICE")
DEVICES = ("/dev/net/tun",)  # charon's kernel-libipsec (userspace ESP over TUN)
CONFIG_MOUNT = "/etc/gwlab"
FRR_MOUNT = "/run/frr"
FRR_ETC = "/etc/frr"
FRR_CONF = f"{FRR_ETC}/frr.conf"
FRR_SBIN = "/usr/lib/frr"
NODE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/usr/lib/frr"
ZSERV = f"{FRR_MOUNT}/zserv.api"
# /run/frr is not in the image (a directory made in an mmdebstrap hook is not in its tarball).
MAKE_FRR_RUN_DIR = ["install", "-d", "-o", "frr", "-g", "frr", "-m", "0755", FRR_MOUNT]
# bgpd, staticd and bfdd connect to zebra's socket, which zebra opens only after daemonising; a client
# that finds none retries 10 s later. A fixed script (nothing of the lab in it), bounded by timeout.
WAIT_FOR_ZEBRA = ["timeout", "10", "sh", "-c", f"until [ -S {ZSERV} ]; do sleep 0.05; done"]
# Until bgpd has each neighbor given after it Established (a fixed script: the addresses are its
# arguments), bounded by the connect-retries of a lab coming up.
WAIT_FOR_BGP = [
    *("timeout", "30", "sh", "-c"),
    'for n; do until vtysh -c "show bgp neighbors $n" | grep -q "BGP state = Established"; do sleep 0.05; done; done',
    "wait-for-bgp",
]


def labels(node: Node) -> dict[str, str]:
    """What a node is, as labels on its container (the runtimes add gwlab.lab, gwlab.node, gwlab.runtime)."""
    found: dict[str, str] = {"role": node.role}
    if node.site is not None:
        found["site"] = node.site
    if node.zone is not None:
        found["zone"] = str(node.zone)
    if node.standby:
        found["standby"] = "true"
    return found


def frr_command(node: Node, daemon: str) -> list[str]:
    """One FRR daemon of a node, daemonising, as the node's processes see the paths (bgpd of a node with
    BFD from its start-up configuration, lab.runtime.bgp_bfd)."""
    pid, log = f"{FRR_MOUNT}/{daemon}.pid", f"{FRR_MOUNT}/{daemon}.log"
    conf = f"{FRR_ETC}/{conf_name(node, daemon)}"
    return with_env(frr_argv(FRR_SBIN, daemon, conf, pid, log, pathspace=None, fds=fd_limit(node)), FRR_ENV)


def exabgp_command(node: Node, name: str = "exabgp", listen: tuple[str, int] | None = None) -> list[str]:
    """An ExaBGP speaker of the node from <name>.conf, its settings passed through env(1) so that the
    same line works as a containerlab exec line (which cannot set a variable for one command)."""
    settings = exabgp_env(
        f"{FRR_MOUNT}/{name}.pid",
        f"{FRR_MOUNT}/{name}.log",
        listen or speaker_listen(node),
        NODE_PATH,
        reactor_speed(node),
    )
    del settings["PATH"]  # the image's own (NODE_PATH)
    return with_env(["exabgp", "server", f"{CONFIG_MOUNT}/{name}.conf"], settings)


# A node's start commands in one exec: an exec is the costly part of starting daemons in containers
# (~40 ms of CPU on docker, ~60 ms on podman, whose CLI does the runtime's work itself; 40 of them for
# the default lab). In order; a command marked `later` is not waited for before the next one starts,
# only at the end; the first that fails ends it all, its name and stderr said. Fixed code, the
# commands passed to it as JSON data: no shell.
RUN_STEPS = """\
import json, subprocess, sys
def wait(name, proc):
    err = proc.communicate()[1].decode(errors="replace").strip()
    if proc.returncode:
        sys.exit(f"{name} (exit {proc.returncode}): {err}")
pending = []
for name, argv, later in json.loads(sys.argv[1]):
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if later:
        pending.append((name, proc))
    else:
        wait(name, proc)
for name, proc in pending:
    wait(name, proc)
"""
Step = tuple[str, list[str], bool]  # (what, argv, later: waited for at the end only)


def start_steps(node: Node) -> list[Step]:
    """What starts the node's daemons, in order: /run/frr; the ExaBGP speaker, first (its Python takes
    the longest to start, and bgpd connects to it: listening early saves a connect-retry); zebra and
    its socket; then zebra's clients together."""
    steps: list[Step] = []
    if node.is_router:
        steps.append(("/run/frr", MAKE_FRR_RUN_DIR, False))
    if node.speaker is not None:
        steps.append(("exabgp", exabgp_command(node), True))
    if node.is_router:
        names = frr_daemons(node)
        steps += [(names[0], frr_command(node, names[0]), False), ("zebra's socket", WAIT_FOR_ZEBRA, False)]
        steps += [(name, frr_command(node, name), True) for name in names[1:]]
    return steps


def start_commands(node: Node, bfd_lines: list[str]) -> list[list[str]]:
    """The same, one command after the other, then bgpd's BFD lines (`bfd_lines`, lab.runtime.bgp_bfd)
    once its sessions are up, as the runtimes give them from the host: the containerlab file's exec
    lines after its network ones."""
    commands = [argv for _, argv, _ in start_steps(node)]
    if bfd_lines:
        vtysh = ["vtysh", *(word for line in ["configure terminal", *bfd_lines] for word in ("-c", line))]
        commands += [[*WAIT_FOR_BGP, *guarded(node)], vtysh]
    return commands


def run_steps(steps: list[Step]) -> list[str]:
    """The command that runs `steps` inside a node (python3 of the image)."""
    return ["python3", "-c", RUN_STEPS, json.dumps(steps)]
