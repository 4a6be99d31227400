"""One module per link kind (containerlab-style), each able to deploy and remove itself: veth pairs,
bridges, VXLAN tunnels, IPsec: every charon's end (site-to-site, point-to-site gateway and client:
`Charons`, deployed together) and each router's NAT.

A kind works on every runtime: it is given `Handles` (lab.runtime.netlink), pyroute2 handles on the
nodes' network namespaces and their paths, whatever made those namespaces. `plan` lists a lab's links
in the order they can be deployed (a bridge before its ports, a VXLAN device after its underlay); what
IPsec finishes once the daemons run is `settle`'s.
"""

from __future__ import annotations

from typing import Protocol

from lab.runtime.links import ipsec, p2s
from lab.runtime.links.bridge import Bridge
from lab.runtime.links.ipsec import CharonEnd, Charons, IpsecEnd, IpsecNat
from lab.runtime.links.p2s import P2sClientEnd, P2sEnd
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
    _, nats = ipsec.plan(topo)
    return [*bridges, *veths, *vxlans, ipsec.Charons(topo, charons_of(topo)), *nats]


def plan_for(topo: Topology, node: str) -> list[LinkKind]:
    """The links that end in `node`, in `plan`'s order (of `Charons`, the node's own): what a node whose
    network namespace was replaced (a restarted container) needs wired again."""
    out: list[LinkKind] = []
    for kind in plan(topo):
        if node in ends(kind):
            out.append(kind.of(node) if isinstance(kind, Charons) else kind)
    return out


def ends(kind: LinkKind) -> tuple[str, ...]:
    """The nodes a link kind has an interface (or, IPsec, a NAT table or a charon's end) in. An IPsec
    end's endpoint namespace is not a node: it belongs to its router, and comes and goes with it."""
    if isinstance(kind, Veth):
        return (kind.link.a, kind.link.b)
    if isinstance(kind, Charons):
        return tuple(dict.fromkeys(e.node for e in kind.ends))
    assert isinstance(kind, Bridge | Vxlan | IpsecNat)
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


def charon_ends(kinds: list[LinkKind]) -> list[CharonEnd]:
    return [e for k in kinds if isinstance(k, ipsec.Charons) for e in k.ends]


def charons_of(topo: Topology) -> list[CharonEnd]:
    """Every charon the lab runs (site-to-site ends, point-to-site ends and clients), as planned."""
    ends, _ = ipsec.plan(topo)
    p2s_ends, clients = p2s.plan(topo)
    return [*ends, *p2s_ends, *clients]


def settle(kinds: list[LinkKind]) -> None:
    """What a deployed link kind finishes once the lab's daemons run (IPsec: charons loaded)."""
    ipsec.settle(charon_ends(kinds))


__all__ = [
    "Bridge",
    "CharonEnd",
    "Charons",
    "IpsecEnd",
    "IpsecNat",
    "LinkKind",
    "P2sClientEnd",
    "P2sEnd",
    "Veth",
    "Vxlan",
    "charon_ends",
    "charons_of",
    "ends",
    "far_ends",
    "plan",
    "plan_for",
    "settle",
]
