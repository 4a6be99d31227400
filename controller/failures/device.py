"""An on-prem VPN device lost: its processes die and its links go dark.

The site core sees its link drop at once; the gateways see nothing on the tunnels until IPsec's
dead-peer detection declares the device dead (its charons die with it), or over VXLAN (no carrier, no
DPD) until the BGP hold timer expires. Both ends of its links go down (see base.set_veths: no
link-watch delay at the core).
"""

from __future__ import annotations

from controller.failures.base import Detection, Failure, set_veths, silent_tunnel_detection
from controller.oracle import Failures
from lab.runtime import nodeops, tunnelops


class DeviceFailure(Failure):
    kind = "device"
    modes = ("crash",)

    def elements(self, into: Failures) -> None:
        into.nodes.add(self.target)

    def detection(self) -> Detection:
        return silent_tunnel_detection(self.lab.topo, [t for t in self.lab.topo.tunnels if t.device == self.target])

    def inject(self) -> None:
        set_veths(self.lab, self.target, up=False)  # dark first: a dead box sends nothing
        nodeops.stop_node(self.lab, self.target)
        tunnelops.stop(self.lab, self.target)

    def restore(self) -> None:
        set_veths(self.lab, self.target, up=True)
        nodeops.start_node(self.lab, self.target)
        tunnelops.start(self.lab, self.target)
