"""What a node container is given and runs, without an engine: the start commands and their order,
the launcher that runs them in one exec (run for real here, by the host's python3), the `run`
arguments of a node."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from lab.load import load
from lab.render import render_all
from lab.runtime import bgp_bfd
from lab.runtime.containers import layout, nodes
from lab.runtime.containers.engine import Engine


def launch(steps: list[layout.Step], timeout: float = 20) -> subprocess.CompletedProcess[str]:
    argv = layout.run_steps(steps)
    assert argv[0] == "python3"
    return subprocess.run([sys.executable, *argv[1:]], capture_output=True, text=True, timeout=timeout, check=False)


def test_a_router_starts_its_speaker_first_and_zebra_before_its_clients() -> None:
    gw0 = load("hybrid").nodes["gw0"]
    steps = layout.start_steps(gw0)
    assert [name for name, _, _ in steps] == ["/run/frr", "exabgp", "zebra", "zebra's socket", "bgpd", "staticd"]
    waited = {name: not later for name, _, later in steps}
    assert waited == {
        "/run/frr": True,
        "exabgp": False,  # its Python starts while FRR does; waited for at the end
        "zebra": True,
        "zebra's socket": True,  # bgpd finding no socket would retry only 10 s later
        "bgpd": False,
        "staticd": False,
    }
    assert layout.start_commands(gw0, []) == [argv for _, argv, _ in steps]
    hosts = [n for n in load("hybrid").nodes.values() if not n.is_router]
    assert all(layout.start_steps(n) == [] for n in hosts)


def test_every_daemon_writes_only_under_the_nodes_run_dir() -> None:
    """/etc is mounted read-only under clabernetes: pid files and logs go to /run/frr."""
    topo = load("hybrid")
    files = render_all(topo)
    for node in topo.nodes.values():
        for argv in layout.start_commands(node, bgp_bfd.bfd_lines(files.get(f"{node.name}/frr.conf", ""))):
            for word in argv:
                path = word.split("=", 1)[-1].removeprefix("file:")
                if path.endswith((".pid", ".log")):
                    assert path.startswith(f"{layout.FRR_MOUNT}/"), f"{node.name}: {word}"


def test_the_launcher_reports_the_first_failure_in_one_line() -> None:
    done = launch([("fine", ["true"], False), ("broken", ["sh", "-c", "echo no such thing >&2; exit 3"], False)])
    assert done.returncode != 0
    assert done.stderr.strip().splitlines() == ["broken (exit 3): no such thing"]
    later = launch([("slow", ["sh", "-c", "echo it failed late >&2; exit 4"], True), ("fine", ["true"], False)])
    assert later.returncode != 0 and later.stderr.strip() == "slow (exit 4): it failed late"
    assert launch([("fine", ["true"], False), ("also", ["true"], True)]).returncode == 0


def test_a_later_command_does_not_hold_up_the_next(tmp_path: Path) -> None:
    """The first command blocks until the second has run: only a launcher that starts the second without
    waiting for the first can finish (otherwise the timeout ends it)."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    done = launch(
        [("reader", ["sh", "-c", f"cat {fifo} >/dev/null"], True), ("writer", ["sh", "-c", f"echo x > {fifo}"], False)],
        timeout=10,
    )
    assert done.returncode == 0, done.stderr


def test_a_node_container_is_never_privileged_and_never_pulls(tmp_path: Path) -> None:
    fake = Engine("docker", None)  # type: ignore[arg-type]  # run_args only reads its name
    spec = nodes.NodeSpec("lab1", "gw0", "gwlab/node:abc", tmp_path / "c", tmp_path / "f", cgroup_parent="/")
    args = nodes.run_args(fake, spec)
    assert "--privileged" not in args
    assert args[args.index("--network") + 1] == "none" and args[args.index("--pull") + 1] == "never"
    assert [args[i + 1] for i, a in enumerate(args) if a == "--cap-add"] == list(layout.CAPABILITIES)
    assert args[args.index("--cgroup-parent") + 1] == "/"
    assert f"{tmp_path / 'c'}:{layout.CONFIG_MOUNT}:rw" in args and f"{tmp_path / 'f'}:{layout.FRR_MOUNT}:rw" in args
    assert {"gwlab.lab=lab1", "gwlab.node=gw0", "gwlab.runtime=docker"} <= set(args)
    assert args[-1] == "gwlab/node:abc"
    default = nodes.run_args(fake, nodes.NodeSpec("lab1", "gw0", "x", tmp_path, tmp_path))
    assert "--cgroup-parent" not in default
