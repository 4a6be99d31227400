"""What every failure kind provides, and the record of active failures kept in the lab's run dir."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

from controller.oracle import Failures
from lab.profiles import Timing
from lab.runtime import configure, links, nodeops
from lab.runtime.running import RunningLab
from lab.topology import Topology, Tunnel

STATE_FILE = "failures.json"


SETTLE_MARGIN_S = 15.0  # beyond detection: BGP updates, FIBs and BFD settling, on a loaded machine


@dataclass
class Detection:
    # "link-down", "bfd", "hold-timer", "dpd", "withdraw", "failover", "max-prefix", "next-hop-tracking",
    # "ike-delete", "ike-auth", "ike-selectors", "none"
    mechanism: str
    expected_ms: float  # what the mechanism implies with the lab's timers

    @property
    def timeout_s(self) -> float:
        """How long to wait for the lab to converge after the failure: the one definition."""
        return self.expected_ms / 1000 + SETTLE_MARGIN_S


@dataclass
class Active:
    """A failure in effect, as recorded for `gwlab restore` and the oracle."""

    kind: str
    target: str
    mode: str
    data: dict[str, Any] = field(default_factory=dict)


class Failure(ABC):
    kind: ClassVar[str]
    modes: ClassVar[tuple[str, ...]]

    def __init__(self, lab: RunningLab, target: str, mode: str, data: dict[str, Any] | None = None) -> None:
        self.lab = lab
        self.target = target
        self.mode = mode
        self.data: dict[str, Any] = data or {}

    @property
    def timing(self) -> Timing:
        return self.lab.topo.timing

    @abstractmethod
    def elements(self, into: Failures) -> None:
        """Add what is failed to the oracle's failure set."""

    @abstractmethod
    def detection(self) -> Detection: ...

    @abstractmethod
    def inject(self) -> None: ...

    @abstractmethod
    def restore(self) -> None: ...

    def follow_up(self) -> tuple[float, str] | None:
        """(delay s, description) of something the platform does later on its own (active/standby takeover)."""
        return None

    def run_follow_up(self) -> None:  # noqa: B027 - most kinds have no follow-up
        """Carry out the follow-up (called by whoever injected, after the delay)."""

    def record(self) -> Active:
        return Active(self.kind, self.target, self.mode, self.data)


def load_active(lab: RunningLab) -> list[Active]:
    path = lab.state.run_dir / STATE_FILE
    try:
        return [Active(**item) for item in json.loads(path.read_text(encoding="utf-8"))]
    except (OSError, ValueError):
        return []


def save_active(lab: RunningLab, active: list[Active]) -> None:
    path = lab.state.run_dir / STATE_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps([asdict(a) for a in active], indent=2), encoding="utf-8")
    tmp.replace(path)


def holds_shared(lab: RunningLab, node: str) -> bool:
    """Does the node hold its shared addresses now (always, for a node without any)."""
    return configure.holds_shared(lab.node(node), lab.state.standby_active)


def reconfigure(lab: RunningLab, node: str, names: list[str]) -> None:
    """Interfaces back as `up` configured them: addresses, link up, the runtime's routes and the
    permanent neighbours of the tunnels (an interface going down takes its routes and neighbours,
    permanent ones included, with it)."""
    nodeops.reconfigure(lab, node, names, holds_shared(lab, node))


def veth_ends(lab: RunningLab, node: str, names: list[str] | None = None) -> list[tuple[str, str]]:
    """(node, interface) of the node's veths (all, or `names`), then of their far ends."""
    target = lab.node(node)
    mine = [i.name for i in target.interfaces if i.kind == "veth" and (names is None or i.name in names)]
    far = [(other, ifname) for own, other, ifname in links.far_ends(lab.topo, node) if own in mine]
    return [(node, name) for name in mine] + far


def set_veths(lab: RunningLab, node: str, up: bool, names: list[str] | None = None) -> None:
    """A cable pulled (or plugged back): the node's veths (all, or `names`) and their far ends,
    administratively. Only the node's end down would leave the far end to notice by losing carrier,
    which the kernel reports through its link-watch queue, batched to once a second for the whole
    machine: the far router would keep forwarding into the dead link for up to a second, an artefact
    of the lab, not a behaviour of the failure. Down: all ends at one instant, the node's first
    (nothing more leaves it)."""
    ends = veth_ends(lab, node, names)
    if not up:
        nodeops.links_down(lab, ends)
        return
    for other, ifname in ends:
        if other != node:
            reconfigure(lab, other, [ifname])
    reconfigure(lab, node, [ifname for other, ifname in ends if other == node])


def silent_tunnel_detection(topo: Topology, tunnels: list[Tunnel]) -> Detection:
    """A VPN tunnel gone silent (its far end lost, or the path): IPsec's dead-peer detection when every
    tunnel has it and it is shorter than the BGP hold timer (Azure: 45 s against 180 s), else the hold
    timer (VXLAN has no DPD)."""
    hold_ms = topo.timing.hold * 1000.0
    dpd_ms = [t.ipsec.dpd.detection_s() * 1000.0 for t in tunnels if t.ipsec is not None]
    if tunnels and len(dpd_ms) == len(tunnels) and max(dpd_ms) < hold_ms:
        return Detection("dpd", max(dpd_ms))
    return Detection("hold-timer", hold_ms)


def silent_er_detection(lab: RunningLab) -> Detection:
    """A silent ExpressRoute failure (links up, packets lost): BFD where enabled, else the hold timer."""
    t = lab.topo.timing
    er = lab.topo.lab.expressroute
    if er is not None and er.bfd:
        return Detection("bfd", float(t.bfd_detect_ms))
    return Detection("hold-timer", t.er_hold * 1000.0)
