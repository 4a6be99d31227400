"""The same lab for munet: a munet.yaml and per-node files generated from a gwlab topology.

What is the same as gwlab's `up`: the nodes (one namespace each), the veth links with the same
interface names, the bridges, VXLAN tunnels, addresses, sysctls, permanent neighbors and
runtime-installed routes, the rendered frr.conf of every router and exabgp.conf of every speaker,
ExaBGP started the same way (same binary, same environment).

What is munet's own: it creates the namespaces (network, mount, PID and UTS per node) and the veths
(`connections`, with their single address set by munet's `ip:`), and it starts FRR the way munet's
FRR examples and kind do: /etc/frr and /var/run/frr bind-mounted per node, a `daemons` file, and
`frrinit.sh start` (watchfrr starting zebra, bgpd, staticd and, where BFD runs, bfdd, each reading
the integrated frr.conf, see `daemons_file`). The rest of a node's set-up (bridges, tunnels, extra addresses, routes,
sysctls) is one `ip -batch` script run by the node's `cmd`, as a munet user would write it.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import yaml

from lab.render import exabgp_config, frr_config
from lab.runtime.configure import COMMON_SYSCTLS, ROUTER_SYSCTLS
from lab.runtime.daemons import exabgp_env, frr_daemons, reactor_speed, speaker_listen
from lab.topology import VXLAN_PORT, Interface, Node, Topology
from lab.topology.addressing import bridge_mac

FRR_KIND = {
    # munet's FRR example kind (examples/frr/*/munet.yaml), with the node's own files.
    "name": "frr",
    "volumes": [
        "./%NAME%/etc.frr:/etc/frr",
        "%RUNDIR%/var.log.frr:/var/log/frr",
        "%RUNDIR%/var.run.frr:/var/run/frr",
    ],
    "cap-add": ["SYS_ADMIN", "AUDIT_WRITE"],
    "merge": ["volumes"],
}
FRR_START = """chown frr:frr -R /var/run/frr
chown frr:frr -R /var/log/frr
/usr/lib/frr/frrinit.sh start
tail -F /var/log/frr/frr.log
"""
HOST_WAIT = "tail -f /dev/null\n"


def _holds_shared(node: Node) -> bool:
    return not node.standby


def _munet_address(node: Node, iface: Interface) -> str | None:
    """The one address munet's `ip:` can set on a veth end (None: the set-up script adds them)."""
    held = iface.addresses + (iface.shared_addresses if _holds_shared(node) else [])
    if iface.kind == "veth" and iface.bridge is None and len(held) == 1:
        return str(held[0])
    return None


def setup_commands(node: Node) -> list[str]:
    """`ip -batch` lines: what gwlab's namespaces phase does beyond the veths themselves."""
    lines: list[str] = []
    for iface in node.interfaces:
        if iface.kind == "bridge":
            lines.append(f"link add {iface.name} address {bridge_mac(iface.name)} type bridge")
        elif iface.kind == "veth" and iface.mac:  # the MACs the permanent neighbours name
            lines.append(f"link set {iface.name} address {iface.mac}")
    for iface in node.interfaces:
        if iface.kind == "vxlan":
            assert iface.vni is not None and iface.remote is not None and iface.underlay is not None
            mac = f" address {iface.mac}" if iface.mac else ""
            mtu = f" mtu {iface.mtu}" if iface.mtu else ""
            lines.append(
                f"link add {iface.name}{mac}{mtu} type vxlan id {iface.vni} remote {iface.remote} "
                f"dstport {VXLAN_PORT} dev {iface.underlay} learning"
            )
    for iface in node.interfaces:
        if iface.bridge is not None:
            lines.append(f"link set {iface.name} master {iface.bridge}")
        if _munet_address(node, iface) is None:
            held = iface.addresses + (iface.shared_addresses if _holds_shared(node) else [])
            for addr in held:
                if iface.kind == "loopback" and addr.ip.is_loopback:
                    continue
                lines.append(f"address add {addr} dev {iface.name}")
        lines.append(f"link set {iface.name} up")
    has_shared = any(i.shared_addresses for i in node.interfaces)
    for r in node.routes:
        if node.is_router and not r.underlay:
            continue  # staticd installs them, from frr.conf
        if r.underlay and has_shared and not _holds_shared(node):
            continue
        target = f"via {r.via}" if r.via is not None else f"dev {r.dev}"
        lines.append(f"route replace {r.prefix} {target}")
    for n in node.neighbors:
        lines.append(f"neighbor replace {n.address} lladdr {n.mac} dev {n.dev} nud permanent")
    return lines


def sysctls(node: Node) -> dict[str, str]:
    values = dict(COMMON_SYSCTLS)
    if node.is_router or node.role == "internet":
        values.update(ROUTER_SYSCTLS)
    return values


def daemons_file(node: Node) -> str:
    """FRR's /etc/frr/daemons, with the options of munet's FRR examples plus `-f /etc/frr/frr.conf`.

    Without -f, watchfrr's start script applies frr.conf with `vtysh -b` once each daemon is up, when
    bgpd already knows the node's addresses from zebra, and bgpd refuses the speaker session ("Can not
    configure the local system as neighbor": the speaker's address is on the router's own lo). Read at
    start-up, as gwlab's `-f` does, the same file is accepted.
    """
    wanted = frr_daemons(node)
    lines = [f"{d}={'yes' if d in wanted else 'no'}" for d in ("zebra", "bgpd", "staticd", "bfdd")]
    lines += ["vtysh_enable=yes", "watchfrr_enable=yes"]
    lines += [f'{d}_options="-d -F traditional -f /etc/frr/frr.conf --log=file:/var/log/frr/{d}.log"' for d in wanted]
    return "\n".join(lines) + "\n"


def exabgp_start(node: Node, exabgp: str, node_dir: Path) -> str:
    """The shell line that starts the node's speaker exactly as lab.runtime.daemons.start_exabgp does."""
    assert node.speaker is not None
    env = exabgp_env("%RUNDIR%/exabgp.pid", "%RUNDIR%/exabgp.log", speaker_listen(node), "", reactor_speed(node))
    del env["PATH"]  # munet's node has its own
    assigns = " ".join(shlex.quote(f"{k}={v}") for k, v in env.items())
    return f"env {assigns} {shlex.quote(exabgp)} server {shlex.quote(str(node_dir / 'exabgp.conf'))}\n"


def node_command(node: Node, node_dir: Path, exabgp: str | None) -> str:
    values = " ".join(f"{k}={v}" for k, v in sysctls(node).items())
    cmd = f"sysctl -q -w {values}\n"
    cmd += f"ip -batch {shlex.quote(str(node_dir / 'setup.ip'))}\n"
    if node.speaker is not None and exabgp is not None:
        cmd += exabgp_start(node, exabgp, node_dir)
    return cmd + (FRR_START if node.is_router else HOST_WAIT)


def write(topo: Topology, outdir: Path, exabgp: str | None) -> Path:
    """Write munet.yaml and each node's files under outdir; `exabgp`: the binary, or None to leave the
    speakers out. Returns the path of munet.yaml."""
    outdir = outdir.resolve()
    outdir.mkdir(parents=True, exist_ok=True)
    connections: dict[str, list[dict[str, Any]]] = {name: [] for name in topo.nodes}
    for link in topo.links:
        a, b = topo.nodes[link.a], topo.nodes[link.b]
        for node, ifname, peer, peer_ifname in (
            (a, link.a_ifname, b, link.b_ifname),
            (b, link.b_ifname, a, link.a_ifname),
        ):
            conn: dict[str, Any] = {"to": peer.name, "name": ifname, "remote-name": peer_ifname}
            address = _munet_address(node, node.interface(ifname))
            if address is not None:
                conn["ip"] = address
            connections[node.name].append(conn)
    nodes: list[dict[str, Any]] = []
    for node in topo.nodes.values():
        node_dir = outdir / node.name
        node_dir.mkdir(parents=True, exist_ok=True)
        (node_dir / "setup.ip").write_text("\n".join(setup_commands(node)) + "\n", encoding="utf-8")
        entry: dict[str, Any] = {
            "name": node.name,
            "connections": connections[node.name],
            "cmd": node_command(node, node_dir, exabgp),
        }
        if node.is_router:
            entry["kind"] = "frr"
            etc = node_dir / "etc.frr"
            etc.mkdir(exist_ok=True)
            (etc / "frr.conf").write_text(frr_config(topo, node), encoding="utf-8")
            (etc / "daemons").write_text(daemons_file(node), encoding="utf-8")
            (etc / "vtysh.conf").write_text("service integrated-vtysh-config\n", encoding="utf-8")
        if node.speaker is not None:
            (node_dir / "exabgp.conf").write_text(exabgp_config(topo, node), encoding="utf-8")
        nodes.append(entry)
    config = {"version": 1, "kinds": [FRR_KIND], "topology": {"nodes": nodes}}
    path = outdir / "munet.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False, width=200), encoding="utf-8")
    return path
