"""What must happen, computed from the model alone: BGP best paths, FIBs and traffic paths.

A small path-vector simulation over the resolved topology, independent of FRR: sessions that can be
up given the failed elements, route propagation with the policy the topology carries (weight,
local-preference, AS path, iBGP split horizon and route reflection, next-hop-self, filters,
maximum-prefix), best-path selection with FRR's order and multipath rules, then next-hop resolution
into FIB entries and hop-by-hop traffic paths between each site's host and the VNet VM.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network

from lab.topology import VXLAN_BASE_VNI, Neighbor, Node, PrefixListEntry, Topology, flood_prefixes

PRIVATE_ASNS = ((64512, 65534), (4200000000, 4294967294))
ECMP_LIMIT = 16


@dataclass(frozen=True)
class Route:
    prefix: IPv4Network
    as_path: tuple[int, ...]
    next_hop: IPv4Address
    local_pref: int = 100
    weight: int = 0
    ebgp: bool = False
    peer: str = ""  # node the route was received from ("speaker" for origination)
    peer_router_id: IPv4Address = IPv4Address(0)  # noqa: RUF009 - immutable
    from_rr_client: bool = False
    originator: str = ""  # node that first put it into iBGP in this AS (for reflection loops)


@dataclass
class FibEntry:
    prefix: IPv4Network
    next_hops: frozenset[tuple[IPv4Address | None, str]]  # (gateway, device); gateway None: device route
    peers: frozenset[str]  # BGP peers the chosen paths came from


@dataclass
class Failures:
    """Failed elements: nodes (instances, devices, MSEEs...), tunnels "<device>~<gateway>", links "a~b"."""

    nodes: set[str] = field(default_factory=set)
    tunnels: set[str] = field(default_factory=set)
    links: set[str] = field(default_factory=set)  # veth between two nodes, either order
    flooded: set[str] = field(default_factory=set)  # sites whose speaker announces over the limit
    standby_active: bool = False  # active/standby: the standby instance holds the shared IPs

    def link_down(self, a: str, b: str) -> bool:
        return f"{a}~{b}" in self.links or f"{b}~{a}" in self.links


@dataclass
class Prediction:
    sessions: dict[tuple[str, IPv4Address], bool]  # (node, neighbor address) -> Established
    best: dict[str, dict[IPv4Network, list[Route]]]  # node -> prefix -> ECMP set (best first)
    fib: dict[str, dict[IPv4Network, FibEntry]]
    paths: dict[str, list[str]]  # "<site>->azure" / "azure-><site>" -> transit elements

    def established(self, node: str) -> list[IPv4Address]:
        return [addr for (n, addr), up in self.sessions.items() if n == node and up]


def _is_private(asn: int) -> bool:
    return any(lo <= asn <= hi for lo, hi in PRIVATE_ASNS)


def _permitted(entries: list[PrefixListEntry], prefix: IPv4Network) -> bool:
    for e in entries:
        hit = prefix == e.prefix if e.le is None else prefix.subnet_of(e.prefix) and prefix.prefixlen <= e.le
        if hit:
            return e.action == "permit"
    return False  # FRR's implicit deny


class Oracle:
    def __init__(self, topo: Topology, failures: Failures | None = None) -> None:
        self.topo = topo
        self.f = failures or Failures()
        self.owner: dict[IPv4Address, tuple[str, str]] = {}  # address -> (node, interface)
        for node in topo.nodes.values():
            for iface in node.interfaces:
                for addr in self._held(node, iface.addresses, iface.shared_addresses):
                    self.owner.setdefault(addr.ip, (node.name, iface.name))

    # -- which node holds what -------------------------------------------------------------------
    def _holds_shared(self, node: Node) -> bool:
        return node.standby == self.f.standby_active

    def _held(
        self, node: Node, own: Iterable[ipaddress.IPv4Interface], shared: Iterable[ipaddress.IPv4Interface]
    ) -> list[ipaddress.IPv4Interface]:
        return list(own) + (list(shared) if self._holds_shared(node) else [])

    @staticmethod
    def _shared_ips(node: Node) -> bool:
        return any(i.shared_addresses for i in node.interfaces)

    def alive(self, name: str) -> bool:
        return name not in self.f.nodes

    def holds(self, node: Node, addr: IPv4Address) -> bool:
        return any(a.ip == addr for i in node.interfaces for a in self._held(node, i.addresses, i.shared_addresses))

    # -- sessions --------------------------------------------------------------------------------
    def reachable(self, a: Node, b: Node) -> bool:
        """Can a and b's BGP session carry packets: both alive and the path between them intact."""
        if not (self.alive(a.name) and self.alive(b.name)):
            return False
        roles = {a.role, b.role}
        if roles == {"gateway", "vpn"}:
            gw, dev = (a, b) if a.role == "gateway" else (b, a)
            tunnel = f"{dev.name}~{gw.name}"
            return (
                tunnel not in self.f.tunnels
                and not self.f.link_down(gw.name, "inet")
                and not self.f.link_down(dev.name, "inet")
                and self.alive("inet")
            )
        if "vnet" in roles:  # across the GatewaySubnet bridge held by the vnet router
            other = a if b.role == "vnet" else b
            return not self.f.link_down(other.name, "vnet")
        return not self.f.link_down(a.name, b.name)

    def peer_node(self, n: Neighbor) -> Node:
        """The node at the other end of a session now: the named peer, or, for an address that moved
        (active/standby takeover), the instance that holds it."""
        named = self.topo.nodes[n.peer]
        if n.kind in ("speaker", "flood") or self.holds(named, n.address):
            return named
        for node in self.topo.nodes.values():
            if node.role == named.role and node.name != named.name and self.holds(node, n.address):
                return node
        return named

    def session_up(self, node: Node, n: Neighbor) -> bool:
        if n.kind == "speaker":
            return self.alive(node.name)
        if n.kind == "flood":
            return self.alive(node.name) and node.site in self.f.flooded
        peer = self.peer_node(n)
        if not self.reachable(node, peer):
            return False
        # Both ends must hold the addresses the session uses (a standby instance holds none).
        if not self.holds(peer, n.address):
            return False
        mine = n.update_source or self._local_address_towards(node, n.address)
        return mine is not None and self.holds(node, mine)

    def _local_address_towards(self, node: Node, addr: IPv4Address) -> IPv4Address | None:
        for iface in node.interfaces:
            for a in self._held(node, iface.addresses, iface.shared_addresses):
                if addr in a.network and a.network.prefixlen < 32:
                    return a.ip
        return None

    def _peer_neighbor(self, node: Node, n: Neighbor) -> Neighbor | None:
        """The other end's Neighbor entry for this session (found by name, or by the address this
        node holds: the instance that took over an active/standby gateway's IPs)."""
        peer = self.peer_node(n)
        assert peer.bgp is not None
        for m in peer.bgp.neighbors:
            if m.peer == node.name and m.kind == n.kind:
                return m
        for m in peer.bgp.neighbors:
            if m.kind == n.kind and self.holds(node, m.address):
                return m
        return None

    # -- propagation -----------------------------------------------------------------------------
    def predict(self) -> Prediction:
        topo = self.topo
        routers = [n for n in topo.routers() if n.bgp is not None and self.alive(n.name)]
        sessions: dict[tuple[str, IPv4Address], bool] = {}
        up: dict[str, list[Neighbor]] = {}
        for node in topo.routers():
            assert node.bgp is not None
            for n in node.bgp.neighbors:
                ok = self.session_up(node, n)
                sessions[(node.name, n.address)] = ok
                if ok:
                    up.setdefault(node.name, []).append(n)
        # maximum-prefix: a flooded site's edges announce more than the limit; Azure drops the session.
        flooded_edges = {n.name for n in topo.nodes.values() if n.site in self.f.flooded and n.role in ("vpn", "ce")}
        for node in routers:
            for n in list(up.get(node.name, [])):
                if n.max_prefix and n.peer in flooded_edges:
                    up[node.name].remove(n)
                    sessions[(node.name, n.address)] = False
        for (name, addr), ok in list(sessions.items()):  # a session is up only if both ends are
            if not ok:
                continue
            node = topo.nodes[name]
            n = next(x for x in node.bgp.neighbors if x.address == addr)  # type: ignore[union-attr]
            if n.kind in ("speaker", "flood"):
                continue
            back = self._peer_neighbor(node, n)
            if back is None or not sessions.get((self.peer_node(n).name, back.address), False):
                sessions[(name, addr)] = False
                up[name].remove(n)

        rib_in: dict[str, dict[tuple[str, IPv4Network], Route]] = {n.name: {} for n in routers}
        best: dict[str, dict[IPv4Network, list[Route]]] = {n.name: {} for n in routers}
        for node in routers:
            if node.speaker is not None and node.name in up and any(x.kind == "speaker" for x in up[node.name]):
                for prefix, nh in node.speaker.routes:
                    rib_in[node.name][("speaker", prefix)] = Route(
                        prefix,
                        (),
                        nh,
                        peer="speaker",
                        from_rr_client=self._speaker_is_client(node),
                        originator=node.name,
                    )
            if node.role == "core" and node.site in self.f.flooded and node.speaker is not None:
                nh = node.speaker.routes[0][1]
                for prefix in flood_prefixes():
                    rib_in[node.name][("flood", prefix)] = Route(
                        prefix, (), nh, peer="flood", from_rr_client=True, originator=node.name
                    )
        for _ in range(64):  # to a fixed point; the topologies converge in a handful of rounds
            changed = False
            for node in routers:
                new_best = self._select(node, rib_in[node.name])
                if new_best != best[node.name]:
                    best[node.name] = new_best
                    changed = True
            for node in routers:
                for n in up.get(node.name, []):
                    if n.kind in ("speaker", "flood"):
                        continue
                    peer = self.peer_node(n)
                    back = self._peer_neighbor(node, n)
                    if back is None or peer.name not in rib_in:
                        continue
                    adverts = self._advertise(node, n, best[node.name])
                    received = {
                        (node.name, r.prefix): r
                        for r in (self._receive(peer, back, node, a) for a in adverts)
                        if r is not None
                    }
                    current = {k: v for k, v in rib_in[peer.name].items() if k[0] == node.name}
                    if current != received:
                        for k in current:
                            del rib_in[peer.name][k]
                        rib_in[peer.name].update(received)
                        changed = True
            if not changed:
                break
        fib = {n.name: self._fib(n, best[n.name]) for n in routers}
        pred = Prediction(sessions, best, fib, {})
        pred.paths = self.traffic_paths(pred)
        return pred

    def _speaker_is_client(self, node: Node) -> bool:
        assert node.bgp is not None
        return any(n.kind == "speaker" and n.rr_client for n in node.bgp.neighbors)

    def _advertise(self, node: Node, n: Neighbor, best: dict[IPv4Network, list[Route]]) -> list[Route]:
        assert node.bgp is not None
        asn = node.bgp.asn
        ibgp_out = n.remote_as == asn
        out: list[Route] = []
        for prefix, paths in best.items():
            r = paths[0]
            if r.peer == self.peer_node(n).name:  # never back to where it came from
                continue
            # iBGP-learned: only a route reflector passes it on (client -> all, non-client -> clients).
            if ibgp_out and not r.ebgp and r.peer != "speaker" and not (r.from_rr_client or n.rr_client):
                continue
            if ibgp_out and r.peer == "speaker" and not (self._speaker_is_client(node) or n.rr_client):
                continue
            if n.own_routes_only and r.as_path:
                continue
            if n.prefix_list_out and not _permitted(node.bgp.prefix_lists[n.prefix_list_out], prefix):
                continue
            if ibgp_out:
                nh = self._source_address(node, n) if n.next_hop_self else r.next_hop
                out.append(Route(prefix, r.as_path, nh, r.local_pref, originator=r.originator or node.name))
            else:
                path = r.as_path
                if n.remove_private_as:
                    path = tuple(a for a in path if not _is_private(a))
                out.append(Route(prefix, (asn, *path), self._source_address(node, n)))
        return out

    def _source_address(self, node: Node, n: Neighbor) -> IPv4Address:
        addr = n.update_source or self._local_address_towards(node, n.address)
        assert addr is not None, (node.name, n.address)
        return addr

    def _receive(self, node: Node, n: Neighbor, sender: Node, r: Route) -> Route | None:
        assert node.bgp is not None and sender.bgp is not None
        ebgp = n.remote_as != node.bgp.asn
        if ebgp and node.bgp.asn in r.as_path:
            return None  # AS path loop
        if not ebgp and r.originator == node.name:
            return None  # reflected back to its originator
        if n.prefix_list_in and not _permitted(node.bgp.prefix_lists[n.prefix_list_in], r.prefix):
            return None
        lp = n.local_preference if n.local_preference is not None else (100 if ebgp else r.local_pref)
        return Route(
            r.prefix,
            r.as_path,
            r.next_hop,
            lp,
            n.weight or 0,
            ebgp,
            sender.name,
            sender.bgp.router_id,
            n.rr_client,
            r.originator if not ebgp else "",
        )

    def _select(self, node: Node, rib: dict[tuple[str, IPv4Network], Route]) -> dict[IPv4Network, list[Route]]:
        by_prefix: dict[IPv4Network, list[Route]] = {}
        for (_, prefix), r in sorted(rib.items(), key=lambda kv: (kv[0][1], kv[0][0])):
            if self._resolve(node, r.next_hop) is None:
                continue  # unresolvable next hop: not a candidate
            by_prefix.setdefault(prefix, []).append(r)
        out: dict[IPv4Network, list[Route]] = {}
        for prefix, cands in by_prefix.items():
            ranked = sorted(cands, key=self._rank)
            top = ranked[0]
            group = [r for r in ranked if self._rank(r)[:4] == self._rank(top)[:4] and self._multipath(top, r)]
            out[prefix] = group[:ECMP_LIMIT]
        return out

    @staticmethod
    def _rank(r: Route) -> tuple[int, int, int, int, int]:
        # weight, local-pref, AS path length, eBGP over iBGP, then lowest router-id (FRR's order; origin,
        # MED and IGP metric are equal everywhere in these labs).
        return (-r.weight, -r.local_pref, len(r.as_path), 0 if r.ebgp else 1, int(r.peer_router_id))

    @staticmethod
    def _multipath(a: Route, b: Route) -> bool:
        if a is b:
            return True
        if a.ebgp:  # eBGP: same neighbouring AS (no multipath-relax)
            return bool(a.as_path and b.as_path and a.as_path[0] == b.as_path[0])
        return a.as_path == b.as_path  # iBGP: identical AS path

    # -- forwarding ------------------------------------------------------------------------------
    def _connected(self, node: Node) -> list[tuple[ipaddress.IPv4Interface, str]]:
        out = []
        for iface in node.interfaces:
            if iface.kind == "loopback":
                continue
            if iface.kind == "veth" and iface.peer_node and self.f.link_down(node.name, iface.peer_node):
                continue
            for a in self._held(node, iface.addresses, iface.shared_addresses):
                out.append((a, iface.name))
        return out

    def _resolve(self, node: Node, addr: IPv4Address) -> tuple[IPv4Address | None, str] | None:
        """How the node reaches an address: (gateway, device) of the longest matching connected/static route."""
        best: tuple[int, tuple[IPv4Address | None, str]] | None = None
        for a, dev in self._connected(node):
            if addr in a.network and (best is None or a.network.prefixlen > best[0]):
                best = (a.network.prefixlen, (None, dev))
        for r in node.routes:
            if addr in r.prefix and (best is None or r.prefix.prefixlen > best[0]):
                if r.dev is not None:
                    best = (r.prefix.prefixlen, (None, r.dev))
                elif r.via is not None:
                    via = self._resolve_connected(node, r.via)
                    if via is not None:
                        best = (r.prefix.prefixlen, (r.via, via))
        return best[1] if best else None

    def _resolve_connected(self, node: Node, addr: IPv4Address) -> str | None:
        for a, dev in self._connected(node):
            if addr in a.network:
                return dev
        return None

    def _fib(self, node: Node, best: dict[IPv4Network, list[Route]]) -> dict[IPv4Network, FibEntry]:
        fib: dict[IPv4Network, FibEntry] = {}
        connected = {a.network for a, _ in self._connected(node)}
        for prefix, paths in best.items():
            if prefix in connected:
                continue  # the connected route wins over BGP
            hops = set()
            for r in paths:
                res = self._resolve(node, r.next_hop)
                if res is not None:
                    # Recursive resolution flattens to the route's gateway; a connected or device route
                    # keeps the BGP next hop as the gateway (zebra installs it on-link).
                    gw, dev = res
                    hops.add((gw or r.next_hop, dev))
            if hops:
                fib[prefix] = FibEntry(prefix, frozenset(hops), frozenset(r.peer for r in paths))
        return fib

    def next_nodes(self, pred: Prediction, node: Node, dst: IPv4Address) -> list[tuple[str, str]]:
        """Where a packet for dst goes from node: [(next node, via what: interface or tunnel)]."""
        if self.holds(node, dst):
            return []
        entry = None
        for prefix, e in pred.fib.get(node.name, {}).items():
            if dst in prefix and (entry is None or prefix.prefixlen > entry.prefix.prefixlen):
                entry = e
        hops: list[tuple[IPv4Address | None, str]] = []
        local = self._resolve(node, dst)
        if local is not None and local[0] is None and any(dst in a.network for a, _ in self._connected(node)):
            hops = [(dst, local[1])]
        elif entry is not None:
            hops = sorted(entry.next_hops, key=lambda h: (str(h[0]), h[1]))
        elif local is not None:
            hops = [(local[0] or dst, local[1])]
        out = []
        for gw, dev in hops:
            nxt = self._neighbor_on(node, dev, gw or dst)
            if nxt is not None:
                out.append(nxt)
        return out

    def _neighbor_on(self, node: Node, dev: str, addr: IPv4Address) -> tuple[str, str] | None:
        iface = node.interface(dev)
        if iface.kind == "vxlan":
            for t in self.topo.tunnels:
                if f"{t.device}~{t.gateway}" in self.f.tunnels:
                    continue
                if node.role == "gateway" and t.gateway == node.name and t.gateway_ifname == dev:
                    return t.device, dev
                # A device's tunnel reaches whichever instance holds that public IP now.
                if node.role == "vpn" and t.device == node.name and t.device_ifname == dev:
                    gw = self.topo.nodes[t.gateway]
                    if self.alive(gw.name) and (not self._shared_ips(gw) or self._holds_shared(gw)):
                        return gw.name, dev
            return None
        owner = self.owner_of(addr)
        if owner is not None and self.alive(owner):
            return owner, dev
        return None

    def owner_of(self, addr: IPv4Address) -> str | None:
        for node in self.topo.nodes.values():
            if self.holds(node, addr):
                return node.name
        return None

    def traffic_paths(self, pred: Prediction) -> dict[str, list[str]]:
        topo = self.topo
        vm = topo.nodes["vm"]
        vm_ip = vm.address_on("vnet")
        out: dict[str, list[str]] = {}
        for host in topo.by_role("host"):
            host_ip = host.address_on(host.interfaces[0].name)
            out[f"{host.site}->azure"] = self._transit(pred, host, vm_ip)
            out[f"azure->{host.site}"] = self._transit(pred, vm, host_ip)
        return out

    def _transit(self, pred: Prediction, start: Node, dst: IPv4Address) -> list[str]:
        """Transit elements (gateway instances, MSEEs) on every ECMP branch from start to dst; [] if none arrive."""
        seen: set[str] = set()
        transit: set[str] = set()
        arrived = False
        frontier = [start.name]
        while frontier:
            name = frontier.pop()
            if name in seen:
                continue
            seen.add(name)
            node = self.topo.nodes[name]
            if self.holds(node, dst):
                arrived = True
                continue
            if node.role in ("gateway", "msee"):
                transit.add(name)
            for nxt, _ in self.next_nodes(pred, node, dst):
                if nxt in ("inet",):
                    continue
                frontier.append(nxt)
        return sorted(transit) if arrived else []


def predict(topo: Topology, failures: Failures | None = None) -> Prediction:
    return Oracle(topo, failures).predict()


__all__ = ["VXLAN_BASE_VNI", "Failures", "FibEntry", "Oracle", "Prediction", "Route", "predict"]
