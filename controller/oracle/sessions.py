"""Which BGP sessions can be up: both ends alive and holding their addresses, the path between them
intact, under Azure's maximum-prefix limit, and the session up at both ends."""

from __future__ import annotations

from ipaddress import IPv4Address

from controller.oracle.holdings import Holdings
from lab.topology import Neighbor, Node, P2sClient, Topology, Tunnel

LOCAL_KINDS = ("speaker", "flood")  # sessions to a speaker in the node's own namespace

SessionState = dict[tuple[str, IPv4Address], bool]  # (node, neighbor address) -> Established
UpSessions = dict[str, list[Neighbor]]  # node -> its established sessions


class Sessions:
    """Peer lookups are cached per prediction (a Neighbor is keyed by identity: it is not hashable)."""

    def __init__(self, holdings: Holdings) -> None:
        self.h = holdings
        self.topo: Topology = holdings.topo
        self.f = holdings.f
        self._peer_node: dict[int, Node] = {}
        self._peer_neighbor: dict[tuple[str, int], Neighbor | None] = {}
        # node -> (peer name, kind) -> its first such neighbor; node -> address -> its first neighbor there
        self._by_peer: dict[str, dict[tuple[str, str], Neighbor]] = {}
        self._by_address: dict[str, dict[IPv4Address, Neighbor]] = {}
        # (node, node) -> the name of the tunnel between them, either order
        self._tunnel_between: dict[tuple[str, str], str] = {}
        for t in self.topo.tunnels:
            self._tunnel_between[(t.device, t.gateway)] = self._tunnel_between[(t.gateway, t.device)] = t.name
        for node in self.topo.routers():
            assert node.bgp is not None
            by_peer = self._by_peer[node.name] = {}
            by_address = self._by_address[node.name] = {}
            for m in node.bgp.neighbors:
                by_peer.setdefault((m.peer, m.kind), m)
                by_address.setdefault(m.address, m)

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
            n = self._by_address[name][addr]
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
        tunnel = self._tunnel_between.get((a.name, b.name))
        if tunnel is not None:  # a device and an instance, or two VNets' instances
            return (
                tunnel not in self.f.tunnels
                and not self.f.link_down(a.name, "inet")
                and not self.f.link_down(b.name, "inet")
                and self.h.alive("inet")
            )
        if "vnet" in (a.role, b.role):  # across the GatewaySubnet bridge held by the vnet router
            router, other = (b, a) if b.role == "vnet" else (a, b)
            return not self.f.link_down(other.name, router.name)
        return not self.f.link_down(a.name, b.name)

    def tunnel_up(self, t: Tunnel) -> bool:
        """Does the tunnel carry traffic: both ends alive, the path between them intact, and the instance
        holding the public IP the device's end talks to (a standby does not until it takes it over). For
        IPsec: IKE and a CHILD_SA up, so its VTIs have carrier."""
        gw, dev = self.topo.nodes[t.gateway], self.topo.nodes[t.device]
        return self.reachable(gw, dev) and (not self.h.has_shared(gw) or self.h.holds_shared(gw))

    def p2s_instance(self, client: P2sClient) -> str | None:
        """The instance a point-to-site client is connected through: the one holding the public IP it
        connects to now, alive, with the internet between them; None: disconnected (reconnecting)."""
        node = self.topo.nodes[client.node]
        if not (self.h.alive(node.name) and self.h.alive("inet")) or self.f.link_down(node.name, "inet"):
            return None
        for name in self.h.holders(client.public):
            gw = self.topo.nodes[name]
            if gw.role == "gateway" and self.h.alive(name) and not self.f.link_down(name, "inet"):
                return name
        return None

    def peer_node(self, n: Neighbor) -> Node:
        """The node at the other end of a session now: the named peer, or, for an address that moved
        (active/standby takeover), the instance that holds it."""
        found = self._peer_node.get(id(n))
        if found is None:
            found = self._peer_node[id(n)] = self._find_peer_node(n)
        return found

    def _find_peer_node(self, n: Neighbor) -> Node:
        named = self.topo.nodes[n.peer]
        if n.kind in LOCAL_KINDS or self.h.holds(named, n.address):
            return named
        for name in self.h.holders(n.address):
            node = self.topo.nodes[name]
            if node.role == named.role and node.name != named.name:
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
        key = (node.name, id(n))
        if key not in self._peer_neighbor:
            self._peer_neighbor[key] = self._find_peer_neighbor(node, n)
        return self._peer_neighbor[key]

    def _find_peer_neighbor(self, node: Node, n: Neighbor) -> Neighbor | None:
        peer = self.peer_node(n)
        assert peer.bgp is not None
        named = self._by_peer[peer.name].get((node.name, n.kind))
        if named is not None:
            return named
        for m in peer.bgp.neighbors:
            if m.kind == n.kind and self.h.holds(node, m.address):
                return m
        return None
