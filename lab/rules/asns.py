"""ASNs: on-prem's must be private and not Azure's; the gateway's is Azure's own unless it is changed."""

from __future__ import annotations

from collections.abc import Iterator

from lab.errors import Problem
from lab.model import AZURE_GATEWAY_ASN, MSEE_ASN, LabFile

# ASNs Azure keeps for itself (vpn-gateway-vpn-faq.md).
RESERVED_ASNS: tuple[tuple[int, int], ...] = (
    (8074, 8075),
    (MSEE_ASN, MSEE_ASN),
    (AZURE_GATEWAY_ASN, AZURE_GATEWAY_ASN),
    (65517, 65520),
    (23456, 23456),
    (64496, 64511),
    (65535, 65551),
)
# The ExpressRoute page reserves 65515-65520 as a block; the VPN FAQ leaves 65516 out. We refuse
# 65516 only when the lab has ExpressRoute, where the stricter page applies.
ER_EXTRA_RESERVED = (65516, 65516)
USABLE = "use 64512-65514 or 65521-65534"


def reserved(asn: int, with_er: bool) -> bool:
    ranges = RESERVED_ASNS + ((ER_EXTRA_RESERVED,) if with_er else ())
    return any(lo <= asn <= hi for lo, hi in ranges)


def onprem_asns(lab: LabFile) -> Iterator[Problem]:
    azure = lab.vpn_gateway.asn
    for i, site in enumerate(lab.onprem.sites):
        path = f"onprem.sites[{i}].asn"
        if reserved(site.asn, lab.expressroute is not None):
            yield Problem(path, f"{site.asn} is reserved by Azure ({USABLE})")
        elif site.asn == azure:
            yield Problem(path, f"{site.asn} is the VPN gateway's ASN (on-prem needs its own: {USABLE})")
        elif lab.expressroute is not None and site.asn == lab.expressroute.msee_asn:
            yield Problem(path, f"{site.asn} is the MSEE's ASN (on-prem needs its own: {USABLE})")


def gateway_asn(lab: LabFile) -> Iterator[Problem]:
    asn = lab.vpn_gateway.asn
    if asn != AZURE_GATEWAY_ASN and reserved(asn, False):
        yield Problem("vpn_gateway.asn", f"{asn} is reserved by Azure (keep {AZURE_GATEWAY_ASN} or {USABLE})")
    if lab.expressroute is not None and asn != AZURE_GATEWAY_ASN:
        yield Problem(
            "vpn_gateway.asn", f"{asn} cannot be used with ExpressRoute coexistence (use {AZURE_GATEWAY_ASN})"
        )
