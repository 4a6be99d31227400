"""Node containers on docker and on podman: two nodes wired with a veth from the host, FRR inside each,
the BGP session seen Established through the host-side vty socket; crash (kill) and start again; charon
makes its TUN device; removal by label leaves nothing, also after kill -9 of the process that made them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from pyroute2 import IPRoute

from lab.errors import GwlabError
from lab.runtime.containers import image, nodes
from lab.runtime.containers.engine import Engine
from lab.runtime.frr import bgp_peers
from lab.runtime.netns import FRR_RUN_ROOT
from lab.runtime.processes import alive
from tests.containers.conftest import until
from tests.labs import unique

pytestmark = [pytest.mark.slow, pytest.mark.containers, pytest.mark.root]

CAP = {"NET_BIND_SERVICE": 10, "NET_ADMIN": 12, "NET_RAW": 13, "SYS_MODULE": 16, "SYS_ADMIN": 21, "SYS_RESOURCE": 24}
FRR_CONF = """\
frr defaults datacenter
hostname {node}
log file /etc/gwlab/frr.log
!
router bgp {asn}
 bgp router-id {address}
 no bgp ebgp-requires-policy
 neighbor {peer} remote-as {peer_asn}
 neighbor {peer} timers 1 3
 neighbor {peer} timers connect 1
!
"""


def lab_name(engine: Engine, prefix: str) -> str:
    return unique(f"{prefix}{engine.name[0]}")


@pytest.fixture
def lab_dirs(tmp_path: Path) -> Iterator[dict[str, Path]]:
    """Host dirs the nodes' FRR sockets land in, removed (with FRR's stale pid files) afterwards."""
    made: dict[str, Path] = {}
    yield made
    for path in made.values():
        subprocess.run(["rm", "-rf", str(path)], check=False)


def spec(engine: Engine, tag: str, lab: str, node: str, tmp: Path, dirs: dict[str, Path]) -> nodes.NodeSpec:
    uid, gid = image.frr_owner(engine, tag)
    config, frr_dir = tmp / lab / node, FRR_RUN_ROOT / f"{lab}_{node}"
    dirs[node] = frr_dir
    for path in (config, frr_dir):
        path.mkdir(parents=True, exist_ok=True)
        os.chown(path, uid, gid)
    return nodes.NodeSpec(lab, node, tag, config, frr_dir)


def links(pid: int) -> set[str]:
    with IPRoute(netns=nodes.netns_path(pid), flags=0) as ns:  # flags=0: never create a namespace
        return {link.get_attr("IFLA_IFNAME") for link in ns.get_links()}


def wire(a: nodes.NodeContainer, b: nodes.NodeContainer, prefix: str) -> None:
    """A veth between two containers, both ends created straight in their namespaces (nothing on the
    host), addressed <prefix>.1 and .2 /30 and up (containers.md section 3)."""
    with IPRoute() as ipr:
        ipr.link(
            "add",
            ifname=f"eth-{b.node}",
            kind="veth",
            net_ns_pid=a.pid,
            peer={"ifname": f"eth-{a.node}", "net_ns_pid": b.pid},
        )
    for host, (node, peer) in enumerate(((a, b), (b, a)), start=1):
        with IPRoute(netns=node.netns, flags=0) as ns:
            index = ns.link_lookup(ifname=f"eth-{peer.node}")[0]
            ns.addr("add", index=index, address=f"{prefix}.{host}", prefixlen=30)
            ns.link("set", index=index, state="up")


def cap_eff(pid: int) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        return int(next(line for line in f if line.startswith("CapEff:")).split()[1], 16)


def start_frr(engine: Engine, node: nodes.NodeContainer, frr_dir: Path) -> None:
    daemon = ["-d", "-f", "/etc/gwlab/frr.conf", "-u", "frr", "-g", "frr", "-P", "0"]
    zebra = nodes.exec_in(engine, node.name, ["zebra", *daemon])
    assert zebra.returncode == 0, zebra.stderr
    until(lambda: (frr_dir / "zserv.api").exists(), 10, f"{node.node}: zebra's socket")
    bgpd = nodes.exec_in(engine, node.name, ["bgpd", *daemon])
    assert bgpd.returncode == 0, bgpd.stderr


def test_bgp_between_two_node_containers(
    any_engine: Engine, node_image: str, tmp_path: Path, lab_dirs: dict[str, Path]
) -> None:
    engine, lab = any_engine, lab_name(any_engine, "cn")
    specs = [spec(engine, node_image, lab, n, tmp_path, lab_dirs) for n in ("r1", "r2")]
    try:
        made = nodes.create_all(engine, specs)
        r1, r2 = made["r1"], made["r2"]
        assert (r1.name, r2.name) == (f"gwlab-{lab}-r1", f"gwlab-{lab}-r2")
        details = engine.client.container.inspect(r1.name)
        assert details.config.labels is not None
        assert {k: details.config.labels[k] for k in ("gwlab.lab", "gwlab.node", "gwlab.runtime")} == {
            "gwlab.lab": lab,
            "gwlab.node": "r1",
            "gwlab.runtime": engine.name,
        }
        assert details.host_config.privileged is False and details.config.hostname == "r1"
        caps = cap_eff(r1.pid)
        for name in ("NET_ADMIN", "SYS_ADMIN", "NET_RAW", "NET_BIND_SERVICE"):
            assert caps & (1 << CAP[name]), f"{name} missing"
        assert not caps & (1 << CAP["SYS_MODULE"]) and not caps & (1 << CAP["SYS_RESOURCE"])
        assert links(r1.pid) == {"lo"}

        host_forwarding = Path("/proc/sys/net/ipv4/ip_forward").read_text()
        nodes.write_sysctls(r1.pid, {"net.ipv4.ip_forward": "1", "net.ipv4.fib_multipath_hash_policy": "1"})
        inside = nodes.exec_in(
            engine, r1.name, ["cat", "/proc/sys/net/ipv4/ip_forward", "/proc/sys/net/ipv4/fib_multipath_hash_policy"]
        )
        assert inside.stdout.split() == ["1", "1"]
        assert Path("/proc/sys/net/ipv4/ip_forward").read_text() == host_forwarding

        wire(r1, r2, "192.0.2")
        assert links(r1.pid) == {"lo", "eth-r2"} and links(r2.pid) == {"lo", "eth-r1"}
        for node, asn, address, peer, peer_asn in (
            (r1, 65001, "192.0.2.1", "192.0.2.2", 65002),
            (r2, 65002, "192.0.2.2", "192.0.2.1", 65001),
        ):
            conf = specs[0 if node is r1 else 1].config_dir / "frr.conf"
            conf.write_text(FRR_CONF.format(node=node.node, asn=asn, address=address, peer=peer, peer_asn=peer_asn))
            conf.chmod(0o644)
            start_frr(engine, node, lab_dirs[node.node])
        # Read from the host, through the vty socket FRR made in the bound /run/frr.
        until(
            lambda: bgp_peers(FRR_RUN_ROOT / f"{lab}_r1").get("192.0.2.2", {}).get("state") == "Established",
            30,
            "r1 -> r2 Established (host-side vty)",
        )
        assert nodes.exec_in(engine, r1.name, ["ping", "-c", "1", "-W", "2", "192.0.2.2"]).returncode == 0
        failed = nodes.exec_in(engine, r1.name, ["sh", "-c", "echo out; echo err >&2; exit 3"])
        assert (failed.returncode, failed.stdout, failed.stderr) == (3, "out\n", "err\n")

        # Crash r1: its processes and namespace go at once, and with it r2's end of the veth.
        old = r1.pid
        nodes.kill(engine, r1.name)
        until(lambda: not alive(old), 10, "r1's init gone")
        until(lambda: links(r2.pid) == {"lo"}, 10, "r2's veth end gone with r1's namespace")
        assert nodes.pid(engine, r1.name) == 0
        with pytest.raises(GwlabError, match=r"is not running"):
            nodes.exec_in(engine, r1.name, ["true"])
        new = nodes.start(engine, r1.name)
        assert new not in (0, old) and links(new) == {"lo"}
        assert os.stat(nodes.netns_path(new)).st_ino != os.stat(nodes.netns_path(r2.pid)).st_ino
        assert nodes.exec_in(engine, r1.name, ["true"]).returncode == 0
        nodes.stop(engine, r2.name, grace_s=1)
        assert nodes.pid(engine, r2.name) == 0
        assert lab in nodes.labs(engine)
    finally:
        removed = nodes.remove_lab(engine, lab)
    assert len(removed) == 2
    assert nodes.lab_containers(engine, lab) == [] and lab not in nodes.labs(engine)


def test_charon_makes_its_tun_device_in_a_node(
    any_engine: Engine, node_image: str, tmp_path: Path, lab_dirs: dict[str, Path]
) -> None:
    """charon with kernel-libipsec (userspace ESP) starts in a node and creates ipsec0."""
    engine, lab = any_engine, lab_name(any_engine, "ci")
    node_spec = spec(engine, node_image, lab, "vpn", tmp_path, lab_dirs)
    (node_spec.config_dir / "strongswan.conf").write_text(
        "charon {\n load_modular = no\n"
        " load = random nonce openssl pem pkcs1 x509 pubkey kernel-libipsec kernel-netlink socket-default vici\n"
        " filelog { main { path = /etc/gwlab/charon.log\n default = 1 } }\n}\n"
    )
    try:
        node = nodes.create_all(engine, [node_spec])["vpn"]
        nodes.start_daemon(
            engine, node.name, ["/usr/lib/ipsec/charon"], env={"STRONGSWAN_CONF": "/etc/gwlab/strongswan.conf"}
        )
        until(lambda: "ipsec0" in links(node.pid), 15, "charon's ipsec0")
        assert "ipsec0" not in {link for link in _host_links()}
    finally:
        nodes.remove_lab(engine, lab)


def _host_links() -> set[str]:
    with IPRoute() as ipr:
        return {link.get_attr("IFLA_IFNAME") for link in ipr.get_links()}


def test_failed_create_leaves_nothing(any_engine: Engine, node_image: str, tmp_path: Path) -> None:
    engine, lab = any_engine, lab_name(any_engine, "cf")
    good = nodes.NodeSpec(lab, "ok", node_image, tmp_path / "ok", tmp_path / "ok-frr")
    bad = nodes.NodeSpec(
        lab, "bad", node_image, tmp_path / "bad", tmp_path / "bad-frr", binds=(("/nonexistent", "not/absolute", "rw"),)
    )
    with pytest.raises(GwlabError, match=rf"^{engine.name}: create gwlab-{lab}-bad: "):
        nodes.create_all(engine, [good, bad])
    assert nodes.lab_containers(engine, lab) == []
    missing = nodes.NodeSpec(lab, "x", "gwlab/node:000000000000", tmp_path, tmp_path)
    with pytest.raises(
        GwlabError, match=rf"^{engine.name}: image gwlab/node:000000000000 not found \(run 'gwlab image build'\)$"
    ):
        nodes.create_all(engine, [missing])


CREATOR = """\
import sys, time
from pathlib import Path
from lab.runtime.containers import nodes
from lab.runtime.containers.engine import engine
e = engine(sys.argv[1])
tmp = Path(sys.argv[4])
specs = [nodes.NodeSpec(sys.argv[2], n, sys.argv[3], tmp / n, tmp / f"{n}-frr") for n in ("a", "b")]
nodes.create_all(e, specs)
print("ready", flush=True)
time.sleep(600)
"""


def test_remove_by_label_after_kill_9(any_engine: Engine, node_image: str, tmp_path: Path) -> None:
    engine, lab = any_engine, lab_name(any_engine, "ck")
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(CREATOR), engine.name, lab, node_image, str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert len(nodes.lab_containers(engine, lab)) == 2
    assert len(nodes.remove_lab(engine, lab)) == 2  # no state file: the labels are enough
    assert nodes.lab_containers(engine, lab) == []
    assert nodes.remove_lab(engine, lab) == []  # idempotent
