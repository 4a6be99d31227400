"""A tunnel-endpoint namespace (ipsec.md §2b): charon and its ipsec0 on one side, a veth "VTI" to the
router on the other, the router's WAN behind NAT. Works on a namespace given by path (/run/netns/<name>
or a container's /proc/<pid>/ns/net).

    router --vti (veth, 169.254.x peer y)-- r0 [endpoint: charon, ipsec0] eth0 --wan /30-- router --inet

In the endpoint: from r0 everything goes into ipsec0 (table 100), from ipsec0 everything to r0 (table
101); the endpoint's own IKE/ESP-in-UDP uses main (default via the router), so no route ever sends the
peer's public IP into ipsec0 (the ESP loop of ipsec.md §6.2). r0 stays down until the first CHILD_SA is
up (the updown hook), so the router sees carrier exactly while the tunnel is up.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from typing import Any

from pyroute2 import IPRoute

from lab.errors import GwlabError
from lab.ipsec.spec import FROM_TUNNEL, TO_TUNNEL, TUN
from lab.render import environment
from lab.runtime import rtnl_ops
from lab.runtime.ipsec.charon import START_TIMEOUT_S, wait_for
from lab.runtime.nsenter import call_in, setns, write_sysctls, write_sysctls_here
from lab.runtime.nsenter import create_namespace as create_namespace  # endpoints' namespaces: made as nodes' are
from lab.topology import StaticNeighbor
from lab.topology.constants import VTI_MTU

NAT_TABLE = "gwlab_ipsec"


def veth(
    ns_a: str, if_a: str, ns_b: str, if_b: str, mtu: int | None = None, macs: tuple[str, str] | None = None
) -> None:
    """A veth pair between two namespaces given by path (with `macs`: the ends' MACs, which permanent
    neighbour entries name); nothing appears in the host's namespace."""

    def add() -> None:
        with IPRoute() as ipr:
            _veth(ipr, if_a, ns_b, if_b, mtu, macs)

    call_in(ns_a, add)


def _veth(ipr: Any, if_a: str, ns_b: str, if_b: str, mtu: int | None, macs: tuple[str, str] | None) -> None:
    """A veth from the namespace `ipr` is in to the one at path `ns_b`."""
    fd = os.open(ns_b, os.O_RDONLY | os.O_CLOEXEC)
    try:
        extra = {"mtu": mtu} if mtu else {}
        mac_a, mac_b = ({"address": m} for m in macs) if macs else ({}, {})
        peer = {"ifname": if_b, "net_ns_fd": fd, **mac_b, **extra}
        ipr.link("add", ifname=if_a, kind="veth", peer=peer, **mac_a, **extra)
    finally:
        os.close(fd)


@dataclass(frozen=True)
class Veth:
    """One of an endpoint's veths to its router: (endpoint's interface, router's, MTU, their MACs)."""

    ifname: str
    router_ifname: str
    mtu: int | None
    macs: tuple[str, str]  # the endpoint's, the router's


def build(
    netns: str,
    router: str,
    veths: Sequence[Veth],
    vti: str,
    wan: str,
    wan_address: IPv4Interface,
    wan_gateway: IPv4Address,
    router_vti: str,
    selectors: Sequence[IPv4Network] = (),
) -> None:
    """An endpoint's whole network before charon starts, from one thread on its raw rtnetlink socket
    (lab.runtime.rtnl_ops): its veths to the router (made from its side), then what `prepare` does with
    the WAN down, `anchor_selectors`, and the router's VTI sysctls (`router_vti_sysctls`). A thread and a
    pyroute2 socket per step cost more than the steps (200 tunnel ends at 50 sites)."""

    def inside() -> None:
        fd = os.open(router, os.O_RDONLY | os.O_CLOEXEC)
        try:
            for pair in veths:
                rtnl_ops.veth(pair.ifname, pair.router_ifname, fd, pair.mtu, pair.macs)
        finally:
            os.close(fd)
        write_sysctls_here(_endpoint_sysctls(vti))
        _configure(vti, wan, wan_address, wan_gateway, wan_up=False)
        _anchor(selectors)
        setns(router)
        write_sysctls_here(_router_vti_sysctls(router_vti))

    call_in(netns, inside)


def prepare(
    netns: str, vti: str, wan: str, wan_address: IPv4Interface, wan_gateway: IPv4Address, wan_up: bool = True
) -> None:
    """Before charon starts: addresses, sysctls, the two policy rules and the WAN default route.
    `wan_up` False: the WAN stays down until `set_wan(..., up=True)`, so that no IKE reaches a charon
    before its configuration is loaded (it would answer NO_PROPOSAL_CHOSEN, and the initiator give up)."""

    def configure() -> None:
        write_sysctls_here(_endpoint_sysctls(vti))
        _configure(vti, wan, wan_address, wan_gateway, wan_up)

    call_in(netns, configure)


def _endpoint_sysctls(vti: str) -> dict[str, str]:
    return {
        "net.ipv4.ip_forward": "1",
        "net.ipv4.conf.all.rp_filter": "0",
        "net.ipv4.conf.default.rp_filter": "0",
        f"net.ipv4.conf.{vti}.rp_filter": "0",
        # The router ARPs for its peer's VTI address (and the tunnel for the router's hosts) on the veth.
        f"net.ipv4.conf.{vti}.proxy_arp": "1",
        f"net.ipv4.neigh.{vti}.proxy_delay": "0",  # else each proxied ARP reply waits up to 0.8 s
        "net.ipv6.conf.all.disable_ipv6": "1",
    }


def _configure(vti: str, wan: str, wan_address: IPv4Interface, wan_gateway: IPv4Address, wan_up: bool) -> None:
    """`prepare`'s links, address, default route and rules, in the calling thread's namespace."""
    index = rtnl_ops.link_index()
    lo, w, v = index["lo"], index[wan], index[vti]
    rtnl_ops.link_set(lo, up=True)
    rtnl_ops.addr_replace(w, wan_address.ip, wan_address.network.prefixlen)
    rtnl_ops.link_set(w, up=True)
    rtnl_ops.link_set(v, up=False, mtu=VTI_MTU)
    rtnl_ops.route_replace("0.0.0.0/0", gateway=wan_gateway)
    if not wan_up:
        rtnl_ops.link_set(w, up=False)  # the default route comes back with it (set_wan)
    rules = rtnl_ops.rule_priorities()
    for table, iif in ((TO_TUNNEL, vti), (FROM_TUNNEL, TUN)):
        if table not in rules:  # deployed again (its router's namespace was replaced): there already
            rtnl_ops.rule_add(table, table, iif)


def attach_tunnel(netns: str) -> None:
    """After charon started: everything from the router into ipsec0 (charon creates it anew each start)."""

    def route() -> bool:
        with IPRoute() as ipr:
            idx = ipr.link_lookup(ifname=TUN)
            if not idx:
                return False
            ipr.link("set", index=idx[0], state="up")
            ipr.route("replace", dst="0.0.0.0/0", oif=idx[0], table=TO_TUNNEL)
            return True

    wait_for(lambda: call_in(netns, route), START_TIMEOUT_S, f"{netns}: {TUN}")


def anchor_selectors(netns: str, local_ts: Sequence[IPv4Network]) -> None:
    """Policy-based selectors: kernel-libipsec refuses a CHILD_SA ("unable to install IPsec policies")
    unless the namespace owns an address inside each local selector, for the source of its route. The
    endpoint gets the last address of each selector on lo: a subnet's broadcast (Azure reserves it), which
    no host uses, and which is the only destination the endpoint then keeps for itself."""

    call_in(netns, lambda: _anchor(local_ts))


def _anchor(local_ts: Sequence[IPv4Network]) -> None:
    for prefix in local_ts:
        if prefix.prefixlen:  # 0/0: any address of the namespace will do
            rtnl_ops.addr_replace(rtnl_ops.link_index()["lo"], prefix.broadcast_address, 32)


def router_vti_sysctls(netns: str, vti: str) -> None:
    """The router's end of the VTI answers ARP for what lies behind the router, at once."""
    write_sysctls(netns, _router_vti_sysctls(vti))


def _router_vti_sysctls(vti: str) -> dict[str, str]:
    return {
        f"net.ipv4.conf.{vti}.proxy_arp": "1",
        f"net.ipv4.neigh.{vti}.proxy_delay": "0",
        f"net.ipv4.conf.{vti}.rp_filter": "0",
    }


def router_vti(netns: str, vti: str, local: IPv4Address, peer: IPv4Address) -> None:
    """The router's end of the VTI with a point-to-point address pair (BGP between VTI addresses)."""
    router_vti_sysctls(netns, vti)

    def configure() -> None:
        with IPRoute() as ipr:
            idx = ipr.link_lookup(ifname=vti)[0]
            ipr.addr("add", index=idx, local=str(local), address=str(peer), prefixlen=32)
            ipr.link("set", index=idx, state="up", mtu=VTI_MTU)

    call_in(netns, configure)


def router_nat(
    netns: str,
    wan: str,
    public: IPv4Address,
    inside: IPv4Network,
    by_peer: list[tuple[IPv4Address, IPv4Address]],
    default_endpoint: IPv4Address | None = None,
) -> None:
    """The router's NAT in front of its endpoints: (peer public IP, endpoint WAN IP) pairs, an optional
    catch-all endpoint (point-to-site), source NAT of `inside` (the endpoints' WAN /30s) to `public`."""
    ruleset = (
        environment()
        .get_template("ipsec/nat.nft.j2")
        .render(
            table=NAT_TABLE, wan=wan, public=public, inside=inside, by_peer=by_peer, default_endpoint=default_endpoint
        )
    )
    _nft(netns, ruleset)


def remove_router_nat(netns: str) -> None:
    # add-then-delete in one transaction: works whether the table exists or not (nft 1.0.6 has no destroy)
    _nft(netns, f"table ip {NAT_TABLE}\ndelete table ip {NAT_TABLE}\n")


def vti_up(netns: str, vti: str) -> None:
    """What the updown hook does on up-client, for an endpoint without one (point-to-site)."""

    def up() -> None:
        with IPRoute() as ipr:
            idx = ipr.link_lookup(ifname=vti)[0]
            ipr.link("set", index=idx, state="up")
            ipr.route("replace", dst="0.0.0.0/0", oif=idx, table=FROM_TUNNEL)

    call_in(netns, up)


def set_wan(netns: str, wan: str, gateway: IPv4Address, up: bool, neighbors: Sequence[StaticNeighbor] = ()) -> None:
    """The endpoint's WAN up with its default route and permanent neighbours (a link down takes both
    with it), or down."""

    def apply() -> None:
        idx = rtnl_ops.link_index()[wan]
        rtnl_ops.link_set(idx, up=up)
        if up:
            rtnl_ops.route_replace("0.0.0.0/0", gateway=gateway)
            for n in neighbors:
                rtnl_ops.neigh_permanent(idx, n.address, n.mac)

    call_in(netns, apply)


def dead(netns: str, vti: str, wan: str) -> None:
    """An endpoint whose charon died without running its updown hook: no carrier towards the router, and
    nothing answers on its WAN until a new charon is loaded."""

    def down() -> None:
        with IPRoute() as ipr:
            for name in (vti, wan):
                idx = ipr.link_lookup(ifname=name)
                if idx:
                    ipr.link("set", index=idx[0], state="down")

    call_in(netns, down)


def _nft(path: str, ruleset: str) -> None:
    """nft in the namespace, started from a thread that entered it: a child inherits its thread's
    namespace, and without preexec_fn subprocess spawns it without copying this process."""

    def run() -> subprocess.CompletedProcess[str]:
        return subprocess.run(["nft", "-f", "-"], input=ruleset, text=True, capture_output=True, check=False)

    proc = call_in(path, run)
    if proc.returncode != 0:
        raise GwlabError(f"{path}: nft: {proc.stderr.strip()}")
