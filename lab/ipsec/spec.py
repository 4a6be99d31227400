"""One charon instance as data: its connections, children, pools, keys and charon-wide settings, and
the builders that encode Azure's behaviour (which side initiates, IKE version, selectors, DPD action).

Who initiates: an Azure connection's `connectionMode` is Default (initiates and responds), InitiatorOnly
or ResponderOnly. The lab makes the Azure instance the initiator (start_action = start) and the on-prem
device the responder (start_action = none): both initiating leaves duplicate SAs (ipsec.md §4), and the
Azure side initiating is what makes a standby that has just taken the public IP over re-establish IKE at
once instead of waiting for on-prem's DPD. `keyingtries = 0` (retry forever). DPD runs on both sides;
its action is `restart` on the initiator (`trap` never re-initiates with kernel-libipsec, `clear` never
comes back) and `clear` on the responder: both restarting after a path came back left two IKE_SAs and
two CHILD_SAs (measured here), the initiator's restart alone brings the tunnel back.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network
from typing import Literal

from lab.ipsec.dpd import Dpd, IkeVersion, Retransmit
from lab.ipsec.proposals import P2S, Proposals

Side = Literal["initiator", "responder"]
# A tunnel endpoint's routing (lab.runtime.ipsec.endpoint): kernel-libipsec's TUN, and the tables (also
# the rules' priorities) from the router into the tunnel and from the tunnel to the router.
TUN = "ipsec0"
TO_TUNNEL, FROM_TUNNEL = 100, 101
ANY_TS = ("0.0.0.0/0",)
# charon's default; with 8, long-running jobs (receiver, netlink, libipsec, the vici watcher) held
# every worker and vici never answered (measured here).
THREADS = 16


@dataclass(frozen=True)
class Auth:
    method: Literal["psk", "pubkey"]
    id: str
    certs: tuple[str, ...] = ()  # file names under swanctl/x509/
    cacerts: tuple[str, ...] = ()  # ... under swanctl/x509ca/


@dataclass(frozen=True)
class Child:
    name: str
    local_ts: tuple[str, ...]
    remote_ts: tuple[str, ...]
    esp_proposals: tuple[str, ...]
    life_s: int
    life_bytes: int | None
    start_action: Literal["start", "none"]
    dpd_action: Literal["restart", "clear"]
    updown: bool  # run the instance's updown hook (toggles the veth "VTI", if the instance has one; logs)


@dataclass(frozen=True)
class Connection:
    name: str
    version: IkeVersion
    local_addrs: tuple[str, ...]
    remote_addrs: tuple[str, ...]
    local: Auth
    remote: Auth
    proposals: tuple[str, ...]
    ike_life_s: int
    dpd: Dpd
    children: tuple[Child, ...]
    pools: tuple[str, ...] = ()
    vips: tuple[str, ...] = ()
    # replace: a new IKE_SA with the same identities (a standby that took the IP over, a P2S client
    # reconnecting) deletes the old one instead of leaving it to its DPD.
    unique: Literal["no", "replace"] = "replace"


@dataclass(frozen=True)
class Secret:
    name: str
    ids: tuple[str, ...]
    psk: str = field(repr=False)


@dataclass(frozen=True)
class Pool:
    name: str
    addrs: IPv4Network


@dataclass(frozen=True)
class Credentials:
    """PEM files for certificate authentication; private keys go to 0600 files only."""

    certs: dict[str, bytes] = field(default_factory=dict)
    cacerts: dict[str, bytes] = field(default_factory=dict)
    keys: dict[str, bytes] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class Instance:
    name: str
    connections: tuple[Connection, ...]
    retransmit: Retransmit
    secrets: tuple[Secret, ...] = ()
    pools: tuple[Pool, ...] = ()
    credentials: Credentials = field(default_factory=Credentials)
    vti: str | None = None  # the endpoint's veth towards its router, toggled by the updown hook
    vti_neighbors: tuple[tuple[str, str], ...] = ()  # (address, MAC): made permanent on it when it comes up
    threads: int = THREADS
    log_level: int = 1  # charon logs keys from level 4 on; render refuses more than 2


def site_to_site(
    name: str,
    *,
    side: Side,
    version: IkeVersion,
    local_addr: IPv4Address,
    remote_addr: IPv4Address,
    local_id: str,
    remote_id: str,
    proposals: Proposals,
    dpd: Dpd,
    psk: str,
    local_ts: tuple[str, ...] = ANY_TS,
    remote_ts: tuple[str, ...] = ANY_TS,
    vti: str | None = None,
) -> Instance:
    """One site-to-site tunnel end. Route-based: selectors 0/0 (routing picks the tunnel); policy-based
    and route-based with use_policy_based_traffic_selectors: the prefixes. IKEv1 carries one selector pair
    per CHILD_SA, so there every pair gets its own child, as Azure's policy-based gateway does."""
    pairs: list[tuple[tuple[str, ...], tuple[str, ...]]] = [(local_ts, remote_ts)]
    if version == 1:
        pairs = [((lt,), (rt,)) for lt in local_ts for rt in remote_ts]
    children = tuple(
        Child(
            name=f"{name}-{i}" if len(pairs) > 1 else name,
            local_ts=lts,
            remote_ts=rts,
            esp_proposals=proposals.esp,
            life_s=proposals.child_lifetime_s,
            life_bytes=proposals.child_lifetime_bytes,
            start_action="start" if side == "initiator" else "none",
            dpd_action="restart" if side == "initiator" else "clear",
            updown=vti is not None,
        )
        for i, (lts, rts) in enumerate(pairs)
    )
    conn = Connection(
        name=name,
        version=version,
        local_addrs=(str(local_addr),),
        remote_addrs=(str(remote_addr),),
        local=Auth("psk", local_id),
        remote=Auth("psk", remote_id),
        proposals=proposals.ike,
        ike_life_s=proposals.ike_lifetime_s,
        dpd=dpd,
        children=children,
    )
    secret = Secret(f"ike-{name}", (local_id, remote_id), psk)
    return Instance(name, (conn,), dpd.retransmit, secrets=(secret,), vti=vti)


def p2s_gateway(
    name: str,
    *,
    local_addr: IPv4Address,
    gateway_id: str,
    vnet: tuple[IPv4Network, ...],
    pool: IPv4Network,
    dpd: Dpd,
    credentials: Credentials,
    cert: str,
    cacert: str,
    fixed: tuple[tuple[str, str, IPv4Address], ...] = (),
) -> Instance:
    """The point-to-site end of a gateway instance: IKEv2 road warriors with certificates from the lab
    CA (Azure's IKEv2 P2S: certificates or RADIUS, never PSK), addresses from the instance's pool, the
    VNet as the only selector. A vanished client is cleared, not restarted: the client reconnects.
    `fixed` ((connection, client identity, address), ...): one connection per client, each handing out
    its own address (the lab's probes and oracle know a client's address; Azure's are dynamic)."""
    child = _p2s_child(name, tuple(str(p) for p in vnet), ("dynamic",), "none", "clear", updown=False)
    peers = [(conn, ident, (Pool(conn, IPv4Network(f"{vip}/32")),)) for conn, ident, vip in fixed]
    if not peers:
        peers = [(name, "%any", (Pool(f"{name}-pool", pool),))]
    connections = tuple(
        Connection(
            name=conn,
            version=2,
            local_addrs=(str(local_addr),),
            remote_addrs=("%any",),
            local=Auth("pubkey", gateway_id, certs=(cert,)),
            remote=Auth("pubkey", ident, cacerts=(cacert,)),
            proposals=P2S.ike,
            ike_life_s=P2S.ike_lifetime_s,
            dpd=dpd,
            children=(dataclasses.replace(child, name=conn),),
            pools=tuple(p.name for p in conn_pools),
        )
        for conn, ident, conn_pools in peers
    )
    pools = tuple(p for _, _, conn_pools in peers for p in conn_pools)
    return Instance(name, connections, dpd.retransmit, pools=pools, credentials=credentials)


def p2s_client(
    name: str,
    *,
    gateway_addr: IPv4Address,
    client_id: str,
    gateway_id: str,
    vnet: tuple[IPv4Network, ...],
    dpd: Dpd,
    credentials: Credentials,
    cert: str,
    cacert: str,
) -> Instance:
    """A road warrior: asks for a virtual IP, initiates, and restarts after its gateway went silent; its
    updown hook logs when it is connected."""
    child = _p2s_child(name, ("dynamic",), tuple(str(p) for p in vnet), "start", "restart", updown=True)
    conn = Connection(
        name=name,
        version=2,
        local_addrs=("%any",),
        remote_addrs=(str(gateway_addr),),
        local=Auth("pubkey", client_id, certs=(cert,)),
        remote=Auth("pubkey", gateway_id, cacerts=(cacert,)),
        proposals=P2S.ike,
        ike_life_s=P2S.ike_lifetime_s,
        dpd=dpd,
        children=(child,),
        vips=("0.0.0.0",),
    )
    return Instance(name, (conn,), dpd.retransmit, credentials=credentials)


def _p2s_child(
    name: str,
    local_ts: tuple[str, ...],
    remote_ts: tuple[str, ...],
    start_action: Literal["start", "none"],
    dpd_action: Literal["restart", "clear"],
    updown: bool,
) -> Child:
    return Child(
        name=name,
        local_ts=local_ts,
        remote_ts=remote_ts,
        esp_proposals=P2S.esp,
        life_s=P2S.child_lifetime_s,
        life_bytes=P2S.child_lifetime_bytes,
        start_action=start_action,
        dpd_action=dpd_action,
        updown=updown,
    )
