"""Route propagation: what each speaker originates, what each router advertises and accepts with the
policy the topology carries (weight, local-preference, AS path, iBGP split horizon and route
reflection, next-hop-self, filters), and best-path selection with FRR's order and multipath rules,
iterated to a fixed point."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network

from controller.oracle.forwarding import Forwarding
from controller.oracle.holdings import Holdings
from controller.oracle.model import Route
from controller.oracle.sessions import LOCAL_KINDS, Sessions, UpSessions
from lab.topology import ECMP_PATHS, Neighbor, Node, PrefixListEntry, flood_prefixes

PRIVATE_ASNS = ((64512, 65534), (4200000000, 4294967294))
MAX_ROUNDS = 64  # the topologies converge in a handful of rounds

RibIn = dict[str, dict[tuple[str, IPv4Network], Route]]  # node -> (sender, prefix) -> route received
Best = dict[str, dict[IPv4Network, list[Route]]]  # node -> prefix -> ECMP set (best first)


def is_private(asn: int) -> bool:
    return any(lo <= asn <= hi for lo, hi in PRIVATE_ASNS)


def permitted(entries: list[PrefixListEntry], prefix: IPv4Network) -> bool:
    for e in entries:
        hit = prefix == e.prefix if e.le is None else prefix.subnet_of(e.prefix) and prefix.prefixlen <= e.le
        if hit:
            return e.action == "permit"
    return False  # FRR's implicit deny


class Propagation:
    def __init__(self, holdings: Holdings, sessions: Sessions, forwarding: Forwarding) -> None:
        self.h = holdings
        self.sessions = sessions
        self.forwarding = forwarding
        self.f = holdings.f

    def run(self, routers: list[Node], up: UpSessions) -> Best:
        """Originate, then advertise and select on every router until nothing changes."""
        rib_in = self.originate(routers, up)
        best: Best = {n.name: {} for n in routers}
        for _ in range(MAX_ROUNDS):
            changed = self._select_all(routers, rib_in, best)
            changed = self._exchange_all(routers, up, rib_in, best) or changed
            if not changed:
                break
        return best

    def originate(self, routers: list[Node], up: UpSessions) -> RibIn:
        """What the speakers put into their routers: the node's prefixes, and a flooding site's 4,001."""
        rib_in: RibIn = {n.name: {} for n in routers}
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
        return rib_in

    def _select_all(self, routers: list[Node], rib_in: RibIn, best: Best) -> bool:
        changed = False
        for node in routers:
            new_best = self._select(node, rib_in[node.name])
            if new_best != best[node.name]:
                best[node.name] = new_best
                changed = True
        return changed

    def _exchange_all(self, routers: list[Node], up: UpSessions, rib_in: RibIn, best: Best) -> bool:
        """Every up session carries its sender's best paths into the receiver's Adj-RIB-In."""
        changed = False
        for node in routers:
            for n in up.get(node.name, []):
                if n.kind in LOCAL_KINDS:
                    continue
                peer = self.sessions.peer_node(n)
                back = self.sessions.peer_neighbor(node, n)
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
        return changed

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
            if r.peer == self.sessions.peer_node(n).name:  # never back to where it came from
                continue
            # iBGP-learned: only a route reflector passes it on (client -> all, non-client -> clients).
            if ibgp_out and not r.ebgp and r.peer != "speaker" and not (r.from_rr_client or n.rr_client):
                continue
            if ibgp_out and r.peer == "speaker" and not (self._speaker_is_client(node) or n.rr_client):
                continue
            if n.own_routes_only and r.as_path:
                continue
            if n.prefix_list_out and not permitted(node.bgp.prefix_lists[n.prefix_list_out], prefix):
                continue
            if ibgp_out:
                nh = self._source_address(node, n) if n.next_hop_self else r.next_hop
                out.append(Route(prefix, r.as_path, nh, r.local_pref, originator=r.originator or node.name))
            else:
                path = r.as_path
                if n.remove_private_as:
                    path = tuple(a for a in path if not is_private(a))
                out.append(Route(prefix, (asn, *path), self._source_address(node, n)))
        return out

    def _source_address(self, node: Node, n: Neighbor) -> IPv4Address:
        addr = n.update_source or self.h.local_address_towards(node, n.address)
        assert addr is not None, (node.name, n.address)
        return addr

    def _receive(self, node: Node, n: Neighbor, sender: Node, r: Route) -> Route | None:
        assert node.bgp is not None and sender.bgp is not None
        ebgp = n.remote_as != node.bgp.asn
        if ebgp and node.bgp.asn in r.as_path:
            return None  # AS path loop
        if not ebgp and r.originator == node.name:
            return None  # reflected back to its originator
        if n.prefix_list_in and not permitted(node.bgp.prefix_lists[n.prefix_list_in], r.prefix):
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
            if self.forwarding.resolve(node, r.next_hop) is None:
                continue  # unresolvable next hop: not a candidate
            by_prefix.setdefault(prefix, []).append(r)
        out: dict[IPv4Network, list[Route]] = {}
        for prefix, cands in by_prefix.items():
            ranked = sorted(cands, key=self._rank)
            top = ranked[0]
            group = [r for r in ranked if self._rank(r)[:4] == self._rank(top)[:4] and self._multipath(top, r)]
            out[prefix] = group[:ECMP_PATHS]
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
