"""Operations on the IPsec tunnel ends of a running lab, for failures, their restoration and status.

A router's tunnel ends are part of it: an instance or a device that crashes takes its charons with it
(kill -9: its peers' DPD notices), one that is taken out gracefully deletes its IKE_SAs first (its peers
see it at once); an active/standby standby starts its charons when it takes the IPs over. Keys are
rewritten into the ends' private files only (lab.runtime.links.ipsec), never passed on a command line.
"""

from __future__ import annotations

import contextlib
import dataclasses
from concurrent.futures import ThreadPoolExecutor
from ipaddress import IPv4Network

from lab.errors import GwlabError
from lab.ipsec.tunnels import site_to_site
from lab.runtime import links
from lab.runtime.ipsec import endpoint, status
from lab.runtime.ipsec.charon import Charon
from lab.runtime.links import ipsec
from lab.runtime.links.ipsec import CharonEnd, EndpointEnd
from lab.runtime.links.p2s import P2sClientEnd
from lab.runtime.running import RunningLab
from lab.topology import Tunnel, TunnelEnd
from lab.topology.naming import ENDPOINT_VTI, ENDPOINT_WAN

SWANCTL_TIMEOUT_S = 5.0


def ends_of(lab: RunningLab, node: str) -> list[tuple[Tunnel, TunnelEnd]]:
    """The node's site-to-site tunnel ends (a router's, or none)."""
    return [(t, e) for t, e in lab.topo.tunnel_ends() if e.node == node]


def charon(lab: RunningLab, end: TunnelEnd) -> Charon:
    return ipsec.charon_of(lab.name, end)


def charons_of(lab: RunningLab, node: str) -> list[CharonEnd]:
    """Every charon that belongs to the node (its tunnel ends, its point-to-site end or client)."""
    return [e for e in links.charons_of(lab.topo) if e.node == node]


def stop(lab: RunningLab, node: str, graceful: bool = False) -> int:
    """The node's charons: killed at once (a crash), or after deleting their IKE_SAs (graceful, so that
    the peers see the tunnels go at once); returns how many were running."""
    ends = charons_of(lab, node)
    running = [c for e in ends if (c := e.recorded(lab.runtime.netns_path)).running()]
    if graceful:
        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(_delete_all, running))
    for c in running:
        c.stop(grace_s=2.0 if graceful else 0.0)
    for e in ends:
        if isinstance(e, EndpointEnd):
            # A charon killed never ran its updown hook: the tunnel is gone, so is the VTI's carrier.
            endpoint.dead(e.path, ENDPOINT_VTI, ENDPOINT_WAN)
    return len(running)


def _delete_all(c: Charon) -> None:
    with contextlib.suppress(GwlabError):
        for connection in sorted({sa.connection for sa in c.sas()}):
            _delete_ike((c, connection))


def _delete_ike(item: tuple[Charon, str]) -> None:
    c, connection = item
    # No SA to delete, or the peer did not answer: what follows (a stop, an initiate) goes on regardless.
    with contextlib.suppress(GwlabError):
        c.swanctl("--terminate", "--ike", connection, "--timeout", "2", timeout_s=SWANCTL_TIMEOUT_S)


def start(lab: RunningLab, node: str) -> int:
    """The node's charons started again (takeover, restore) from the files `up` wrote, launched together,
    then loaded as `up` loads them. Returns how many were started."""
    ends = charons_of(lab, node)
    for end in ends:
        end.charon = end.recorded(lab.runtime.netns_path)
        if not end.charon.running():
            end.charon.launch()
    ipsec.settle(ends)
    return len(ends)


def rekey_with(lab: RunningLab, tunnel: Tunnel, variant: str = "", onprem_ts: list[IPv4Network] | None = None) -> None:
    """The on-prem end of `tunnel` reconfigured, as its admin would: another key (`variant` of the derived
    one, "" for the right one) and/or other local selectors; then the tunnel re-established from the
    Azure side with it (delete, initiate), so that what happens is what a fresh IKE exchange does."""
    device_end, gateway_end = tunnel.ends()
    onprem = charon(lab, device_end)
    configured = tunnel
    if onprem_ts is not None:
        assert tunnel.ipsec is not None
        configured = dataclasses.replace(tunnel, ipsec=dataclasses.replace(tunnel.ipsec, onprem_ts=onprem_ts))
    ipsec.instance_files(lab.topo, configured, device_end, variant)
    onprem.swanctl("--load-all", "--noprompt", "--file", str(onprem.layout.swanctl_conf))
    reinitiate(lab, tunnel, gateway_end)  # Azure's side is as the topology says


def reinitiate(lab: RunningLab, tunnel: Tunnel, azure_end: TunnelEnd) -> None:
    """Delete the Azure end's IKE_SA and initiate every CHILD_SA again (the initiator's side)."""
    assert tunnel.ipsec is not None
    azure = charon(lab, azure_end)
    if not azure.running():
        return
    _delete_ike((azure, tunnel.ipsec.connection))
    children = [ch.name for ch in site_to_site(tunnel, azure_end, "").connections[0].children]
    for child in children:
        # Refused (the failure being injected): charon's log says why, and `status` shows it.
        with contextlib.suppress(GwlabError):
            azure.swanctl(
                "--initiate", "--ike", tunnel.ipsec.connection, "--child", child, "--timeout", "3",
                timeout_s=SWANCTL_TIMEOUT_S,
            )  # fmt: skip


def terminate(lab: RunningLab, tunnel: Tunnel) -> None:
    """IKE takes the tunnel down: the Azure end deletes its IKE_SA (both ends' updown hooks drop carrier)."""
    assert tunnel.ipsec is not None
    azure = charon(lab, tunnel.ends()[1])
    if azure.running():
        _delete_ike((azure, tunnel.ipsec.connection))


def ends_status(lab: RunningLab) -> list[status.EndStatus]:
    """What `gwlab status` shows per tunnel end (read in parallel), in topology order. An active/standby
    device's end serves both instances' tunnels: it is named after both."""
    served: dict[str, list[str]] = {}
    for t in lab.topo.tunnels:
        if t.kind == "ipsec":
            for e in t.ends():
                served.setdefault(e.endpoint, []).append(t.name)
    ends = [
        status.End(", ".join(served[e.endpoint]), e.node, charon(lab, e), t.ipsec.connection)
        for t, e in lab.topo.tunnel_ends()
        if t.ipsec is not None
    ]
    ends += _p2s_ends(lab)
    shown = status.read(ends)
    return [
        dataclasses.replace(s, problem=STANDBY) if not s.running and not holds_ips(lab, s.end) else s for s in shown
    ]


def _p2s_ends(lab: RunningLab) -> list[status.End]:
    """Point-to-site: each client's connection at the instance(s) it may use, and at the client."""
    p2s = lab.topo.p2s
    if p2s is None:
        return []
    out = []
    for end in p2s.ends:
        gateway = charon(lab, end)
        out += [status.End(c.node, end.node, gateway, c.node) for c in p2s.clients if c.public == end.public]
    for client in links.charons_of(lab.topo):
        if isinstance(client, P2sClientEnd):
            out.append(status.End(client.node, client.node, client.recorded(lab.runtime.netns_path), client.node))
    return out


STANDBY = "standby instance: its charons start when it takes the gateway's IPs over"


def holds_ips(lab: RunningLab, node: str) -> bool:
    """Does the router hold the public IP its tunnel ends speak IKE from (an active/standby standby
    does not, until takeover)?"""
    target = lab.node(node)
    if not any(i.shared_addresses for i in target.interfaces):
        return True
    return target.standby == lab.state.standby_active
