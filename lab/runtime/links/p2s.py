"""Point-to-site as link kinds: each gateway instance's P2S endpoint (`P2sEnd`, an endpoint namespace
like a site-to-site end) and each client's end (`P2sClientEnd`: charon in the client node's own
namespace, by the path its runtime gives, as a road warrior keeping charon's routing table 220).

Certificates come from one lab CA made when the lab is planned; its private key lives only in the
memory of the `up` that deploys the lab (nobody can mint a certificate for it later). Each end's key
is written to its 0600 private/ directory; a restarted charon reuses its files.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from ipaddress import IPv4Network

from lab.ipsec import pki, render, spec
from lab.ipsec.pki import LabCa
from lab.ipsec.tunnels import CA, CERT, p2s_client, p2s_gateway
from lab.runtime.ipsec import endpoint
from lab.runtime.ipsec.charon import Charon, read_pid
from lab.runtime.links.ipsec import EndpointEnd, lab_dir, private_dir
from lab.runtime.netlink import Handles
from lab.topology import P2sClient, Topology
from lab.topology.naming import ENDPOINT_VTI


def _credentials(ca: LabCa, identity: str, server: bool) -> spec.Credentials:
    issued = ca.issue(identity, server=server)
    return spec.Credentials({CERT: issued.cert_pem}, {CA: ca.cert_pem}, {CERT: issued.key_pem})


@dataclass
class P2sEnd(EndpointEnd):
    """A gateway instance's point-to-site endpoint: a responder for the clients placed on it, the VNet
    as its selector; no updown hook (it serves every client): its VTI is up while charon runs."""

    ca: LabCa | None = field(default=None, repr=False)

    def selectors(self) -> list[IPv4Network]:
        return list(self.topo.lab.vnet.address_space)

    def instance(self) -> spec.Instance:
        assert self.topo.p2s is not None and self.ca is not None
        return p2s_gateway(self.topo, self.end, _credentials(self.ca, self.topo.p2s.identity, server=True))

    def write_files(self) -> None:
        render.write(render.Layout(lab_dir(self.topo.name) / self.end.endpoint), render.render(self.instance()))

    @property
    def attaches_itself(self) -> bool:
        return False  # no updown hook: `settle` attaches it

    def ready(self) -> None:
        super().ready()
        endpoint.vti_up(self.path, ENDPOINT_VTI)


@dataclass
class P2sClientEnd:
    """A road warrior: charon in the client node's namespace, initiating to its gateway public IP."""

    topo: Topology
    client: P2sClient
    ca: LabCa | None = field(default=None, repr=False)
    charon: Charon | None = field(default=None, compare=False)

    @property
    def name(self) -> str:
        return self.client.node

    @property
    def node(self) -> str:
        return self.client.node

    @property
    def initiator(self) -> bool:
        return True

    @property
    def attaches_itself(self) -> bool:
        return True  # nothing to attach: a road warrior keeps charon's rule 220 and its VNet route there

    @property
    def layout(self) -> render.Layout:
        return render.Layout(lab_dir(self.topo.name) / self.client.node)

    def instance(self) -> spec.Instance:
        assert self.ca is not None
        return p2s_client(self.topo, self.client, _credentials(self.ca, self.client.identity, server=False))

    def recorded(self, netns_path: Callable[[str], str]) -> Charon:
        return Charon(self.client.node, netns_path(self.client.node), self.layout, pid=read_pid(self.layout))

    def deploy(self, handles: Handles) -> None:
        self.create()
        self.wire(handles)
        self.start(handles)

    def create(self) -> None:
        """Nothing to make: the client is a node."""

    def wire(self, handles: Handles) -> None:
        private_dir(self.topo.name)
        render.write(self.layout, render.render(self.instance()))

    def start(self, handles: Handles) -> None:
        self.charon = self.recorded(handles.netns_path)
        self.charon.launch()

    def ready(self) -> None:
        """Nothing to open: the client's uplink is its node's."""

    def remove(self, handles: Handles) -> None:
        (self.charon or self.recorded(handles.netns_path)).stop()
        shutil.rmtree(self.layout.root, ignore_errors=True)


def plan(topo: Topology) -> tuple[list[P2sEnd], list[P2sClientEnd]]:
    """Each instance's P2S end (a standby's without charon) and each client, sharing a new lab CA."""
    if topo.p2s is None:
        return [], []
    ca = pki.new_ca(topo.name)
    ends = [P2sEnd(topo, e, launch=not topo.nodes[e.node].standby, ca=ca) for e in topo.p2s.ends]
    return ends, [P2sClientEnd(topo, c, ca=ca) for c in topo.p2s.clients]
