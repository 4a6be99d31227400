"""An availability zone lost: every gateway instance placed in it crashes at once."""

from __future__ import annotations

from controller.failures.base import Detection, Failure
from controller.failures.instance import InstanceFailure
from controller.oracle import Failures


class ZoneFailure(Failure):
    kind = "zone"
    modes = ("crash",)

    def zone(self) -> int:
        return int(self.target.removeprefix("zone"))

    def instances(self) -> list[InstanceFailure]:
        return [
            InstanceFailure(self.lab, n.name, "crash")
            for n in self.lab.topo.by_role("gateway")
            if n.zone == self.zone()
        ]

    def elements(self, into: Failures) -> None:
        for f in self.instances():
            f.elements(into)

    def detection(self) -> Detection:
        found = self.instances()
        return found[0].detection() if found else Detection("none", 0.0)

    def inject(self) -> None:
        for f in self.instances():
            f.inject()

    def follow_up(self) -> tuple[float, str] | None:
        found = [f.follow_up() for f in self.instances()]
        return next((x for x in found if x is not None), None)

    def run_follow_up(self) -> None:
        for f in self.instances():
            if f.follow_up() is not None:
                f.run_follow_up()

    def restore(self) -> None:
        for f in self.instances():
            f.restore()
