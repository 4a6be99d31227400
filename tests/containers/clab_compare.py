"""The rendered <lab>.clab.yml against what the docker runtime actually created: containers (names,
image, privileges, capabilities, devices, labels, mounts, network mode), their interfaces and the
peers of their veths, the kernel settings and network state the exec lines would make, and the
daemons the exec lines would start, running with those command lines.

`deployed` reads the lab once (the engine, each container's namespace, its processes); `differences`
compares a file with it: [] when they agree."""

from __future__ import annotations

import copy
import os
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from lab.runtime.containers.engine import Engine
from lab.runtime.containers.runtime import ContainerRuntime
from lab.runtime.links.ipsec import endpoint_path
from lab.runtime.running import RunningLab

NUD_PERMANENT = 0x80
IPSEC_ENDS = "x-ipsec-ends"  # what `rendered` adds to the file's data: its comment's IPsec ends, parsed
ENDPOINT_PEER = "endpoint "  # a veth's peer in an IPsec endpoint namespace (a host namespace, not a node)


@dataclass
class Node:
    container: Any  # python-on-whales Container
    sysctls: dict[str, str] = field(default_factory=dict)
    links: dict[str, tuple[str, str, str | None]] = field(default_factory=dict)  # name -> (kind, MAC, master)
    mtus: dict[str, int] = field(default_factory=dict)
    peers: dict[str, tuple[str, str]] = field(default_factory=dict)  # veth -> (node, interface) at its other end
    addresses: set[tuple[str, int, str]] = field(default_factory=set)
    routes: set[tuple[str, str | None]] = field(default_factory=set)
    neighbors: set[tuple[str, str, int]] = field(default_factory=set)
    processes: list[tuple[list[str], set[str]]] = field(default_factory=list)  # argv, environment


@dataclass
class Deployed:
    run_dir: Path
    nodes: dict[str, Node]  # by container name


def rendered(lab: RunningLab) -> dict[str, Any]:
    """The containerlab file `up` rendered into the lab's run dir."""
    text = (lab.state.run_dir / f"{lab.name}.clab.yml").read_text(encoding="utf-8")
    doc = yaml.safe_load(text)
    assert isinstance(doc, dict)
    doc[IPSEC_ENDS] = ipsec_ends(text)
    return doc


def deployed(lab: RunningLab, engine: Engine, sysctl_keys: set[str]) -> Deployed:
    runtime = lab.runtime
    assert isinstance(runtime, ContainerRuntime)
    found = engine.client.container.list(all=True, filters=[("label", f"gwlab.lab={lab.name}")])
    by_node = {c.config.labels["gwlab.node"]: c for c in found if c.config.labels}
    running = runtime._running()
    inside = runtime._inside(running)
    out = Deployed(lab.state.run_dir, {})
    with runtime.handles() as handles:
        names: dict[str, dict[int, str]] = {}
        for node in by_node:
            names[node] = {x["index"]: x.get_attr("IFLA_IFNAME") for x in handles[node].get_links()}
        for node, container in by_node.items():
            seen = out.nodes[container.name] = Node(container)
            keys = sorted(sysctl_keys)
            values = lab.run(node, ["cat", *("/proc/sys/" + k.replace(".", "/") for k in keys)]).stdout.split()
            seen.sysctls = dict(zip(keys, values, strict=True))
            ns = handles[node]
            nsids = {ns.get_netnsid(pid=pid).get("nsid"): other for other, pid in running.items() if other != node}
            nsids.update(_endpoint_nsids(ns, lab))
            for x in ns.get_links():
                info = x.get_attr("IFLA_LINKINFO")
                kind = info.get_attr("IFLA_INFO_KIND") if info is not None else ""
                master = names[node].get(x.get_attr("IFLA_MASTER"))
                ifname = x.get_attr("IFLA_IFNAME")
                seen.links[ifname] = (kind, x.get_attr("IFLA_ADDRESS"), master)
                seen.mtus[ifname] = x.get_attr("IFLA_MTU")
                peer = nsids.get(x.get_attr("IFLA_LINK_NETNSID"))
                if kind == "veth" and peer is not None:
                    seen.peers[ifname] = (peer, names.get(peer, {}).get(x.get_attr("IFLA_LINK"), "?"))
            seen.addresses = {
                (a.get_attr("IFA_ADDRESS"), a["prefixlen"], names[node].get(a["index"], "?"))
                for a in ns.get_addr(family=2)
            }
            seen.routes = {(_dst(r), r.get_attr("RTA_GATEWAY")) for r in ns.get_routes(family=2, table=254)}
            seen.neighbors = {
                (n.get_attr("NDA_DST"), n.get_attr("NDA_LLADDR"), n["state"]) for n in ns.get_neighbours(family=2)
            }
            for pid in inside.get(node, {}).values():
                try:
                    argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")[:-1]
                    env = set(Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace").split("\0"))
                except OSError:
                    continue
                seen.processes.append((argv, env))
    return out


def _endpoint_nsids(ns: Any, lab: RunningLab) -> dict[int, str]:
    """nsid (as `ns` sees it) -> ENDPOINT_PEER + endpoint name, of the lab's IPsec endpoint namespaces."""
    out = {}
    for end in lab.topo.endpoint_ends():
        fd = os.open(endpoint_path(lab.name, end.endpoint), os.O_RDONLY)
        try:
            nsid = ns.get_netnsid(fd=fd).get("nsid")
        finally:
            os.close(fd)
        if nsid is not None and nsid >= 0:
            out[nsid] = ENDPOINT_PEER + end.endpoint
    return out


def ipsec_ends(doc_text: str) -> dict[tuple[str, str], str]:
    """(router, interface) -> endpoint, from the file's comment on the IPsec ends gwlab adds on the host
    ("#   gw0: t-s1-vpn0, e-s1-vpn0 -> gw0.s1-vpn0; ...")."""
    out = {}
    for line in doc_text.splitlines():
        m = re.fullmatch(r"#   (\S+): (.+ -> .+)", line)
        if m is None:
            continue
        for item in m.group(2).split("; "):
            ifnames, endpoint = item.split(" -> ")
            for ifname in ifnames.split(", "):
                out[(m.group(1), ifname)] = endpoint
    return out


def _dst(route: Any) -> str:
    return f"{route.get_attr('RTA_DST') or '0.0.0.0'}/{route['dst_len']}"


def sysctl_keys(doc: dict[str, Any]) -> set[str]:
    return {k for cfg in doc["topology"]["nodes"].values() for k in cfg.get("sysctls", {})}


def differences(lab: Deployed, doc: dict[str, Any]) -> list[str]:
    kind_defaults = doc["topology"]["kinds"]["linux"]
    nodes = {name: {**kind_defaults, **cfg} for name, cfg in doc["topology"]["nodes"].items()}
    container = {name: f"{doc['prefix']}-{doc['name']}-{name}" for name in nodes}
    diffs: list[str] = []

    def same(what: str, expected: object, actual: object) -> None:
        if expected != actual:
            diffs.append(f"{what}: file {expected!r}, deployed {actual!r}")

    same("containers", sorted(container.values()), sorted(lab.nodes))
    for name, cfg in nodes.items():
        node = lab.nodes.get(container[name])
        if node is None:
            continue
        c, host = node.container, node.container.host_config
        same(f"{name} image", cfg["image"], c.config.image)
        same(f"{name} privileged", cfg["privileged"], host.privileged)
        same(f"{name} network", cfg["network-mode"], host.network_mode)
        same(f"{name} cap-add", sorted(cfg["cap-add"]), sorted(c.removeprefix("CAP_") for c in host.cap_add or []))
        same(f"{name} devices", cfg["devices"], [str(d.path_on_host) for d in host.devices or []])
        labels = c.config.labels or {}
        same(f"{name} labels", cfg["labels"], {k: labels.get(k) for k in cfg["labels"]})
        mounts = {(Path(m.source), Path(m.destination), m.rw) for m in c.mounts}
        for bind in cfg.get("binds", []):
            source, inside, *mode = bind.split(":")
            file = (lab.run_dir / source, Path(inside), mode != ["ro"])
            # or the directory it is in, bound where the file's directory is (the runtimes bind the
            # node's config dir: files written later, such as a flood speaker's, show up in it)
            folder = {(file[0].parent, file[1].parent, rw) for rw in (True, False)}
            if file not in mounts and not folder & mounts:
                diffs.append(f"{name}: bind {bind} not among the mounts {sorted(map(str, mounts))}")
        same(
            f"{name} sysctls",
            {k: str(v) for k, v in cfg["sysctls"].items()},
            {k: node.sysctls.get(k) for k in cfg["sysctls"]},
        )
        lines = [shlex.split(line) for line in cfg["exec"]]
        diffs += [f"{name}: '{' '.join(words)}' not so" for words in lines if not _holds(node, words)]
    for link in doc["topology"]["links"]:
        (a, a_if), (b, b_if) = (ep.split(":", 1) for ep in link["endpoints"])
        end = lab.nodes.get(container.get(a, ""))
        if end is None or end.peers.get(a_if) != (b, b_if):
            diffs.append(f"link {a}:{a_if} - {b}:{b_if}: {a}'s end is paired with {end and end.peers.get(a_if)}")
        for node, ifname in ((a, a_if), (b, b_if)):
            seen = lab.nodes.get(container.get(node, ""))
            if seen is not None and seen.mtus.get(ifname) != link.get("mtu", 9500):  # containerlab's default
                diffs.append(f"link {a}:{a_if} - {b}:{b_if}: MTU {seen.mtus.get(ifname)} on {node}:{ifname}")
    # The other way round: every veth deployed is a link of the file, or an IPsec end it lists.
    in_file = {tuple(ep.split(":", 1)) for link in doc["topology"]["links"] for ep in link["endpoints"]}
    ends: dict[tuple[str, str], str] = doc.get(IPSEC_ENDS, {})
    for name in nodes:
        seen = lab.nodes.get(container[name])
        for ifname, (peer, _) in (seen.peers if seen else {}).items():
            if peer.startswith(ENDPOINT_PEER):
                if ends.get((name, ifname)) != peer.removeprefix(ENDPOINT_PEER):
                    diffs.append(f"{name}:{ifname}: to {peer}, the file lists {ends.get((name, ifname))}")
            elif (name, ifname) not in in_file:
                diffs.append(f"{name}:{ifname}: a veth to {peer} that no link of the file makes")
    for (name, ifname), endpoint in ends.items():
        seen = lab.nodes.get(container.get(name, ""))
        if seen is None or seen.peers.get(ifname, ("", ""))[0] != ENDPOINT_PEER + endpoint:
            diffs.append(f"IPsec end {name}:{ifname} -> {endpoint}: not deployed so")
    return diffs


def _holds(node: Node, words: list[str]) -> bool:
    """Is what this exec line would make there (its network state, or its daemon running with it)?"""
    if words[0].startswith("/usr/lib/frr/"):
        return any(argv == words for argv, _ in node.processes)
    if words[0] == "env":
        settings = {w for w in words[1:] if "=" in w}
        program = words[1 + len(settings) :]  # exabgp server CONF; runs as python3 /usr/local/bin/exabgp ...
        return any(argv[-len(program) + 1 :] == program[1:] and settings <= env for argv, env in node.processes)
    if words[0] != "ip":
        return True  # the setup steps (install -d /run/frr, the wait for zebra's socket) leave no trace to check
    what = words[1:3]
    if what == ["link", "add"]:
        kind, mac, _ = node.links.get(words[3], ("", "", None))
        return kind == words[words.index("type") + 1] and (
            "address" not in words or mac == words[words.index("address") + 1]
        )
    if what == ["link", "set"]:
        return "master" not in words or node.links.get(words[3], ("", "", None))[2] == words[-1]
    if what == ["addr", "add"]:
        ip, plen = words[3].split("/")
        return (ip, int(plen), words[-1]) in node.addresses
    if what == ["route", "replace"]:
        return (words[3], words[words.index("via") + 1] if "via" in words else None) in node.routes
    if what == ["neigh", "replace"]:
        return (words[3], words[5], NUD_PERMANENT) in node.neighbors
    return False


# Files that say otherwise than what was deployed, one way each: the comparison must notice every one.
def swap_peers(doc: dict[str, Any]) -> None:
    first, second = doc["topology"]["links"][:2]
    first["endpoints"][1], second["endpoints"][1] = second["endpoints"][1], first["endpoints"][1]


def other_image(doc: dict[str, Any]) -> None:
    doc["topology"]["kinds"]["linux"]["image"] = "gwlab/node:000000000000"


def other_address(doc: dict[str, Any]) -> None:
    doc["topology"]["nodes"]["gw0"]["exec"][0] = "ip addr add 10.9.9.9/32 dev lo"


def other_mtu(doc: dict[str, Any]) -> None:
    doc["topology"]["links"][0].pop("mtu")  # containerlab's default, 9500


def other_endpoint(doc: dict[str, Any]) -> None:
    ends = doc[IPSEC_ENDS]
    if ends:
        ends[next(iter(ends))] = "gw0.elsewhere"
    else:  # a lab without IPsec: an end the file claims that was never deployed
        ends[("gw0", "t-nowhere")] = "gw0.nowhere"


def other_daemon(doc: dict[str, Any]) -> None:
    lines = doc["topology"]["nodes"]["gw0"]["exec"]
    speaker = next(i for i, line in enumerate(lines) if "exabgp.tcp.port=1179" in line)
    lines[speaker] = lines[speaker].replace("exabgp.tcp.port=1179", "exabgp.tcp.port=1180")


MUTATIONS = (swap_peers, other_image, other_address, other_mtu, other_endpoint, other_daemon)


def unnoticed(lab: Deployed, doc: dict[str, Any]) -> list[str]:
    """The mutations of `doc` the comparison does not notice ([]: it can fail, one way per mutation)."""
    return [m.__name__ for m in MUTATIONS if not differences(lab, _mutated(doc, m))]


def _mutated(doc: dict[str, Any], mutate: Any) -> dict[str, Any]:
    wrong = copy.deepcopy(doc)
    mutate(wrong)
    return wrong
