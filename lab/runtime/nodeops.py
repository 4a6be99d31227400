"""Operations on single nodes of a running lab, for failures and their restoration."""

from __future__ import annotations

import subprocess
from collections.abc import Iterable

from pyroute2 import NetNS

from lab.errors import GwlabError
from lab.runtime.lifecycle import start_daemons
from lab.runtime.links import veth, vxlan
from lab.runtime.netns import configure_node, install_routes, interface_index
from lab.runtime.processes import pids_in, stop
from lab.runtime.running import RunningLab
from lab.topology import Link, Node


def stop_node(lab: RunningLab, node: str) -> int:
    """Kill every process in the node's namespace (by pid): a crash, as far as its peers can tell."""
    pids = sorted(pids_in([lab.ns(node)]))
    left = stop(pids, grace_s=0.0)  # SIGTERM then SIGKILL at once: a crash sends no goodbyes
    if left:
        raise GwlabError(f"{node}: processes {left} survived SIGKILL")
    return len(pids)


def start_node(lab: RunningLab, node: str) -> None:
    start_daemons(lab.topo, lab.state, lambda phase, done, total: None, only={node})


def set_links(lab: RunningLab, node: str, up: bool, names: Iterable[str] | None = None) -> list[str]:
    """Administratively up/down the node's veths (all, or `names`); the far ends lose carrier."""
    target = lab.node(node)
    wanted = set(names) if names is not None else {i.name for i in target.interfaces if i.kind == "veth"}
    with NetNS(lab.ns(node)) as ns:
        index = interface_index(ns)
        for name in sorted(wanted):
            if name in index:
                ns.link("set", index=index[name], state="up" if up else "down")
    return sorted(wanted)


def delete_link(lab: RunningLab, node: str, ifname: str) -> None:
    """Delete one end of a veth (the other end goes with it)."""
    with NetNS(lab.ns(node)) as ns:
        index = interface_index(ns)
        if ifname in index:
            ns.link("del", index=index[ifname])


def find_link(lab: RunningLab, a: str, b: str) -> Link:
    for link in lab.topo.links:
        if {link.a, link.b} == {a, b}:
            return link
    raise GwlabError(f"lab {lab.name} has no link between {a} and {b}")


def recreate_link(lab: RunningLab, link: Link, holds_shared: dict[str, bool]) -> None:
    """Re-create a deleted veth and configure both ends as `up` did, with the VXLAN tunnels that ride on
    it (the kernel deletes a VXLAN device together with its underlay)."""
    with NetNS(lab.ns(link.a)) as ns_a:
        if link.a_ifname not in interface_index(ns_a):
            veth.create(ns_a, link, lab.ns(link.b))
        node = lab.node(link.a)
        riding = {i.name for i in node.interfaces if i.kind == "vxlan" and i.underlay == link.a_ifname}
        present = interface_index(ns_a)
        for iface in node.interfaces:
            if iface.name in riding and iface.name not in present:
                vxlan.create(ns_a, iface, interface_index(ns_a)[link.a_ifname])
        configure_node(ns_a, node, holds_shared.get(link.a, True), only={link.a_ifname, *riding})
    with NetNS(lab.ns(link.b)) as ns_b:
        configure_node(ns_b, lab.node(link.b), holds_shared.get(link.b, True), only={link.b_ifname})


def reinstall_routes(lab: RunningLab, node: str, holds_shared: bool = True) -> None:
    """Routes the runtime owns, again (an interface that went down took them with it)."""
    with NetNS(lab.ns(node)) as ns:
        install_routes(ns, lab.node(node), holds_shared)


def nft(lab: RunningLab, node: str, ruleset: str) -> None:
    result = lab.run(node, ["nft", "-f", "-"], input=ruleset)
    if result.returncode != 0:
        raise GwlabError(f"{node}: nft refused the rules: {result.stderr.strip()}")


def nft_delete_table(lab: RunningLab, node: str, family: str, table: str) -> None:
    lab.run(node, ["nft", "delete", "table", family, table])  # absent already: nothing to do


def vtysh_config(lab: RunningLab, node: Node, lines: list[str]) -> None:
    argv = ["vtysh", "-N", lab.ns(node.name), "-c", "configure terminal"]
    for line in lines:
        argv += ["-c", line]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    if result.returncode != 0:
        raise GwlabError(f"{node.name}: vtysh refused {lines}: {result.stdout.strip() or result.stderr.strip()}")


def vtysh_exec(lab: RunningLab, node: str, command: str) -> None:
    subprocess.run(
        ["vtysh", "-N", lab.ns(node), "-c", command], capture_output=True, text=True, timeout=10, check=False
    )


def take_over_shared_ips(lab: RunningLab, new: Node, old: Node | None) -> None:
    """Active/standby: the platform moves the public IP, the BGP IP (and APIPA) to `new`."""
    if old is not None:
        with NetNS(lab.ns(old.name)) as ns:
            index = interface_index(ns)
            for iface in old.interfaces:
                for addr in iface.shared_addresses:
                    if iface.name in index:
                        ns.addr("del", index=index[iface.name], address=str(addr.ip), prefixlen=addr.network.prefixlen)
    with NetNS(lab.ns(new.name)) as ns:
        configure_node(ns, new, holds_shared=True, only={i.name for i in new.interfaces if i.shared_addresses})
    # Neighbors that cached the old instance's MAC for these IPs learn the new one at once, as the
    # platform's switch-over does (the tunnel end's MAC is shared, so only the internet and VNet sides).
    moved = [str(a.ip) for i in new.interfaces for a in i.shared_addresses]
    for node in lab.topo.nodes.values():
        if node.role in ("internet", "vnet", "vpn"):
            for ip in moved:
                lab.run(node.name, ["ip", "neigh", "flush", "to", ip])
