"""Numbers and ranges of the lab's plumbing and of Azure's platform, shared by the builder, the rules,
the templates (handed over as globals by `lab.render`) and the oracle: each defined here only."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network

APIPA = IPv4Network("169.254.0.0/16")
VXLAN_PORT = 4789
VXLAN_BASE_VNI = 1000
VXLAN_MTU = 1450  # 1500 minus VXLAN/UDP/IP overhead
VTI_MTU = 1400  # kernel-libipsec's ipsec0 is fixed at 1400: the outer packet stays under 1500 (ipsec.md §6.9)
MAX_PREFIXES = 4000  # Azure: on-prem -> VPN gateway and -> ExpressRoute private peering
# Azure drops a session over the limit and tries it again later (the documents give no interval): the
# lab's gateways and MSEEs restart it after FRR's shortest, one minute. Restoring a flood clears at once.
MAX_PREFIX_RESTART_MIN = 1
ECMP_PATHS = 16  # FRR's maximum-paths, and the oracle's ECMP limit
ER_WEIGHT, VPN_WEIGHT = 32769, 32768  # what the VNet shows for ExpressRoute vs VPN routes
LOCAL_WEIGHT = 32768  # FRR's weight for a route the router originates itself (an aggregate)
# The device of a FIB entry that drops what it matches: bgpd installs an aggregate it originates as a
# blackhole route (traffic covered by the summary but by no more specific route goes nowhere).
BLACKHOLE = "blackhole"
# The router <-> speaker session runs between two addresses on the node's lo. Not 127/8: zebra
# ignores those, and bgpd then never connects ("Waiting for NHT").
SPEAKER_NET = IPv4Network("169.254.255.0/29")
ROUTER_LO_IP, SPEAKER_IP, FLOOD_IP = SPEAKER_NET[1], SPEAKER_NET[2], SPEAKER_NET[3]
# The speaker listens on its own port and FRR connects to it (connect-retry 1 s): ExaBGP's own
# reconnect backs off 1 s, 2 s, ... after a refused attempt, and bgpd refuses until its config is read.
SPEAKER_PORT = 1179
# Each site core also has an idle session to a flood speaker, started only by the prefix-flood failure:
# it announces more prefixes than Azure's 4,000 limit, from the benchmarking range.
FLOOD_PORT = 1180
FLOOD_NET = IPv4Network("198.18.0.0/15")
FLOOD_COUNT = 4001


def flood_prefixes(count: int = FLOOD_COUNT) -> list[IPv4Network]:
    base = int(FLOOD_NET.network_address)
    return [IPv4Network(f"{IPv4Address(base + i)}/32") for i in range(count)]
