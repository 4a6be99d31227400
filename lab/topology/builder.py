"""`build`: the resolved topology from a checked lab file, one feature builder after the other.

The order is part of the output: loopbacks, point-to-point subnets and VNIs are handed out as nodes
are built (Azure side, sites, ExpressRoute), so the same file always gives the same addresses.
"""

from __future__ import annotations

from lab.model import LabFile
from lab.profiles import resolve
from lab.topology.context import Build
from lab.topology.expressroute import add_expressroute
from lab.topology.internet import add_internet, address_internet
from lab.topology.neighbors import add_link_neighbors
from lab.topology.p2s import add_p2s
from lab.topology.sites import add_sites
from lab.topology.types import Topology
from lab.topology.vnet import add_gateways, add_vnet
from lab.topology.vnets import add_remote_vnets

# ExaBGP's reactor sleeps speed/100 s between loops when idle, and bgpd's OPEN, its answer and the
# first updates each wait for a loop: at speed 1 (ExaBGP's default, 10 ms) a speaker's session is up
# 0.1-0.2 s sooner than at 10 (100 ms), for 1 % of a core per idle speaker against 0.1 %. A lab's
# speakers together stay within IDLE_SPEAKERS_CORE of a core.
IDLE_SPEAKERS_CORE = 0.1
IDLE_CORE_AT_SPEED_1 = 0.01  # per speaker
MAX_REACTOR_SPEED = 10.0


def build(lab: LabFile) -> Topology:
    """Derive everything; `lab` must already have passed `lab.rules.check`."""
    assert lab.name is not None
    b = Build(lab, resolve(lab.profile, lab.timers))
    add_internet(b)
    add_vnet(b)
    add_gateways(b)
    add_sites(b)
    add_p2s(b)
    if lab.expressroute is not None and b.er_index is not None:
        add_expressroute(b)
    add_remote_vnets(b)  # after the lab's own VNet, sites and ExpressRoute: their addresses stay as they were
    address_internet(b)
    _own_as_for_internal_sessions(b)
    _pace_speakers(b)
    add_link_neighbors(b.nodes, [e for t in b.tunnels if t.device_end is not None for e in t.ends()])
    er_site = lab.onprem.sites[b.er_index].name if b.er_index is not None and lab.expressroute else None
    return Topology(lab.name, lab, b.t, b.nodes, b.links, b.tunnels, er_site, b.p2s)


def _pace_speakers(b: Build) -> None:
    speakers = [n.speaker for n in b.nodes.values() if n.speaker is not None]
    speed = len(speakers) * IDLE_CORE_AT_SPEED_1 / IDLE_SPEAKERS_CORE
    for speaker in speakers:
        speaker.reactor_speed = round(min(MAX_REACTOR_SPEED, max(1.0, speed)), 1)


def _own_as_for_internal_sessions(b: Build) -> None:
    """iBGP and speaker sessions were built with remote AS 0: the node's own AS."""
    for node in b.nodes.values():
        if node.bgp is None:
            continue
        for n in node.bgp.neighbors:
            if n.remote_as == 0:
                n.remote_as = node.bgp.asn
