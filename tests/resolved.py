"""The intermediate layer as plain data: the resolved topology and the oracle's prediction, for golden files.

Generic over the dataclasses (every field appears, so a new one shows up in the diff), with the noise
left out: fields that are None, False, "" or empty. Mappings are sorted by key when dumped; lists keep the
order the builder or the oracle produced, because that order is output too (prefix-list entries,
neighbours in the rendered configs, a best path first in its ECMP set).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from typing import Any

import yaml

from controller.oracle import Failures, Prediction
from lab.load import load
from lab.topology import FLOOD_NET, Topology
from tests.helpers import BUILTINS, MULTI_SITE, ROUTING_POLICY, topology_of

# The labs with golden files: every built-in, the two-site lab of the tests (active/standby, an APIPA
# device, ExpressRoute on the second site) and the routing-policy lab (prepending, local-preference, a
# summary, a device with one tunnel).
RESOLVED = "resolved"  # tests/golden/<lab>/resolved/: topology.yaml, oracle/<case>.yaml
EXTRA_LABS = {"multi-site": MULTI_SITE, "routing-policy": ROUTING_POLICY}
GOLDEN_LABS = [*BUILTINS, *EXTRA_LABS]


def golden_lab(name: str) -> Topology:
    return topology_of(EXTRA_LABS[name], name) if name in EXTRA_LABS else load(name)


def plain(value: Any) -> Any:
    """Dataclasses, addresses and tuples as YAML scalars, mappings and lists; None/False/empty dropped."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        return {k: v for k, v in fields.items() if v not in (None, False, "", [], {})}
    if isinstance(value, dict):
        return {_key(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | frozenset | set):
        items = [plain(v) for v in value]
        return sorted(items, key=str) if isinstance(value, frozenset | set) else items
    if isinstance(value, IPv4Address | IPv4Interface | IPv4Network):
        return str(value)
    return value


def _key(key: Any) -> str:
    if isinstance(key, tuple):
        return " ".join(str(k) for k in key)
    return str(key)


def topology_data(topo: Topology) -> dict[str, Any]:
    """Everything `lab.topology.build` derived (the lab file itself is the input, not part of it)."""
    return {
        "name": topo.name,
        "er_site": topo.er_site,
        "timing": plain(topo.timing),
        "nodes": {name: plain(node) for name, node in topo.nodes.items()},
        "links": plain(topo.links),
        "tunnels": plain(topo.tunnels),
    }


def _summarise_flood(per_prefix: dict[IPv4Network, Any]) -> dict[str, Any]:
    """The 4,001 prefix-flood routes of a node as their count, a digest of all and the first in full."""
    flood = {p: v for p, v in per_prefix.items() if p.subnet_of(FLOOD_NET)}
    out = {str(p): plain(v) for p, v in per_prefix.items() if p not in flood}
    if flood:
        first = min(flood)
        text = json.dumps({str(p): plain(v) for p, v in flood.items()}, sort_keys=True)
        out[f"{FLOOD_NET} (flood)"] = {
            "count": len(flood),
            "sha256": hashlib.sha256(text.encode()).hexdigest(),
            "first": {str(first): plain(flood[first])},
        }
    return out


def prediction_data(pred: Prediction) -> dict[str, Any]:
    sessions: dict[str, dict[str, str]] = {}
    for (node, address), up in pred.sessions.items():
        sessions.setdefault(node, {})[str(address)] = "up" if up else "down"
    return {
        "paths": plain(pred.paths),
        "tunnels": {name: "up" if up else "down" for name, up in pred.tunnels.items()},
        "sessions": sessions,
        "best": {node: _summarise_flood(routes) for node, routes in pred.best.items()},
        "fib": {node: _summarise_flood(entries) for node, entries in pred.fib.items()},
    }


def failure_cases(topo: Topology) -> dict[str, Failures]:
    """A few representative failures of a lab, by file name: no failure, an instance, a tunnel, a
    device (where a site has two), the ExpressRoute circuit (where present), a prefix flood (the
    default lab only: the oracle works through 4,001 prefixes)."""
    cases = {"none": Failures()}
    gateways = topo.by_role("gateway")
    cases[f"{gateways[0].name}-crash"] = Failures(nodes={gateways[0].name})
    if any(g.standby for g in gateways):  # active/standby: after the platform's takeover
        cases[f"{gateways[0].name}-crash-takeover"] = Failures(nodes={gateways[0].name}, standby_active=True)
    tunnel = next(t for t in topo.tunnels if not topo.nodes[t.gateway].standby)
    cases[f"tunnel-{tunnel.device}~{tunnel.gateway}"] = Failures(tunnels={f"{tunnel.device}~{tunnel.gateway}"})
    devices = topo.by_role("vpn")
    if len({d.site for d in devices}) < len(devices):
        cases[f"{devices[0].name}-crash"] = Failures(nodes={devices[0].name})
    roles = {"msee", "ce"}
    circuit = {f"{ln.a}~{ln.b}" for ln in topo.links if {topo.nodes[ln.a].role, topo.nodes[ln.b].role} == roles}
    if circuit:
        cases["circuit"] = Failures(links=circuit)
    remote = next((g for g in gateways if g.vnet is not None), None)
    if remote is not None:  # VNet-to-VNet: a remote instance, and a tunnel between the VNets
        cases[f"{remote.name}-crash"] = Failures(nodes={remote.name})
        between = next(t for t in topo.tunnels if t.between_vnets)
        cases[f"tunnel-{between.name}"] = Failures(tunnels={between.name})
    if topo.name == "hybrid":
        site = topo.by_role("core")[0].site
        assert site is not None
        cases[f"flood-{site}"] = Failures(flooded={site})
    return cases


def _flat(value: Any) -> bool:
    scalar = (str, int, float, bool, type(None))
    if isinstance(value, dict):
        value = list(value.values())
    return all(isinstance(v, scalar) or (isinstance(v, list) and all(isinstance(x, scalar) for x in v)) for v in value)


class _Dumper(yaml.SafeDumper):
    """One line per record: a mapping or list holding only scalars (and lists of them) is written inline."""

    def represent_dict(self, data: Any) -> yaml.Node:
        node = super().represent_dict(data)
        node.flow_style = bool(data) and _flat(data)
        return node

    def represent_list(self, data: Any) -> yaml.Node:
        node = super().represent_list(data)
        node.flow_style = bool(data) and _flat(data)
        return node


_Dumper.add_representer(dict, _Dumper.represent_dict)
_Dumper.add_representer(list, _Dumper.represent_list)


def dump(data: dict[str, Any]) -> str:
    return yaml.dump(data, Dumper=_Dumper, sort_keys=True, width=160, allow_unicode=True)
