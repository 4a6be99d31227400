"""Remote VNets, each with its own active/active VPN gateway, and the VNet-to-VNet connections between
VNets: tunnels of the lab's kind between every public IP of one gateway and every public IP of the other
(Azure builds one per pair of instances), then eBGP between the gateways' BGP IPs, or without BGP the
static routes Azure programs for the other VNet's address space (on the instances and the VNet router;
never advertised to anyone: on-prem does not learn them).

Transit follows from Azure's advertisement rules, already the gateways' policy: a gateway advertises
what it learned from any BGP peer (on-prem's prefixes to the remote VNet, the remote VNet's to on-prem),
and loop prevention on the gateways' distinct ASNs keeps each VNet's routes out of itself.

The VNet that lists the connection takes the place of the on-prem device in the tunnel's data (its end
responds, the other gateway's initiates), so the tunnel builders, failures and status serve both.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network

from lab.ipsec.dpd import for_target, target_for
from lab.model import MAIN_VNET, VNetConnection
from lab.topology import tunnels
from lab.topology.addressing import remote_bgp_ips, remote_public_ips
from lab.topology.constants import MAX_PREFIXES
from lab.topology.context import Build
from lab.topology.naming import remote_gateway_names, remote_vm_name, remote_vnet_node
from lab.topology.types import IpsecParams, Neighbor, Node, StaticRoute, Tunnel, TunnelEnd
from lab.topology.vnet import AZURE_IN, AZURE_OUT, gateway_instance, vnet_router


@dataclass
class VNetGateway:
    """A VNet's gateway as a connection sees it."""

    vnet: str
    asn: int
    router: Node
    instances: list[Node]
    public: list[IPv4Address]  # by public-IP index (active/standby: one)
    bgp_ips: list[IPv4Address]  # likewise
    spaces: list[IPv4Network]
    active_standby: bool = False

    def index(self, instance: int) -> int:
        return 0 if self.active_standby else instance


def add_remote_vnets(b: Build) -> None:
    lab = b.lab
    if not lab.remote_vnets:
        return
    publics = remote_public_ips(lab)
    gateways = {
        MAIN_VNET: VNetGateway(
            MAIN_VNET,
            lab.vpn_gateway.asn,
            b.vnet_router,
            b.gateways,
            b.gw_public,
            b.gw_bgp_ips,
            list(lab.vnet.address_space),
            b.active_standby,
        )
    }
    for v in lab.remote_vnets:
        router = vnet_router(b, remote_vnet_node(v.name), remote_vm_name(v.name), v, v.vpn_gateway.asn)
        bgp_ips = remote_bgp_ips(v)
        instances = [
            gateway_instance(b, name, v.vpn_gateway.asn, router, v, bgp_ips[i], publics[v.name][i])
            for i, name in enumerate(remote_gateway_names(v.name))
        ]
        for node in (router, b.nodes[remote_vm_name(v.name)], *instances):
            node.vnet = v.name
        gateways[v.name] = VNetGateway(
            v.name, v.vpn_gateway.asn, router, instances, publics[v.name], bgp_ips, list(v.address_space)
        )
    for v in lab.remote_vnets:
        for conn in v.connections:
            _connect(b, gateways[v.name], gateways[conn.vnet], conn)


def _connect(b: Build, near: VNetGateway, far: VNetGateway, conn: VNetConnection) -> None:
    """`near` (the VNet listing the connection, active/active) to every public IP of `far`'s gateway."""
    for j, dev in enumerate(near.instances):
        dev_public, dev_bgp = near.public[j], near.bgp_ips[j]
        dev_if = ""
        dev_end: TunnelEnd | None = None
        for i, gw in enumerate(far.instances):
            idx = far.index(i)
            gw_public, gw_bgp = far.public[idx], far.bgp_ips[idx]
            if i == idx:  # one tunnel per public IP; an active/standby's standby shares the active's end
                dev_if, dev_end = tunnels.device_end(b, dev, dev_public, gw.name, gw_public, gw_bgp)
                _end(b, dev, dev_if, gw_bgp, gw.name, far, dev_bgp, conn.bgp)
            gw_if, gw_end = tunnels.gateway_end(b, gw, dev, gw_public, dev_public, dev_bgp)
            _end(b, gw, gw_if, dev_bgp, dev.name, near, gw_bgp, conn.bgp)
            b.tunnels.append(_tunnel(b, dev, gw, (dev_if, gw_if), (dev_end, gw_end)))
    if not conn.bgp:
        # Azure programs each VNet's address space into the other, towards its own gateway.
        for here, there in ((near, far), (far, near)):
            for p in there.spaces:
                here.router.routes += [StaticRoute(p, via=ip) for ip in dict.fromkeys(here.bgp_ips)]


def _end(
    b: Build,
    node: Node,
    ifname: str,
    peer_ip: IPv4Address,
    peer: str,
    other: VNetGateway,
    source: IPv4Address,
    bgp: bool,
) -> None:
    """One instance's side of a tunnel: the /32 to the far BGP IP over it, then the eBGP session, or the
    static routes to the other VNet's address space."""
    node.routes.append(StaticRoute(IPv4Network(f"{peer_ip}/32"), dev=ifname))
    if not bgp:
        node.routes += [StaticRoute(p, via=peer_ip, dev=ifname, onlink=True) for p in other.spaces]
        return
    assert node.bgp is not None
    node.bgp.neighbors.append(
        Neighbor(
            peer_ip,
            other.asn,
            peer,
            "vpn",
            b.t.keepalive,
            b.t.hold,
            update_source=source,
            # Over VXLAN the peer is one hop away: single-hop (TTL 1), so that with its tunnel down the
            # session cannot detour through the other instances (each VNet routes the other's space,
            # BGP IPs included); over IPsec the endpoints' hops already stop a detour.
            multihop=tunnels.MULTIHOP["ipsec"] if tunnels.ipsec(b) else None,
            disable_connected_check=not tunnels.ipsec(b),
            max_prefix=MAX_PREFIXES,
            prefix_list_in=AZURE_IN,
            prefix_list_out=AZURE_OUT,
        )
    )


def _tunnel(
    b: Build, dev: Node, gw: Node, ifnames: tuple[str, str], ends: tuple[TunnelEnd | None, TunnelEnd | None]
) -> Tunnel:
    if not tunnels.ipsec(b):
        return Tunnel(dev.name, gw.name, b.vni, *ifnames, between_vnets=True)
    params = IpsecParams(
        connection=f"{dev.vnet}-{gw.vnet or MAIN_VNET}",  # Azure's connection: one per pair of VNets
        version=2,
        azure_ts=[],
        onprem_ts=[],
        dpd=for_target(target_for(b.t.dpd_s, None), 2),
        psk_given=False,
    )
    return Tunnel(
        dev.name,
        gw.name,
        0,
        *ifnames,
        kind="ipsec",
        device_end=ends[0],
        gateway_end=ends[1],
        ipsec=params,
        between_vnets=True,
    )
