"""A node's kernel settings (net.* sysctls of its network namespace), the same on every runtime and in
the containerlab file. No pyroute2 here: `gwlab render` reads them too."""

from __future__ import annotations

import zlib

from lab.topology import Node

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


def sysctls(node: Node) -> dict[str, str]:
    values = dict(COMMON_SYSCTLS)
    if node.is_router or node.role == "internet":
        values.update(ROUTER_SYSCTLS)
        # A seed of its own per router (stable per node name): with one shared seed every hop hashes
        # a flow the same way, and a flow that went to vpn0 always goes on to gw0 (ECMP polarisation).
        values["net.ipv4.fib_multipath_hash_seed"] = str(zlib.crc32(node.name.encode()) or 1)
    return values
