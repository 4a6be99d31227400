"""Failures that can be injected into a running lab, and restored. One module per kind.

Targets (see `targets`): a gateway instance (`gw0`), an on-prem VPN device (`s1-vpn0`), an MSEE
(`msee0`), a tunnel (`s1-vpn0~gw0`; an IPsec one also by its key or selectors), a device's internet
uplink (`s1-vpn0~inet`), an ExpressRoute link (`s1-ce0~msee0`), the whole circuit (`circuit`), an
availability zone (`zone1`), a prefix flood from a site (`flood:s1`).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from controller.failures.base import Active, Detection, Failure, load_active, save_active
from controller.failures.device import DeviceFailure
from controller.failures.flood import PrefixFlood
from controller.failures.instance import InstanceFailure
from controller.failures.ipsec import IpsecSelectorTunnelFailure, IpsecTunnelFailure
from controller.failures.link import ErLinkFailure, TunnelFailure, UplinkFailure
from controller.failures.msee import MseeFailure
from controller.failures.zone import ZoneFailure
from controller.oracle import Failures
from lab.errors import LabError, Problem
from lab.runtime.running import RunningLab
from lab.topology import Topology, Tunnel

KINDS: dict[str, type[Failure]] = {
    cls.kind: cls
    for cls in (
        InstanceFailure,
        DeviceFailure,
        MseeFailure,
        TunnelFailure,
        IpsecTunnelFailure,
        IpsecSelectorTunnelFailure,
        UplinkFailure,
        ErLinkFailure,
        ZoneFailure,
        PrefixFlood,
    )
}


def targets(lab: RunningLab | Topology) -> dict[str, type[Failure]]:
    """The lab's failure catalogue: target -> its kind (a scenario is checked against it before a lab runs)."""
    topo = lab if isinstance(lab, Topology) else lab.topo
    out: dict[str, type[Failure]] = {}
    for node in topo.nodes.values():
        if node.role == "gateway":
            out[node.name] = InstanceFailure
        elif node.role == "vpn":
            out[node.name] = DeviceFailure
            out[f"{node.name}~inet"] = UplinkFailure
        elif node.role == "msee":
            out[node.name] = MseeFailure
        elif node.role == "core":
            out[f"flood:{node.site}"] = PrefixFlood
    for t in topo.tunnels:
        if topo.lab.vpn_gateway.mode == "active-active" or not topo.nodes[t.gateway].standby:
            out[t.name] = tunnel_failure(t)
    for ce in topo.by_role("ce"):
        for iface in ce.interfaces:
            if iface.peer_node and topo.nodes[iface.peer_node].role == "msee":
                out[f"{ce.name}~{iface.peer_node}"] = ErLinkFailure
    if topo.by_role("ce"):
        out["circuit"] = ErLinkFailure
    for zone in sorted({n.zone for n in topo.by_role("gateway") if n.zone is not None}):
        out[f"zone{zone}"] = ZoneFailure
    return out


def tunnel_failure(t: Tunnel) -> type[Failure]:
    """How a tunnel can fail: as any tunnel (VXLAN), or as IKE can make it (IPsec; by its selectors too)."""
    if t.ipsec is None:
        return TunnelFailure
    return IpsecSelectorTunnelFailure if t.ipsec.onprem_ts else IpsecTunnelFailure


def resolve(lab: RunningLab, target: str, mode: str | None = None) -> Failure:
    """The failure for `target` in `mode` (default: the kind's first mode), or a one-line LabError."""
    known = targets(lab)
    cls = known.get(target)
    if cls is None:
        names = ", ".join(sorted(known))
        raise LabError(
            "target", [Problem("", f"'{target}' is not a failure target of lab {lab.name} (targets: {names})")]
        )
    chosen = mode or cls.modes[0]
    if chosen not in cls.modes:
        raise LabError(
            "--mode", [Problem("", f"'{chosen}' is not a mode of {target} (use one of: {', '.join(cls.modes)})")]
        )
    return cls(lab, target, chosen)


def from_record(lab: RunningLab, record: Active) -> Failure:
    return KINDS[record.kind](lab, record.target, record.mode, record.data)


def inject(lab: RunningLab, failure: Failure, announce: Callable[[float, str], None] | None = None) -> None:
    """Inject, record it (for `restore` and the oracle), and carry out what the platform does after its
    delay (active/standby takeover); `announce(delay_s, what)` is told before that wait."""
    failure.inject()
    save_active(lab, [*load_active(lab), failure.record()])
    follow = failure.follow_up()
    if follow is None:
        return
    delay, what = follow
    if announce is not None:
        announce(delay, what)
    time.sleep(delay)  # the platform's failover delay: modelled time passing, not synchronisation
    failure.run_follow_up()
    save_active(lab, [failure.record() if r.target == failure.target else r for r in load_active(lab)])


def restore(lab: RunningLab, failure: Failure) -> None:
    """Undo a failure and forget its record."""
    failure.restore()
    save_active(lab, [r for r in load_active(lab) if r.target != failure.target])


def current_failures(lab: RunningLab) -> Failures:
    """The oracle's view of what is failed now: the active failures, and who holds the shared IPs."""
    into = Failures(standby_active=lab.state.standby_active)
    for record in load_active(lab):
        from_record(lab, record).elements(into)
    return into


__all__ = [
    "Active",
    "Detection",
    "Failure",
    "current_failures",
    "from_record",
    "inject",
    "load_active",
    "resolve",
    "restore",
    "save_active",
    "targets",
]
