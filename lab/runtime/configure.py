"""A node's network configuration inside its namespace, the same on every runtime: bridge ports,
addresses, link state, the routes the runtime owns and permanent neighbours (sysctls: lab.runtime.sysctls).

Everything is written from the host through the namespace (netlink, /proc/sys seen from inside it):
a container's /proc/sys is read-only from within, its namespace is not.
"""

from __future__ import annotations

from lab.runtime import rtnl_ops
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


def configure_node(node: Node, holds_shared: bool, only: set[str] | None = None) -> None:
    """Bridge ports, addresses, link state, runtime-installed routes and permanent neighbors of a node,
    or of its interfaces in `only` (a re-created link), in the calling thread's namespace (the node's
    thread: Handles.call, NodeHandle.in_thread). `holds_shared`: an active/standby instance holding the
    public and BGP IPs."""
    index = rtnl_ops.link_index()
    for iface in node.interfaces:
        if only is not None and iface.name not in only:
            continue
        idx = index[iface.name]
        if iface.bridge is not None:
            rtnl_ops.link_set(idx, master=index[iface.bridge])
        held = iface.addresses + (iface.shared_addresses if holds_shared else [])
        for addr in held:
            if iface.kind == "loopback" and addr.ip.is_loopback:
                continue
            rtnl_ops.addr_replace(idx, addr.ip, addr.network.prefixlen)
        rtnl_ops.link_set(idx, up=True)
    install_routes(node, holds_shared, only, index)
    for n in node.neighbors:
        if only is None or n.dev in only:
            rtnl_ops.neigh_permanent(index[n.dev], n.address, n.mac)


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


def install_routes(
    node: Node, holds_shared: bool, only: set[str] | None = None, index: dict[str, int] | None = None
) -> None:
    """Routes the runtime owns (`runtime_routes`), or those through the interfaces in `only`; in the
    calling thread's namespace."""
    index = index if index is not None else rtnl_ops.link_index()
    for r in runtime_routes(node, holds_shared):
        dev = r.dev or _device_towards(node, r)
        if only is not None and dev not in only:
            continue
        if r.via is not None:
            rtnl_ops.route_replace(r.prefix, gateway=r.via)
        elif r.dev is not None:
            rtnl_ops.route_replace(r.prefix, oif=index[r.dev])


def _device_towards(node: Node, route: StaticRoute) -> str | None:
    for iface in node.interfaces:
        for a in iface.addresses + iface.shared_addresses:
            if route.via is not None and route.via in a.network and a.network.prefixlen < 32:
                return iface.name
    return None
