"""A node's network configuration inside its namespace, the same on every runtime: bridge ports,
addresses, link state, the routes the runtime owns and permanent neighbours (sysctls: lab.runtime.sysctls).

Everything is written from the host through the namespace (netlink, /proc/sys seen from inside it):
a container's /proc/sys is read-only from within, its namespace is not.
"""

from __future__ import annotations

from typing import Any

from lab.runtime.netlink import interface_index
from lab.runtime.sysctls import COMMON_SYSCTLS, ROUTER_SYSCTLS, sysctls
from lab.topology import Node, StaticRoute

__all__ = [
    "COMMON_SYSCTLS",
    "ROUTER_SYSCTLS",
    "configure_node",
    "holds_shared",
    "install_routes",
    "runtime_routes",
    "sysctls",
]


def holds_shared(node: Node, standby_active: bool) -> bool:
    """Does the node hold its shared addresses: always, for a node without any; of an active/standby
    pair, the active instance, which is the standby once it has taken them over (standby_active)."""
    if not any(i.shared_addresses for i in node.interfaces):
        return True
    return node.standby == standby_active


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


def runtime_routes(node: Node, holds_shared: bool) -> list[StaticRoute]:
    """The routes the runtime installs, not FRR: a host's, and every node's internet (underlay) routes
    (the containerlab file's `ip route` lines are these, as `up` starts)."""
    routes = []
    for r in node.routes:
        if node.is_router and not r.underlay:
            continue  # FRR's staticd installs the routers' own routes
        if r.underlay and not holds_shared and any(i.shared_addresses for i in node.interfaces):
            continue  # a standby has no public IP to route from until it takes the IPs over
        routes.append(r)
    return routes


def install_routes(ns: Any, node: Node, holds_shared: bool, only: set[str] | None = None) -> None:
    """Routes the runtime owns (`runtime_routes`), or those through the interfaces in `only`."""
    index = interface_index(ns)
    for r in runtime_routes(node, holds_shared):
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
