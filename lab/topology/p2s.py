"""Point-to-site: a P2S endpoint on every gateway instance (the standby's too, for takeover), and the
road-warrior clients on the internet.

Each instance routes its pool into its P2S VTI (t-p2s) and the VNet routes the pool to the instance's
BGP IP, as Azure programs the VNet; with `advertise_to_onprem` the instance's speaker originates the
pool towards on-prem too (not clearly documented by Microsoft: a switch). A client connects to one
public IP of the gateway: active/standby the shared one, active/active alternately gw0's and gw1's.
"""

from __future__ import annotations

from ipaddress import IPv4Interface

from lab.ipsec.dpd import for_target, target_for
from lab.topology.addressing import p2s_client_publics, p2s_placement, p2s_pools, public_network
from lab.topology.context import Build
from lab.topology.naming import INTERNET, P2S, p2s_client_names
from lab.topology.tunnels import ipsec_end
from lab.topology.types import Node, P2s, P2sClient, StaticRoute


def add_p2s(b: Build) -> None:
    lab = b.lab
    p2s = lab.vpn_gateway.p2s
    if p2s is None:
        return
    assert lab.name is not None
    pools = p2s_pools(lab)
    ends = []
    for g_idx, gw in enumerate(b.gateways):
        shared = b.shared_index(g_idx)
        end = ipsec_end(b, gw, P2S, b.gw_public[shared])
        ends.append(end)
        gw.routes.append(StaticRoute(pools[g_idx], dev=end.vti))
        route = StaticRoute(pools[g_idx], via=b.gw_bgp_ips[shared])
        if route not in b.vnet_router.routes:  # active/standby: one pool, one IP
            b.vnet_router.routes.append(route)
        if p2s.advertise_to_onprem:
            assert gw.speaker is not None
            gw.speaker.routes.append((pools[g_idx], lab.vnet.gateway_subnet[1]))
    publics = p2s_client_publics(lab, p2s.clients)
    clients = []
    for i, name in enumerate(p2s_client_names(lab)):
        instance, index = p2s_placement(lab, i)
        node = b.add(Node(name, "p2s-client"))
        b.veth(node, b.internet, a_ifname=INTERNET, b_ifname=name, b_bridge=INTERNET)
        prefixlen = public_network(lab, publics[i]).prefixlen
        node.interface(INTERNET).addresses.append(IPv4Interface(f"{publics[i]}/{prefixlen}"))
        vip = list(pools[instance].hosts())[index]
        clients.append(P2sClient(name, b.gw_public[instance], vip, f"{name}@{lab.name}.test"))
    b.p2s = P2s(
        pools={gw.name: pools[i] for i, gw in enumerate(b.gateways)},
        clients=clients,
        ends=ends,
        identity=f"vpn-gateway.{lab.name}.test",
        dpd=for_target(target_for(b.t.dpd_s, None), 2),
        advertise_to_onprem=p2s.advertise_to_onprem,
    )
