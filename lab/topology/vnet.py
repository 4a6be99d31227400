"""The Azure side: the VNet router on the GatewaySubnet with a test VM, and the VPN gateway's instances."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Interface, IPv4Network

from lab.model import VNet
from lab.topology.addressing import public_network, supernets, uses_apipa, vm_subnet_of
from lab.topology.constants import VPN_WEIGHT
from lab.topology.context import Build
from lab.topology.naming import GATEWAY_SUBNET_BRIDGE, INTERNET, LOOPBACK, VM, VNET
from lab.topology.types import Interface, Node, PrefixListEntry, StaticRoute

AZURE_IN, AZURE_OUT = "AZURE-IN", "AZURE-OUT"  # the gateway's prefix lists towards on-prem


def add_vnet(b: Build) -> None:
    vnet_router(b, VNET, VM, b.lab.vnet, b.lab.vpn_gateway.asn)


def vnet_router(b: Build, name: str, vm_name: str, vnet: VNet, asn: int) -> Node:
    """A VNet's router on its GatewaySubnet bridge, with its test VM on the VM subnet."""
    gws = vnet.gateway_subnet
    vm_subnet = vnet.vm_subnet or vm_subnet_of(vnet)
    assert vm_subnet is not None, "lab.rules.vnet_layout refuses a VNet without room for the VM subnet"
    vm_ip = vnet.vm_ip or vm_subnet[4]  # Azure's first usable address
    router = b.router(name, "vnet", asn)
    router.interfaces.append(Interface(GATEWAY_SUBNET_BRIDGE, "bridge", [IPv4Interface(f"{gws[1]}/{gws.prefixlen}")]))
    vm = b.add(Node(vm_name, "vm"))
    b.veth(
        router,
        vm,
        IPv4Interface(f"{vm_subnet[1]}/{vm_subnet.prefixlen}"),
        IPv4Interface(f"{vm_ip}/{vm_subnet.prefixlen}"),
    )
    vm.routes.append(StaticRoute(IPv4Network("0.0.0.0/0"), via=vm_subnet[1]))
    return router


def add_gateways(b: Build) -> None:
    lab = b.lab
    instances = lab.vpn_gateway.instances
    for i, name in enumerate(b.gw_names):
        zone = instances[i].zone if i < len(instances) else None
        shared = b.shared_index(i)
        node = gateway_instance(
            b,
            name,
            lab.vpn_gateway.asn,
            b.vnet_router,
            lab.vnet,
            b.gw_bgp_ips[shared],
            b.gw_public[shared],
            zone,
            shared=b.active_standby,
        )
        node.standby = b.active_standby and i == 1
        if uses_apipa(lab):
            getattr(node.interface(LOOPBACK), _held(b.active_standby)).append(
                IPv4Interface(f"{b.gw_apipa_ips[shared]}/32")
            )
        b.gateways.append(node)


def _held(shared: bool) -> str:
    """Where an instance keeps its addresses: shared ones follow the active instance of active/standby."""
    return "shared_addresses" if shared else "addresses"


def gateway_instance(
    b: Build,
    name: str,
    asn: int,
    router: Node,
    vnet: VNet,
    bgp_ip: IPv4Address,
    public: IPv4Address,
    zone: int | None = None,
    shared: bool = False,
) -> Node:
    """One instance of a VNet's VPN gateway: on the internet and the GatewaySubnet, in iBGP with the VNet
    router, originating the VNet's prefixes from its speaker, with Azure's filters towards its peers."""
    subnet = vnet.gateway_subnet
    node = b.router(name, "gateway", asn, zone=zone)
    b.veth(node, b.internet, a_ifname=INTERNET, b_ifname=name, b_bridge=INTERNET)
    b.veth(node, router, a_ifname=VNET, b_ifname=name, b_bridge=GATEWAY_SUBNET_BRIDGE)
    held = _held(shared)
    getattr(node.interface(INTERNET), held).append(IPv4Interface(f"{public}/{public_network(b.lab, public).prefixlen}"))
    getattr(node.interface(VNET), held).append(IPv4Interface(f"{bgp_ip}/{subnet.prefixlen}"))
    # The VNet router peers with each instance's BGP IP (one shared IP for active/standby: once).
    assert router.bgp is not None and node.bgp is not None
    if not any(n.address == bgp_ip for n in router.bgp.neighbors):
        router.bgp.neighbors.append(b.ibgp(bgp_ip, name, update_source=None, weight=VPN_WEIGHT))
    node.bgp.neighbors.append(b.ibgp(subnet[1], router.name, update_source=bgp_ip, nhs=True))
    node.bgp.neighbors.append(b.speaker_neighbor())
    node.speaker = b.speaker(node, [(p, subnet[1]) for p in vnet.address_space])
    node.bgp.prefix_lists.update(azure_prefix_lists(vnet.address_space))
    return node


def azure_prefix_lists(vnet: list[IPv4Network]) -> dict[str, list[PrefixListEntry]]:
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
