"""The rendered <lab>.clab.yml is a topology file containerlab itself would accept, wired like the lab.

tests/data/clab.schema.json is containerlab's own JSON Schema (draft-07), unchanged from
srl-labs/containerlab at commit 39ff2b7ccce20f3c4610fcbd1fc030582f4499c1 (v0.79.0+2), path
schemas/clab.schema.json; its BSD-3-Clause licence is tests/data/containerlab-LICENSE.
"""

from __future__ import annotations

import copy
import json
import re
import shlex
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped,unused-ignore]
import yaml

from lab.render import render_all
from lab.runtime import bgp_bfd
from lab.runtime.containers import image, layout
from lab.runtime.daemons import frr_daemons
from lab.runtime.links import veth
from lab.runtime.sysctls import sysctls
from lab.topology import VXLAN_PORT, Topology
from lab.topology.addressing import bridge_mac

SCHEMA = Path(__file__).parent / "data" / "clab.schema.json"


@cache
def validator() -> jsonschema.Draft7Validator:
    # No Draft7Validator.check_schema: containerlab's ipv6-addr pattern uses \p{N} and \p{L}, which Go's
    # regexp accepts and Python's re does not; it only applies to fields gwlab never writes.
    return jsonschema.Draft7Validator(json.loads(SCHEMA.read_text(encoding="utf-8")))


def clab_text(topo: Topology) -> str:
    return render_all(topo)[f"{topo.name}.clab.yml"]


def clab(topo: Topology) -> dict[str, Any]:
    doc = yaml.safe_load(clab_text(topo))
    assert isinstance(doc, dict)
    return doc


def schema_errors(doc: dict[str, Any]) -> list[str]:
    return [
        f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
        for e in sorted(validator().iter_errors(doc), key=lambda e: list(map(str, e.absolute_path)))
    ]


def endpoints(doc: dict[str, Any]) -> list[tuple[str, str]]:
    out = []
    for link in doc["topology"]["links"]:
        assert len(link["endpoints"]) == 2, link
        for ep in link["endpoints"]:
            # The schema says so with prefixItems, a keyword draft-07 validators ignore: check it here.
            assert re.fullmatch(r"\S+:\S+", ep), ep
            node, _, ifname = ep.partition(":")
            out.append((node, ifname))
    return out


def test_validates_against_containerlab_schema(topo: Topology) -> None:
    assert schema_errors(clab(topo)) == []


def test_schema_is_strict_enough_to_catch_mistakes(topo: Topology) -> None:
    """The check above means something: the schema rejects what containerlab would reject."""
    doc = clab(topo)
    first = next(iter(doc["topology"]["nodes"]))
    mutations: list[Callable[[dict[str, Any]], object]] = [
        lambda d: d["topology"]["nodes"][first].update(kind="frr"),  # not a containerlab kind
        lambda d: d["topology"]["nodes"][first].update(bind=["x:/x"]),  # misspelt key
        lambda d: d["topology"]["nodes"][first].update(exec="ip link"),  # a string, not a list
        lambda d: d.pop("name"),
    ]
    for mutate in mutations:
        bad = copy.deepcopy(doc)
        mutate(bad)
        assert schema_errors(bad), "the schema accepted a broken topology file"


def test_name_nodes_and_links_follow_the_topology(topo: Topology) -> None:
    doc = clab(topo)
    assert doc["name"] == topo.name
    assert list(doc["topology"]["nodes"]) == list(topo.nodes)  # same nodes, same order
    rendered = [tuple(link["endpoints"]) for link in doc["topology"]["links"]]
    expected = [(f"{lk.a}:{lk.a_ifname}", f"{lk.b}:{lk.b_ifname}") for lk in topo.links]
    assert rendered == expected
    assert {link["mtu"] for link in doc["topology"]["links"]} == {veth.MTU}  # not containerlab's 9500


def test_every_endpoint_is_a_real_veth_used_once(topo: Topology) -> None:
    eps = endpoints(clab(topo))
    for node, ifname in eps:
        assert node in topo.nodes, f"{node}:{ifname}: no such node"
        names = {i.name: i for i in topo.nodes[node].interfaces}
        assert ifname in names, f"{node}:{ifname}: no such interface on {node}"
        assert names[ifname].kind == "veth", f"{node}:{ifname} is a {names[ifname].kind}, not a veth"
        assert len(ifname) <= 15, f"{node}:{ifname}: longer than a Linux interface name"
    duplicates = sorted({ep for ep in eps if eps.count(ep) > 1})
    assert duplicates == [], f"endpoints used twice: {duplicates}"
    # ... and every veth of the topology is wired, to the peer the topology says.
    veths = {(n.name, i.name) for n in topo.nodes.values() for i in n.interfaces if i.kind == "veth"}
    assert set(eps) == veths
    for link in clab(topo)["topology"]["links"]:
        (a, a_if), (b, b_if) = (ep.split(":", 1) for ep in link["endpoints"])
        iface = topo.nodes[a].interface(a_if)
        assert (iface.peer_node, iface.peer_ifname) == (b, b_if)


def effective(doc: dict[str, Any], node: str) -> dict[str, Any]:
    """A node's settings as containerlab applies them: its kind's defaults, then its own."""
    cfg = doc["topology"]["nodes"][node]
    return {**doc["topology"].get("kinds", {}).get(cfg["kind"], {}), **cfg}


def test_nodes_are_the_docker_runtimes_containers(topo: Topology) -> None:
    """Same image (never pulled), container names, labels, mounts and privileges as the runtimes give."""
    doc = clab(topo)
    files = render_all(topo)
    assert doc["prefix"] == "gwlab"  # containers gwlab-<lab>-<node>, as lab.runtime.containers.nodes names them
    for name in doc["topology"]["nodes"]:
        node = topo.nodes[name]
        cfg = effective(doc, name)
        assert cfg["kind"] == "linux"
        assert cfg["image"] == image.node_image_tag() and cfg["image-pull-policy"] == "never"
        assert cfg["network-mode"] == "none"
        assert cfg["privileged"] is False
        assert cfg["cap-add"] == list(layout.CAPABILITIES) and cfg["devices"] == list(layout.DEVICES)
        assert cfg["labels"] == layout.labels(node)
        binds = cfg.get("binds", [])
        expected = []
        if node.is_router:
            expected.append(f"{name}/frr.conf:{layout.FRR_CONF}:ro")
        if bgp_bfd.runs_bfd(node):
            expected.append(f"{name}/{bgp_bfd.START_CONF}:{layout.FRR_ETC}/{bgp_bfd.START_CONF}:ro")
        if node.speaker is not None:
            expected.append(f"{name}/exabgp.conf:{layout.CONFIG_MOUNT}/exabgp.conf:ro")
        assert binds == expected  # files, read-only: clabernetes mounts them from ConfigMaps
        for bind in binds:  # relative to the .clab.yml: the rendered file must be there
            assert bind.split(":")[0] in files
        sysctls = cfg["sysctls"]
        assert sysctls["net.ipv4.conf.all.rp_filter"] == sysctls["net.ipv4.conf.default.rp_filter"] == 0
        forwards = node.is_router or node.role == "internet"
        assert sysctls.get("net.ipv4.ip_forward") == (1 if forwards else None)


# containerlab's linux kind forces this one to 0 whatever the file says; `default` = 1 is set instead.
FORCED_BY_CONTAINERLAB = {"net.ipv6.conf.all.disable_ipv6"}


def test_sysctls_are_the_runtimes(topo: Topology) -> None:
    """Both ways of running a lab give its namespaces the same kernel settings."""
    doc = clab(topo)
    for node in topo.nodes.values():
        want = {k: v for k, v in sysctls(node).items() if k not in FORCED_BY_CONTAINERLAB}
        got = {k: str(v) for k, v in doc["topology"]["nodes"][node.name]["sysctls"].items()}
        assert got == want, node.name
        assert got["net.ipv6.conf.default.disable_ipv6"] == "1"


IPSEC_KINDS = ("vti", "endpoint")  # an IPsec tunnel end's veths: lab/runtime/links/ipsec.py makes them


def exec_lines(doc: dict[str, Any], node: str) -> list[list[str]]:
    return [shlex.split(line) for line in doc["topology"]["nodes"][node]["exec"]]


def network_lines(doc: dict[str, Any], node: str) -> list[list[str]]:
    lines = exec_lines(doc, node)
    network = [words for words in lines if words[0] == "ip"]
    assert lines[: len(network)] == network, "network lines come first, the daemons after them"
    return network


def test_exec_starts_the_daemons_as_the_runtimes_do(topo: Topology) -> None:
    """After the network: the daemons' command lines the runtimes exec (layout), in their order."""
    doc = clab(topo)
    files = render_all(topo)
    for node in topo.nodes.values():
        lines = exec_lines(doc, node.name)
        bfd = bgp_bfd.bfd_lines(files.get(f"{node.name}/frr.conf", ""))
        assert lines[len(network_lines(doc, node.name)) :] == layout.start_commands(node, bfd), node.name
        # bgpd's BFD last, once its sessions are up, as the runtimes give it from the host
        assert lines[-1][:1] == ["vtysh"] if bgp_bfd.runs_bfd(node) else all(w[0] != "vtysh" for w in lines)
        started = [w for words in lines for w in words if w.startswith("/usr/lib/frr/")]  # after env(1)
        assert [w.rsplit("/", 1)[1] for w in started] == (frr_daemons(node) if node.is_router else [])
        assert sum("exabgp" in words for words in lines) == (node.speaker is not None)


def test_exec_sets_addresses_bridges_tunnels_and_host_routes(topo: Topology) -> None:
    doc = clab(topo)
    for node in topo.nodes.values():
        lines = network_lines(doc, node.name)
        joined = [" ".join(words) for words in lines]
        for iface in node.interfaces:
            if iface.kind in IPSEC_KINDS:  # made by gwlab's IPsec link kind, not by containerlab
                assert not [line for line in joined if iface.name in line.split()], iface.name
                continue
            held = iface.addresses + ([] if node.standby else iface.shared_addresses)
            for addr in held:
                assert f"ip addr add {addr} dev {iface.name}" in joined
            if node.standby:  # the standby takes the shared addresses over only on failover
                for addr in iface.shared_addresses:
                    assert f"ip addr add {addr} dev {iface.name}" not in joined
            if iface.kind == "bridge":
                assert joined.index(f"ip link add {iface.name} address {bridge_mac(iface.name)} type bridge") < min(
                    (i for i, line in enumerate(joined) if line.endswith(f"master {iface.name}")), default=99
                )
            if iface.bridge:
                assert f"ip link set {iface.name} master {iface.bridge}" in joined
            if iface.kind == "vxlan":
                assert (
                    f"ip link add {iface.name} address {iface.mac} type vxlan id {iface.vni} "
                    f"remote {iface.remote} dstport {VXLAN_PORT} dev {iface.underlay}"
                ) in joined
                assert f"ip link set {iface.name} mtu {iface.mtu} up" in joined
        routes = [line for line in joined if line.startswith("ip route")]
        # A router's own static routes belong in its frr.conf; the internet (underlay) ones do not,
        # unless the node is a standby: it has no public IP to route them from until it takes over.
        expected = [r for r in node.routes if (r.underlay and not node.standby) or not node.is_router]
        assert len(routes) == len(expected)
        for r in expected:
            want = (
                f"ip route replace {r.prefix}" + (f" via {r.via}" if r.via else "") + (f" dev {r.dev}" if r.dev else "")
            )
            assert want in routes
        neighbors = [line for line in joined if line.startswith("ip neigh")]
        ipsec_devs = {i.name for i in node.interfaces if i.kind in ("vti", "endpoint")}  # not in the file
        assert neighbors == [
            f"ip neigh replace {n.address} lladdr {n.mac} dev {n.dev} nud permanent"
            for n in node.neighbors
            if n.dev not in ipsec_devs
        ]
        macs = [line for line in joined if line.startswith("ip link set") and " address " in line]
        assert macs == [f"ip link set {i.name} address {i.mac}" for i in node.interfaces if i.kind == "veth"]


def test_exec_names_only_the_nodes_interfaces(topo: Topology) -> None:
    """Every interface an exec line touches exists on that node (or is created by an earlier line)."""
    doc = clab(topo)
    for node in topo.nodes.values():
        known = {i.name for i in node.interfaces if i.kind in ("veth", "loopback")}
        for words in network_lines(doc, node.name):
            if words[:3] == ["ip", "link", "add"]:
                known.add(words[3])
            named = [words[k + 1] for k, w in enumerate(words[:-1]) if w in ("dev", "master")]
            if words[:3] == ["ip", "link", "set"]:
                named.append(words[3])
            for ifname in named:
                assert ifname in known, f"{node.name}: {' '.join(words)}: no interface {ifname} yet"
        assert known == {i.name for i in node.interfaces if i.kind not in IPSEC_KINDS}


def test_output_is_deterministic_and_tidy(topo: Topology) -> None:
    text = clab_text(topo)
    assert text == clab_text(topo)
    assert text.endswith("\n") and not text.endswith("\n\n")
    assert [n for n, line in enumerate(text.splitlines(), 1) if line != line.rstrip()] == []
    assert "\t" not in text
