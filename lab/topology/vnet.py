"""The Azure side: the VNet router on the GatewaySubnet with a test VM, and the VPN gateway's instances."""

from __future__ import annotations

from ipaddress import IPv4Interface, IPv4Network

from lab.model import LabFile
from lab.topology.addressing import derived_vm_subnet, public_network, supernets, uses_apipa
from lab.topology.constants import VPN_WEIGHT
from lab.topology.context import Build
from lab.topology.naming import GATEWAY_SUBNET_BRIDGE, INTERNET, LOOPBACK, VM, VNET
from lab.topology.types import Interface, Node, PrefixListEntry, StaticRoute

AZURE_IN, AZURE_OUT = "AZURE-IN", "AZURE-OUT"  # the gateway's prefix lists towards on-prem


def add_vnet(b: Build) -> None:
    vnet = b.lab.vnet
    gws = vnet.gateway_subnet
    vm_subnet = vnet.vm_subnet or derived_vm_subnet(b.lab)
    assert vm_subnet is not None, "lab.rules.vnet_layout refuses a VNet without room for the VM subnet"
    vm_ip = vnet.vm_ip or vm_subnet[4]  # Azure's first usable address
    router = b.router(VNET, "vnet", b.lab.vpn_gateway.asn)
    router.interfaces.append(Interface(GATEWAY_SUBNET_BRIDGE, "bridge", [IPv4Interface(f"{gws[1]}/{gws.prefixlen}")]))
    vm = b.add(Node(VM, "vm"))
    b.veth(
        router,
        vm,
        IPv4Interface(f"{vm_subnet[1]}/{vm_subnet.prefixlen}"),
        IPv4Interface(f"{vm_ip}/{vm_subnet.prefixlen}"),
    )
    vm.routes.append(StaticRoute(IPv4Network("0.0.0.0/0"), via=vm_subnet[1]))


def add_gateways(b: Build) -> None:
    lab = b.lab
    subnet = lab.vnet.gateway_subnet
    instances = lab.vpn_gateway.instances
    for i, name in enumerate(b.gw_names):
        zone = instances[i].zone if i < len(instances) else None
        shared = b.shared_index(i)
        bgp_ip = b.gw_bgp_ips[shared]
        node = b.router(name, "gateway", lab.vpn_gateway.asn, zone=zone)
        node.standby = b.active_standby and i == 1
        public = b.gw_public[shared]
        b.veth(node, b.internet, a_ifname=INTERNET, b_ifname=name, b_bridge=INTERNET)
        b.veth(node, b.vnet_router, a_ifname=VNET, b_ifname=name, b_bridge=GATEWAY_SUBNET_BRIDGE)
        held = "shared_addresses" if b.active_standby else "addresses"
        getattr(node.interface(INTERNET), held).append(
            IPv4Interface(f"{public}/{public_network(lab, public).prefixlen}")
        )
        getattr(node.interface(VNET), held).append(IPv4Interface(f"{bgp_ip}/{subnet.prefixlen}"))
        if uses_apipa(lab):
            getattr(node.interface(LOOPBACK), held).append(IPv4Interface(f"{b.gw_apipa_ips[shared]}/32"))
        b.gateways.append(node)
        # The VNet router peers with each instance's BGP IP (one shared IP for active/standby).
        if i == shared:
            assert b.vnet_router.bgp is not None
            b.vnet_router.bgp.neighbors.append(b.ibgp(bgp_ip, name, update_source=None, weight=VPN_WEIGHT))
        assert node.bgp is not None
        node.bgp.neighbors.append(b.ibgp(subnet[1], VNET, update_source=bgp_ip, nhs=True))
        node.bgp.neighbors.append(b.speaker_neighbor())
        node.speaker = b.speaker(node, [(p, subnet[1]) for p in lab.vnet.address_space])
        node.bgp.prefix_lists.update(azure_prefix_lists(lab))


def azure_prefix_lists(lab: LabFile) -> dict[str, list[PrefixListEntry]]:
    vnet = lab.vnet.address_space
    # Received: a prefix identical to a VNet prefix is dropped; a superset is accepted.
    inbound = [PrefixListEntry("deny", p) for p in vnet]
    inbound.append(PrefixListEntry("permit", IPv4Network("0.0.0.0/0"), le=32))
    # Advertised: the VNet prefixes; never 0.0.0.0/0, never anything else overlapping the VNet.
    outbound = [PrefixListEntry("permit", p) for p in vnet]
    seen: set[IPv4Network] = set()
    for p in vnet:
        outbound.append(PrefixListEntry("deny", p, le=32))
        for s in supernets(p):
            if s not in seen:
                seen.add(s)
                outbound.append(PrefixListEntry("deny", s))
    outbound.append(PrefixListEntry("permit", IPv4Network("0.0.0.0/0"), le=32))
    return {AZURE_IN: inbound, AZURE_OUT: outbound}
