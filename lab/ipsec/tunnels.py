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
from lab.topology import P2sClient, Topology, Tunnel, TunnelEnd
from lab.topology.naming import ENDPOINT_VTI

CA, CERT = "ca.pem", "cert.pem"  # point-to-site: file names under swanctl/x509ca/, x509/ and private/
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
    vti_neighbors = tuple((str(n.address), n.mac) for n in end.neighbors if n.dev == ENDPOINT_VTI)
    return dataclasses.replace(inst, name=end.endpoint, vti_neighbors=vti_neighbors)


def _ts(prefixes: list[IPv4Network]) -> tuple[str, ...]:
    return tuple(str(p) for p in prefixes) or spec.ANY_TS


def p2s_gateway(topo: Topology, end: TunnelEnd, credentials: spec.Credentials) -> spec.Instance:
    """An instance's point-to-site end, for the clients that connect to its public IP."""
    p2s = topo.p2s
    assert p2s is not None
    return spec.p2s_gateway(
        end.endpoint,
        local_addr=end.endpoint_address,
        gateway_id=p2s.identity,
        vnet=tuple(topo.lab.vnet.address_space),
        pool=p2s.pools[end.node],
        dpd=p2s.dpd,
        credentials=credentials,
        cert=CERT,
        cacert=CA,
        fixed=tuple((c.node, c.identity, c.vip) for c in p2s.clients if c.public == end.public),
    )


def p2s_client(topo: Topology, client: P2sClient, credentials: spec.Credentials) -> spec.Instance:
    p2s = topo.p2s
    assert p2s is not None
    return spec.p2s_client(
        client.node,
        gateway_addr=client.public,
        client_id=client.identity,
        gateway_id=p2s.identity,
        vnet=tuple(topo.lab.vnet.address_space),
        dpd=p2s.dpd,
        credentials=credentials,
        cert=CERT,
        cacert=CA,
    )


def rendered(topo: Topology) -> dict[str, str]:
    """Every charon's configuration without keys or certificates, at the paths `up` writes the instances
    to (ipsec/<endpoint or client>/..., relative to the lab's run directory)."""
    instances = [(end.endpoint, site_to_site(tunnel, end, NO_KEY)) for tunnel, end in topo.tunnel_ends()]
    if topo.p2s is not None:
        instances += [(end.endpoint, p2s_gateway(topo, end, spec.Credentials())) for end in topo.p2s.ends]
        instances += [(c.node, p2s_client(topo, c, spec.Credentials())) for c in topo.p2s.clients]
    files: dict[str, str] = {}
    for name, inst in instances:
        for rel, (data, mode) in render.render(inst).items():
            if mode & 0o077:  # private files (keys) are never rendered
                files[f"ipsec/{name}/{rel}"] = data.decode()
    return files
