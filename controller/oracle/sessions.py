"""Which BGP sessions can be up: both ends alive and holding their addresses, the path between them
intact, under Azure's maximum-prefix limit, and the session up at both ends."""

from __future__ import annotations

from ipaddress import IPv4Address

from controller.oracle.holdings import Holdings
from lab.topology import Neighbor, Node, Topology

LOCAL_KINDS = ("speaker", "flood")  # sessions to a speaker in the node's own namespace

SessionState = dict[tuple[str, IPv4Address], bool]  # (node, neighbor address) -> Established
UpSessions = dict[str, list[Neighbor]]  # node -> its established sessions


class Sessions:
    def __init__(self, holdings: Holdings) -> None:
        self.h = holdings
        self.topo: Topology = holdings.topo
        self.f = holdings.f

    def establish(self) -> tuple[SessionState, UpSessions]:
        """Every session of every router, and per router the ones that are up."""
        state, up = self._possible()
        self._drop_over_max_prefix(state, up)
        self._drop_one_sided(state, up)
        return state, up

    def _possible(self) -> tuple[SessionState, UpSessions]:
        state: SessionState = {}
        up: UpSessions = {}
        for node in self.topo.routers():
            assert node.bgp is not None
            for n in node.bgp.neighbors:
                ok = self.session_up(node, n)
                state[(node.name, n.address)] = ok
                if ok:
                    up.setdefault(node.name, []).append(n)
        return state, up

    def _drop_over_max_prefix(self, state: SessionState, up: UpSessions) -> None:
        """maximum-prefix: a flooded site's edges announce more than the limit; Azure drops the session."""
        flooded_edges = {
            n.name for n in self.topo.nodes.values() if n.site in self.f.flooded and n.role in ("vpn", "ce")
        }
        for node in self.topo.routers():
            if node.bgp is None or not self.h.alive(node.name):
                continue
            for n in list(up.get(node.name, [])):
                if n.max_prefix and n.peer in flooded_edges:
                    up[node.name].remove(n)
                    state[(node.name, n.address)] = False

    def _drop_one_sided(self, state: SessionState, up: UpSessions) -> None:
        """A session is up only if both ends are (in order: a session dropped here counts for the next)."""
        for (name, addr), ok in list(state.items()):
            if not ok:
                continue
            node = self.topo.nodes[name]
            assert node.bgp is not None
            n = next(x for x in node.bgp.neighbors if x.address == addr)
            if n.kind in LOCAL_KINDS:
                continue
            back = self.peer_neighbor(node, n)
            if back is None or not state.get((self.peer_node(n).name, back.address), False):
                state[(name, addr)] = False
                up[name].remove(n)

    def reachable(self, a: Node, b: Node) -> bool:
        """Can a and b's BGP session carry packets: both alive and the path between them intact."""
        if not (self.h.alive(a.name) and self.h.alive(b.name)):
            return False
        roles = {a.role, b.role}
        if roles == {"gateway", "vpn"}:
            gw, dev = (a, b) if a.role == "gateway" else (b, a)
            tunnel = f"{dev.name}~{gw.name}"
            return (
                tunnel not in self.f.tunnels
                and not self.f.link_down(gw.name, "inet")
                and not self.f.link_down(dev.name, "inet")
                and self.h.alive("inet")
            )
        if "vnet" in roles:  # across the GatewaySubnet bridge held by the vnet router
            other = a if b.role == "vnet" else b
            return not self.f.link_down(other.name, "vnet")
        return not self.f.link_down(a.name, b.name)

    def peer_node(self, n: Neighbor) -> Node:
        """The node at the other end of a session now: the named peer, or, for an address that moved
        (active/standby takeover), the instance that holds it."""
        named = self.topo.nodes[n.peer]
        if n.kind in LOCAL_KINDS or self.h.holds(named, n.address):
            return named
        for node in self.topo.nodes.values():
            if node.role == named.role and node.name != named.name and self.h.holds(node, n.address):
                return node
        return named

    def session_up(self, node: Node, n: Neighbor) -> bool:
        if n.kind == "speaker":
            return self.h.alive(node.name)
        if n.kind == "flood":
            return self.h.alive(node.name) and node.site in self.f.flooded
        peer = self.peer_node(n)
        if not self.reachable(node, peer):
            return False
        # Both ends must hold the addresses the session uses (a standby instance holds none).
        if not self.h.holds(peer, n.address):
            return False
        mine = n.update_source or self.h.local_address_towards(node, n.address)
        return mine is not None and self.h.holds(node, mine)

    def peer_neighbor(self, node: Node, n: Neighbor) -> Neighbor | None:
        """The other end's Neighbor entry for this session (found by name, or by the address this
        node holds: the instance that took over an active/standby gateway's IPs)."""
        peer = self.peer_node(n)
        assert peer.bgp is not None
        for m in peer.bgp.neighbors:
            if m.peer == node.name and m.kind == n.kind:
                return m
        for m in peer.bgp.neighbors:
            if m.kind == n.kind and self.h.holds(node, m.address):
                return m
        return None
