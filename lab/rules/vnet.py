"""The VNet: its address spaces, the GatewaySubnet, and the subnet and address of its test VM."""

from __future__ import annotations

from collections.abc import Iterator

from lab.errors import Problem
from lab.model import LabFile, VNet
from lab.rules.common import VNET_FORBIDDEN, in_special
from lab.topology.addressing import vm_subnet_of

VNET_TO_ER_MAX_PREFIXES = 1000
SMALLEST_SUBNET = 29  # Azure's smallest subnet; the VM subnet needs .4 (first usable) and a broadcast
SMALLEST_GATEWAY_SUBNET, ER_GATEWAY_SUBNET = 29, 27  # Azure's minimum, and with ExpressRoute coexistence


def vnet_layout(lab: LabFile) -> Iterator[Problem]:
    """The lab's VNet, then every remote VNet (`remote_vnets[i]`), by the same rules."""
    vnets: list[tuple[VNet, str]] = [(lab.vnet, "vnet")]
    vnets += [(v, f"remote_vnets[{i}]") for i, v in enumerate(lab.remote_vnets)]
    for vnet, at in vnets:
        er = lab.expressroute is not None and vnet is lab.vnet
        yield from _usable_spaces(vnet, at)
        yield from _gateway_subnet(vnet, at, er)
        yield from _disjoint_spaces(vnet, at, er)
        yield from _vm_subnet(vnet, at)
        yield from _vm_ip(vnet, at)


def _usable_spaces(vnet: VNet, at: str) -> Iterator[Problem]:
    for i, space in enumerate(vnet.address_space):
        bad = in_special(space, VNET_FORBIDDEN)
        if bad is not None:
            yield Problem(
                f"{at}.address_space[{i}]",
                f"{space} {bad}, which a VNet cannot use (use private or public unicast space)",
            )


def _gateway_subnet(vnet: VNet, at: str, er: bool) -> Iterator[Problem]:
    gws = vnet.gateway_subnet
    if not any(gws.subnet_of(space) for space in vnet.address_space):
        yield Problem(
            f"{at}.gateway_subnet", f"{gws} is outside the VNet's address space (pick a subnet of {at}.address_space)"
        )
    if gws.prefixlen > SMALLEST_GATEWAY_SUBNET:
        yield Problem(
            f"{at}.gateway_subnet",
            f"{gws} is too small (Azure needs /{SMALLEST_GATEWAY_SUBNET} or shorter; /{ER_GATEWAY_SUBNET} recommended)",
        )
    elif er and gws.prefixlen > ER_GATEWAY_SUBNET:
        yield Problem(
            f"{at}.gateway_subnet",
            f"{gws} is too small for ExpressRoute coexistence (use /{ER_GATEWAY_SUBNET} or shorter)",
        )


def _disjoint_spaces(vnet: VNet, at: str, er: bool) -> Iterator[Problem]:
    spaces = vnet.address_space
    for i, a in enumerate(spaces):
        for b in spaces[:i]:
            if a.overlaps(b):
                yield Problem(f"{at}.address_space[{i}]", f"{a} overlaps {b} (address spaces must be disjoint)")
    if er and len(spaces) > VNET_TO_ER_MAX_PREFIXES:
        yield Problem(f"{at}.address_space", f"ExpressRoute carries at most {VNET_TO_ER_MAX_PREFIXES} VNet prefixes")


def _vm_subnet(vnet: VNet, at: str) -> Iterator[Problem]:
    """A given VM subnet must fit; a derived one (the builder's, `vm_subnet_of`) must exist and fit."""
    subnet = vnet.vm_subnet
    if subnet is not None:
        if not any(subnet.subnet_of(s) for s in vnet.address_space):
            yield Problem(f"{at}.vm_subnet", f"{subnet} is outside the VNet's address space")
        elif subnet.overlaps(vnet.gateway_subnet):
            yield Problem(
                f"{at}.vm_subnet", f"{subnet} overlaps the GatewaySubnet {vnet.gateway_subnet} (pick another)"
            )
        elif subnet.prefixlen > SMALLEST_SUBNET:
            yield Problem(f"{at}.vm_subnet", f"{subnet} is too small (Azure's smallest subnet is /{SMALLEST_SUBNET})")
        return
    derived = vm_subnet_of(vnet)
    if derived is None:
        yield Problem(
            f"{at}.address_space",
            f"leaves no room for a VM subnet beside the GatewaySubnet (widen the address space or set {at}.vm_subnet)",
        )
    elif derived.prefixlen > SMALLEST_SUBNET:
        yield Problem(
            f"{at}.address_space",
            f"the VM subnet would be {derived}, smaller than Azure's smallest "
            f"subnet /{SMALLEST_SUBNET} (list a larger space first or set "
            f"{at}.vm_subnet)",
        )


def _vm_ip(vnet: VNet, at: str) -> Iterator[Problem]:
    subnet = vnet.vm_subnet
    if vnet.vm_ip is None:
        return
    if subnet is None:
        yield Problem(f"{at}.vm_ip", f"set {at}.vm_subnet too when you give the VM's address")
    elif subnet.prefixlen <= SMALLEST_SUBNET and (
        vnet.vm_ip not in subnet or vnet.vm_ip in (subnet[0], subnet[1], subnet[2], subnet[3], subnet.broadcast_address)
    ):
        # Azure keeps .0-.3 and the broadcast address of every subnet.
        yield Problem(f"{at}.vm_ip", f"{vnet.vm_ip} is not a usable address of {subnet} (Azure's first usable is .4)")
