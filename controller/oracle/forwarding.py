"""Forwarding: next-hop resolution over connected and static routes, FIB entries from the best paths,
and hop-by-hop traffic paths between each site's host and the VNet VM over every ECMP branch."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network

from controller.oracle.holdings import Holdings
from controller.oracle.model import AGGREGATE, FibEntry, Prediction, Route
from lab.topology import BLACKHOLE, TUNNEL_KINDS, Node, Tunnel, direction
from lab.topology.naming import remote_directions

TRANSIT_ROLES = ("gateway", "msee")  # the elements a traffic path is told by
NextHop = tuple[IPv4Address | None, str]  # (gateway, device); gateway None: on-link
_MASKS = [(0xFFFFFFFF << (32 - plen)) & 0xFFFFFFFF for plen in range(33)]


class FibIndex:
    """Longest-prefix match in a prediction's (or the kernel's) FIBs: per node, its prefixes by length."""

    def __init__(self, fib: dict[str, dict[IPv4Network, FibEntry]]) -> None:
        self.fib = fib
        self._by_node: dict[str, list[tuple[int, dict[int, FibEntry]]]] = {}

    def longest(self, node: str, dst: IPv4Address) -> FibEntry | None:
        table = self._by_node.get(node)
        if table is None:
            by_len: dict[int, dict[int, FibEntry]] = {}
            for prefix, entry in self.fib.get(node, {}).items():
                by_len.setdefault(prefix.prefixlen, {})[int(prefix.network_address)] = entry
            table = self._by_node[node] = sorted(by_len.items(), reverse=True)
        value = int(dst)
        for plen, entries in table:
            found = entries.get(value & _MASKS[plen])
            if found is not None:
                return found
        return None


class Forwarding:
    def __init__(self, holdings: Holdings) -> None:
        self.h = holdings
        self.topo = holdings.topo
        self.f = holdings.f
        self._routes: dict[str, list[tuple[int, dict[int, NextHop]]]] = {}
        # (node, tunnel interface) -> the tunnels ending there, in topology order
        self._tunnels_at: dict[tuple[str, str], list[Tunnel]] = {}
        for t in self.topo.tunnels:
            self._tunnels_at.setdefault((t.gateway, t.gateway_ifname), []).append(t)
            if (t.device, t.device_ifname) != (t.gateway, t.gateway_ifname):
                self._tunnels_at.setdefault((t.device, t.device_ifname), []).append(t)
        self._resolved: dict[str, dict[int, NextHop | None]] = {}  # node -> address (as an int) -> next hop
        self._multi: dict[str, dict[IPv4Network, list[NextHop]]] = {}  # node -> prefix -> its static ECMP hops

    def resolve(self, node: Node, addr: IPv4Address) -> NextHop | None:
        """How the node reaches an address: (gateway, device) of the longest matching connected/static route.

        At one prefix length a connected subnet wins over a static route, and an earlier static route
        over a later one; a static route via a gateway counts only if the gateway is on a connected
        subnet. Looked up in a per-node table of those routes by length, and remembered per address."""
        value = int(addr)
        known = self._resolved.get(node.name)
        if known is None:
            known = self._resolved[node.name] = {}
        elif value in known:
            return known[value]
        table = self._routes.get(node.name)
        if table is None:
            table = self._routes[node.name] = self._route_table(node)
        found = None
        for plen, routes in table:
            hop = routes.get(value & _MASKS[plen])
            if hop is not None:
                found = hop
                break
        known[value] = found
        return found

    def _route_table(self, node: Node) -> list[tuple[int, dict[int, NextHop]]]:
        """(prefix length, network -> next hop) from the longest length down; first candidate kept."""
        by_len: dict[int, dict[int, NextHop]] = {}
        for a, dev in self.h.connected(node):
            by_len.setdefault(a.network.prefixlen, {}).setdefault(int(a.network.network_address), (None, dev))
        for r in node.routes:
            hop: NextHop | None = None
            if r.dev is not None:
                hop = (None, r.dev)
            elif r.via is not None:
                via = self._resolve_connected(node, r.via)
                hop = (r.via, via) if via is not None else None
            if hop is not None:
                by_len.setdefault(r.prefix.prefixlen, {}).setdefault(int(r.prefix.network_address), hop)
        return sorted(by_len.items(), reverse=True)

    def _static_multipath(self, node: Node, dst: IPv4Address, local: NextHop) -> list[NextHop]:
        """Every next hop of the static routes for one prefix when there are several (zebra installs them as
        one ECMP route: a VNet-to-VNet connection without BGP, over each tunnel); [] when the route that
        matched is not one of those."""
        multi = self._multi.get(node.name)
        if multi is None:
            by_prefix: dict[IPv4Network, list[NextHop]] = {}
            for r in node.routes:
                if r.dev is not None:
                    by_prefix.setdefault(r.prefix, []).append((r.via, r.dev))
                elif r.via is not None and (dev := self._resolve_connected(node, r.via)) is not None:
                    by_prefix.setdefault(r.prefix, []).append((r.via, dev))
            multi = self._multi[node.name] = {p: h for p, h in by_prefix.items() if len(h) > 1}
        for prefix in sorted((p for p in multi if dst in p), key=lambda p: -p.prefixlen)[:1]:
            hops = multi[prefix]
            if any(h[1] == local[1] for h in hops):
                return [(via or dst, dev) for via, dev in hops]
        return []

    def _resolve_connected(self, node: Node, addr: IPv4Address) -> str | None:
        for a, dev in self.h.connected(node):
            if addr in a.network:
                return dev
        return None

    def fib(self, node: Node, best: dict[IPv4Network, list[Route]]) -> dict[IPv4Network, FibEntry]:
        fib: dict[IPv4Network, FibEntry] = {}
        # A connected route, or a static one for the very prefix (a gateway's point-to-site pool into its
        # P2S VTI, which its speaker may also originate), wins over BGP: administrative distance.
        connected = {a.network for a, _ in self.h.connected(node)} | {r.prefix for r in node.routes}
        # Many prefixes share their paths' next hops and peers (every site behind the same two
        # instances): their next-hop and peer sets are made once per combination.
        sets: dict[tuple[tuple[int, str], ...], tuple[frozenset[tuple[IPv4Address | None, str]], frozenset[str]]] = {}
        for prefix, paths in best.items():
            if prefix in connected:
                continue
            key = tuple([(int(r.next_hop), r.peer) for r in paths])
            found = sets.get(key)
            if found is None:
                hops: set[tuple[IPv4Address | None, str]] = set()
                for r in paths:
                    if r.peer == AGGREGATE:  # bgpd installs its own aggregate as a blackhole route
                        hops.add((None, BLACKHOLE))
                        continue
                    res = self.resolve(node, r.next_hop)
                    if res is not None:
                        # Recursive resolution flattens to the route's gateway; a connected or device route
                        # keeps the BGP next hop as the gateway (zebra installs it on-link).
                        gw, dev = res
                        hops.add((gw or r.next_hop, dev))
                found = sets[key] = (frozenset(hops), frozenset(r.peer for r in paths))
            if found[0]:
                fib[prefix] = FibEntry(prefix, found[0], found[1])
        return fib

    def next_nodes(
        self, pred: Prediction, node: Node, dst: IPv4Address, index: FibIndex | None = None
    ) -> list[tuple[str, str]]:
        """Where a packet for dst goes from node: [(next node, via what: interface or tunnel)]."""
        if self.h.holds(node, dst):
            return []
        entry = (index or FibIndex(pred.fib)).longest(node.name, dst)
        hops: list[NextHop] = []
        local = self.resolve(node, dst)
        if local is not None and local[0] is None and any(dst in a.network for a, _ in self.h.connected(node)):
            hops = [(dst, local[1])]
        elif entry is not None:
            hops = sorted(entry.next_hops, key=lambda h: (str(h[0]), h[1]))
        elif local is not None:
            hops = self._static_multipath(node, dst, local) or [(local[0] or dst, local[1])]
        out = []
        for gw, dev in hops:
            if dev == BLACKHOLE:  # dropped here
                continue
            nxt = self._neighbor_on(node, dev, gw or dst)
            if nxt is not None:
                out.append(nxt)
        return out

    def _neighbor_on(self, node: Node, dev: str, addr: IPv4Address) -> tuple[str, str] | None:
        iface = node.interface(dev)
        if iface.kind in TUNNEL_KINDS:
            for t in self._tunnels_at.get((node.name, dev), []):
                if f"{t.device}~{t.gateway}" in self.f.tunnels:
                    continue
                if t.gateway == node.name and t.gateway_ifname == dev:
                    return t.device, dev
                # A device's tunnel (or a remote VNet instance's) reaches whichever instance holds that
                # public IP now.
                if t.device == node.name and t.device_ifname == dev:
                    gw = self.topo.nodes[t.gateway]
                    if self.h.alive(gw.name) and (not self.h.has_shared(gw) or self.h.holds_shared(gw)):
                        return gw.name, dev
            return None
        owner = self.h.owner_of(addr)
        if owner is not None and self.h.alive(owner):
            return owner, dev
        return None

    def traffic_paths(self, pred: Prediction) -> dict[str, list[str]]:
        """Per direction ("s1->azure", "azure->s1"), the transit elements traffic crosses."""
        topo = self.topo
        vm = topo.nodes["vm"]
        vm_ip = vm.address_on("vnet")
        index = FibIndex(pred.fib)
        out: dict[str, list[str]] = {}
        for host in topo.by_role("host"):
            assert host.site is not None
            host_ip = host.address_on(host.interfaces[0].name)
            out[direction(host.site, to_azure=True)] = self._transit(pred, host, vm_ip, index)
            out[direction(host.site, to_azure=False)] = self._transit(pred, vm, host_ip, index)
        for name, src, dst in remote_directions(topo.lab):
            out[name] = self._transit(pred, topo.nodes[src], self._probe_ip(topo.nodes[dst]), index)
        # A point-to-site client's traffic crosses the instance serving it, both ways (the VNet routes the
        # pool to that instance's BGP IP, the instance into its P2S tunnel); nothing while it reconnects.
        for client, instance in pred.p2s.items():
            path = [instance] if instance is not None else []
            out[direction(client, to_azure=True)] = path
            out[direction(client, to_azure=False)] = list(path)
        return out

    @staticmethod
    def _probe_ip(node: Node) -> IPv4Address:
        """Where probes to a host or VM go: its first interface's address."""
        return node.address_on(node.interfaces[0].name)

    def _transit(self, pred: Prediction, start: Node, dst: IPv4Address, index: FibIndex) -> list[str]:
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
            if self.h.holds(node, dst):
                arrived = True
                continue
            if node.role in TRANSIT_ROLES:
                transit.add(name)
            for nxt, _ in self.next_nodes(pred, node, dst, index):
                if nxt in ("inet",):
                    continue
                frontier.append(nxt)
        return sorted(transit) if arrived else []
