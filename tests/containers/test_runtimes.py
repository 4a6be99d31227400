"""The docker and podman runtimes, for real: every built-in lab up and converged on docker and podman at
once, on docker deployed exactly as its containerlab file says, a failure and its restore converged,
and down leaving nothing (the host's forwarding sysctls, nftables ruleset and links as they were);
er-failover and p2s-failover (an instance crash) as scenarios on docker and on podman; the command line
and the pytest plugin (an instance crash with probes) on docker; a netns lab and a docker lab at once.

Root, real containers, FRR and ExaBGP inside them. Convergence is judged by the oracle, as on netns.
"""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from controller import converge
from controller.converge import up
from controller.oracle import predict
from lab.runtime.containers.engine import Engine
from lab.runtime.lifecycle import down
from lab.runtime.running import attach
from tests.containers.conftest import until
from tests.helpers import BUILTINS, FULL_TESTS, REPO, gwlab, run_gwlab
from tests.labs import host_state, leftovers, reached, unique

pytestmark = [pytest.mark.slow, pytest.mark.containers, pytest.mark.root]


def ping(name: str, node: str, address: str) -> bool:
    return attach(name).run(node, ["ping", "-c", "1", "-W", "1", address]).returncode == 0


# Per built-in, a failure that exercises what a container changes: a container killed and started again
# (its IPsec ends' endpoint namespaces connected to its new network namespace), an active/standby
# takeover (the standby's charons start), IKE (keys, selectors, DPD, delete) between endpoints beside
# containers; er-failover and p2s-failover run as whole scenarios below.
BUILTIN_FAILURES = {
    "active-standby": ("gw0", "crash"),
    "active-active": ("s1-vpn0~gw0", "psk-mismatch"),
    "dual-redundancy": ("s1-vpn0", "crash"),
    "er-vpn": ("msee0", "crash"),
    "hybrid": ("s1-vpn0~gw1", "blackhole"),
    "point-to-site": ("s1-vpn0~gw0", "down"),
    "policy-based": ("s1-vpn0~gw0", "selector-mismatch"),
    "vnet-to-vnet": ("v2-gw0~gw0", "down"),
    "zone-redundant": ("zone1", "crash"),
}


def test_every_builtin_has_a_failure_here() -> None:
    assert sorted(BUILTIN_FAILURES) == BUILTINS


# `make test`: an active/standby takeover (the standby's charons start, a container is killed and
# started again) and the default lab (ExpressRoute beside IPsec, DPD); `make test-full`: every built-in.
@pytest.mark.parametrize("topology", BUILTINS if FULL_TESTS else ["active-standby", "hybrid"])
def test_builtin_on_docker_and_podman(topology: str, docker: Engine, podman: Engine) -> None:
    """Up converged on both engines at once (two processes, tests/containers/drive.py), on docker exactly
    as its containerlab file says, the failure converged as the oracle predicts, restored and converged
    back, down leaving nothing: no container, namespace (nodes' and IPsec endpoints'), process or file,
    and the host's forwarding sysctls, nftables ruleset and links as they were."""
    target, mode = BUILTIN_FAILURES[topology]
    before = host_state()
    names = {runtime: unique(f"cb{runtime[0]}") for runtime in ("docker", "podman")}
    drivers = {
        runtime: subprocess.Popen(
            [sys.executable, "-m", "tests.containers.drive", topology, runtime, name, target, mode],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for runtime, name in names.items()
    }
    for runtime, proc in drivers.items():
        stdout, stderr = proc.communicate(timeout=300)
        assert proc.returncode == 0, f"{runtime}: {stderr[-3000:]}"
        run = json.loads(stdout.splitlines()[-1])
        assert "error" not in run, f"{runtime}: {run['error']}"
        assert run["ping"], f"{runtime}: s1-host does not reach the VM"
        assert run["up"]["ok"]
        assert run["clab_differences"] == [] if runtime == "docker" else "clab_differences" not in run
        assert run["unnoticed_mutations"] == [] if runtime == "docker" else True
        assert run["fail"]["ok"], f"{runtime}: {target} {mode}: {run['fail']}"
        assert run["restore"]["ok"], f"{runtime}: restore {target}: {run['restore']}"
        assert run["down"]["leftovers"] == []
        assert leftovers(run["lab"], run["pids"]) == [], runtime
    assert host_state() == before, "the host's forwarding sysctls, nftables ruleset or links changed"


@pytest.mark.parametrize("scenario", ["er-failover", "p2s-failover"] if FULL_TESTS else ["er-failover"])
def test_scenario_on_docker_and_podman(scenario: str, docker: Engine, podman: Engine, tmp_path: Path) -> None:
    """Both engines at once, each in its own `gwlab run`: a scenario mostly waits on timers, so two of
    them share two cores with time to spare (and their labs must not disturb each other)."""
    runs = {}
    for runtime in ("docker", "podman"):
        report = tmp_path / runtime
        runs[runtime] = gwlab("run", scenario, "--runtime", runtime, "--report", str(report), stderr=subprocess.STDOUT)
    outputs = {runtime: proc.communicate(timeout=480)[0] for runtime, proc in runs.items()}  # two at once, loaded
    for runtime, proc in runs.items():
        report = tmp_path / runtime / "report.json"
        assert report.exists(), f"{runtime}: no report (exit {proc.returncode}):\n{outputs[runtime][-3000:]}"
        data = json.loads(report.read_text())
        failed = [e for e in data["expectations"] if not e["passed"]]
        assert proc.returncode == 0 and data["passed"], f"{runtime}: {failed}\n{outputs[runtime][-3000:]}"
        assert data["failures"], runtime
        assert leftovers(data["lab"]) == [], runtime


USER_TESTS = """
def test_instance_crash_on_docker(gwlab_lab, gwlab_probes, gwlab_fail):
    lab = gwlab_lab("active-active", runtime="docker")
    assert lab.runtime.name == "docker"
    with gwlab_probes(lab, flows=4, rate=100) as probes:
        outcome = gwlab_fail(lab, "gw0", "crash")
    flows, arrivals = probes.result
    assert outcome.converged and outcome.detection == "dpd"
    assert outcome.paths == {"s1->azure": ["gw1"], "azure->s1": ["gw1"]}
    assert {a.path.split("/")[0] for a in arrivals} >= {"gw0", "gw1"}
"""


def test_plugin_drives_a_docker_lab(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, docker: Engine) -> None:
    """gwlab_lab(..., runtime="docker"), probes and a crash failure, restored after the test."""
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    pytester.makepyfile(test_user=USER_TESTS)
    result = pytester.runpytest_subprocess(
        "-p", "no:gwlab", "-p", "controller.pytest_plugin", "--rootdir", str(pytester.path), "-q",
        "-W", "ignore::pytest.PytestAssertRewriteWarning",
    )  # fmt: skip
    result.assert_outcomes(passed=1)


def test_netns_and_docker_labs_run_at_once(docker: Engine) -> None:
    first, second = unique("cn"), unique("cd")
    try:
        up("active-active", name=first, runtime="netns")
        up("active-active", name=second, runtime="docker")
        for name in (first, second):
            assert converge.check(attach(name)) == [], name
            assert ping(name, "s1-host", "10.1.0.4"), name
        down(second)
        assert leftovers(second) == []
        assert converge.check(attach(first)) == [], "taking the docker lab down disturbed the netns one"
    finally:
        down(first)
        down(second)
    assert leftovers(first) == []


def read_until(fd: int, needle: bytes, timeout_s: float) -> bytes:
    seen = b""
    deadline = time.monotonic() + timeout_s
    while needle not in seen:
        left = deadline - time.monotonic()
        assert left > 0, f"{needle!r} not seen: {seen[-500:]!r}"
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            try:
                seen += os.read(fd, 65536)
            except OSError:  # the terminal closed
                break
    return seen


def interactive(args: list[str], typed: bytes, expect: bytes) -> bytes:
    """`gwlab ARGS` on a terminal of its own (a pty), `typed` sent; its output until `expect`."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: exec gwlab on the pty
        os.environ["PYTHONPATH"] = str(REPO)
        os.chdir(REPO)
        os.execv(sys.executable, [sys.executable, "-m", "controller.cli.app", *args])
    try:
        os.write(fd, typed)
        return read_until(fd, expect, 30)
    finally:
        with_exit = os.waitpid(pid, os.WNOHANG)
        if with_exit == (0, 0):
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        os.close(fd)


def test_cli_on_docker(docker: Engine) -> None:
    """up that does not converge (a real crash while it waits) prints the differences table and exits 1,
    as on netns; the crashed node started again converges; status, exec and shell work; down cleans."""
    name = unique("cc")
    proc = gwlab("up", "active-active", "--name", name, "--runtime", "docker", "--timeout", "4")
    try:
        until(lambda: reached(name, "converging"), 120, "up converging")
        assert attach(name).runtime.stop_node("gw0") > 0
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 1, out + err
        assert f"{name}: not converged" in err and "session" in err and "Traceback" not in err, err
        lab = attach(name)
        assert not lab.runtime.node_present("gw0")
        lab.runtime.start_node("gw0")
        ok, _, diffs = converge.wait(lab, predict(lab.topo), 30)
        assert ok, diffs

        status = run_gwlab("status", name, "--json")
        assert status.returncode == 0, status.stderr
        data = json.loads(status.stdout)
        assert data["paths"]["s1->azure"] == ["gw0", "gw1"]
        assert all(all(n["daemons"].values()) and n["namespace"] for n in data["nodes"])
        assert all(s["state"] == "Established" for s in data["sessions"] if s["kind"] != "flood")
        listed = {row["name"]: row["runtime"] for row in json.loads(run_gwlab("list", "--json").stdout)}
        assert listed[name] == "docker"
        ran = run_gwlab("exec", "--name", name, "s1-host", "--", "ping", "-c", "1", "-W", "1", "10.1.0.4")
        assert ran.returncode == 0, ran.stdout + ran.stderr
        inside = run_gwlab("exec", "--name", name, "gw0", "--", "cat", "/etc/hostname")
        assert inside.stdout.strip() == "gw0", "exec runs inside the node's container"
        shell = interactive(["shell", "--name", name, "s1-host"], b"echo node-$(hostname)\nexit\n", b"node-s1-host")
        assert b"node-s1-host" in shell
        vtysh = interactive(["shell", "--name", name, "gw0"], b"show bgp summary\nexit\n", b"172.30.0.5")
        assert b"172.30.0.5" in vtysh, "the host's vtysh on the container's FRR sockets"

        gone = run_gwlab("down", name)
        assert gone.returncode == 0 and "docker" in gone.stdout, gone.stdout + gone.stderr
    finally:
        if proc.poll() is None:
            proc.kill()
        down(name)
    assert leftovers(name) == []
