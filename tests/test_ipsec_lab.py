"""IPsec tunnels in real labs: ECMP over four tunnels, keys nowhere but their private files, IKE failures
seen in `status` with the log's reason, point-to-site on active/active, and nothing left on the host
after `down`, also after kill -9. Root, real namespaces, FRR, ExaBGP and charon."""

from __future__ import annotations

import base64
import json
import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pyroute2 import netns

from controller.converge import up
from controller.failures import inject, resolve, restore
from controller.observe import tunnels
from controller.oracle import predict
from controller.probes import ProbeSession
from controller.session import LabSession
from lab.runtime import links, tunnelops
from lab.runtime.lifecycle import down
from lab.runtime.links import ipsec
from lab.runtime.running import RunningLab, attach
from lab.runtime.state import RUN_ROOT
from tests.helpers import REPO, require_root, require_tool
from tests.labs import lab_file, leftovers, processes_mentioning, unique

pytestmark = [pytest.mark.root, pytest.mark.slow]


@pytest.fixture(autouse=True)
def _tools() -> None:
    require_root()
    require_tool("swanctl")


LabUp = Callable[[str, str], RunningLab]


@pytest.fixture
def lab_up() -> Iterator[LabUp]:
    names: list[str] = []

    def bring_up(source: str, prefix: str) -> RunningLab:
        name = unique(prefix)
        names.append(name)
        return up(source, name=name).lab

    yield bring_up
    for name in names:
        down(name)
        assert leftovers(name) == []


def host_state() -> tuple[str, str, str]:
    """The host's rules, routes and resolver: what strongSwan must never touch."""
    rules = subprocess.run(["ip", "rule"], capture_output=True, text=True, check=True).stdout
    routes = subprocess.run(["ip", "route", "show", "table", "all"], capture_output=True, text=True, check=True).stdout
    return rules, routes, Path("/etc/resolv.conf").read_text(errors="replace")


def key_forms(key: str) -> list[str]:
    raw = key.encode()
    return [key, base64.b64encode(raw).decode(), raw.hex(), " ".join(f"{b:02x}" for b in raw[:8])]


def assert_key_only_in_private_files(lab: RunningLab, key: str, *outputs: str) -> None:
    forms = key_forms(key)
    for text in outputs:
        assert not any(f in text for f in forms), "key material in an output"
    for path in lab.state.run_dir.rglob("*"):
        if not path.is_file() or path.is_socket():
            continue
        mode = stat.S_IMODE(os.stat(path).st_mode)
        if path.name in ("secrets.conf", ipsec.LAB_KEY):
            assert mode == 0o600, path
            continue
        text = path.read_bytes().decode(errors="replace")
        assert not any(f in text for f in forms), f"key material in {path}"
    assert stat.S_IMODE(os.stat(ipsec.lab_dir(lab.name)).st_mode) == 0o700


def sa_packets(lab: RunningLab) -> dict[tuple[str, str], tuple[int, int]]:
    """(tunnel, end) -> (packets in, packets out) over its CHILD_SAs."""
    out = {}
    for t, e in lab.topo.tunnel_ends():
        sas = tunnelops.charon(lab, e).sas()
        out[(t.name, e.node)] = (
            sum(c.packets_in for s in sas for c in s.children),
            sum(c.packets_out for s in sas for c in s.children),
        )
    return out


def test_ecmp_over_four_tunnels_and_keys_nowhere_else(lab_up: LabUp, record_property: Callable[..., None]) -> None:
    lab = lab_up("dual-redundancy", "ie")
    ends = tunnels(lab)
    assert len(ends) == 8
    assert all(e["running"] and e["state"]["ike"] == "ESTABLISHED" and e["state"]["child"] == "INSTALLED" for e in ends)
    before = sa_packets(lab)
    with ProbeSession(lab, flows_per_direction=16, rate_pps=100) as probes:
        time.sleep(2.0)  # traffic for the counters: time passing, not synchronisation
        probes.stop()
    after = sa_packets(lab)
    moved = {k: (after[k][0] - before[k][0], after[k][1] - before[k][1]) for k in after}
    # Every one of the four tunnels carried flows both ways: ECMP on-prem (device -> core spreads them over
    # both devices, each over both instances) and in Azure (the VNet over both instances, each to both).
    for (tunnel, end), (received, sent) in moved.items():
        assert received > 0 and sent > 0, f"{tunnel} at {end}: {moved}"
    status_json = subprocess.run(
        [sys.executable, "-m", "controller.cli.app", "status", lab.name, "--json"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert len(json.loads(status_json)["tunnels"]) == 8
    for t in lab.topo.tunnels:
        assert t.ipsec is not None
        key = ipsec.connection_psk(lab.topo, t.ipsec.connection)
        assert_key_only_in_private_files(lab, key, status_json, json.dumps(ends))
    record_property("packets_per_tunnel_end", json.dumps({f"{t}@{e}": v for (t, e), v in moved.items()}))


def test_a_key_mismatch_is_shown_with_its_reason_and_repaired(lab_up: LabUp) -> None:
    lab = lab_up("active-active", "ik")
    failure = resolve(lab, "s1-vpn0~gw0", "psk-mismatch")
    assert failure.detection().mechanism == "ike-auth"
    inject(lab, failure)
    assert LabSession(lab).wait_converged(20).ok
    shown = {e["end"]: e for e in tunnels(lab) if e["tunnel"] == "s1-vpn0~gw0"}
    assert shown["s1-vpn0"]["problem"] == "pre-shared key mismatch: authentication failed"
    assert shown["gw0"]["state"]["child"] == "NONE"
    wrong = ipsec.connection_psk(lab.topo, "s1-vpn0", "mismatch")
    right = ipsec.connection_psk(lab.topo, "s1-vpn0")
    for key in (wrong, right):
        assert_key_only_in_private_files(lab, key, json.dumps(tunnels(lab)))
    restore(lab, failure)
    assert LabSession(lab).wait_converged(20).ok
    assert all(e["state"]["child"] == "INSTALLED" for e in tunnels(lab) if e["running"])


def test_point_to_site_on_active_active_clients_alternate_instances(lab_up: LabUp, tmp_path: Path) -> None:
    p2s = {"mode": "active-active", "p2s": {"address_pool": "172.16.201.0/28", "clients": 2}}
    lab = lab_up(lab_file(tmp_path, "active-active", vpn_gateway=p2s), "ip")
    assert predict(lab.topo).p2s == {"p2s0": "gw0", "p2s1": "gw1"}
    assert lab.topo.p2s is not None
    vm = str(lab.node("vm").address_on("vnet"))
    for client in lab.topo.p2s.clients:
        shown = [e for e in tunnels(lab) if e["end"] == client.node]
        assert list(shown[0]["state"]["virtual_ips"]) == [str(client.vip)]
        ping = lab.run(client.node, ["ping", "-c", "3", "-i", "0.2", "-W", "1", vm])
        assert ping.returncode == 0, ping.stdout
        back = lab.run("vm", ["ping", "-c", "2", "-i", "0.2", "-W", "1", str(client.vip)])
        assert back.returncode == 0, back.stdout


@pytest.mark.host
def test_down_after_kill_9_leaves_no_charon_namespace_rule_or_route() -> None:
    name = unique("iz")
    host = host_state()
    try:
        lab = up("point-to-site", name=name).lab
        charons = [e.recorded(lab.runtime.netns_path) for e in ipsec_charons(lab)]
        pids = [c.pid for c in charons if c.pid is not None]
        assert len(pids) == 5  # two site-to-site ends, gw0's P2S end, two clients (gw1: standby)
        for pid in lab.runtime.pids() + pids:
            os.kill(pid, signal.SIGKILL)
    finally:
        result = down(name)
    assert result.leftovers == []
    assert leftovers(name) == []
    assert processes_mentioning(str(RUN_ROOT / name)) == []
    assert not [n for n in netns.listnetns() if n.startswith(f"{name}_")]
    assert host_state() == host, "the host's rules, routes or resolver changed"


def ipsec_charons(lab: RunningLab) -> list[ipsec.CharonEnd]:
    return [e for e in links.charons_of(lab.topo) if e.recorded(lab.runtime.netns_path).running()]


def test_ipsec_without_strongswan_is_one_line_and_builds_nothing() -> None:
    name = unique("in")
    env = {**os.environ, "PYTHONPATH": str(REPO), "GWLAB_CHARON": "/nonexistent/charon"}
    run = subprocess.run(
        [sys.executable, "-m", "controller.cli.app", "up", "active-active", "--name", name],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode != 0
    lines = [ln for ln in (run.stdout + run.stderr).splitlines() if ln.strip()]
    assert len(lines) == 1 and "strongSwan not found" in lines[0] and "tunnel kind vxlan" in lines[0], lines
    assert "Traceback" not in run.stderr
    assert leftovers(name) == [] and attach_fails(name)


def attach_fails(name: str) -> bool:
    try:
        attach(name)
    except Exception:
        return True
    return False
