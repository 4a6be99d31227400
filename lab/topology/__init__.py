"""The resolved topology: every node, interface, address, tunnel and BGP session, derived from the model.

This is where Azure's behaviour becomes data (who peers with whom, weights, local-preference,
filters, timers); templates only turn it into FRR/ExaBGP syntax, and the controller's oracle reads
the same data to predict paths. Nothing here touches the host.

- `types`: the data (Node, Interface, Neighbor, Topology, ...);
- `constants`, `naming`, `addressing`: every shared number, derived name and derived address, once;
- `builder.build` and one builder per feature: `vnet` (VNet router, VM, gateway instances),
  `sites` (cores, hosts, devices, tunnels), `expressroute`, `internet`; `context` is their shared state.
"""

from __future__ import annotations

from lab.topology.addressing import (
    derived_public_ips,
    derived_vm_subnet,
    er_subnets,
    gateway_apipa_ips,
    public_network,
    supernets,
    tunnel_mac,
)
from lab.topology.builder import build
from lab.topology.constants import (
    APIPA,
    ECMP_PATHS,
    ER_WEIGHT,
    FLOOD_COUNT,
    FLOOD_IP,
    FLOOD_NET,
    FLOOD_PORT,
    MAX_PREFIXES,
    ROUTER_LO_IP,
    SPEAKER_IP,
    SPEAKER_NET,
    SPEAKER_PORT,
    VPN_WEIGHT,
    VXLAN_BASE_VNI,
    VXLAN_MTU,
    VXLAN_PORT,
    flood_prefixes,
)
from lab.topology.naming import (
    ce_name,
    core_name,
    device_node_names,
    direction,
    er_site_index,
    gateway_names,
    host_name,
    parse_direction,
)
from lab.topology.types import (
    ROUTER_ROLES,
    Bgp,
    Interface,
    Link,
    Neighbor,
    Node,
    PrefixListEntry,
    Role,
    Speaker,
    StaticNeighbor,
    StaticRoute,
    Topology,
    Tunnel,
)

__all__ = [
    "APIPA",
    "ECMP_PATHS",
    "ER_WEIGHT",
    "FLOOD_COUNT",
    "FLOOD_IP",
    "FLOOD_NET",
    "FLOOD_PORT",
    "MAX_PREFIXES",
    "ROUTER_LO_IP",
    "ROUTER_ROLES",
    "SPEAKER_IP",
    "SPEAKER_NET",
    "SPEAKER_PORT",
    "VPN_WEIGHT",
    "VXLAN_BASE_VNI",
    "VXLAN_MTU",
    "VXLAN_PORT",
    "Bgp",
    "Interface",
    "Link",
    "Neighbor",
    "Node",
    "PrefixListEntry",
    "Role",
    "Speaker",
    "StaticNeighbor",
    "StaticRoute",
    "Topology",
    "Tunnel",
    "build",
    "ce_name",
    "core_name",
    "derived_public_ips",
    "derived_vm_subnet",
    "device_node_names",
    "direction",
    "er_site_index",
    "er_subnets",
    "flood_prefixes",
    "gateway_apipa_ips",
    "gateway_names",
    "host_name",
    "parse_direction",
    "public_network",
    "supernets",
    "tunnel_mac",
]
