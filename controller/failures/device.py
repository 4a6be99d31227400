"""An on-prem VPN device lost: its processes die and its links go dark.

The site core sees its link drop at once; the gateways see nothing on the tunnels (VXLAN has no
carrier) until the BGP hold timer expires, as with a real device behind IPsec without DPD.
Both ends of its links go down (see base.set_veths: no link-watch delay at the core).
"""

from __future__ import annotations

from controller.failures.base import Detection, Failure, set_veths
from controller.oracle import Failures
from lab.runtime import nodeops


class DeviceFailure(Failure):
    kind = "device"
    modes = ("crash",)

    def elements(self, into: Failures) -> None:
        into.nodes.add(self.target)

    def detection(self) -> Detection:
        return Detection("hold-timer", self.timing.hold * 1000.0)

    def inject(self) -> None:
        set_veths(self.lab, self.target, up=False)  # dark first: a dead box sends nothing
        nodeops.stop_node(self.lab, self.target)

    def restore(self) -> None:
        set_veths(self.lab, self.target, up=True)
        nodeops.start_node(self.lab, self.target)
