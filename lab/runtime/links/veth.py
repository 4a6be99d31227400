"""A veth pair created directly between two namespaces: nothing appears in the host's namespace."""

from __future__ import annotations

from typing import Any

from lab.topology import Link


def create(ns_a: Any, link: Link, ns_b_name: str) -> None:
    ns_a.link("add", ifname=link.a_ifname, kind="veth", peer={"ifname": link.b_ifname, "net_ns_fd": ns_b_name})
