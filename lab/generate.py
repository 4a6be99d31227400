"""Generate a lab file with N on-prem sites, for scale benchmarks (`gwlab generate`).

The result is a plain mapping, the same a user would write in YAML: it goes through `lab.load.parse`,
`lab.rules.check` and `lab.topology.build` like any lab file. Everything the rules relate is chosen so
that it passes them at any size up to MAX_SITES:

- site names s1..sN (node names stay within 12 characters: "s1000-core");
- one private ASN per site (eBGP between sites through the gateway needs distinct ASNs, or each site
  drops the others' routes as AS-path loops), counting up from 65010 as the built-in labs do, then the
  rest of 64512-65514 and 65521-65534: never one of Azure's reserved ASNs (65515-65520, 12076, ...);
- disjoint site LANs: 192.168.10.0/24 upwards, then 10.2.0.0/24 upwards (clear of the VNet 10.1.0.0/16,
  the loopback/p2p pools in 172.30-31/16 and the ExpressRoute /30s in 172.16.0.0/29);
- the on-prem public pool widened when the default 198.51.100.0/24 (245 devices) is too small: a
  100.64.0.0/N (RFC 6598 shared space; 198.18.0.0/15 is the lab's prefix-flood range) just large
  enough, never larger than /16.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from ipaddress import IPv4Network
from typing import Any, Literal

from lab.model import PROFILE_NAMES, ProfileName
from lab.rules import ER_EXTRA_RESERVED, RESERVED_ASNS
from lab.rules.pools import public_pool_kept_back

Mode = Literal["active-active", "active-standby"]

VNET_SPACE = IPv4Network("10.1.0.0/16")
GATEWAY_SUBNET = IPv4Network("10.1.255.0/27")
DEFAULT_ONPREM_POOL = IPv4Network("198.51.100.0/24")
WIDE_ONPREM_BASE = ipaddress.IPv4Address("100.64.0.0")
KEPT_BACK = public_pool_kept_back()  # as lab.rules.pool_capacity counts
FIRST_ASN = 65010
# Private 2-byte ASNs (RFC 6996) Azure accepts for on-prem, in the order handed out.
ASN_RANGES = ((FIRST_ASN, 65514), (64512, FIRST_ASN - 1), (65521, 65534))
# Bounded by the 2-byte private ASNs left once Azure's are taken out (1,017), with room to spare.
MAX_SITES = 1000


def site_asns() -> Iterator[int]:
    for lo, hi in ASN_RANGES:
        for asn in range(lo, hi + 1):
            # ER_EXTRA_RESERVED: refused when the lab has ExpressRoute, so never handed out
            if any(a <= asn <= b for a, b in (*RESERVED_ASNS, ER_EXTRA_RESERVED)):
                continue
            yield asn


def _site_prefixes() -> Iterator[IPv4Network]:
    for third in range(10, 256):
        yield IPv4Network(f"192.168.{third}.0/24")
    for second in range(2, 256):  # 10.1.0.0/16 is the VNet
        for third in range(256):
            yield IPv4Network(f"10.{second}.{third}.0/24")


def onprem_pool(devices: int) -> IPv4Network:
    """The on-prem public pool: the default one while it has room, else the smallest 100.64.0.0/N that does."""
    if devices <= DEFAULT_ONPREM_POOL.num_addresses - KEPT_BACK:
        return DEFAULT_ONPREM_POOL
    for prefixlen in range(24, 15, -1):
        if devices <= 2 ** (32 - prefixlen) - KEPT_BACK:
            return IPv4Network((WIDE_ONPREM_BASE, prefixlen))
    raise ValueError(f"{devices} VPN devices do not fit in a /16 public pool")


def generate(
    sites: int,
    devices_per_site: int = 1,
    expressroute: bool = False,
    mode: Mode = "active-active",
    profile: ProfileName = "fast",
) -> dict[str, Any]:
    """A lab-file mapping with `sites` on-prem sites of `devices_per_site` VPN devices each, on the
    timing profile `profile` (realistic: Azure's own timers, for labs too large for fast's on the cores)."""
    if not 1 <= sites <= MAX_SITES:
        raise ValueError(f"sites must be between 1 and {MAX_SITES}, not {sites}")
    if devices_per_site not in (1, 2):
        raise ValueError(f"a site has one or two VPN devices, not {devices_per_site}")
    if mode not in ("active-active", "active-standby"):
        raise ValueError(f"mode must be active-active or active-standby, not {mode!r}")
    if profile not in PROFILE_NAMES:
        raise ValueError(f"profile must be one of {', '.join(PROFILE_NAMES)}, not {profile!r}")
    asns, prefixes = site_asns(), _site_prefixes()
    site_list: list[dict[str, Any]] = []
    for i in range(1, sites + 1):
        site: dict[str, Any] = {"name": f"s{i}", "asn": next(asns), "prefixes": [str(next(prefixes))]}
        if devices_per_site == 2:
            site["devices"] = [{"name": "vpn0"}, {"name": "vpn1"}]
        site_list.append(site)
    name = (
        f"gen{sites}"
        + ("-d2" if devices_per_site == 2 else "")
        + ("-er" if expressroute else "")
        + ("-as" if mode == "active-standby" else "")
    )
    lab: dict[str, Any] = {
        "name": name,
        "description": f"Generated: {sites} site(s), {devices_per_site} VPN device(s) each, {mode} gateway"
        + (", ExpressRoute to s1" if expressroute else ""),
        "profile": profile,
        "vnet": {"address_space": [str(VNET_SPACE)], "gateway_subnet": str(GATEWAY_SUBNET)},
        "vpn_gateway": {"mode": mode},
        "onprem": {"sites": site_list},
    }
    if expressroute:
        lab["expressroute"] = {"site": "s1", "bfd": True}
    pool = onprem_pool(sites * devices_per_site)
    if pool != DEFAULT_ONPREM_POOL:
        lab["pools"] = {"onprem_public": str(pool)}
    return lab
