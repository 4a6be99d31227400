"""Link failures: one VPN tunnel, a device's internet uplink, an ExpressRoute link, the whole circuit.

Modes:
- down: the interface goes down. A veth's far end loses carrier, so a directly connected BGP peer
  drops at once; a VXLAN tunnel interface going down takes its routes and the BGP session (NHT) with it,
  as an IPsec tunnel torn down by IKE would.
- blackhole: everything silently dropped (nftables), links stay up: only BFD or the hold timer tells.
- shutdown (ExpressRoute only): the peering is disabled on the Microsoft side (BGP neighbor shutdown):
  a withdraw, the documented "peering disabled" case.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import ClassVar

from controller.failures.base import (
    Detection,
    Failure,
    reconfigure,
    set_veths,
    silent_er_detection,
    silent_tunnel_detection,
    veth_ends,
)
from controller.oracle import Failures
from lab.errors import GwlabError
from lab.runtime import nodeops
from lab.topology import Node, Tunnel

TABLE = "gwlab_fail"


def blackhole_rules(devices: list[str]) -> str:
    """Drop every frame in and out of the devices, below IP (ARP and BFD included)."""
    chains = []
    for i, dev in enumerate(devices):
        chains.append(f'  chain in{i} {{ type filter hook ingress device "{dev}" priority -500; policy drop; }}')
        chains.append(f'  chain out{i} {{ type filter hook egress device "{dev}" priority -500; policy drop; }}')
    body = "\n".join(chains)
    return f"table netdev {TABLE}\ndelete table netdev {TABLE}\ntable netdev {TABLE} {{\n{body}\n}}\n"


class TunnelFailure(Failure):
    """`<device>~<gateway>`: the tunnel between an on-prem device and a gateway instance."""

    kind = "tunnel"
    modes: ClassVar[tuple[str, ...]] = ("down", "blackhole")

    def tunnel(self) -> Tunnel:
        for t in self.lab.topo.tunnels:
            if t.name == self.target:
                return t
        raise GwlabError(f"no tunnel {self.target}")

    def ends(self) -> tuple[Node, Node, str, str]:
        t = self.tunnel()
        return self.lab.node(t.device), self.lab.node(t.gateway), t.device_ifname, t.gateway_ifname

    def elements(self, into: Failures) -> None:
        into.tunnels.add(self.target)

    def detection(self) -> Detection:
        if self.mode == "down":
            # Routes through the tunnel go at once (next-hop tracking: the route to the peer is gone);
            # FRR keeps the multihop session itself until the hold timer, so convergence takes that long.
            return Detection("next-hop-tracking", 0.0)
        return Detection("hold-timer", self.timing.hold * 1000.0)

    def inject(self) -> None:
        device, gateway, dev_if, gw_if = self.ends()
        if self.mode == "down":
            nodeops.links_down(self.lab, [(device.name, dev_if), (gateway.name, gw_if)])  # one IKE delete: both ends
            return
        gw_ip = gateway.address_on("inet")
        rules = (
            f"table inet {TABLE}\ndelete table inet {TABLE}\ntable inet {TABLE} {{\n"
            f"  chain in {{ type filter hook input priority -500; ip saddr {gw_ip} udp dport 4789 drop; }}\n"
            f"  chain out {{ type filter hook output priority -500; ip daddr {gw_ip} udp dport 4789 drop; }}"
            "\n}\n"
        )
        nodeops.nft(self.lab, device.name, rules)

    def restore(self) -> None:
        device, gateway, dev_if, gw_if = self.ends()
        if self.mode == "down":
            reconfigure(self.lab, device.name, [dev_if])  # up, with its routes and permanent neighbours
            reconfigure(self.lab, gateway.name, [gw_if])
            return
        nodeops.nft_delete_table(self.lab, device.name, "inet", TABLE)


class UplinkFailure(Failure):
    """`<device>~inet`: the on-prem device's internet uplink. Its tunnels die silently: IPsec's DPD, or
    the hold timer over VXLAN."""

    kind = "uplink"
    modes = ("down",)

    def device(self) -> str:
        return self.target.split("~")[0]

    def elements(self, into: Failures) -> None:
        into.links.add(f"{self.device()}~inet")

    def detection(self) -> Detection:
        return silent_tunnel_detection(self.lab.topo, [t for t in self.lab.topo.tunnels if t.device == self.device()])

    def inject(self) -> None:
        nodeops.set_links(self.lab, self.device(), up=False, names=["inet"])

    def restore(self) -> None:
        reconfigure(self.lab, self.device(), ["inet"])


class ErLinkFailure(Failure):
    """`<ce>~<msee>`: one ExpressRoute link (primary or secondary); `circuit`: both."""

    kind = "er-link"
    modes = ("down", "blackhole", "shutdown")

    def pairs(self) -> list[tuple[str, str]]:
        if self.target != "circuit":
            ce, msee = self.target.split("~")
            return [(ce, msee)]
        return [
            (ce.name, i.peer_node)
            for ce in self.lab.topo.by_role("ce")
            for i in ce.interfaces
            if i.peer_node is not None and self.lab.node(i.peer_node).role == "msee"
        ]

    def elements(self, into: Failures) -> None:
        for ce, msee in self.pairs():
            into.links.add(f"{ce}~{msee}")

    def detection(self) -> Detection:
        if self.mode == "down":
            return Detection("link-down", 0.0)
        if self.mode == "shutdown":
            return Detection("withdraw", 0.0)
        return silent_er_detection(self.lab)

    def inject(self) -> None:
        pairs = self.pairs()
        if self.mode == "down":  # both ends of every link (no link-watch delay), all at one instant
            nodeops.links_down(self.lab, [end for ce, msee in pairs for end in veth_ends(self.lab, ce, [msee])])
        elif self.mode == "shutdown":  # the whole circuit's peering at once, not one vtysh after the other
            with ThreadPoolExecutor(len(pairs)) as pool:
                list(pool.map(lambda pair: self._peering(pair[1], pair[0], shut=True), pairs))
        else:
            for ce, msee in pairs:
                nodeops.nft(self.lab, ce, blackhole_rules([msee]))

    def restore(self) -> None:
        for ce, msee in self.pairs():
            if self.mode == "down":
                set_veths(self.lab, ce, up=True, names=[msee])
            elif self.mode == "blackhole":
                nodeops.nft_delete_table(self.lab, ce, "netdev", TABLE)
            else:
                self._peering(msee, ce, shut=False)

    def _peering(self, msee: str, ce: str, shut: bool) -> None:
        node = self.lab.node(msee)
        assert node.bgp is not None
        peer = next(n for n in node.bgp.neighbors if n.peer == ce)
        prefix = "" if shut else "no "
        nodeops.bgp_config(self.lab, node, [f"router bgp {node.bgp.asn}", f"{prefix}neighbor {peer.address} shutdown"])
