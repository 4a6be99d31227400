"""IPsec tunnels as link kinds: `IpsecEnd` (a site-to-site end), `IpsecNat` (a router's NAT) and
`Charons` (every charon of a lab, point-to-site's too, deployed together).

An end is an endpoint namespace (`<lab>_<router>.<peer>`: the namespace runtime's sweep finds it by the
lab's prefix, and `sweep` here on every other runtime) holding charon and its ipsec0, two veths to its
router (`t-<peer>`, the "VTI", and `e-<peer>`, its WAN), and the instance's files under
RUN_ROOT/<lab>/ipsec/<endpoint>/ (0700; keys 0600). The router side is reached by the path its runtime
gives (Handles.netns_path: /run/netns/... or a container's /proc/<pid>/ns/net), charon runs from the
host's binaries (lab.runtime.ipsec.charon), so this works on every runtime without strongSwan in any
image. The router's NAT table (`IpsecNat`) sends each peer's IKE and ESP to the endpoint of its tunnel,
and point-to-site clients to its P2S endpoint.

Bring-up is two-phase so that charons start in parallel with FRR: `Charons.deploy` makes and wires the
endpoints and spawns their charons (in threads); `settle`, after the daemons, waits for their vici sockets
and loads the responders, opens every endpoint's WAN (nothing reaches a charon before it is loaded:
an early IKE_SA_INIT got NO_PROPOSAL_CHOSEN, and the initiator gave up), then loads the initiators. A
standby instance's ends are deployed without charon: it has no public IP to speak IKE from until it
takes the IPs over (lab.runtime.tunnelops.start).
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from pathlib import Path
from typing import Protocol

from pyroute2 import netns

from lab.ipsec import render
from lab.ipsec.psk import derive_psk, lab_secret
from lab.ipsec.tunnels import is_azure_end, local_selectors, site_to_site
from lab.runtime.ipsec import endpoint
from lab.runtime.ipsec.charon import START_TIMEOUT_S, Charon, check_strongswan, is_charon, read_pid
from lab.runtime.netlink import Handles
from lab.runtime.processes import pids_in, stop
from lab.runtime.state import RUN_ROOT
from lab.topology import VTI_MTU, Topology, Tunnel, TunnelEnd, device_node_names
from lab.topology.addressing import veth_mac
from lab.topology.naming import ENDPOINT_VTI, ENDPOINT_WAN, INTERNET

NETNS_DIR = "/run/netns"
LAB_KEY = "lab.key"  # the lab's secret, from which absent keys are derived (0600)
LOAD_THREADS = 4
WIRE_THREADS = 8


def lab_dir(lab: str) -> Path:
    return RUN_ROOT / lab / "ipsec"


def endpoint_namespace(lab: str, endpoint_name: str) -> str:
    """The namespace runtime's scheme (`<lab>_<name>`): its sweep finds endpoints with the nodes."""
    return f"{lab}_{endpoint_name}"


def endpoint_path(lab: str, endpoint_name: str) -> str:
    return f"{NETNS_DIR}/{endpoint_namespace(lab, endpoint_name)}"


def endpoint_paths(topo: Topology) -> list[str]:
    """Every endpoint namespace of the lab (site-to-site and point-to-site ends)."""
    return [endpoint_path(topo.name, e.endpoint) for e in topo.endpoint_ends()]


def charon_of(lab: str, end: TunnelEnd) -> Charon:
    """The charon of an end, as far as its files say (pid from its pid file)."""
    layout = render.Layout(lab_dir(lab) / end.endpoint)
    return Charon(end.endpoint, endpoint_path(lab, end.endpoint), layout, pid=read_pid(layout))


def connection_psk(topo: Topology, connection: str, variant: str = "") -> str:
    """A connection's key: the lab file's, or derived from the lab's secret (`variant`: a known-wrong
    one, for the key-mismatch failure). Never logged, never returned to anything that prints."""
    for s_idx, names in enumerate(device_node_names(topo.lab)):
        if connection in names:
            given = topo.lab.onprem.sites[s_idx].devices[names.index(connection)].psk
            if given is not None and not variant:
                return given.get_secret_value()
    return derive_psk(lab_secret(lab_dir(topo.name) / LAB_KEY), connection, variant)


def instance_files(topo: Topology, tunnel: Tunnel, end: TunnelEnd, variant: str = "") -> None:
    """Write (or rewrite) an end's charon files, its key included."""
    assert tunnel.ipsec is not None
    psk = connection_psk(topo, tunnel.ipsec.connection, variant)
    lay = render.Layout(lab_dir(topo.name) / end.endpoint)
    render.write(lay, render.render(site_to_site(tunnel, end, psk)))


@dataclass
class EndpointEnd:
    """A charon in an endpoint namespace of its own, beside its router: the namespace, the two veths to
    the router, the endpoint's routing, the instance's files, charon. What it runs is its subclass's."""

    topo: Topology
    end: TunnelEnd
    launch: bool = True  # False: a standby's end, charon started at takeover
    charon: Charon | None = field(default=None, compare=False)

    @property
    def initiator(self) -> bool:
        return False

    @property
    def attaches_itself(self) -> bool:
        """Its updown hook points its tunnel table at ipsec0 (and drops charon's rule 220) on up-client."""
        return True

    @property
    def path(self) -> str:
        return endpoint_path(self.topo.name, self.end.endpoint)

    @property
    def name(self) -> str:
        return self.end.endpoint

    @property
    def node(self) -> str:
        """The node it belongs to: it fails and comes back with it."""
        return self.end.node

    def selectors(self) -> list[IPv4Network]:
        """The local traffic selectors this endpoint must hold an address of (kernel-libipsec)."""
        return []

    def write_files(self) -> None:
        raise NotImplementedError

    def deploy(self, handles: Handles) -> None:
        """This end alone (`Charons` deploys a lab's ends together)."""
        self.create()
        self.wire(handles)
        self.start(handles)

    def create(self) -> None:
        """Its namespace (made by a thread, so that ends can be made in parallel)."""
        name = endpoint_namespace(self.topo.name, self.end.endpoint)
        if not os.path.exists(f"{NETNS_DIR}/{name}"):
            endpoint.create_namespace(name)

    def wire(self, handles: Handles) -> None:
        """Veths, the endpoint's routing and sysctls, the router's VTI sysctls, the instance's files;
        through netlink and call_in threads only, so that ends can be wired in parallel."""
        private_dir(self.topo.name)
        self.connect(handles)
        self.write_files()

    def connect(self, handles: Handles) -> None:
        """The endpoint's network towards its router: the two veths into the router's namespace, the
        endpoint's addresses, routing and sysctls (WAN down until `ready`), the router's VTI sysctls. Also
        what a router whose namespace was replaced (a restarted container) needs again: its files stay."""
        end = self.end
        router = handles.netns_path(end.node)
        # both ends' MACs fixed: their neighbours hold permanent entries for them
        wan_macs = (veth_mac(end.node, end.wan_if), veth_mac(end.endpoint, ENDPOINT_WAN))
        vti_macs = (veth_mac(end.node, end.vti), veth_mac(end.endpoint, ENDPOINT_VTI))
        veths = [
            endpoint.Veth(ENDPOINT_WAN, end.wan_if, None, wan_macs[::-1]),
            endpoint.Veth(ENDPOINT_VTI, end.vti, VTI_MTU, vti_macs[::-1]),
        ]
        wan = IPv4Interface(f"{end.endpoint_address}/{end.wan.prefixlen}")
        endpoint.build(
            self.path, router, veths, ENDPOINT_VTI, ENDPOINT_WAN, wan, end.router_address, end.vti, self.selectors()
        )

    def start(self, handles: Handles) -> None:
        """Start charon (Charon.launch: spawned from a thread in the endpoint's namespace, no fork of gwlab)."""
        self.charon = self.recorded(handles.netns_path)
        if self.launch:
            self.charon.launch()

    def recorded(self, netns_path: Callable[[str], str]) -> Charon:
        """Its charon as its files say (the pid it was started with): for `down`, failures, restarts."""
        return charon_of(self.topo.name, self.end)

    def ready(self) -> None:
        """Once loaded (a responder) or about to be loaded (an initiator): IKE may reach it now."""
        wan = [n for n in self.end.neighbors if n.dev == ENDPOINT_WAN]
        endpoint.set_wan(self.path, ENDPOINT_WAN, self.end.router_address, up=True, neighbors=wan)

    def remove(self, handles: Handles) -> None:
        """Charon by pid, the namespace (its veths, and so the router's ends, with it), the files."""
        charon = self.charon or charon_of(self.topo.name, self.end)
        charon.stop()
        name = endpoint_namespace(self.topo.name, self.end.endpoint)
        if name in netns.listnetns():
            netns.remove(name)
        shutil.rmtree(charon.layout.root, ignore_errors=True)


@dataclass
class IpsecEnd(EndpointEnd):
    """One end of a site-to-site tunnel: the Azure end initiates, the on-prem end responds."""

    tunnel: Tunnel = field(kw_only=True)

    @property
    def initiator(self) -> bool:
        return is_azure_end(self.tunnel, self.end)

    def selectors(self) -> list[IPv4Network]:
        return local_selectors(self.tunnel, self.end)

    def write_files(self) -> None:
        instance_files(self.topo, self.tunnel, self.end)


def private_dir(lab: str) -> Path:
    """The lab's IPsec directory, 0700 (`up` may have made it already, for the rendered configurations)."""
    root = lab_dir(lab)
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    root.chmod(0o700)
    return root


@dataclass(frozen=True)
class IpsecNat:
    """A router's NAT in front of its tunnel endpoints, rebuilt whole from all its ends (idempotent)."""

    topo: Topology
    node: str

    def rules(self) -> tuple[IPv4Address, list[tuple[IPv4Address, IPv4Address]]]:
        """(the public IP the router presents, [(peer public IP, endpoint WAN IP)]); point-to-site clients
        (any other peer) go to `p2s_endpoint`."""
        public: IPv4Address | None = None
        by_peer: list[tuple[IPv4Address, IPv4Address]] = []
        for t in self.topo.tunnels:
            if t.kind != "ipsec":
                continue
            for mine, peer in (t.ends(), t.ends()[::-1]):
                if mine.node == self.node and (peer.public, mine.endpoint_address) not in by_peer:
                    public = mine.public
                    by_peer.append((peer.public, mine.endpoint_address))
        assert public is not None, f"{self.node} has no IPsec tunnel"
        return public, by_peer

    def p2s_endpoint(self) -> IPv4Address | None:
        p2s = self.topo.p2s
        return next((e.endpoint_address for e in p2s.ends if e.node == self.node), None) if p2s else None

    def deploy(self, handles: Handles) -> None:
        public, by_peer = self.rules()
        inside = self.topo.lab.pools.tunnel_endpoints
        router = handles.netns_path(self.node)
        endpoint.router_nat(router, INTERNET, public, inside, by_peer, default_endpoint=self.p2s_endpoint())

    def remove(self, handles: Handles) -> None:
        endpoint.remove_router_nat(handles.netns_path(self.node))


def plan(topo: Topology) -> tuple[list[IpsecEnd], list[IpsecNat]]:
    """Every site-to-site tunnel end (a standby's without charon) and every router's NAT."""
    ends = [IpsecEnd(topo, e, launch=not topo.nodes[e.node].standby, tunnel=t) for t, e in topo.tunnel_ends()]
    routers = list(dict.fromkeys(e.end.node for e in ends))
    return ends, [IpsecNat(topo, r) for r in routers]


class CharonEnd(Protocol):
    """Anything running a charon (an endpoint, a point-to-site client): what `Charons`, `settle`,
    failures and restarts need of it."""

    charon: Charon | None

    @property
    def name(self) -> str: ...

    @property
    def node(self) -> str: ...

    @property
    def initiator(self) -> bool: ...

    @property
    def attaches_itself(self) -> bool: ...

    def recorded(self, netns_path: Callable[[str], str]) -> Charon: ...

    def create(self) -> None: ...

    def wire(self, handles: Handles) -> None: ...

    def start(self, handles: Handles) -> None: ...

    def ready(self) -> None: ...

    def remove(self, handles: Handles) -> None: ...


@dataclass
class Charons:
    """Every charon of a lab as one link kind, deployed together: namespaces made and wired in parallel
    threads, each end's charon spawned by its thread once the end is wired (vfork: no fork of gwlab)."""

    topo: Topology
    ends: list[CharonEnd]

    def deploy(self, handles: Handles) -> None:
        if not self.ends:
            return
        lab_secret(private_dir(self.topo.name) / LAB_KEY)  # before the threads: one secret, not a race

        def make(e: CharonEnd) -> None:
            e.create()
            e.wire(handles)
            # At once: its start-up (C, on the other core) overlaps the wiring of the rest (Python, GIL).
            e.start(handles)

        # Leaving the pool waits for every worker, so an error leaves only charons with pid files (`down`).
        with ThreadPoolExecutor(max_workers=WIRE_THREADS) as pool:
            list(pool.map(make, self.ends))

    def remove(self, handles: Handles) -> None:
        for e in self.ends:
            e.remove(handles)

    def of(self, node: str) -> Charons:
        """The node's charons only (a node whose namespace was replaced is wired again)."""
        return Charons(self.topo, [e for e in self.ends if e.node == node])


def settle(ends: Sequence[CharonEnd]) -> None:
    """Once charons run: wait for every vici socket; then the responders loaded and made reachable
    (nothing reaches them before), then the initiators made ready and loaded (they initiate at once).
    Endpoints whose updown hook does not attach their tunnel (point-to-site) are attached here."""
    launched = [e for e in ends if e.charon is not None and e.charon.running()]
    deadline = time.monotonic() + START_TIMEOUT_S
    for e in launched:
        assert e.charon is not None
        e.charon.wait_started(keep_rule_220=True, timeout_s=max(0.1, deadline - time.monotonic()))
    responders = [e for e in launched if not e.initiator]
    initiators = [e for e in launched if e.initiator]
    with ThreadPoolExecutor(max_workers=LOAD_THREADS) as pool:
        list(pool.map(_attach, [e for e in launched if not e.attaches_itself]))
        list(pool.map(_load, responders))
        list(pool.map(lambda e: e.ready(), responders + initiators))
        list(pool.map(_load, initiators))


def _attach(e: CharonEnd) -> None:
    if isinstance(e, EndpointEnd):
        endpoint.attach_tunnel(e.path)


def _load(e: CharonEnd) -> None:
    if e.charon is not None:
        e.charon.load()


def sweep(lab: str) -> tuple[int, list[str]]:
    """Every charon of lab `lab` stopped by the pid it recorded (checked to be charon), anything else left
    in its endpoint namespaces, then those namespaces: (processes stopped, what could not be removed).
    No topology needed: `down` works after kill -9, without the lab file, on every runtime."""
    pids = set()
    root = lab_dir(lab)
    if root.is_dir():
        for pidfile in root.glob("*/pid"):
            pid = read_pid(render.Layout(pidfile.parent))
            if pid is not None and is_charon(pid):
                pids.add(pid)
    names = [n for n in netns.listnetns() if n.startswith(f"{lab}_") and "." in n]
    pids.update(pids_in([f"{NETNS_DIR}/{n}" for n in names]))
    left = [f"process {p}" for p in stop(sorted(pids), grace_s=1.0)]
    for name in names:
        try:
            netns.remove(name)
        except OSError as exc:
            left.append(f"namespace {name} ({exc.strerror})")
    return len(pids), left


def require_strongswan(topo: Topology) -> None:
    """`ipsec` tunnels on a host without strongSwan (or with its AppArmor profile enforced): one line."""
    if any(t.kind == "ipsec" for t in topo.tunnels):
        check_strongswan()
