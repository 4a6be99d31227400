"""The namespace runtime: one network namespace per node, built with pyroute2."""

from __future__ import annotations

import contextlib
import zlib
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pyroute2 import NetNS, netns

from lab.errors import GwlabError
from lab.runtime.links import bridge, veth, vxlan
from lab.runtime.nsenter import write_sysctls
from lab.runtime.state import LabState, namespace_name
from lab.topology import Node, StaticRoute, Topology

ROUTER_SYSCTLS = {
    "net.ipv4.ip_forward": "1",
    "net.ipv4.conf.all.forwarding": "1",
    # A route whose interface lost its carrier leaves the FIB at once instead of black-holing.
    "net.ipv4.conf.all.ignore_routes_with_linkdown": "1",
    "net.ipv4.conf.default.ignore_routes_with_linkdown": "1",
    # ECMP by ports, so that flows of one host pair spread across instances and tunnels.
    "net.ipv4.fib_multipath_hash_policy": "1",
}
COMMON_SYSCTLS = {
    # Tunnels carry traffic from addresses that are not on the receiving interface.
    "net.ipv4.conf.all.rp_filter": "0",
    "net.ipv4.conf.default.rp_filter": "0",
    "net.ipv6.conf.all.disable_ipv6": "1",
    "net.ipv6.conf.default.disable_ipv6": "1",
}


class NetnsRuntime:
    name = "netns"

    def __init__(self, topo: Topology, state: LabState) -> None:
        self.topo = topo
        self.state = state
        self.handles: dict[str, Any] = {}

    def ns(self, node: str) -> str:
        return namespace_name(self.topo.name, node)

    def create(self) -> None:
        """Namespaces, sysctls, links, addresses and host routes; FRR adds the routers' routes later."""
        existing = set(netns.listnetns())
        for name in self.topo.nodes:
            if self.ns(name) in existing:
                raise GwlabError(f"namespace {self.ns(name)} already exists (gwlab down {self.topo.name})")
        self.state.namespaces = [self.ns(n) for n in self.topo.nodes]
        self.state.save()  # before anything exists, so that an interrupted up can be undone
        for node in self.topo.nodes.values():
            netns.create(self.ns(node.name))
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(self._sysctls, self.topo.nodes.values()))
        try:
            for node in self.topo.nodes.values():
                self.handles[node.name] = NetNS(self.ns(node.name))
            self._links()
            for node in self.topo.nodes.values():
                self._configure(node)
        finally:
            self.close()

    def close(self) -> None:
        for handle in self.handles.values():
            with contextlib.suppress(Exception):
                handle.close()
        self.handles.clear()

    def _sysctls(self, node: Node) -> None:
        values = dict(COMMON_SYSCTLS)
        if node.is_router or node.role == "internet":
            values.update(ROUTER_SYSCTLS)
            # A seed of its own per router (stable per node name): with one shared seed every hop hashes
            # a flow the same way, and a flow that went to vpn0 always goes on to gw0 (ECMP polarisation).
            values["net.ipv4.fib_multipath_hash_seed"] = str(zlib.crc32(node.name.encode()) or 1)
        write_sysctls(self.ns(node.name), values)

    def _links(self) -> None:
        for node in self.topo.nodes.values():
            for iface in node.interfaces:
                if iface.kind == "bridge":
                    bridge.create(self.handles[node.name], iface)
        for link in self.topo.links:
            veth.create(self.handles[link.a], link, self.ns(link.b))
        for node in self.topo.nodes.values():
            ns = self.handles[node.name]
            for iface in node.interfaces:
                if iface.kind == "vxlan":
                    assert iface.underlay is not None
                    vxlan.create(ns, iface, ns.link_lookup(ifname=iface.underlay)[0])

    def _configure(self, node: Node) -> None:
        configure_node(self.handles[node.name], node, holds_shared=not node.standby)


def interface_index(ns: Any) -> dict[str, int]:
    return {link.get_attr("IFLA_IFNAME"): link["index"] for link in ns.get_links()}


def configure_node(ns: Any, node: Node, holds_shared: bool, only: set[str] | None = None) -> None:
    """Bridge ports, addresses, link state, runtime-installed routes and permanent neighbors of a node,
    or of its interfaces in `only` (a re-created link). `holds_shared`: an active/standby instance
    holding the public and BGP IPs."""
    index = interface_index(ns)
    for iface in node.interfaces:
        if only is not None and iface.name not in only:
            continue
        idx = index[iface.name]
        if iface.bridge is not None:
            ns.link("set", index=idx, master=index[iface.bridge])
        held = iface.addresses + (iface.shared_addresses if holds_shared else [])
        for addr in held:
            if iface.kind == "loopback" and addr.ip.is_loopback:
                continue
            ns.addr("replace", index=idx, address=str(addr.ip), prefixlen=addr.network.prefixlen)
        ns.link("set", index=idx, state="up")
    install_routes(ns, node, holds_shared, only)
    for n in node.neighbors:
        if only is None or n.dev in only:
            ns.neigh("replace", dst=str(n.address), lladdr=n.mac, ifindex=index[n.dev], state="permanent")


def install_routes(ns: Any, node: Node, holds_shared: bool, only: set[str] | None = None) -> None:
    """Routes the runtime owns: a host's, and every node's internet (underlay) routes."""
    index = interface_index(ns)
    for r in node.routes:
        if node.is_router and not r.underlay:
            continue  # FRR's staticd installs the routers' own routes
        if r.underlay and not holds_shared and any(i.shared_addresses for i in node.interfaces):
            continue  # a standby has no public IP to route from until it takes the IPs over
        dev = r.dev or _device_towards(node, r)
        if only is not None and dev not in only:
            continue
        if r.via is not None:
            ns.route("replace", dst=str(r.prefix), gateway=str(r.via))
        elif r.dev is not None:
            ns.route("replace", dst=str(r.prefix), oif=index[r.dev])


def _device_towards(node: Node, route: StaticRoute) -> str | None:
    for iface in node.interfaces:
        for a in iface.addresses + iface.shared_addresses:
            if route.via is not None and route.via in a.network and a.network.prefixlen < 32:
                return iface.name
    return None


def destroy_namespaces(names: list[str]) -> list[str]:
    """Remove the namespaces that exist; returns those that could not be removed."""
    existing = set(netns.listnetns())
    left = []
    for name in names:
        if name in existing:
            try:
                netns.remove(name)
            except OSError:
                left.append(name)
    return left
