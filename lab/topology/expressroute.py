"""ExpressRoute: the ExpressRoute gateway on the GatewaySubnet, the two MSEEs (primary and secondary)
and the site's two customer edges, one private-peering /30 per link."""

from __future__ import annotations

from ipaddress import IPv4Interface

from lab.topology.addressing import er_subnets
from lab.topology.constants import ER_WEIGHT, MAX_PREFIXES
from lab.topology.context import Build
from lab.topology.naming import ERGW, GATEWAY_SUBNET_BRIDGE, VNET, ce_name, msee_name
from lab.topology.sites import site_uplink
from lab.topology.types import Neighbor


def add_expressroute(b: Build) -> None:
    lab = b.lab
    er = lab.expressroute
    assert er is not None and b.er_index is not None
    site = lab.onprem.sites[b.er_index]
    core = b.cores[b.er_index]
    subnet = lab.vnet.gateway_subnet
    ergw_ip = subnet[6]
    ergw = b.router(ERGW, "ergw", lab.vpn_gateway.asn)
    b.veth(ergw, b.vnet_router, a_ifname=VNET, b_ifname=ERGW, b_bridge=GATEWAY_SUBNET_BRIDGE)
    ergw.interface(VNET).addresses.append(IPv4Interface(f"{ergw_ip}/{subnet.prefixlen}"))
    assert ergw.bgp is not None and b.vnet_router.bgp is not None
    ergw.bgp.neighbors.append(b.ibgp(subnet[1], VNET, update_source=ergw_ip, nhs=True))
    ergw.bgp.neighbors.append(b.speaker_neighbor())
    ergw.speaker = b.speaker(ergw, [(p, subnet[1]) for p in lab.vnet.address_space])
    b.vnet_router.bgp.neighbors.append(b.ibgp(ergw_ip, ERGW, update_source=None, weight=ER_WEIGHT))
    for k, (_, peering) in enumerate(er_subnets(lab)):
        msee = b.router(msee_name(k), "msee", er.msee_asn)
        ce = b.router(ce_name(site.name, k), "ce", site.asn, site=site.name)
        ergw_side, msee_side = b.p2p(ergw, msee)
        assert msee.bgp is not None and ce.bgp is not None
        ergw.bgp.neighbors.append(
            Neighbor(
                msee_side,
                er.msee_asn,
                msee.name,
                "msee-ergw",
                b.t.er_keepalive,
                b.t.er_hold,
                weight=er.weight or None,
            )
        )
        msee.bgp.neighbors.append(
            Neighbor(ergw_side, lab.vpn_gateway.asn, ERGW, "msee-ergw", b.t.er_keepalive, b.t.er_hold)
        )
        # Azure: the customer takes the first usable address of each /30, Microsoft the second.
        ce_ip, msee_ip = peering[1], peering[2]
        b.veth(msee, ce, IPv4Interface(f"{msee_ip}/{peering.prefixlen}"), IPv4Interface(f"{ce_ip}/{peering.prefixlen}"))
        msee.bgp.neighbors.append(
            Neighbor(
                ce_ip,
                site.asn,
                ce.name,
                "er",
                b.t.er_keepalive,
                b.t.er_hold,
                bfd=er.bfd,
                bfd_passive=er.bfd,
                max_prefix=MAX_PREFIXES,
                # VNet prefixes reach on-prem with AS path "12076" only: 65515 is stripped.
                remove_private_as=True,
            )
        )
        ce.bgp.neighbors.append(
            Neighbor(
                msee_ip,
                er.msee_asn,
                msee.name,
                "er",
                b.t.er_keepalive,
                b.t.er_hold,
                bfd=er.bfd,
                local_preference=er.local_preference,
                own_routes_only=True,
            )
        )
        site_uplink(b, core, ce)
