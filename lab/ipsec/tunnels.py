"""The charon instance of each IPsec tunnel end of a resolved topology, as data (lab.ipsec.spec) and as
files: what `gwlab render` shows and what lab.runtime.links.ipsec runs, from one function.

The Azure end initiates and the on-prem end responds (lab.ipsec.spec); their IKE identities are the
public IPs their routers present; a connection (one per device) has one key, used by every tunnel of
the device (active/active: one per instance, as Azure's connection has two tunnels).
"""

from __future__ import annotations

import dataclasses
from ipaddress import IPv4Network

from lab.ipsec import render, spec
from lab.ipsec.proposals import POLICY_BASED, ROUTE_BASED
from lab.topology import Topology, Tunnel, TunnelEnd

# The endpoint namespace's interfaces: towards the router's VTI, and its WAN towards the router's NAT.
ENDPOINT_VTI, ENDPOINT_WAN = "r0", "eth0"
# `gwlab render` and the golden files show the configuration, never a key: secrets.conf is left out and
# the instance is built with this stand-in.
NO_KEY = "not-rendered"


def is_azure_end(tunnel: Tunnel, end: TunnelEnd) -> bool:
    return tunnel.ends()[1].endpoint == end.endpoint


def local_selectors(tunnel: Tunnel, end: TunnelEnd) -> list[IPv4Network]:
    """The end's own traffic selectors ([] for 0.0.0.0/0)."""
    assert tunnel.ipsec is not None
    return tunnel.ipsec.azure_ts if is_azure_end(tunnel, end) else tunnel.ipsec.onprem_ts


def site_to_site(tunnel: Tunnel, end: TunnelEnd, psk: str) -> spec.Instance:
    params = tunnel.ipsec
    assert params is not None
    device_end, gateway_end = tunnel.ends()
    azure = is_azure_end(tunnel, end)
    peer = device_end if azure else gateway_end
    remote = params.onprem_ts if azure else params.azure_ts
    inst = spec.site_to_site(
        params.connection,
        side="initiator" if azure else "responder",
        version=params.version,
        local_addr=end.endpoint_address,
        remote_addr=peer.public,
        local_id=str(end.public),
        remote_id=str(peer.public),
        proposals=POLICY_BASED if params.version == 1 else ROUTE_BASED,
        dpd=params.dpd,
        psk=psk,
        local_ts=_ts(local_selectors(tunnel, end)),
        remote_ts=_ts(remote),
        vti=ENDPOINT_VTI,
    )
    return dataclasses.replace(inst, name=end.endpoint)


def _ts(prefixes: list[IPv4Network]) -> tuple[str, ...]:
    return tuple(str(p) for p in prefixes) or spec.ANY_TS


def rendered(topo: Topology) -> dict[str, str]:
    """Every tunnel end's configuration without keys, at the paths `up` writes the instances to
    (ipsec/<endpoint>/..., relative to the lab's run directory)."""
    files: dict[str, str] = {}
    for tunnel, end in topo.tunnel_ends():
        for rel, (data, mode) in render.render(site_to_site(tunnel, end, NO_KEY)).items():
            if mode & 0o077:  # private files (keys) are never rendered
                files[f"ipsec/{end.endpoint}/{rel}"] = data.decode()
    return files
