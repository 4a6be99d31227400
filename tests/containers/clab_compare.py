"""The rendered <lab>.clab.yml against what the docker runtime actually created: containers (names,
image, privileges, capabilities, devices, labels, mounts, network mode), their interfaces and the
peers of their veths, the kernel settings and network state the exec lines would make, and the
daemons the exec lines would start, running with those command lines.

`deployed` reads the lab once (the engine, each container's namespace, its processes); `differences`
compares a file with it: [] when they agree."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from lab.runtime.containers.engine import Engine
from lab.runtime.containers.runtime import ContainerRuntime
from lab.runtime.running import RunningLab

NUD_PERMANENT = 0x80


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
    doc = yaml.safe_load((lab.state.run_dir / f"{lab.name}.clab.yml").read_text(encoding="utf-8"))
    assert isinstance(doc, dict)
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
            for x in ns.get_links():
                info = x.get_attr("IFLA_LINKINFO")
                kind = info.get_attr("IFLA_INFO_KIND") if info is not None else ""
                master = names[node].get(x.get_attr("IFLA_MASTER"))
                ifname = x.get_attr("IFLA_IFNAME")
                seen.links[ifname] = (kind, x.get_attr("IFLA_ADDRESS"), master)
                seen.mtus[ifname] = x.get_attr("IFLA_MTU")
                peer = nsids.get(x.get_attr("IFLA_LINK_NETNSID"))
                if kind == "veth" and peer is not None:
                    seen.peers[ifname] = (peer, names[peer].get(x.get_attr("IFLA_LINK"), "?"))
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
