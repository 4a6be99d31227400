"""The on-prem side: per site a core (route reflector, with the site's speaker and an idle flood speaker)
and a test host, VPN devices, and the tunnels between each device and the gateway's instances."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Interface, IPv4Network

from lab.model import Device, Site
from lab.topology import tunnels
from lab.topology.addressing import lan_addresses, public_network
from lab.topology.constants import APIPA, FLOOD_IP, MAX_PREFIXES
from lab.topology.context import Build
from lab.topology.naming import INTERNET, LOOPBACK, core_name, host_name
from lab.topology.policy import NOT_SUMMARIES, TO_AZURE, TunnelPolicy, tunnel_instances, tunnel_policy
from lab.topology.types import Neighbor, Node, PrefixListEntry, StaticRoute, TunnelEnd
from lab.topology.vnet import AZURE_IN, AZURE_OUT

TunnelPeer = tuple[str, IPv4Address]  # (the device's tunnel interface, the gateway's BGP IP behind it)


def add_sites(b: Build) -> None:
    for s_idx, site in enumerate(b.lab.onprem.sites):
        core = _core_and_host(b, site)
        for d_idx, device in enumerate(site.devices):
            _device(b, site, core, device, b.device_names[s_idx][d_idx], b.device_public[s_idx][d_idx])
        if not b.bgp_on:
            # Azure programs the local network gateway's prefixes into the VNet, towards the gateway.
            for p in site.prefixes:
                b.vnet_router.routes += [StaticRoute(p, via=ip) for ip in dict.fromkeys(b.gw_bgp_ips)]


def _core_and_host(b: Build, site: Site) -> Node:
    core = b.router(core_name(site.name), "core", site.asn, site=site.name)
    lan = site.prefixes[0]
    core_ip, host_ip = lan_addresses(lan)
    host = b.add(Node(host_name(site.name), "host", site=site.name))
    b.veth(core, host, IPv4Interface(f"{core_ip}/{lan.prefixlen}"), IPv4Interface(f"{host_ip}/{lan.prefixlen}"))
    host.routes.append(StaticRoute(IPv4Network("0.0.0.0/0"), via=core_ip))
    assert core.bgp is not None
    core.bgp.neighbors.append(b.speaker_neighbor(rr_client=True))
    core.speaker = b.speaker(core, [(p, host_ip) for p in site.prefixes])
    core.bgp.neighbors.append(b.speaker_neighbor(rr_client=True, flood=True))
    core.interface(LOOPBACK).addresses.append(IPv4Interface(f"{FLOOD_IP}/32"))
    b.cores.append(core)
    return core


def _device(b: Build, site: Site, core: Node, device: Device, name: str, public: IPv4Address) -> None:
    bgp_ip = device.bgp_ip or b.alloc.loopback()
    dev = b.router(name, "vpn", site.asn, site=site.name, router_id=bgp_ip)
    b.veth(dev, b.internet, a_ifname=INTERNET, b_ifname=name, b_bridge=INTERNET)
    dev.interface(INTERNET).addresses.append(IPv4Interface(f"{public}/{public_network(b.lab, public).prefixlen}"))
    edge_ip = site_uplink(b, core, dev)
    _summaries(b, site, dev)
    if device.advertise is not None and b.bgp_on:
        assert dev.bgp is not None
        dev.bgp.prefix_lists[TO_AZURE] = [PrefixListEntry("permit", p) for p in device.advertise]
    # One tunnel per (device, instance public IP): 2 for active/active (or the instances its `tunnels`
    # name), 1 for active/standby; every instance gets the gateway end so that a standby can take the IPs over.
    peers: list[TunnelPeer] = []
    dev_end: TunnelEnd | None = None
    instances = tunnel_instances(b.lab, device)
    for g_idx, gw in enumerate(b.gateways):
        if gw.name not in instances:
            continue
        if g_idx == b.shared_index(g_idx):
            azure_ip = _azure_ip(b, g_idx, bgp_ip in APIPA)
            dev_if, dev_end = tunnels.device_end(b, dev, public, gw.name, b.gw_public[g_idx], azure_ip)
            _device_session(b, dev, dev_if, azure_ip, bgp_ip, g_idx, tunnel_policy(device, gw.name))
            peers.append((dev_if, azure_ip))
        gw_public = b.gw_public[b.shared_index(g_idx)]
        gw_if, gw_end = tunnels.gateway_end(b, gw, dev, gw_public, public, bgp_ip)
        _gateway_session(b, site, gw, dev, gw_if, bgp_ip, g_idx)
        b.tunnels.append(tunnels.tunnel(b, site, device, dev, gw, (peers[-1][0], gw_if), (dev_end, gw_end)))
    if not b.bgp_on:
        # Static routing (policy-based, or route-based without BGP): the device sends the VNet into its
        # tunnels, the site core sends it to the device.
        for p in b.lab.vnet.address_space:
            dev.routes += [StaticRoute(p, via=ip, dev=t, onlink=True) for t, ip in peers]
        core.routes += [StaticRoute(p, via=edge_ip) for p in b.lab.vnet.address_space]


def _azure_ip(b: Build, shared: int, device_apipa: bool) -> IPv4Address:
    """The gateway's BGP IP a device peers with: its APIPA address when the device uses APIPA."""
    return b.gw_apipa_ips[shared] if device_apipa else b.gw_bgp_ips[shared]


def _summaries(b: Build, site: Site, dev: Node) -> None:
    """The site's summaries, made on the device for Azure and kept from the site core."""
    if not site.summaries or not b.bgp_on:
        return
    assert dev.bgp is not None
    dev.bgp.summaries = list(site.summaries)
    dev.bgp.prefix_lists[NOT_SUMMARIES] = [PrefixListEntry("deny", p) for p in site.summaries] + [
        PrefixListEntry("permit", IPv4Network("0.0.0.0/0"), le=32)
    ]
    uplink = next(n for n in dev.bgp.neighbors if n.kind == "ibgp")
    uplink.prefix_list_out = NOT_SUMMARIES


def _device_session(
    b: Build, dev: Node, dev_if: str, azure_ip: IPv4Address, bgp_ip: IPv4Address, g_idx: int, policy: TunnelPolicy
) -> None:
    """The /32 to the instance's BGP IP over the tunnel, and the session to it with the tunnel's policy."""
    dev.routes.append(StaticRoute(IPv4Network(f"{azure_ip}/32"), dev=dev_if))
    if b.bgp_on:
        assert dev.bgp is not None
        n = vpn_neighbor(b, azure_ip, b.lab.vpn_gateway.asn, b.gateways[g_idx].name, bgp_ip, onprem=True)
        n.as_path_prepend, n.local_preference = policy.as_path_prepend, policy.local_preference
        if TO_AZURE in dev.bgp.prefix_lists:
            n.prefix_list_out = TO_AZURE
        dev.bgp.neighbors.append(n)


def _gateway_session(b: Build, site: Site, gw: Node, dev: Node, gw_if: str, bgp_ip: IPv4Address, g_idx: int) -> None:
    """Azure installs the /32 to the on-prem BGP IP over the tunnel itself; then the session, or the
    static routes to the site."""
    gw.routes.append(StaticRoute(IPv4Network(f"{bgp_ip}/32"), dev=gw_if))
    device_apipa = bgp_ip in APIPA
    assert gw.bgp is not None
    if b.bgp_on:
        n = vpn_neighbor(b, bgp_ip, site.asn, dev.name, _azure_ip(b, b.shared_index(g_idx), device_apipa), False)
        n.passive = device_apipa  # with APIPA, on-prem initiates
        gw.bgp.neighbors.append(n)
    else:
        for p in site.prefixes:
            gw.routes.append(StaticRoute(p, via=bgp_ip, dev=gw_if, onlink=True))


def vpn_neighbor(
    b: Build, address: IPv4Address, remote_as: int, peer: str, source: IPv4Address, onprem: bool
) -> Neighbor:
    multihop = tunnels.MULTIHOP[b.lab.tunnels.kind]
    n = Neighbor(address, remote_as, peer, "vpn", b.t.keepalive, b.t.hold, update_source=source, multihop=multihop)
    if onprem:
        n.own_routes_only = True
    else:
        n.max_prefix = MAX_PREFIXES
        n.prefix_list_in, n.prefix_list_out = AZURE_IN, AZURE_OUT
    return n


def site_uplink(b: Build, core: Node, edge: Node) -> IPv4Address:
    """An on-prem edge router (VPN device or CE) and the site core: iBGP, core reflects.
    Returns the edge's address on the link."""
    edge_ip, core_ip = b.p2p(edge, core)
    assert edge.bgp is not None and core.bgp is not None
    edge.bgp.neighbors.append(b.ibgp(core_ip, core.name, update_source=edge_ip, nhs=True))
    # next-hop-self force: reflected routes must point at the core, the only next hop an edge reaches.
    to_edge = b.ibgp(edge_ip, edge.name, update_source=core_ip, nhs=True, rr_client=True)
    # A VPN device is an exit, never a transit: it gets only the site's own prefixes, so its best path
    # to Azure is always its own tunnels and it always advertises them; the core holds the VPN backup
    # before ExpressRoute fails. Given the reflected ExpressRoute routes (local-preference 200) it
    # would hide its own path until their withdraw reached it, and send traffic back to the core
    # meanwhile: two more BGP hops in an ExpressRoute failover (docs/benchmarks.md).
    to_edge.own_routes_only = edge.role == "vpn"
    core.bgp.neighbors.append(to_edge)
    return edge_ip
