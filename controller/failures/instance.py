"""A VPN gateway instance lost: crashed (unplanned) or taken out for planned maintenance (graceful).

crash: its public interface goes dark and its processes die at once, its IPsec charons included; on-prem
notices by IPsec dead-peer detection (shorter than the hold timer, as on Azure) or, over VXLAN, when
the BGP hold timer expires (no BFD on VPN), while the VNet side sees the instance's sessions close.
graceful: BGP is shut down first (NOTIFICATION: peers withdraw at once) and its IKE_SAs deleted, then
the instance goes.
Active/standby: the platform moves the public and BGP IPs to the other instance after the profile's
failover delay (planned or unplanned), whose charons then start and initiate IKE at once (that time is
part of the outage); the restored instance comes back as the standby, its charons stopped.
"""

from __future__ import annotations

from controller.failures.base import Detection, Failure, reconfigure, silent_tunnel_detection
from controller.oracle import Failures
from lab.poll import poll
from lab.runtime import nodeops, tunnelops
from lab.runtime.frr import bgp_peers


class InstanceFailure(Failure):
    kind = "instance"
    modes = ("crash", "graceful")

    @property
    def active_standby(self) -> bool:
        # a remote VNet's gateway is active/active
        return self.lab.topo.lab.vpn_gateway.mode == "active-standby" and self.lab.node(self.target).vnet is None

    def _other(self) -> str:
        return next(g.name for g in self.lab.topo.by_role("gateway") if g.name != self.target)

    def holds_shared(self, standby_active: bool) -> bool:
        node = self.lab.node(self.target)
        return node.standby == standby_active

    def elements(self, into: Failures) -> None:
        into.nodes.add(self.target)  # who holds the shared IPs is the lab's state (standby_active)

    def detection(self) -> Detection:
        t = self.timing
        if self.active_standby:
            delay = t.failover_planned_s if self.mode == "graceful" else t.failover_unplanned_s
            return Detection("failover", delay * 1000)
        if self.mode == "graceful":
            return Detection("withdraw", 0.0)
        return silent_tunnel_detection(
            self.lab.topo, [tn for tn in self.lab.topo.tunnels if self.target in (tn.gateway, tn.device)]
        )

    def inject(self) -> None:
        node = self.lab.node(self.target)
        if self.mode == "graceful":
            self._shutdown_bgp()
            tunnelops.stop(self.lab, node.name, graceful=True)  # IKE_SAs deleted: the peers see it at once
        # The public interface goes dark with the VM, first, so that nothing (no FIN, no RST) reaches
        # on-prem. It is set down, not deleted: deleting it would take a port off the internet switch,
        # whose bridge MAC may then change, and every other node's cached ARP entry for the switch goes
        # stale (the surviving instance's tunnels break for ~20 s).
        nodeops.set_links(self.lab, node.name, up=False, names=["inet"])
        nodeops.stop_node(self.lab, node.name)
        tunnelops.stop(self.lab, node.name)  # its tunnel ends' charons, killed with it
        # The rest of the VM goes too: the platform (the VNet side) has seen its sessions close; a dead
        # VM answers no ARP either (an active/standby's shared BGP IP will move to the other instance),
        # and its tunnels go, with the routes the killed zebra left through them (a restored standby
        # would otherwise keep them).
        nodeops.set_links(self.lab, node.name, up=False, names=self._interfaces())

    def _interfaces(self) -> list[str]:
        return [i.name for i in self.lab.node(self.target).interfaces if i.kind != "loopback"]

    def _shutdown_bgp(self) -> None:
        node = self.lab.node(self.target)
        assert node.bgp is not None
        lines = [f"router bgp {node.bgp.asn}"]
        lines += [f"neighbor {n.address} shutdown" for n in node.bgp.neighbors if n.kind != "speaker"]
        nodeops.bgp_config(self.lab, node, lines)

        # Wait until the NOTIFICATIONs are out: every session of this instance has left Established
        # (the speaker's, on 169.254.255.x, stays: the VM dies with it).
        def established() -> list[str]:
            peers = bgp_peers(self.lab.runtime.frr_dir(node.name))
            return [a for a, p in peers.items() if p.get("state") == "Established" and not a.startswith("169.254.255.")]

        poll(established, lambda left: not left, timeout_s=5.0, interval_s=0.02)

    def follow_up(self) -> tuple[float, str] | None:
        if not self.active_standby or not self._holds_ips_now():
            return None
        t = self.timing
        delay = t.failover_planned_s if self.mode == "graceful" else t.failover_unplanned_s
        return delay, f"platform moves the gateway's IPs to {self._other()}"

    def _holds_ips_now(self) -> bool:
        return self.holds_shared(self.lab.state.standby_active)

    def run_follow_up(self) -> None:
        other = self.lab.node(self._other())
        nodeops.take_over_shared_ips(self.lab, other, None)
        tunnelops.start(self.lab, other.name)  # its charons initiate IKE from the public IP it now holds
        self.data["taken_over"] = True
        self.lab.state.standby_active = not self.lab.state.standby_active
        self.lab.state.save()

    def restore(self) -> None:
        node = self.lab.node(self.target)
        holds = node.standby == self.lab.state.standby_active
        # A node that kept its network (a namespace) is set right first; a container came back with
        # none, and start_node wires it with the addresses it holds now.
        if self.lab.runtime.node_present(node.name):
            if not holds:
                self._drop_shared_addresses()  # before its links come up: no duplicate IP, not even briefly
            reconfigure(self.lab, node.name, self._interfaces())  # links up, addresses, routes, neighbours
        nodeops.start_node(self.lab, node.name)
        if holds:
            tunnelops.start(self.lab, node.name)  # a restored standby's charons stay stopped

    def _drop_shared_addresses(self) -> None:
        """Back as the standby: the IPs stay with the instance that took them over."""
        node = self.lab.node(self.target)
        for iface in node.interfaces:
            for addr in iface.shared_addresses:
                self.lab.run(node.name, ["ip", "addr", "del", str(addr), "dev", iface.name])
