"""Azure's rules for a lab file (../shared/reference/azure-behavior.md), as checks that name the fix.

One module per area; `check` runs every check, in the order below (the order of the messages a user
sees), so that a user sees every error at once. A check checks the values the builder will use
(`lab.topology.naming`, `lab.topology.addressing`) rather than deriving them again.
"""

from __future__ import annotations

from lab.errors import LabError
from lab.model import LabFile
from lab.rules.addresses import device_bgp_ips, onprem_prefixes, public_ips
from lab.rules.asns import ER_EXTRA_RESERVED, RESERVED_ASNS, gateway_asn, onprem_asns
from lab.rules.common import Check
from lab.rules.expressroute import expressroute
from lab.rules.gateway import gateway_instances, gateway_type, zones
from lab.rules.ipsec import connections
from lab.rules.names import device_count, names, node_names
from lab.rules.p2s import point_to_site
from lab.rules.policy import routing_policy
from lab.rules.pools import pool_capacity, pools
from lab.rules.vnet import vnet_layout
from lab.rules.vnets import remote_vnets

CHECKS: list[Check] = [
    onprem_asns,
    gateway_asn,
    gateway_type,
    gateway_instances,
    names,
    device_count,
    public_ips,
    vnet_layout,
    onprem_prefixes,
    device_bgp_ips,
    routing_policy,
    expressroute,
    pools,
    pool_capacity,
    zones,
    connections,
    point_to_site,
    remote_vnets,
]


def check(lab: LabFile, source: str) -> None:
    problems = [p for rule in CHECKS for p in rule(lab)]
    if problems:
        raise LabError(source, problems)


__all__ = ["CHECKS", "ER_EXTRA_RESERVED", "RESERVED_ASNS", "Check", "check", "node_names"]
