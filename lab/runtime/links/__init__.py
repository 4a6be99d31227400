"""One module per link kind (containerlab-style), each able to deploy and remove itself: veth pairs,
bridges, VXLAN tunnels (IPsec next, as a module of its own).

A kind works on every runtime: it is given `Handles` (lab.runtime.netlink), pyroute2 handles on the
nodes' network namespaces and their paths, whatever made those namespaces. `plan` lists a lab's links
in the order they can be deployed (a bridge before its ports, a VXLAN device after its underlay).
"""

from __future__ import annotations

from typing import Protocol

from lab.runtime.links.bridge import Bridge
from lab.runtime.links.veth import Veth
from lab.runtime.links.vxlan import Vxlan
from lab.runtime.netlink import Handles
from lab.topology import Topology


class LinkKind(Protocol):
    def deploy(self, handles: Handles) -> None: ...

    def remove(self, handles: Handles) -> None: ...


def plan(topo: Topology) -> list[LinkKind]:
    bridges: list[LinkKind] = [
        Bridge(n.name, i) for n in topo.nodes.values() for i in n.interfaces if i.kind == "bridge"
    ]
    veths: list[LinkKind] = [Veth(link) for link in topo.links]
    vxlans: list[LinkKind] = [Vxlan(n.name, i) for n in topo.nodes.values() for i in n.interfaces if i.kind == "vxlan"]
    return bridges + veths + vxlans


def plan_for(topo: Topology, node: str) -> list[LinkKind]:
    """The links that end in `node`, in `plan`'s order: what a node whose network namespace was
    replaced (a restarted container) needs wired again."""
    return [kind for kind in plan(topo) if node in ends(kind)]


def ends(kind: LinkKind) -> tuple[str, ...]:
    """The nodes a link kind has an interface in."""
    if isinstance(kind, Veth):
        return (kind.link.a, kind.link.b)
    assert isinstance(kind, Bridge | Vxlan)
    return (kind.node,)


def far_ends(topo: Topology, node: str) -> list[tuple[str, str, str]]:
    """(interface, peer node, peer interface) of each of `node`'s veths."""
    out = []
    for link in topo.links:
        if link.a == node:
            out.append((link.a_ifname, link.b, link.b_ifname))
        elif link.b == node:
            out.append((link.b_ifname, link.a, link.a_ifname))
    return out


__all__ = ["Bridge", "LinkKind", "Veth", "Vxlan", "ends", "far_ends", "plan", "plan_for"]
