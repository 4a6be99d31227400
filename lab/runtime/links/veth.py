"""A veth pair created directly between two nodes' namespaces: nothing appears in the host's namespace.

The peer end is placed by the namespace's path (opened for its descriptor), so the same call wires network
namespaces and containers (/proc/<pid>/ns/net).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from lab.runtime import rtnl_ops
from lab.runtime.netlink import Handles, interface_index
from lab.topology import Link
from lab.topology.addressing import veth_mac

MTU = 1500  # set, not left to the kernel: containerlab's default is 9500, and its file says this one


@dataclass(frozen=True)
class Veth:
    link: Link

    def deploy(self, handles: Handles) -> None:
        link = self.link
        # Fixed MACs: both ends' neighbours hold permanent entries for them (lab.topology.neighbors).
        macs = (veth_mac(link.a, link.a_ifname), veth_mac(link.b, link.b_ifname))
        fd = os.open(handles.netns_path(link.b), os.O_RDONLY | os.O_CLOEXEC)
        try:
            # in a's thread, on its raw socket (lab.runtime.rtnl_ops: no pyroute2 request per veth)
            handles.call(link.a, lambda _: rtnl_ops.veth(link.a_ifname, link.b_ifname, fd, MTU, macs))
        finally:
            os.close(fd)

    def remove(self, handles: Handles) -> None:
        """One end deleted takes the other with it (and every VXLAN device riding on it)."""
        index = interface_index(handles[self.link.a]).get(self.link.a_ifname)
        if index is not None:
            handles[self.link.a].link("del", index=index)
