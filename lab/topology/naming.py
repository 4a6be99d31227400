"""Every derived name in one place: nodes, tunnel interfaces, and the traffic directions reports use.

The rules check these names (length, clashes) with the same functions the builder names nodes with.
"""

from __future__ import annotations

from lab.model import LabFile

# The lab's fixed nodes, and the VNet router's GatewaySubnet bridge.
INTERNET, VNET, VM, ERGW = "inet", "vnet", "vm", "ergw"
GATEWAY_SUBNET_BRIDGE = "gws"
LOOPBACK = "lo"
# A site's own nodes are "<site>-<suffix>"; its VPN devices "<site>-<device>" (vpn0, vpn1 by default).
CORE, HOST = "core", "host"
CE_COUNT = 2  # customer edges of the ExpressRoute site: one per MSEE (primary, secondary)
SITE_NODE_SUFFIXES = (CORE, HOST, *(f"ce{k}" for k in range(CE_COUNT)))
TUNNEL_PREFIX = "t-"  # a tunnel interface is named after the node at its far end
ENDPOINT_PREFIX = "e-"  # ... and the veth to an IPsec tunnel's endpoint (its WAN side) too
AZURE = "azure"  # the VNet end of a traffic direction


def core_name(site: str) -> str:
    return f"{site}-{CORE}"


def host_name(site: str) -> str:
    return f"{site}-{HOST}"


def ce_name(site: str, k: int) -> str:
    return f"{site}-ce{k}"


def msee_name(k: int) -> str:
    return f"msee{k}"


def fixed_names() -> set[str]:
    """Names the lab takes whatever the file says: its fixed nodes, and the VNet router's interfaces
    (it names a veth after its peer)."""
    return {INTERNET, VNET, VM, ERGW, *(msee_name(k) for k in range(CE_COUNT)), LOOPBACK, GATEWAY_SUBNET_BRIDGE}


def site_node_names(site: str) -> list[str]:
    """A site's own nodes (its CEs only exist on the ExpressRoute site)."""
    return [core_name(site), host_name(site), *(ce_name(site, k) for k in range(CE_COUNT))]


def tunnel_ifname(far_end: str) -> str:
    return f"{TUNNEL_PREFIX}{far_end}"


P2S = "p2s"  # a gateway instance's point-to-site end: endpoint "<gw>.p2s", interfaces t-p2s and e-p2s


def p2s_client_names(lab: LabFile) -> list[str]:
    """The point-to-site clients' nodes: p2s0, p2s1, ..."""
    return [f"{P2S}{i}" for i in range(lab.vpn_gateway.p2s.clients)] if lab.vpn_gateway.p2s else []


def endpoint_ifname(far_end: str) -> str:
    return f"{ENDPOINT_PREFIX}{far_end}"


def endpoint_name(node: str, far_end: str) -> str:
    """An IPsec tunnel end's endpoint namespace: "<router>.<far end>". A dot never occurs in a node name,
    so it never meets one."""
    return f"{node}.{far_end}"


def gateway_names(lab: LabFile) -> list[str]:
    instances = list(lab.vpn_gateway.instances) + [None] * (2 - len(lab.vpn_gateway.instances))
    return [(inst.name if inst is not None and inst.name else f"gw{i}") for i, inst in enumerate(instances[:2])]


def device_name(index: int, given: str | None) -> str:
    """A device's own name within its site: the given one, else vpn0, vpn1."""
    return given or f"vpn{index}"


def device_node_names(lab: LabFile) -> list[list[str]]:
    return [[f"{s.name}-{device_name(j, d.name)}" for j, d in enumerate(s.devices)] for s in lab.onprem.sites]


def er_site_index(lab: LabFile) -> int | None:
    er = lab.expressroute
    if er is None:
        return None
    if er.site is None:
        return 0
    return next((i for i, s in enumerate(lab.onprem.sites) if s.name == er.site), None)


def direction(site: str, to_azure: bool) -> str:
    """The name of a traffic direction between a site's host and the VNet VM: "s1->azure", "azure->s1"."""
    return f"{site}->{AZURE}" if to_azure else f"{AZURE}->{site}"


def parse_direction(name: str) -> tuple[str, bool] | None:
    """ "s1->azure" -> ("s1", True), "azure->s1" -> ("s1", False); None for any other string."""
    if name.endswith(f"->{AZURE}"):
        return name.removesuffix(f"->{AZURE}"), True
    if name.startswith(f"{AZURE}->"):
        return name.removeprefix(f"{AZURE}->"), False
    return None
