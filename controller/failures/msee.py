"""One Microsoft edge router (MSEE) lost: crashed (links go down: seen at once) or a silent
black-hole (links stay up, packets vanish: the customer edge notices through BFD, or the hold timer
without BFD; the ExpressRoute gateway through its hold timer)."""

from __future__ import annotations

from controller.failures.base import Detection, Failure, set_veths, silent_er_detection
from controller.failures.link import blackhole_rules
from controller.oracle import Failures
from lab.runtime import nodeops

TABLE = "gwlab_fail"


class MseeFailure(Failure):
    kind = "msee"
    modes = ("crash", "blackhole")

    def elements(self, into: Failures) -> None:
        into.nodes.add(self.target)

    def detection(self) -> Detection:
        if self.mode == "crash":
            return Detection("link-down", 0.0)
        return silent_er_detection(self.lab)

    def inject(self) -> None:
        node = self.lab.node(self.target)
        if self.mode == "crash":
            set_veths(self.lab, node.name, up=False)  # both ends: the peers see it at once
            nodeops.stop_node(self.lab, node.name)
        else:
            devices = [i.name for i in node.interfaces if i.kind == "veth"]
            nodeops.nft(self.lab, node.name, blackhole_rules(devices))

    def restore(self) -> None:
        if self.mode == "crash":
            set_veths(self.lab, self.target, up=True)
            nodeops.start_node(self.lab, self.target)
        else:
            nodeops.nft_delete_table(self.lab, self.target, "netdev", TABLE)
