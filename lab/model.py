"""The lab file as a typed model (pydantic v2), with the defaults a minimal file relies on.

Only the *shape* of the file is checked here (types, ranges, unknown fields). Azure's rules, which
relate several fields to each other, live in `lab.rules`; derived values (addresses, names, VXLAN
ids) in `lab.topology`.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated, Literal, get_args

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, SecretStr, StringConstraints

# Azure's documented defaults (../shared/reference/azure-behavior.md).
AZURE_GATEWAY_ASN = 65515
MSEE_ASN = 12076
ER_LOCAL_PREFERENCE = 200  # Microsoft's examples use 150 or 200 for ExpressRoute-learned routes
# Private peering: one /30 per link, the customer takes the first usable address, Microsoft the second.
ER_DEFAULT_SUBNETS = (ipaddress.IPv4Network("172.16.0.0/30"), ipaddress.IPv4Network("172.16.0.4/30"))
# Azure's APIPA range for VPN gateway BGP addresses, and the lab's default per instance (an instance
# without its own gets this when a device uses APIPA).
APIPA_AZURE = (ipaddress.IPv4Address("169.254.21.0"), ipaddress.IPv4Address("169.254.22.255"))
AZURE_DEFAULT_APIPA = (ipaddress.IPv4Address("169.254.21.1"), ipaddress.IPv4Address("169.254.22.1"))
BGP_LOCAL_PREFERENCE = 100  # BGP's default, what a route has unless a policy sets another
MAX_AS_PATH_PREPEND = 10  # a lab bound: more says nothing that 10 does not
MAX_NODE_NAME = 12  # "t-" + node name must fit Linux's 15-character interface names
MAX_LAB_NAME = 16  # the lab file's name, `up --name` and a name derived from the file stem
MAX_VNET_NAME = 7  # a remote VNet's nodes are "<name>-vnet", "<name>-gw0": within MAX_NODE_NAME
MAIN_VNET = "azure"  # how connections and traffic directions name the lab's own `vnet` ("s1->azure")

NAME_PATTERN = r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$"
Name = Annotated[str, StringConstraints(pattern=NAME_PATTERN, max_length=MAX_NODE_NAME)]
VNetName = Annotated[str, StringConstraints(pattern=NAME_PATTERN, max_length=MAX_VNET_NAME)]
LabName = Annotated[str, StringConstraints(pattern=NAME_PATTERN, max_length=MAX_LAB_NAME)]


def _ipv4_address(value: object) -> object:
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not an IPv4 address (write it like 10.1.0.4)")
    if isinstance(value, str | int):
        try:
            return ipaddress.IPv4Address(value)
        except ValueError:
            raise ValueError(f"'{value}' is not an IPv4 address (write it like 10.1.0.4)") from None
    return value


def _ipv4_network(value: object) -> object:
    if not isinstance(value, str | ipaddress.IPv4Network):
        raise ValueError(f"{value!r} is not an IPv4 prefix (write it like 10.1.0.0/16)")
    if isinstance(value, str):
        if "/" not in value:
            raise ValueError(f"'{value}' has no prefix length (write it like 10.1.0.0/16)")
        try:
            return ipaddress.IPv4Network(value)
        except ipaddress.NetmaskValueError:
            raise ValueError(f"'{value}' has an invalid prefix length (use /0 to /32)") from None
        except ValueError as exc:
            if "host bits set" in str(exc):
                net = ipaddress.IPv4Network(value, strict=False)
                raise ValueError(f"'{value}' has host bits set (did you mean {net}?)") from None
            raise ValueError(f"'{value}' is not an IPv4 prefix (write it like 10.1.0.0/16)") from None
    return value


def _key_text(value: object) -> object:
    """A pre-shared key must be text; the message never repeats what was given (it may be a key)."""
    if not isinstance(value, str | SecretStr):
        raise ValueError("the pre-shared key must be text (put it in quotes)")
    return value


IPv4 = Annotated[ipaddress.IPv4Address, BeforeValidator(_ipv4_address)]
Prefix = Annotated[ipaddress.IPv4Network, BeforeValidator(_ipv4_network)]
# A secret: shown as '**********' in any repr or dump of the model; checked by lab.rules.ipsec.
Psk = Annotated[SecretStr, BeforeValidator(_key_text)]
# strict: YAML's `true` must not become AS 1
Asn = Annotated[int, Field(ge=1, le=4294967295, strict=True)]


class Strict(BaseModel):
    """Unknown fields are errors: a typo must not silently fall back to a default."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Timers(Strict):
    """Explicit timers; any field left out keeps the profile's value."""

    keepalive: Annotated[int, Field(ge=1, le=21845)] | None = None
    hold: Annotated[int, Field(ge=3, le=65535)] | None = None
    er_keepalive: Annotated[int, Field(ge=1, le=21845)] | None = None
    er_hold: Annotated[int, Field(ge=3, le=65535)] | None = None
    connect_retry: Annotated[int, Field(ge=1, le=65535)] | None = None
    bfd_interval_ms: Annotated[int, Field(ge=10, le=60000)] | None = None
    bfd_multiplier: Annotated[int, Field(ge=2, le=255)] | None = None
    failover_planned_s: Annotated[float, Field(ge=0, le=3600)] | None = None
    failover_unplanned_s: Annotated[float, Field(ge=0, le=3600)] | None = None


class VNet(Strict):
    address_space: Annotated[list[Prefix], Field(min_length=1)]
    gateway_subnet: Prefix
    vm_subnet: Prefix | None = None  # derived: first /24 of the address space clear of GatewaySubnet
    vm_ip: IPv4 | None = None  # derived: .4, Azure's first usable address


class GatewayInstance(Strict):
    name: Name | None = None  # derived: gw0, gw1
    public_ip: IPv4 | None = None  # derived from the Azure public pool
    zone: Annotated[int, Field(ge=1, le=3)] | None = None
    apipa_bgp_ip: IPv4 | None = None  # in APIPA_AZURE; AZURE_DEFAULT_APIPA[i] when a device uses APIPA


class PointToSite(Strict):
    """Point-to-site: IKEv2 road warriors with certificates from the lab's CA (Azure's IKEv2 P2S), each
    given an address from the pool. Active/active splits the pool between the instances (a lab choice)."""

    address_pool: Prefix
    clients: Annotated[int, Field(ge=1, le=16)] = 2
    # Whether Azure advertises P2S pools to on-prem BGP peers is not clearly documented by Microsoft:
    # off by default, a switch here.
    advertise_to_onprem: bool = False


class VpnGateway(Strict):
    type: Literal["route-based", "policy-based"] = "route-based"
    mode: Literal["active-active", "active-standby"] = "active-standby"  # Azure's default
    asn: Asn = AZURE_GATEWAY_ASN
    bgp: bool = True
    instances: list[GatewayInstance] = Field(default_factory=list)  # derived: two
    p2s: PointToSite | None = None


def _tunnel_shorthand(value: object) -> object:
    """`gw0` is short for `{instance: gw0}`."""
    if isinstance(value, str):
        return {"instance": value}
    if not isinstance(value, dict | TunnelTo):
        raise ValueError(f"{value!r} is not a tunnel (write an instance name like gw0, or {{instance: gw0}})")
    return value


Prepend = Annotated[int, Field(ge=0, le=MAX_AS_PATH_PREPEND, strict=True)]
LocalPreference = Annotated[int, Field(ge=0, le=4294967295, strict=True)]


class TunnelTo(Strict):
    """One of a device's tunnels, to an instance of an active/active gateway, with its own policy."""

    instance: Name  # the instance's name (vpn_gateway.instances[i].name, else gw0, gw1)
    as_path_prepend: Prepend | None = None  # default: the device's
    local_preference: LocalPreference | None = None  # default: the device's


class Device(Strict):
    """An on-prem VPN device, with what Azure calls its connection (one per local network gateway): the
    shared key, the DPD timeout and the traffic-selector switch are the connection's."""

    name: Name | None = None  # derived: vpn0, vpn1
    public_ip: IPv4 | None = None  # derived from the on-prem public pool
    bgp_ip: IPv4 | None = None  # derived from the loopback pool; an APIPA address makes on-prem initiate
    # default: one tunnel to each public IP of the gateway (both instances of an active/active one)
    tunnels: Annotated[list[Annotated[TunnelTo, BeforeValidator(_tunnel_shorthand)]], Field(min_length=1)] | None = None
    # Routing policy (BGP): the site's ASN prepended this many more times on what the device advertises
    # to Azure (Azure prefers the shorter AS path), and the local-preference of what it learns from Azure
    # (on-prem prefers the higher: picks the device for traffic towards Azure).
    as_path_prepend: Prepend = 0
    local_preference: LocalPreference | None = None  # None: BGP_LOCAL_PREFERENCE
    # A filter towards Azure: only these of the site's prefixes and summaries (default: all of them).
    advertise: Annotated[list[Prefix], Field(min_length=1)] | None = None
    psk: Psk | None = None  # ipsec: derived from the lab's secret when absent
    dpd_timeout_s: int | None = None  # ipsec: Azure's DPD timeout (9-3600 s); default: the profile's
    use_policy_based_traffic_selectors: bool = False  # route-based: the prefixes as selectors, not 0/0


class Site(Strict):
    name: Name
    asn: Asn
    prefixes: Annotated[list[Prefix], Field(min_length=1)]
    devices: list[Device] = Field(default_factory=lambda: [Device()])
    # Advertised to Azure over VPN in place of the site prefixes each one covers (aggregate-address
    # summary-only on every VPN device of the site; ExpressRoute still carries the prefixes).
    summaries: list[Prefix] = Field(default_factory=list)


class OnPrem(Strict):
    sites: Annotated[list[Site], Field(min_length=1)]


class ExpressRoute(Strict):
    site: Name | None = None  # derived: the first site
    msee_asn: Asn = MSEE_ASN
    bfd: bool = True
    weight: Annotated[int, Field(ge=0, le=32000)] = 0
    local_preference: LocalPreference = ER_LOCAL_PREFERENCE
    primary_subnet: Prefix | None = None  # a /30; derived ER_DEFAULT_SUBNETS[0]
    secondary_subnet: Prefix | None = None  # a /30; derived ER_DEFAULT_SUBNETS[1]


class Pools(Strict):
    """Address pools the lab derives from; change them only if they clash with your prefixes."""

    azure_public: Prefix = ipaddress.IPv4Network("203.0.113.0/24")
    onprem_public: Prefix = ipaddress.IPv4Network("198.51.100.0/24")
    loopback: Prefix = ipaddress.IPv4Network("172.30.0.0/16")
    p2p: Prefix = ipaddress.IPv4Network("172.31.0.0/16")
    # ipsec: each tunnel end's router <-> endpoint link, a /30 (RFC 6598 shared address space, clear of
    # lab.generate's wide on-prem pools at its bottom)
    tunnel_endpoints: Prefix = ipaddress.IPv4Network("100.127.0.0/16")


class VNetConnection(Strict):
    """A VNet-to-VNet connection (Azure: a connection of type Vnet2Vnet on each gateway): tunnels of the
    lab's kind between every public IP of the two gateways, with BGP between their BGP IPs or, without,
    static routes for each other's address spaces (which the gateways then advertise to nobody)."""

    vnet: VNetName  # the VNet at the other end: "azure" (the lab's `vnet`) or another remote VNet's name
    bgp: bool = True


class RemoteGateway(Strict):
    """A remote VNet's VPN gateway: route-based, active/active (the lab's choice: every instance has its
    own public IP and tunnels), its own ASN (two VNets with one ASN never learn each other's routes)."""

    asn: Asn
    mode: Literal["active-active", "active-standby"] = "active-active"  # lab.rules.vnets refuses active-standby


def _default_connections() -> list[VNetConnection]:
    return [VNetConnection(vnet=MAIN_VNET)]


class RemoteVNet(VNet):
    """Another VNet with its own VPN gateway (Azure allows one per VNet), connected VNet-to-VNet. On-prem
    sites connect to the lab's `vnet` only; a remote VNet reaches them through it (transit, with BGP)."""

    name: VNetName
    vpn_gateway: RemoteGateway
    connections: Annotated[list[VNetConnection], Field(min_length=1)] = Field(default_factory=_default_connections)


class Tunnels(Strict):
    """What a VPN tunnel is made of: `ipsec` (IKE and ESP, strongSwan's charon, as Azure) or `vxlan`
    (no IKE: for scale, and for hosts without strongSwan)."""

    kind: Literal["ipsec", "vxlan"] = "ipsec"


ProfileName = Literal["fast", "realistic"]  # lab.profiles.PROFILES has one Timing each
PROFILE_NAMES: tuple[str, ...] = get_args(ProfileName)


class LabFile(Strict):
    name: LabName | None = None  # derived: the file's stem
    description: str = ""
    profile: ProfileName = "fast"
    timers: Timers = Field(default_factory=Timers)
    tunnels: Tunnels = Field(default_factory=Tunnels)
    zones: list[Annotated[int, Field(ge=1, le=3)]] = Field(default_factory=list)
    vnet: VNet
    vpn_gateway: VpnGateway = Field(default_factory=VpnGateway)
    onprem: OnPrem
    expressroute: ExpressRoute | None = None
    # Further VNets, each with its own gateway, connected VNet-to-VNet (to `vnet` by default); a file
    # without them is the one-VNet lab it always was.
    remote_vnets: list[RemoteVNet] = Field(default_factory=list)
    pools: Pools = Field(default_factory=Pools)
