"""Forwarding: next-hop resolution over connected and static routes, FIB entries from the best paths,
and hop-by-hop traffic paths between each site's host and the VNet VM over every ECMP branch."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network

from controller.oracle.holdings import Holdings
from controller.oracle.model import FibEntry, Prediction, Route
from lab.topology import Node, direction

TRANSIT_ROLES = ("gateway", "msee")  # the elements a traffic path is told by
NextHop = tuple[IPv4Address | None, str]  # (gateway, device); gateway None: on-link


class Forwarding:
    def __init__(self, holdings: Holdings) -> None:
        self.h = holdings
        self.topo = holdings.topo
        self.f = holdings.f

    def resolve(self, node: Node, addr: IPv4Address) -> NextHop | None:
        """How the node reaches an address: (gateway, device) of the longest matching connected/static route."""
        best: tuple[int, NextHop] | None = None
        for a, dev in self.h.connected(node):
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
        for a, dev in self.h.connected(node):
            if addr in a.network:
                return dev
        return None

    def fib(self, node: Node, best: dict[IPv4Network, list[Route]]) -> dict[IPv4Network, FibEntry]:
        fib: dict[IPv4Network, FibEntry] = {}
        connected = {a.network for a, _ in self.h.connected(node)}
        for prefix, paths in best.items():
            if prefix in connected:
                continue  # the connected route wins over BGP
            hops = set()
            for r in paths:
                res = self.resolve(node, r.next_hop)
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
        if self.h.holds(node, dst):
            return []
        entry = None
        for prefix, e in pred.fib.get(node.name, {}).items():
            if dst in prefix and (entry is None or prefix.prefixlen > entry.prefix.prefixlen):
                entry = e
        hops: list[NextHop] = []
        local = self.resolve(node, dst)
        if local is not None and local[0] is None and any(dst in a.network for a, _ in self.h.connected(node)):
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
        out: dict[str, list[str]] = {}
        for host in topo.by_role("host"):
            assert host.site is not None
            host_ip = host.address_on(host.interfaces[0].name)
            out[direction(host.site, to_azure=True)] = self._transit(pred, host, vm_ip)
            out[direction(host.site, to_azure=False)] = self._transit(pred, vm, host_ip)
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
            if self.h.holds(node, dst):
                arrived = True
                continue
            if node.role in TRANSIT_ROLES:
                transit.add(name)
            for nxt, _ in self.next_nodes(pred, node, dst):
                if nxt in ("inet",):
                    continue
                frontier.append(nxt)
        return sorted(transit) if arrived else []
