"""The two ends of a VPN tunnel between an on-prem device and a gateway instance, of either kind.

vxlan: a VXLAN device on each router, between the public IPs, with a permanent neighbour for the far
BGP IP (VXLAN is Ethernet and nobody answers ARP across it).
ipsec: on each router a veth "VTI" (t-<peer>) and a veth to the tunnel's endpoint namespace (e-<peer>,
a /30 from pools.tunnel_endpoints), where charon runs; the endpoint answers ARP for the far side by
proxy. IKEv2 for route-based gateways and IKEv1 for policy-based ones (as Azure); selectors 0/0, or
the VNet and the site's prefixes for policy-based gateways and `use_policy_based_traffic_selectors`.

Either way the router sees one tunnel interface, the same /32 route to the far BGP IP over it and the
same BGP session: FRR, the oracle and the probes do not depend on the kind.
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Interface, IPv4Network

from lab.ipsec.dpd import IkeVersion, for_target, target_for
from lab.model import Device, Site
from lab.topology.addressing import tunnel_mac, veth_mac
from lab.topology.constants import VTI_MTU, VXLAN_MTU
from lab.topology.context import Build
from lab.topology.naming import INTERNET, endpoint_ifname, endpoint_name, tunnel_ifname
from lab.topology.types import Interface, IpsecParams, Node, StaticNeighbor, Tunnel, TunnelEnd

# eBGP multihop over a tunnel: VXLAN bridges the routers directly; each IPsec endpoint forwards (and
# decrements the TTL) once (ipsec.md §6.7).
MULTIHOP = {"vxlan": 2, "ipsec": 3}


def ipsec(b: Build) -> bool:
    return b.lab.tunnels.kind == "ipsec"


def device_end(
    b: Build, dev: Node, public: IPv4Address, gw_name: str, gw_public: IPv4Address, azure_ip: IPv4Address
) -> tuple[str, TunnelEnd | None]:
    """The device's end of a new tunnel to instance `gw_name` at `gw_public`: (interface, ipsec end). The
    "device" end is the on-prem one, or a remote VNet's instance in a VNet-to-VNet connection."""
    dev_if = tunnel_ifname(gw_name)
    if ipsec(b):
        end = ipsec_end(b, dev, gw_name, public)  # no permanent neighbour: the endpoint answers ARP
    else:
        vni = b.next_vni()
        dev.interfaces.append(
            Interface(
                dev_if,
                "vxlan",
                vni=vni,
                remote=gw_public,
                underlay=INTERNET,
                mtu=VXLAN_MTU,
                mac=tunnel_mac(vni, gateway_end=False),
            )
        )
        dev.neighbors.append(StaticNeighbor(azure_ip, tunnel_mac(vni, gateway_end=True), dev_if))
        end = None
    return dev_if, end


def gateway_end(
    b: Build, gw: Node, dev: Node, public: IPv4Address, device_public: IPv4Address, bgp_ip: IPv4Address
) -> tuple[str, TunnelEnd | None]:
    """An instance's end of the device's current tunnel (the standby's too: it takes the IPs over)."""
    gw_if = tunnel_ifname(dev.name)
    if ipsec(b):
        return gw_if, ipsec_end(b, gw, dev.name, public)
    vni = b.vni
    gw.interfaces.append(
        Interface(
            gw_if,
            "vxlan",
            vni=vni,
            remote=device_public,
            underlay=INTERNET,
            mtu=VXLAN_MTU,
            mac=tunnel_mac(vni, gateway_end=True),
        )
    )
    gw.neighbors.append(StaticNeighbor(bgp_ip, tunnel_mac(vni, gateway_end=False), gw_if))
    return gw_if, None


def ipsec_end(b: Build, router: Node, far_end: str, public: IPv4Address) -> TunnelEnd:
    """A router's IPsec end towards `far_end`: its VTI and endpoint veths, and the endpoint's /30."""
    wan = b.alloc.tunnel_endpoint()
    end = TunnelEnd(
        router.name, endpoint_name(router.name, far_end), tunnel_ifname(far_end), endpoint_ifname(far_end), wan, public
    )
    router.interfaces.append(Interface(end.vti, "vti", mtu=VTI_MTU, mac=veth_mac(router.name, end.vti)))
    router.interfaces.append(
        Interface(
            end.wan_if,
            "endpoint",
            [IPv4Interface(f"{end.router_address}/{wan.prefixlen}")],
            mac=veth_mac(router.name, end.wan_if),
        )
    )
    return end


def tunnel(
    b: Build,
    site: Site,
    device: Device,
    dev: Node,
    gw: Node,
    ifnames: tuple[str, str],
    ends: tuple[TunnelEnd | None, TunnelEnd | None],
) -> Tunnel:
    if not ipsec(b):
        return Tunnel(dev.name, gw.name, b.vni, *ifnames)
    policy_based = b.lab.vpn_gateway.type == "policy-based"
    version: IkeVersion = 1 if policy_based else 2
    selectors = policy_based or device.use_policy_based_traffic_selectors
    vnet: list[IPv4Network] = list(b.lab.vnet.address_space) if selectors else []
    params = IpsecParams(
        connection=dev.name,
        version=version,
        azure_ts=vnet,
        onprem_ts=list(site.prefixes) if selectors else [],
        dpd=for_target(target_for(b.t.dpd_s, device.dpd_timeout_s), version),
        psk_given=device.psk is not None,
    )
    return Tunnel(dev.name, gw.name, 0, *ifnames, kind="ipsec", device_end=ends[0], gateway_end=ends[1], ipsec=params)
