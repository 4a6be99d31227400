"""The rendered diagrams: <lab>.dot (Graphviz) and <lab>.mmd (Mermaid flowchart).

Both show every node in its group (Azure: VNet, GatewaySubnet, MSEEs; Internet; one per on-prem site),
every veth link as a solid edge and every VXLAN tunnel as a dashed edge labelled with its VNI.
The DOT file is checked by Graphviz itself (`dot`, apt package graphviz, installed by `make setup`:
without it these tests skip, or fail in CI); the Mermaid file is checked structurally, since
Mermaid's own parser needs Node.js.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from lab.render import render_all
from lab.topology import Node, Topology
from tests.helpers import require_tool

AZURE_ROLES = {"vnet", "vm", "gateway", "ergw", "msee"}


def group_of(node: Node) -> str:
    """The cluster a node belongs in, named as the DOT file names it."""
    if node.role in AZURE_ROLES:
        return "cluster_azure"
    if node.role in ("internet", "p2s-client"):  # point-to-site clients are road warriors on the internet
        return "cluster_internet"
    assert node.site is not None, node
    return f"cluster_site_{node.site}"


def facts(node: Node) -> list[str]:
    """What a node's label must say besides its name: role, ASN and zone."""
    out: list[str] = [node.role]
    if node.bgp is not None:
        out.append(f"AS {node.bgp.asn}")
    if node.zone is not None:
        out.append(f"zone {node.zone}")
    return out


def pair(a: str, b: str) -> tuple[str, str]:
    return (a, b) if a <= b else (b, a)


def expected_links(topo: Topology) -> Counter[tuple[str, str]]:
    return Counter(pair(lk.a, lk.b) for lk in topo.links)


def expected_tunnels(topo: Topology) -> Counter[tuple[tuple[str, str], str]]:
    return Counter((pair(t.device, t.gateway), t.label) for t in topo.tunnels)


TUNNEL_LABEL = r"(VNI \d+|IPsec IKEv[12])( \(standby\))?"


def assert_tidy(text: str) -> None:
    assert text.endswith("\n") and not text.endswith("\n\n")
    assert [n for n, line in enumerate(text.splitlines(), 1) if line != line.rstrip()] == []
    assert "\t" not in text


# -- Graphviz -----------------------------------------------------------------------------------------


def dot_text(topo: Topology) -> str:
    return render_all(topo)[f"{topo.name}.dot"]


@pytest.fixture
def dot() -> str:
    """Graphviz's `dot`: skips with the reason when it is not on PATH (fails in CI, which installs it)."""
    return require_tool("dot")


def run_dot(dot: str, path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([dot, *args, str(path)], capture_output=True, text=True, timeout=60, check=False)


def test_dot_renders_with_graphviz(topo: Topology, tmp_path: Path, dot: str) -> None:
    path = tmp_path / f"{topo.name}.dot"
    path.write_text(dot_text(topo), encoding="utf-8")
    done = run_dot(dot, path, "-Tsvg", "-o", "/dev/null")
    assert done.returncode == 0, done.stderr
    assert done.stderr == "", f"Graphviz warned: {done.stderr}"


def dot_graph(topo: Topology, tmp_path: Path, dot: str) -> dict[str, Any]:
    """The DOT file as Graphviz parsed it (`dot -Tjson0`): clusters, nodes, edges and their attributes."""
    path = tmp_path / f"{topo.name}.dot"
    path.write_text(dot_text(topo), encoding="utf-8")
    done = run_dot(dot, path, "-Tjson0")
    assert done.returncode == 0, done.stderr
    graph: dict[str, Any] = json.loads(done.stdout)
    return graph


def test_dot_nodes_sit_in_their_clusters(topo: Topology, tmp_path: Path, dot: str) -> None:
    graph = dot_graph(topo, tmp_path, dot)
    objects = {o["_gvid"]: o for o in graph["objects"]}
    nodes = {
        o["name"]: o
        for o in objects.values()
        if "nodes" not in o and "subgraphs" not in o and not o["name"].startswith("cluster")
    }
    assert set(nodes) == set(topo.nodes)
    clusters = {
        o["name"]: {objects[i]["name"] for i in o.get("nodes", [])}
        for o in objects.values()
        if o["name"].startswith("cluster")
    }
    expected: dict[str, set[str]] = {}
    for node in topo.nodes.values():
        expected.setdefault(group_of(node), set()).add(node.name)
    for name, members in expected.items():
        assert clusters.get(name) == members, name
    for site in topo.lab.onprem.sites:
        assert f"cluster_site_{site.name}" in clusters
    # Azure nests the VNet, its GatewaySubnet and the MSEEs.
    own = [n for n in topo.nodes.values() if n.vnet is None]
    gws = {n.name for n in own if n.role in ("gateway", "ergw")}
    assert clusters["cluster_gateway_subnet"] == gws
    assert clusters["cluster_vnet"] == gws | {n.name for n in own if n.role in ("vnet", "vm")}
    for v in topo.lab.remote_vnets:  # a remote VNet beside it, with its own GatewaySubnet
        mine = {n.name for n in topo.nodes.values() if n.vnet == v.name}
        assert clusters[f"cluster_vnet_{v.name}"] == mine
        assert clusters[f"cluster_gateway_subnet_{v.name}"] == {n for n in mine if topo.nodes[n].role == "gateway"}
    msee = {n.name for n in topo.nodes.values() if n.role == "msee"}
    assert clusters.get("cluster_msee", set()) == msee
    for node in topo.nodes.values():
        label = nodes[node.name]["label"]
        first, _, rest = label.partition("\\n")
        assert first == node.name
        for fact in facts(node):
            assert fact in rest, f"{node.name}: {fact!r} missing from label {label!r}"


def test_dot_edges_are_the_links_and_tunnels(topo: Topology, tmp_path: Path, dot: str) -> None:
    graph = dot_graph(topo, tmp_path, dot)
    names = {o["_gvid"]: o["name"] for o in graph["objects"]}
    solid: Counter[tuple[str, str]] = Counter()
    dashed: Counter[tuple[tuple[str, str], str]] = Counter()
    for e in graph["edges"]:
        ends = pair(names[e["tail"]], names[e["head"]])
        if e.get("style") == "dashed":
            m = re.fullmatch(TUNNEL_LABEL, e["label"])
            assert m, e["label"]
            dashed[(ends, m.group(1))] += 1
        else:
            solid[ends] += 1
            assert e.get("taillabel") and e.get("headlabel"), e  # interface names at both ends
    assert solid == expected_links(topo)
    assert dashed == expected_tunnels(topo)


def test_dot_text_names_every_node_link_and_tunnel(topo: Topology) -> None:
    """The same facts read from the text, so they are checked where Graphviz is not installed."""
    text = dot_text(topo)
    assert re.search(rf'^graph "{re.escape(topo.name)}" {{$', text, re.M)
    assert text.count("{") == text.count("}")
    for node in topo.nodes.values():
        assert len(re.findall(rf'^\s*"{re.escape(node.name)}" \[label=', text, re.M)) == 1, node.name
    edges = re.findall(r'^\s*"([^"]+)" -- "([^"]+)" \[(.*)\];$', text, re.M)
    solid = Counter(pair(a, b) for a, b, attrs in edges if "style=dashed" not in attrs)
    dashed = Counter(
        (pair(a, b), m.group(1))
        for a, b, attrs in edges
        if "style=dashed" in attrs
        for m in [re.search(rf'label="{TUNNEL_LABEL}"', attrs)]
        if m
    )
    assert solid == expected_links(topo)
    assert dashed == expected_tunnels(topo)


def test_dot_is_deterministic_and_tidy(topo: Topology) -> None:
    text = dot_text(topo)
    assert text == dot_text(topo)
    assert_tidy(text)


# -- Mermaid ------------------------------------------------------------------------------------------


def mmd_text(topo: Topology) -> str:
    return render_all(topo)[f"{topo.name}.mmd"]


NODE_DECL = re.compile(r'^\s*(\w+)(\["|\(\["|\(\(")(.*?)("\]|"\]\)|"\)\))$')
EDGE = re.compile(r'^\s*(\w+) (---|-\.-)\|"(.*)"\| (\w+)$')


def parse_mermaid(text: str) -> tuple[dict[str, tuple[str, list[str]]], list[tuple[str, str, str, str]]]:
    """Node id -> (label, enclosing subgraph ids) and edges (a, kind, label, b), checking the nesting."""
    nodes: dict[str, tuple[str, list[str]]] = {}
    edges: list[tuple[str, str, str, str]] = []
    stack: list[str] = []
    for line in text.splitlines()[1:]:
        stripped = line.strip()
        if not stripped or stripped.startswith("%%"):
            continue
        if m := re.fullmatch(r'subgraph (\w+)\["[^"]*"\]', stripped):
            stack.append(m.group(1))
        elif stripped == "end":
            assert stack, "unbalanced end"
            stack.pop()
        elif m := NODE_DECL.match(line):
            assert m.group(1) not in nodes, f"{m.group(1)} declared twice"
            nodes[m.group(1)] = (m.group(3), list(stack))
        elif m := EDGE.match(line):
            edges.append((m.group(1), m.group(2), m.group(3), m.group(4)))
        else:
            assert re.match(r"(linkStyle|classDef|class) ", stripped), f"unexpected line: {line!r}"
    assert stack == [], f"subgraphs left open: {stack}"
    return nodes, edges


def test_mermaid_is_a_flowchart(topo: Topology) -> None:
    text = mmd_text(topo)
    assert text.startswith("flowchart LR\n")
    assert text == mmd_text(topo)
    assert_tidy(text)


def test_mermaid_nodes_sit_in_their_subgraphs(topo: Topology) -> None:
    nodes, _ = parse_mermaid(mmd_text(topo))
    by_name = {label.split("<br/>")[0]: (node_id, label, stack) for node_id, (label, stack) in nodes.items()}
    assert set(by_name) == set(topo.nodes)  # every node, once, and nothing else
    for node in topo.nodes.values():
        node_id, label, stack = by_name[node.name]
        assert node_id != "end" and "-" not in node_id
        for fact in facts(node):
            assert fact in label, f"{node.name}: {fact!r} missing from label {label!r}"
        group = group_of(node)
        if group == "cluster_azure":
            assert stack[0] == "g_azure"
        elif group == "cluster_internet":
            assert stack == ["g_internet"]
        else:
            assert node.site is not None
            assert stack == [f"g_site_{node.site.replace('-', '_')}"]


def test_mermaid_edges_are_the_links_and_tunnels(topo: Topology) -> None:
    text = mmd_text(topo)
    nodes, edges = parse_mermaid(text)
    name = {node_id: label.split("<br/>")[0] for node_id, (label, _) in nodes.items()}
    for a, _, _, b in edges:
        assert a in name and b in name, f"edge {a} - {b} to an undeclared node"
    solid = Counter(pair(name[a], name[b]) for a, kind, _, b in edges if kind == "---")
    assert solid == expected_links(topo)
    dashed: Counter[tuple[tuple[str, str], str]] = Counter()
    for a, kind, label, b in edges:
        if kind == "-.-":
            m = re.fullmatch(TUNNEL_LABEL, label)
            assert m, label
            dashed[(pair(name[a], name[b]), m.group(1))] += 1
    assert dashed == expected_tunnels(topo)
    # Edge labels name the interfaces at both ends.
    for link in topo.links:
        label = next(
            lbl
            for a, kind, lbl, b in edges
            if kind == "---"
            and pair(name[a], name[b]) == pair(link.a, link.b)
            and link.a_ifname in lbl
            and link.b_ifname in lbl
        )
        assert "—" in label
    # linkStyle colours exactly the tunnel edges (Mermaid numbers edges in order of appearance).
    styled = re.findall(r"^\s*linkStyle ([\d,]+) ", text, re.M)
    tunnel_indices = [i for i, (_, kind, _, _) in enumerate(edges) if kind == "-.-"]
    assert [int(i) for s in styled for i in s.split(",")] == tunnel_indices
