"""Route propagation: what each speaker originates, what each router advertises and accepts with the
policy the topology carries (weight, local-preference, AS path, iBGP split horizon and route
reflection, next-hop-self, filters), and best-path selection with FRR's order and multipath rules,
iterated to a fixed point.

Rounds as BGP would settle: every router selects its best paths, then every session carries them to
its peer. A prefix's selection depends only on that prefix's candidates, and a session's advertisement
of a prefix only on the sender's best paths for it, so each round redoes only what changed: selection
of the prefixes whose candidates changed, advertisement of the prefixes whose best paths changed. The
result is the one recomputing everything every round gives, at a cost that follows the routes that
move instead of rounds x sessions x prefixes.
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network
from operator import itemgetter

from controller.oracle.forwarding import Forwarding
from controller.oracle.holdings import Holdings
from controller.oracle.model import AGGREGATE, Route
from controller.oracle.sessions import LOCAL_KINDS, Sessions, UpSessions
from lab.topology import ECMP_PATHS, LOCAL_WEIGHT, Neighbor, Node, PrefixListEntry, flood_prefixes

PRIVATE_ASNS = ((64512, 65534), (4200000000, 4294967294))
LOCAL_NEXT_HOP = IPv4Address(0)  # an aggregate's next hop: the router itself
MAX_ROUNDS = 64  # the topologies converge in a handful of rounds

RibIn = dict[str, dict[int, dict[str, Route]]]  # node -> prefix index -> sender -> route received
Table = dict[int, list[Route]]  # prefix index -> ECMP set (best first)
Best = dict[str, dict[IPv4Network, list[Route]]]  # node -> prefix -> ECMP set (best first)


def is_private(asn: int) -> bool:
    return any(lo <= asn <= hi for lo, hi in PRIVATE_ASNS)


def permitted(entries: list[PrefixListEntry], prefix: IPv4Network) -> bool:
    for e in entries:
        hit = prefix == e.prefix if e.le is None else prefix.subnet_of(e.prefix) and prefix.prefixlen <= e.le
        if hit:
            return e.action == "permit"
    return False  # FRR's implicit deny


def _same(a: list[Route], b: list[Route]) -> bool:
    """Equal ECMP sets; a selection that kept the very same routes is told without comparing fields."""
    return len(a) == len(b) and all(x is y or x == y for x, y in zip(a, b, strict=True))


class _Session:
    """One up session, with what carrying a route over it needs worked out once: the sender's side
    (node, n) and the receiver's (peer, back)."""

    def __init__(self, prop: Propagation, node: Node, n: Neighbor, peer: Node, back: Neighbor) -> None:
        assert node.bgp is not None and peer.bgp is not None
        self.node, self.n, self.peer, self.back = node, n, peer, back
        self.asn = node.bgp.asn
        self.router_id = node.bgp.router_id
        self.ibgp_out = n.remote_as == self.asn
        self.reflects_speaker = prop.speaker_is_client(node) or n.rr_client
        self.source = prop.source_address(node, n)
        self.filter_out = node.bgp.prefix_lists[n.prefix_list_out] if n.prefix_list_out else None
        self.summaries = node.bgp.summaries  # summary-only: what they cover goes to no peer
        self.peer_asn = peer.bgp.asn
        self.ebgp_in = back.remote_as != peer.bgp.asn
        self.filter_in = peer.bgp.prefix_lists[back.prefix_list_in] if back.prefix_list_in else None


class Propagation:
    """Prefixes are numbered once per prediction (every prefix is originated before propagation starts,
    none is made on the way), so the tables inside are keyed by small integers: hashing an IPv4Network,
    done per session and prefix, was most of the cost at scale."""

    def __init__(self, holdings: Holdings, sessions: Sessions, forwarding: Forwarding) -> None:
        self.h = holdings
        self.sessions = sessions
        self.forwarding = forwarding
        self.f = holdings.f
        self.prefixes: list[IPv4Network] = []  # by index
        self._index: dict[IPv4Network, int] = {}
        self._permitted: dict[tuple[int, int], bool] = {}  # (id of a prefix list, prefix index)
        self._speaker_client: dict[str, bool] = {}

    def run(self, routers: list[Node], up: UpSessions) -> Best:
        """Originate, then select and advertise on every router until nothing changes."""
        rib_in = self.originate(routers, up)
        best: dict[str, Table] = {n.name: {} for n in routers}
        sessions = self._sessions(routers, up, rib_in)
        dirty = {name: set(table) for name, table in rib_in.items()}  # candidates changed since selected
        aggregators = [
            (n, [(self._index[p], p) for p in n.bgp.summaries]) for n in routers if n.bgp and n.bgp.summaries
        ]
        for _ in range(MAX_ROUNDS):
            moved = self._select_changed(routers, rib_in, best, dirty)
            exchanged = self._advertise_changed(sessions, best, moved, rib_in, dirty)
            aggregated = self._aggregate(aggregators, best, rib_in, dirty)
            if not (any(moved.values()) or exchanged or aggregated):
                break
        # Each table in prefix order, as a full selection would list it.
        order = {i: rank for rank, i in enumerate(sorted(range(len(self.prefixes)), key=self.prefixes.__getitem__))}
        return {
            name: {self.prefixes[i]: table[i] for i in sorted(table, key=order.__getitem__)}
            for name, table in best.items()
        }

    def _number(self, prefix: IPv4Network) -> int:
        found = self._index.get(prefix)
        if found is None:
            found = self._index[prefix] = len(self.prefixes)
            self.prefixes.append(prefix)
        return found

    def originate(self, routers: list[Node], up: UpSessions) -> RibIn:
        """What the speakers put into their routers: the node's prefixes, and a flooding site's 4,001."""
        rib_in: RibIn = {n.name: {} for n in routers}
        for node in routers:
            for summary in node.bgp.summaries if node.bgp else []:
                self._number(summary)  # made during propagation, numbered before it like every prefix
            if node.speaker is not None and node.name in up and any(x.kind == "speaker" for x in up[node.name]):
                for prefix, nh in node.speaker.routes:
                    rib_in[node.name].setdefault(self._number(prefix), {})["speaker"] = Route(
                        prefix,
                        (),
                        nh,
                        peer="speaker",
                        from_rr_client=self.speaker_is_client(node),
                        originator=node.name,
                    )
            if node.role == "core" and node.site in self.f.flooded and node.speaker is not None:
                nh = node.speaker.routes[0][1]
                for prefix in flood_prefixes():
                    rib_in[node.name].setdefault(self._number(prefix), {})["flood"] = Route(
                        prefix, (), nh, peer="flood", from_rr_client=True, originator=node.name
                    )
        return rib_in

    def _sessions(self, routers: list[Node], up: UpSessions, rib_in: RibIn) -> dict[str, list[_Session]]:
        """Per router, the up sessions that carry routes to a router of this prediction."""
        out: dict[str, list[_Session]] = {}
        for node in routers:
            out[node.name] = []
            for n in up.get(node.name, []):
                if n.kind in LOCAL_KINDS:
                    continue
                peer = self.sessions.peer_node(n)
                back = self.sessions.peer_neighbor(node, n)
                if back is None or peer.name not in rib_in:
                    continue
                out[node.name].append(_Session(self, node, n, peer, back))
        return out

    def _select_changed(
        self, routers: list[Node], rib_in: RibIn, best: dict[str, Table], dirty: dict[str, set[int]]
    ) -> dict[str, list[int]]:
        """Select again where candidates changed; per router, the prefixes whose best paths moved."""
        moved: dict[str, list[int]] = {}
        for node in routers:
            table = best[node.name]
            candidates = rib_in[node.name]
            changed = []
            for i in dirty[node.name]:
                paths = self._select(node, candidates.get(i, {}))
                if not _same(paths, table.get(i, [])):
                    if paths:
                        table[i] = paths
                    else:
                        table.pop(i, None)
                    changed.append(i)
            dirty[node.name] = set()
            moved[node.name] = changed
        return moved

    def _advertise_changed(
        self,
        sessions: dict[str, list[_Session]],
        best: dict[str, Table],
        moved: dict[str, list[int]],
        rib_in: RibIn,
        dirty: dict[str, set[int]],
    ) -> bool:
        """Every session carries its sender's moved best paths into the receiver's Adj-RIB-In (each
        session writes only its own entries there, so the order they go in does not matter)."""
        changed = False
        for name, moved_here in moved.items():
            table = best[name]
            for i in moved_here:
                paths = table.get(i)
                for s in sessions[name]:
                    route = self._carry(s, i, paths) if paths else None
                    candidates = rib_in[s.peer.name].get(i)
                    current = candidates.get(name) if candidates is not None else None
                    if current == route:
                        continue
                    if candidates is None:
                        candidates = rib_in[s.peer.name][i] = {}
                    if route is None:
                        del candidates[name]
                    else:
                        candidates[name] = route
                    dirty[s.peer.name].add(i)
                    changed = True
        return changed

    def _aggregate(
        self,
        aggregators: list[tuple[Node, list[tuple[int, IPv4Network]]]],
        best: dict[str, Table],
        rib_in: RibIn,
        dirty: dict[str, set[int]],
    ) -> bool:
        """aggregate-address: a router originates each of its summaries while a more specific route is in its
        table (weight 32768, empty AS path, like any route it originates), and withdraws it when none is."""
        changed = False
        for node, summaries in aggregators:
            table = best[node.name]
            for i, summary in summaries:
                active = any(
                    self.prefixes[j].prefixlen > summary.prefixlen and self.prefixes[j].subnet_of(summary)
                    for j in table
                )
                candidates = rib_in[node.name].setdefault(i, {})
                if active == (AGGREGATE in candidates):
                    continue
                if active:
                    candidates[AGGREGATE] = Route(
                        summary, (), LOCAL_NEXT_HOP, weight=LOCAL_WEIGHT, peer=AGGREGATE, originator=node.name
                    )
                else:
                    del candidates[AGGREGATE]
                dirty[node.name].add(i)
                changed = True
        return changed

    def speaker_is_client(self, node: Node) -> bool:
        found = self._speaker_client.get(node.name)
        if found is None:
            assert node.bgp is not None
            found = any(n.kind == "speaker" and n.rr_client for n in node.bgp.neighbors)
            self._speaker_client[node.name] = found
        return found

    def _allowed(self, entries: list[PrefixListEntry], i: int) -> bool:
        key = (id(entries), i)
        found = self._permitted.get(key)
        if found is None:
            found = self._permitted[key] = permitted(entries, self.prefixes[i])
        return found

    def source_address(self, node: Node, n: Neighbor) -> IPv4Address:
        addr = n.update_source or self.h.local_address_towards(node, n.address)
        assert addr is not None, (node.name, n.address)
        return addr

    def _carry(self, s: _Session, i: int, paths: list[Route]) -> Route | None:
        """What the receiving end keeps of the sender's best path for prefix `i`: the sender's policy
        (what it advertises), then the receiver's (what it accepts, with which attributes)."""
        r = paths[0]
        n = s.n
        if n.own_routes_only and r.as_path:  # the most common refusal first (each one is final)
            return None
        if r.peer == s.peer.name:  # never back to where it came from
            return None
        if s.summaries and any(r.prefix.prefixlen > a.prefixlen and r.prefix.subnet_of(a) for a in s.summaries):
            return None  # summary-only: a route its summary covers goes to no peer
        # iBGP-learned: only a route reflector passes it on (client -> all, non-client -> clients); what the
        # router originates itself (an aggregate) goes to every peer.
        if s.ibgp_out and not r.ebgp and r.peer not in ("speaker", AGGREGATE) and not (r.from_rr_client or n.rr_client):
            return None
        if s.ibgp_out and r.peer == "speaker" and not s.reflects_speaker:
            return None
        if s.filter_out is not None and not self._allowed(s.filter_out, i):
            return None
        if s.ibgp_out:
            as_path = r.as_path
            next_hop = s.source if n.next_hop_self else r.next_hop
            local_pref, originator = r.local_pref, r.originator or s.node.name
        else:
            path = tuple(a for a in r.as_path if not is_private(a)) if n.remove_private_as else r.as_path
            # the route-map's prepends, then the sender's own ASN as every eBGP advertisement adds it
            as_path, next_hop, local_pref, originator = (s.asn,) * (1 + n.as_path_prepend) + path, s.source, 100, ""
        back = s.back
        if s.ebgp_in and s.peer_asn in as_path:
            return None  # AS path loop
        if not s.ebgp_in and originator == s.peer.name:
            return None  # reflected back to its originator
        if s.filter_in is not None and not self._allowed(s.filter_in, i):
            return None
        if back.local_preference is not None:
            local_pref = back.local_preference
        elif s.ebgp_in:
            local_pref = 100
        return Route(
            r.prefix,
            as_path,
            next_hop,
            local_pref,
            back.weight or 0,
            s.ebgp_in,
            s.node.name,
            s.router_id,
            back.rr_client,
            originator if not s.ebgp_in else "",
        )

    def _select(self, node: Node, candidates: dict[str, Route]) -> list[Route]:
        """The ECMP set of one prefix (best first), from its candidates by sender; [] if none resolves."""
        resolve = self.forwarding.resolve

        def valid(r: Route) -> bool:  # an aggregate's next hop is the router itself
            return r.peer == AGGREGATE or resolve(node, r.next_hop) is not None

        if len(candidates) == 1:  # the usual case: one path, nothing to rank
            (only,) = candidates.values()
            return [only] if valid(only) else []
        ranked = sorted(((self._rank(r), r) for _, r in sorted(candidates.items()) if valid(r)), key=itemgetter(0))
        if not ranked:
            return []
        top_rank, top = ranked[0][0][:4], ranked[0][1]
        group = [r for rank, r in ranked if rank[:4] == top_rank and self._multipath(top, r)]
        return group[:ECMP_PATHS]

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
