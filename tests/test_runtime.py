"""The namespace runtime, for real: every built-in lab comes up converged and goes down leaving nothing.

Root, real namespaces, real FRR and ExaBGP. Convergence is judged by the oracle (the model), not by
reading FRR back; nothing here sleeps to synchronise, it polls with deadlines.
"""

from __future__ import annotations

import functools
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from controller import converge
from controller.converge import up
from controller.oracle import predict
from lab.poll import poll
from lab.runtime import lifecycle, links
from lab.runtime.configure import configure_node
from lab.runtime.daemons import FRR_ENV, frr_daemons
from lab.runtime.lifecycle import down
from lab.runtime.links import IpsecEnd, LinkKind, Veth, Vxlan, ipsec
from lab.runtime.netlink import interface_index
from lab.runtime.netns import namespace_name
from lab.runtime.processes import read_pid, runs_in
from lab.runtime.running import attach
from lab.runtime.state import load_state
from tests.helpers import BUILTINS, REPO, require_root, run_gwlab
from tests.labs import host_links, lab_file, leftovers, unique

pytestmark = [pytest.mark.root, pytest.mark.slow]


@pytest.fixture(autouse=True)
def _root() -> None:
    require_root()


def lab_pids(name: str) -> list[int]:
    return attach(name).runtime.pids()


def still_converged(name: str) -> list[converge.Difference]:
    return converge.check(attach(name))


def ping(name: str, node: str, address: str) -> bool:
    lab = attach(name)
    result = lab.run(node, ["ping", "-c", "1", "-W", "1", address])
    return result.returncode == 0


@pytest.mark.host
@pytest.mark.parametrize("topology", BUILTINS)
def test_builtin_comes_up_converged_and_goes_down_leaving_nothing(topology: str) -> None:
    name = unique("t")
    links = host_links()
    try:
        result = up(topology, name=name)
        assert result.state.phase == "up"
        pids = lab_pids(name)
        # zebra, bgpd, staticd per router, bfdd where BFD runs, ExaBGP per speaker
        routers = list(result.topo.routers())
        speakers = [n for n in result.topo.nodes.values() if n.speaker]
        assert len(pids) >= 3 * len(routers) + len(speakers)
        # Each speaker (forked from the ExaBGP fork server) runs in its own node's namespace, as exabgp.
        for node in speakers:
            pid = read_pid(result.state.run_dir / node.name / "exabgp.pid")
            assert pid is not None and runs_in(pid, result.lab.runtime.netns_path(node.name)), node.name
            assert Path(f"/proc/{pid}/comm").read_text(encoding="ascii").strip() == "exabgp"
        # Every FRR daemon runs with FRR_ENV (one malloc arena), given by the runtime, not by env(1).
        for router in routers:
            for daemon in frr_daemons(router):
                pid = read_pid(result.lab.runtime.frr_dir(router.name) / f"{daemon}.pid")
                environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
                assert all(f"{k}={v}".encode() in environ for k, v in FRR_ENV.items()), (router.name, daemon)
        assert still_converged(name) == []
        vm = result.topo.nodes["vm"].address_on("vnet")
        assert ping(name, "s1-host", str(vm))
        assert missing_neighbors(name) == []
        assert bfd_resets(result.state.run_dir) == []
    finally:
        down(name)
    assert leftovers(name, pids) == []
    assert host_links() == links, "the host's own namespace gained or lost links"


def bfd_resets(run_dir: Path) -> list[str]:
    """BGP sessions reset because their BFD went down while the lab came up (lab.runtime.bgp_bfd)."""
    return [
        f"{log.parent.name}: {line.strip()}"
        for log in sorted(run_dir.glob("*/bgpd.log"))
        for line in log.read_text(errors="replace").splitlines()
        if "BFD Down" in line
    ]


def missing_neighbors(name: str) -> list[str]:
    """The lab's permanent neighbour entries and veth MACs (lab.topology.neighbors) that the kernel does
    not hold: the kernel's neighbour table is shared by every namespace, and only permanent entries stay
    out of its 1,024-entry limit."""
    lab = attach(name)
    missing = []
    for node in lab.topo.nodes.values():
        neigh = json.loads(lab.run(node.name, ["ip", "-4", "-j", "neigh", "show", "nud", "permanent"]).stdout)
        held = {(e["dst"], e["dev"], e.get("lladdr")) for e in neigh}
        missing += [
            f"{node.name}: {n.address} {n.dev} {n.mac}"
            for n in node.neighbors
            if (str(n.address), n.dev, n.mac) not in held
        ]
        links = {
            e["ifname"]: e.get("address") for e in json.loads(lab.run(node.name, ["ip", "-j", "link", "show"]).stdout)
        }
        missing += [
            f"{node.name}: {i.name} has MAC {links.get(i.name)}, not {i.mac}"
            for i in node.interfaces
            if i.kind in ("veth", "vti", "endpoint") and links.get(i.name) != i.mac
        ]
    return missing


def test_the_labs_up_only_builds_and_starts_and_the_controller_waits() -> None:
    """lab.runtime's up returns once the daemons run (it knows nothing of the oracle); the controller's
    wait then finds the lab converging to the prediction, through the runtime the state records."""
    name = unique("tw")
    try:
        started = lifecycle.up("active-active", name=name)
        assert started.lab.state.phase == "started" and started.lab.state.runtime == "netns"
        assert set(started.timings) == {"render", "namespaces", "daemons", "tunnels"}
        # A speaker writes its pid file just after it has daemonised.
        running = poll(
            started.lab.runtime.running_daemons,
            lambda found: all(all(d.values()) for d in found.values()),
            timeout_s=5,
            interval_s=0.02,
        )
        assert running.ok, running.value
        lab = attach(name)
        assert type(lab.runtime) is type(started.lab.runtime)
        ok, _, diffs = converge.wait(lab, predict(lab.topo), 30)
        assert ok, diffs
    finally:
        down(name)
    assert leftovers(name) == []


@pytest.mark.parametrize("kind", ["ipsec", "vxlan"])
def test_links_remove_and_deploy_themselves_again(kind: str, tmp_path: Path) -> None:
    """A veth and a tunnel end (VXLAN device, or IPsec end: charon, namespace, veths) removed, deployed
    again and configured as `up` does: traffic flows and the lab converges back (each link kind undoes
    and redoes itself on a running lab)."""
    name = unique("tl")
    try:
        lab = up(lab_file(tmp_path, "active-active", tunnels={"kind": kind}), name=name).lab
        veth = Veth(next(link for link in lab.topo.links if "vm" in (link.a, link.b)))
        gw0 = lab.node("gw0")
        tunnel: LinkKind
        if kind == "vxlan":
            tunnel = Vxlan("gw0", next(i for i in gw0.interfaces if i.kind == "vxlan"))
            gw0_ifnames = [tunnel.iface.name]
        else:
            tunnel = next(e for e in links.charons_of(lab.topo) if isinstance(e, IpsecEnd) and e.end.node == "gw0")
            gw0_ifnames = [tunnel.end.vti, tunnel.end.wan_if]
        ends = [(veth.link.a, veth.link.a_ifname), (veth.link.b, veth.link.b_ifname)]
        ends += [("gw0", i) for i in gw0_ifnames]
        with lab.runtime.handles() as handles:
            for link in (veth, tunnel):
                link.remove(handles)
            assert all(ifname not in interface_index(handles[node]) for node, ifname in ends)
            if isinstance(tunnel, IpsecEnd):
                assert not os.path.exists(tunnel.path) and not ipsec.charon_of(name, tunnel.end).running()
            for link in (veth, tunnel):
                link.deploy(handles)
            for node, ifname in ends:
                handles[node].in_thread(functools.partial(configure_node, lab.node(node), True, only={ifname}))
        if isinstance(tunnel, IpsecEnd):
            ipsec.settle([tunnel])
        ok, _, diffs = converge.wait(lab, predict(lab.topo), 30)
        assert ok, diffs
        assert ping(name, "s1-host", str(lab.node("vm").address_on("vnet")))
    finally:
        down(name)
    assert leftovers(name) == []


def test_two_labs_run_at_once_without_interfering() -> None:
    first, second = unique("ta"), unique("tb")
    try:
        up("hybrid", name=first)
        up("active-active", name=second)
        assert still_converged(first) == []
        assert still_converged(second) == []
        pids = lab_pids(first)
        down(first)
        assert leftovers(first, pids) == []
        assert still_converged(second) == [], "taking one lab down disturbed the other"
        assert ping(second, "s1-host", "10.1.0.4")
    finally:
        down(first)
        down(second)
    assert leftovers(second) == []


def test_a_failure_midway_through_up_leaves_nothing() -> None:
    name = unique("tf")

    class Injected(RuntimeError):
        pass

    def fail_once_daemons_run(phase: str, done: int, total: int) -> None:
        if phase == "daemons" and done >= total // 2:
            raise Injected("injected failure while daemons start")

    with pytest.raises(Injected):
        up("hybrid", name=name, progress=fail_once_daemons_run)
    assert leftovers(name) == []


def wait_for_phase(name: str, phases: set[str], deadline_s: float) -> str:
    state = poll(
        lambda: load_state(name),
        lambda found: found is not None and found.phase in phases,
        timeout_s=deadline_s,
        interval_s=0.02,
    )
    assert state.ok and state.value is not None, f"lab {name} never reached {phases}"
    return state.value.phase


@pytest.mark.parametrize("phase", ["starting", "converging"])
def test_sigint_during_up_leaves_nothing(phase: str) -> None:
    name = unique("ti")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "controller.cli.app", "up", "hybrid", "--name", name],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for_phase(name, {phase}, 30)
        pids = lab_pids(name)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 130, err
        assert b"interrupted" in err
        assert b"Traceback" not in err
    finally:
        if proc.poll() is None:
            proc.kill()
        down(name)
    assert leftovers(name, pids) == []


def test_down_after_kill_9_of_every_lab_process_cleans_everything() -> None:
    name = unique("tk")
    try:
        up("er-vpn", name=name)
        pids = lab_pids(name)
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        result = down(name)
        assert result.leftovers == []
    finally:
        down(name)
    assert leftovers(name, pids) == []


def test_down_is_idempotent() -> None:
    name = unique("tz")
    up("active-standby", name=name)
    assert down(name).was_up
    again = down(name)
    assert not again.was_up
    assert leftovers(name) == []


def test_down_works_without_the_state_file() -> None:
    """A crash that lost the run directory: down still finds the lab by its namespaces' names."""
    name = unique("ts")
    try:
        up("active-active", name=name)
        pids = lab_pids(name)
        state = load_state(name)
        assert state is not None
        (state.run_dir / "state.json").unlink()
        assert down(name).was_up
    finally:
        down(name)
    assert leftovers(name, pids) == []


@pytest.fixture
def cli_lab() -> Iterator[str]:
    name = unique("tc")
    yield name
    down(name)


def gwlab(*args: str) -> subprocess.CompletedProcess[str]:
    return run_gwlab(*args, timeout=120)


def test_cli_up_status_exec_down(cli_lab: str) -> None:
    result = gwlab("up", "dual-redundancy", "--name", cli_lab)
    assert result.returncode == 0, result.stderr
    assert "converged in" in result.stdout
    for phase in ("render", "namespaces", "daemons", "convergence"):
        assert f"{phase} " in result.stdout, result.stdout
    status = gwlab("status", cli_lab, "--json")
    assert status.returncode == 0, status.stderr
    import json

    data = json.loads(status.stdout)
    assert data["paths"]["s1->azure"] == ["gw0", "gw1"]
    # every session but the idle prefix-flood speaker's (it starts only with a flood failure)
    assert all(s["state"] == "Established" for s in data["sessions"] if s["kind"] != "flood")
    assert [s["state"] for s in data["sessions"] if s["kind"] == "flood"] == ["Active"] or all(
        s["state"] in ("Active", "Connect", "Idle") for s in data["sessions"] if s["kind"] == "flood"
    )
    assert all(all(n["daemons"].values()) for n in data["nodes"])
    listed = gwlab("list", "--json")
    assert cli_lab in [row["name"] for row in json.loads(listed.stdout)]
    ran = gwlab("exec", "--name", cli_lab, "s1-host", "--", "ping", "-c", "1", "-W", "1", "10.1.0.4")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    gone = gwlab("down", cli_lab)
    assert gone.returncode == 0, gone.stderr
    assert leftovers(cli_lab) == []
    again = gwlab("down", cli_lab)
    assert again.returncode == 0 and "not up" in again.stdout


def test_status_of_a_lab_whose_nodes_are_gone_says_so_and_down_finishes(cli_lab: str) -> None:
    """What a down that found leftovers leaves (seen at 200 sites: the run directory kept, the
    namespaces gone by the time anyone looks): status reports every node missing, without a traceback,
    and the next down removes the rest."""
    up("active-standby", name=cli_lab)
    state = load_state(cli_lab)
    assert state is not None
    saved = (state.run_dir / "state.json").read_bytes()
    down(cli_lab)
    state.run_dir.mkdir(parents=True)
    (state.run_dir / "state.json").write_bytes(saved)
    status = gwlab("status", cli_lab, "--json")
    assert status.returncode == 0 and "Traceback" not in status.stderr, status.stderr
    data = json.loads(status.stdout)
    assert data["nodes"] and not any(n["namespace"] for n in data["nodes"])
    assert data["tunnels"] and not any(t["running"] for t in data["tunnels"])
    gone = gwlab("down", cli_lab)
    assert gone.returncode == 0, gone.stderr
    assert not state.run_dir.exists() and leftovers(cli_lab) == []


def test_cli_up_that_does_not_converge_prints_what_differs_and_exits_1(cli_lab: str) -> None:
    """A real fault while `up` waits: gw0's processes killed once the lab is converging. up prints the
    differences table, exits 1 and leaves the lab up for inspection."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "200"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "controller.cli.app", "up", "active-active", "--name", cli_lab, "--timeout", "3"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for_phase(cli_lab, {"converging"}, 30)
        assert attach(cli_lab).runtime.stop_node("gw0") > 0
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1, out + err
    assert f"{cli_lab}: not converged" in err and "session" in err, err
    assert f"lab {cli_lab} did not converge within" in err and "Traceback" not in err
    state = load_state(cli_lab)
    assert state is not None and state.phase == "converging", "a lab that did not converge is left up"


def test_cli_up_refuses_bad_input_in_one_line_and_builds_nothing(cli_lab: str) -> None:
    for args, needle in (
        (["up", "no-such-lab", "--name", cli_lab], "not a file nor a built-in"),
        (["up", "hybrid", "--name", "Bad_Name"], "--name: 'Bad_Name' is not a valid lab name"),
    ):
        result = gwlab(*args)
        assert result.returncode == 2
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and needle in lines[0], result.stderr
    assert leftovers(cli_lab) == []
    assert not any(ns.startswith("Bad_Name") for ns in os.listdir("/run/netns"))


def test_up_refuses_a_name_already_up(cli_lab: str) -> None:
    up("active-active", name=cli_lab)
    result = gwlab("up", "hybrid", "--name", cli_lab)
    assert result.returncode == 1
    assert "already up" in result.stderr
    assert still_converged(cli_lab) == [], "the refused up touched the running lab"


def test_namespace_names_carry_the_lab_name() -> None:
    assert namespace_name("hybrid", "gw0") == "hybrid_gw0"


@pytest.mark.parametrize(
    "gateway",
    [{"type": "policy-based", "mode": "active-standby", "bgp": False}, {"mode": "active-active", "bgp": False}],
)
def test_static_routing_labs_carry_traffic(gateway: dict[str, object], tmp_path: Path) -> None:
    """Policy-based (and route-based without BGP): static routes over the tunnel, both ways."""
    path = tmp_path / "static.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "vnet": {"address_space": ["10.1.0.0/16"], "gateway_subnet": "10.1.255.0/27"},
                "vpn_gateway": gateway,
                "onprem": {"sites": [{"name": "s1", "asn": 65010, "prefixes": ["192.168.10.0/24"]}]},
            }
        ),
        encoding="utf-8",
    )
    name = unique("tp")
    try:
        result = up(str(path), name=name)
        assert result.prediction.paths["s1->azure"]
        assert ping(name, "s1-host", "10.1.0.4")
        assert ping(name, "vm", "192.168.10.2")
    finally:
        down(name)
    assert leftovers(name) == []


def test_two_downs_at_once_take_turns_and_leave_nothing() -> None:
    """An interrupted `up` cleans after itself with `down` while the user may run `gwlab down`: one
    removes the lab, the other then finds it gone, and neither reports the other's removals as left."""
    name = unique("t")
    up("active-active", name=name)
    pids = lab_pids(name)
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(down, [name, name]))
    assert [r.leftovers for r in results] == [[], []]
    assert sorted(r.was_up and r.processes > 0 for r in results) == [False, True]
    assert leftovers(name, pids) == []
