"""A prefix flood: a site announces more than Azure's 4,000 prefixes, and Azure drops the sessions.

A second ExaBGP speaker on the site's core (its session is configured from the start and idle)
announces FLOOD_COUNT /32s; the core reflects them to the site's VPN devices and customer edges, which
pass them on (they originate in the site); the gateways' and MSEEs' maximum-prefix tears those
sessions down. Restore stops the flood and clears the dropped sessions, as an operator would.
"""

from __future__ import annotations

from controller.failures.base import Detection, Failure
from controller.oracle import Failures
from lab.render import environment
from lab.runtime import nodeops
from lab.runtime.daemons import confirm
from lab.topology import FLOOD_COUNT, FLOOD_IP, FLOOD_PORT, MAX_PREFIXES, ROUTER_LO_IP, Node, flood_prefixes

NAME = "flood"


class PrefixFlood(Failure):
    kind = "flood"
    modes = ("flood",)

    def site(self) -> str:
        return self.target.removeprefix("flood:")

    def core(self) -> Node:
        return self.lab.node(f"{self.site()}-core")

    def elements(self, into: Failures) -> None:
        into.flooded.add(self.site())

    def detection(self) -> Detection:
        return Detection("max-prefix", 0.0)

    def inject(self) -> None:
        core = self.core()
        assert core.bgp is not None and core.speaker is not None
        node_dir = self.lab.state.run_dir / core.name
        text = (
            environment()
            .get_template("exabgp/flood.conf.j2")
            .render(
                node=core,
                prefixes=flood_prefixes(),
                limit=MAX_PREFIXES,
                router_ip=ROUTER_LO_IP,
                flood_ip=FLOOD_IP,
                port=FLOOD_PORT,
                asn=core.bgp.asn,
                next_hop=core.speaker.routes[0][1],
            )
        )
        (node_dir / f"{NAME}.conf").write_text(text, encoding="utf-8")
        confirm([self.lab.runtime.launch_exabgp(core, name=NAME, listen=(str(FLOOD_IP), FLOOD_PORT))])

    def restore(self) -> None:
        core = self.core()
        self.lab.runtime.stop_daemon(core.name, NAME)
        # maximum-prefix keeps a dropped session down until it is cleared (or its restart, a minute on).
        for node in self.lab.topo.routers():
            assert node.bgp is not None
            for n in node.bgp.neighbors:
                if n.max_prefix and self.lab.node(n.peer).site == self.site():
                    nodeops.vtysh_exec(self.lab, node.name, f"clear bgp ipv4 unicast {n.address}")


__all__ = ["FLOOD_COUNT", "PrefixFlood"]
