"""Every derived name in one place: nodes, tunnel interfaces, and the traffic directions reports use.

The rules check these names (length, clashes) with the same functions the builder names nodes with.
"""

from __future__ import annotations

from lab.model import MAIN_VNET, LabFile

# The lab's fixed nodes, and the VNet router's GatewaySubnet bridge.
INTERNET, VNET, VM, ERGW = "inet", "vnet", "vm", "ergw"
GATEWAY_SUBNET_BRIDGE = "gws"
LOOPBACK = "lo"
# A site's own nodes are "<site>-<suffix>"; its VPN devices "<site>-<device>" (vpn0, vpn1 by default).
CORE, HOST = "core", "host"
CE_COUNT = 2  # customer edges of the ExpressRoute site: one per MSEE (primary, secondary)
SITE_NODE_SUFFIXES = (CORE, HOST, *(f"ce{k}" for k in range(CE_COUNT)))
TUNNEL_PREFIX = "t-"  # a tunnel interface is named after the node at its far end
# An IPsec endpoint namespace's interfaces: towards the router's VTI, and its WAN towards the router's NAT.
ENDPOINT_VTI, ENDPOINT_WAN = "r0", "eth0"
ENDPOINT_PREFIX = "e-"  # ... and the veth to an IPsec tunnel's endpoint (its WAN side) too
AZURE = MAIN_VNET  # the VNet end of a traffic direction


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


# -- remote VNets (VNet-to-VNet) ----------------------------------------------------------------------
# A remote VNet's nodes are "<vnet>-vnet" (its router), "<vnet>-vm" and its gateway's "<vnet>-gw0",
# "<vnet>-gw1"; the lab's own VNet keeps vnet, vm, gw0, gw1 and is called MAIN_VNET in directions.
REMOTE_INSTANCES = 2  # a remote gateway is active/active


def remote_vnet_node(vnet: str) -> str:
    return f"{vnet}-{VNET}"


def remote_vm_name(vnet: str) -> str:
    return f"{vnet}-{VM}"


def remote_gateway_names(vnet: str) -> list[str]:
    return [f"{vnet}-gw{i}" for i in range(REMOTE_INSTANCES)]


def vm_of(vnet: str) -> str:
    """The test VM of a VNet by its name: "vm" for the lab's own, "<vnet>-vm" for a remote one."""
    return VM if vnet == MAIN_VNET else remote_vm_name(vnet)


def vnet_names(lab: LabFile) -> list[str]:
    """Every VNet of the lab, the lab's own first."""
    return [MAIN_VNET, *(v.name for v in lab.remote_vnets)]


def flow_direction(src: str, dst: str) -> str:
    """A direction between two ends named by site or VNet: "s1->v2", "azure->v2" (`direction` is the
    special case of a site and the lab's own VNet)."""
    return f"{src}->{dst}"


def remote_directions(lab: LabFile) -> list[tuple[str, str, str]]:
    """(direction, source node, destination node) of the traffic that involves a remote VNet: each site's
    host to and from each remote VNet's VM, and every VNet's VM to and from every other's."""
    out: list[tuple[str, str, str]] = []
    remotes = [v.name for v in lab.remote_vnets]
    for site in lab.onprem.sites:
        for v in remotes:
            out.append((flow_direction(site.name, v), host_name(site.name), remote_vm_name(v)))
            out.append((flow_direction(v, site.name), remote_vm_name(v), host_name(site.name)))
    names = vnet_names(lab)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            out.append((flow_direction(a, b), vm_of(a), vm_of(b)))
            out.append((flow_direction(b, a), vm_of(b), vm_of(a)))
    return out
