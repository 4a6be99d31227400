"""Operations on single nodes of a running lab, for failures and their restoration, on its runtime."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterable, Sequence
from typing import Any

from lab.errors import GwlabError
from lab.runtime.configure import configure_node
from lab.runtime.frr import configure, vtysh, vtysh_argv
from lab.runtime.netlink import interface_index
from lab.runtime.running import RunningLab
from lab.topology import Node


def stop_node(lab: RunningLab, node: str) -> int:
    """Kill every process of the node at once: a crash, as far as its peers can tell."""
    return lab.runtime.stop_node(lab.node(node).name)


def start_node(lab: RunningLab, node: str) -> None:
    lab.runtime.start_node(lab.node(node).name)


def set_links(lab: RunningLab, node: str, up: bool, names: Iterable[str] | None = None) -> list[str]:
    """Administratively up/down the node's veths (all, or `names`); the far ends lose carrier."""
    target = lab.node(node)
    wanted = set(names) if names is not None else {i.name for i in target.interfaces if i.kind == "veth"}
    lab.runtime.set_links(node, wanted, up)
    return sorted(wanted)


def links_down(lab: RunningLab, ends: Sequence[tuple[str, str]]) -> None:
    """Interfaces (node, name) down as one event, in the order given: every node's handle is opened
    first (10-50 ms each), then the links go down back to back, within a millisecond. A cable pulled,
    a circuit lost or a tunnel torn down by IKE is one instant for all its ends; downing them one
    handle at a time staggered them by 30-150 ms, which the probes measured as outage."""
    with contextlib.ExitStack() as stack:
        handles: dict[str, tuple[Any, dict[str, int]]] = {}
        for node, _ in ends:
            if node not in handles:
                ns = stack.enter_context(lab.runtime.netlink(node))
                handles[node] = (ns, interface_index(ns))
        for node, name in ends:
            ns, index = handles[node]
            if name in index:
                ns.link("set", index=index[name], state="down")


def reconfigure(lab: RunningLab, node: str, names: Iterable[str], holds_shared: bool) -> None:
    """The node's interfaces `names` back as `up` configured them (those that exist): addresses, link
    up, the runtime's routes and permanent neighbours. A stopped container has none: start_node
    wires and configures it again."""
    if not lab.runtime.node_present(node):
        return
    with lab.runtime.netlink(node) as ns:
        present = set(interface_index(ns))
        only = {n for n in names if n in present}
        ns.in_thread(lambda: configure_node(lab.node(node), holds_shared, only=only))


def nft(lab: RunningLab, node: str, ruleset: str) -> None:
    result = lab.run(node, ["nft", "-f", "-"], input=ruleset)
    if result.returncode != 0:
        raise GwlabError(f"{node}: nft refused the rules: {result.stderr.strip()}")


def nft_delete_table(lab: RunningLab, node: str, family: str, table: str) -> None:
    lab.run(node, ["nft", "delete", "table", family, table])  # absent already: nothing to do


def vtysh_config(lab: RunningLab, node: Node, lines: list[str]) -> None:
    try:
        vtysh(lab.runtime.frr_dir(node.name), "configure terminal", *lines, timeout=10)
    except GwlabError as exc:
        raise GwlabError(f"{node.name}: vtysh refused {lines}: {exc}") from None


def bgp_config(lab: RunningLab, node: Node, lines: list[str]) -> None:
    """Lines for the node's bgpd, on its vty socket: a failure's change lands within a millisecond of
    the call, on two MSEEs at once as on one."""
    try:
        configure(lab.runtime.frr_dir(node.name), "bgpd", lines)
    except (GwlabError, OSError) as exc:
        raise GwlabError(f"{node.name}: bgpd refused {lines}: {exc}") from None


def vtysh_exec(lab: RunningLab, node: str, command: str) -> None:
    """A command whose failure does not matter (clearing a session that is already gone)."""
    argv = vtysh_argv(lab.runtime.frr_dir(node), command)
    subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)


def take_over_shared_ips(lab: RunningLab, new: Node, old: Node | None) -> None:
    """Active/standby: the platform moves the public IP, the BGP IP (and APIPA) to `new`."""
    if old is not None:
        with lab.runtime.netlink(old.name) as ns:
            index = interface_index(ns)
            for iface in old.interfaces:
                for addr in iface.shared_addresses:
                    if iface.name in index:
                        ns.addr("del", index=index[iface.name], address=str(addr.ip), prefixlen=addr.network.prefixlen)
    with lab.runtime.netlink(new.name) as ns:
        shared = {i.name for i in new.interfaces if i.shared_addresses}
        ns.in_thread(lambda: configure_node(new, holds_shared=True, only=shared))
    # Neighbors that cached the old instance's MAC for these IPs learn the new one at once, as the
    # platform's switch-over does (the tunnel end's MAC is shared, so only the internet and VNet sides).
    moved = [str(a.ip) for i in new.interfaces for a in i.shared_addresses]
    for node in lab.topo.nodes.values():
        # and a remote VNet's instances, whose tunnels end on the moved public IP too
        # point-to-site clients too: the internet router's ICMP redirect points them at the public IP itself
        if node.role in ("internet", "vnet", "vpn", "p2s-client") or (node.role == "gateway" and node.vnet is not None):
            for ip in moved:
                lab.run(node.name, ["ip", "neigh", "flush", "to", ip])
