"""What every area of the rules shares: the shape of a check, and the address ranges Azure sets apart."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from ipaddress import IPv4Address, IPv4Network

from lab.errors import Problem
from lab.model import LabFile

Check = Callable[[LabFile], Iterator[Problem]]

# Ranges a VNet cannot use (virtual-networks-faq.md: multicast, broadcast, loopback, link-local and
# Azure's own 168.63.129.16); the same ranges, with "this network" and class E, can't be a site's LAN.
SPECIAL = {
    IPv4Network(net): kind
    for net, kind in (
        ("224.0.0.0/4", "multicast"),
        ("255.255.255.255/32", "broadcast"),
        ("127.0.0.0/8", "loopback"),
        ("169.254.0.0/16", "link-local"),
        ("168.63.129.16/32", "Azure's platform address"),
        ("0.0.0.0/8", "this-network"),
        ("240.0.0.0/4", "reserved"),
    )
}
VNET_FORBIDDEN = tuple(n for n, kind in SPECIAL.items() if kind not in ("this-network", "reserved"))
NOT_UNICAST = tuple(n for n, kind in SPECIAL.items() if kind not in ("broadcast", "Azure's platform address"))
BROADCAST = IPv4Address("255.255.255.255")


def in_special(net: IPv4Network, ranges: tuple[IPv4Network, ...]) -> str | None:
    """'is in 224.0.0.0/4 (multicast)' when `net` meets one of `ranges`, else None."""
    bad = next((n for n in ranges if n.overlaps(net)), None)
    if bad is None:
        return None
    return f"{'is in' if net.subnet_of(bad) else 'overlaps'} {bad} ({SPECIAL[bad]})"
