"""ExpressRoute: its site, Microsoft's ASN, and one free /30 per private-peering link."""

from __future__ import annotations

from collections.abc import Iterator

from lab.errors import Problem
from lab.model import MSEE_ASN, LabFile
from lab.rules.common import NOT_UNICAST, in_special
from lab.topology import er_subnets


def expressroute(lab: LabFile) -> Iterator[Problem]:
    er = lab.expressroute
    if er is None:
        return
    if er.site is not None and er.site not in {s.name for s in lab.onprem.sites}:
        names = ", ".join(dict.fromkeys(s.name for s in lab.onprem.sites))
        yield Problem("expressroute.site", f"'{er.site}' is not a site of this lab (use one of: {names})")
    if er.msee_asn != MSEE_ASN:
        yield Problem("expressroute.msee_asn", f"{er.msee_asn} is not Microsoft's edge ASN (use {MSEE_ASN})")
    subnets = er_subnets(lab)
    given = {"primary_subnet": er.primary_subnet, "secondary_subnet": er.secondary_subnet}
    wrong_size = False
    for field, subnet in subnets:
        if subnet.prefixlen != 30:
            wrong_size = True
            yield Problem(f"expressroute.{field}", f"{subnet} is not a /30 (private peering uses one /30 per link)")
    if wrong_size:
        return
    (_, primary), (_, secondary) = subnets
    if primary.overlaps(secondary):
        # Name the one the user wrote: a given primary may meet the default secondary.
        field = "secondary_subnet" if given["secondary_subnet"] is not None else "primary_subnet"
        other = "primary" if field == "secondary_subnet" else "default secondary"
        yield Problem(
            f"expressroute.{field}",
            f"{given[field]} overlaps the {other} subnet"
            + (" (pick another /30)" if field == "primary_subnet" else ""),
        )
    for field, subnet in subnets:
        # A default /30 can clash too: name it as such, and say which field to set.
        what, fix = (
            (f"{subnet}", "pick another /30")
            if given[field] is not None
            else (f"the default {subnet}", f"set expressroute.{field} to a free /30")
        )
        vnet = next((v for v in lab.vnet.address_space if subnet.overlaps(v)), None)
        site = next(((s.name, p) for s in lab.onprem.sites for p in s.prefixes if subnet.overlaps(p)), None)
        bad = in_special(subnet, NOT_UNICAST)
        if vnet is not None:
            yield Problem(f"expressroute.{field}", f"{what} overlaps the VNet's {vnet} ({fix})")
        elif site is not None:
            yield Problem(f"expressroute.{field}", f"{what} overlaps site {site[0]}'s {site[1]} ({fix})")
        elif bad is not None:
            yield Problem(f"expressroute.{field}", f"{what} {bad}, which is not unicast address space ({fix})")
