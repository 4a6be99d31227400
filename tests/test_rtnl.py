"""The raw rtnetlink reader (lab.runtime.rtnl) against pyroute2 on a real namespace: the same BGP
routes (single, ECMP, blackhole), carriers and live routes as pyroute2 decodes them."""

from __future__ import annotations

from collections.abc import Iterator
from ipaddress import IPv4Address, IPv4Network
from typing import Any

import pytest
from pyroute2 import netns

from lab.runtime import kernel, rtnl
from lab.runtime.netlink import Handles
from lab.runtime.nsenter import create_namespace
from lab.topology.constants import BLACKHOLE
from tests.helpers import require_root
from tests.labs import unique

pytestmark = pytest.mark.root


@pytest.fixture
def node() -> Iterator[str]:
    require_root()
    name = unique("rtnl")
    create_namespace(name)
    try:
        yield f"/run/netns/{name}"
    finally:
        netns.remove(name)


def _build(ipr: Any) -> None:
    ipr.link("add", ifname="a0", kind="veth", peer="a1")
    ipr.link("add", ifname="b0", kind="veth", peer="b1")
    idx = {n: ipr.link_lookup(ifname=n)[0] for n in ("lo", "a0", "a1", "b0", "b1")}
    for name in ("lo", "a0", "a1", "b0"):  # b1 stays down: b0 has no carrier
        ipr.link("set", index=idx[name], state="up")
    ipr.addr("add", index=idx["a0"], address="10.0.0.1", prefixlen=24)
    ipr.addr("add", index=idx["b0"], address="10.0.1.1", prefixlen=24)
    bgp = kernel.RTPROT_BGP
    ipr.route("add", dst="192.168.1.0/24", gateway="10.0.0.2", proto=bgp)
    ipr.route(
        "add",
        dst="192.168.2.0/24",
        proto=bgp,
        multipath=[{"gateway": "10.0.0.2", "oif": idx["a0"]}, {"gateway": "10.0.0.3", "oif": idx["a0"]}],
    )
    ipr.route("add", dst="192.168.3.0/24", type="blackhole", proto=bgp)
    ipr.route("add", dst="172.16.0.0/16", oif=idx["a0"])  # static, not BGP
    ipr.route("add", dst="0.0.0.0/0", gateway="10.0.0.2", proto=bgp)
    ipr.route("add", dst="192.168.9.0/24", gateway="10.0.0.2", table=100, proto=bgp)  # not the main table


def test_the_raw_reader_sees_what_pyroute2_sees(node: str) -> None:
    with Handles(lambda _: node) as handles:
        handles.call("n", _build)
        snap = handles.call("n", lambda _: rtnl.snapshot())  # in the node's thread, as the poll reads it
        names = {link.get_attr("IFLA_IFNAME"): bool(link.get_attr("IFLA_CARRIER")) for link in handles["n"].get_links()}
    a0 = "a0"
    assert kernel.bgp_routes(snap) == {
        IPv4Network("192.168.1.0/24"): frozenset({(IPv4Address("10.0.0.2"), a0)}),
        IPv4Network("192.168.2.0/24"): frozenset({(IPv4Address("10.0.0.2"), a0), (IPv4Address("10.0.0.3"), a0)}),
        IPv4Network("192.168.3.0/24"): frozenset({(None, BLACKHOLE)}),
        IPv4Network("0.0.0.0/0"): frozenset({(IPv4Address("10.0.0.2"), a0)}),
    }
    assert kernel.carriers(snap) == names and names["a0"] and not names["b0"]
    live = kernel.live_routes(snap)
    assert (IPv4Network("172.16.0.0/16"), "a0") in live and (IPv4Network("10.0.0.0/24"), "a0") in live
    assert not any(dev == "b0" for _, dev in live)  # no carrier: its connected route is linkdown
