"""The rendered <lab>.clab.yml against what the docker runtime actually created: containers (names,
image, privileges, capabilities, devices, labels, mounts, network mode), their interfaces and the
peers of their veths, the kernel settings and network state the exec lines would make, and the
daemons the exec lines would start, running with those command lines. [] when they agree."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import yaml

from lab.runtime.containers.engine import Engine
from lab.runtime.containers.runtime import ContainerRuntime
from lab.runtime.netlink import interface_index
from lab.runtime.running import RunningLab


def rendered(lab: RunningLab) -> dict[str, Any]:
    """The containerlab file `up` rendered into the lab's run dir."""
    doc = yaml.safe_load((lab.state.run_dir / f"{lab.name}.clab.yml").read_text(encoding="utf-8"))
    assert isinstance(doc, dict)
    return doc


def differences(lab: RunningLab, engine: Engine, doc: dict[str, Any]) -> list[str]:
    runtime = lab.runtime
    assert isinstance(runtime, ContainerRuntime)
    run_dir = lab.state.run_dir
    kind_defaults = doc["topology"]["kinds"]["linux"]
    nodes = {name: {**kind_defaults, **cfg} for name, cfg in doc["topology"]["nodes"].items()}
    diffs: list[str] = []

    def same(what: str, expected: object, actual: object) -> None:
        if expected != actual:
            diffs.append(f"{what}: file {expected!r}, deployed {actual!r}")

    containers = {
        c.name: c for c in engine.client.container.list(all=True, filters=[("label", f"gwlab.lab={lab.name}")])
    }
    same("containers", sorted(f"{doc['prefix']}-{doc['name']}-{n}" for n in nodes), sorted(containers))
    for name, cfg in nodes.items():
        c = containers.get(f"{doc['prefix']}-{doc['name']}-{name}")
        if c is None:
            continue
        host = c.host_config
        same(f"{name} image", cfg["image"], c.config.image)
        same(f"{name} privileged", cfg["privileged"], host.privileged)
        same(f"{name} network", cfg["network-mode"], host.network_mode)
        same(f"{name} cap-add", sorted(cfg["cap-add"]), sorted(c.removeprefix("CAP_") for c in host.cap_add or []))
        same(f"{name} devices", cfg["devices"], [str(d.path_on_host) for d in host.devices or []])
        labels = c.config.labels or {}
        same(f"{name} labels", cfg["labels"], {k: labels.get(k) for k in cfg["labels"]})
        mounts = {(Path(m.source), m.destination, m.rw) for m in c.mounts}
        for bind in cfg.get("binds", []):
            source, inside, *mode = bind.split(":")
            want = (run_dir / source, inside, mode != ["ro"])
            if want not in mounts:
                diffs.append(f"{name}: bind {bind} not among the mounts {sorted(map(str, mounts))}")
        diffs += _network(lab, name, cfg)
        diffs += _daemons(lab, name, cfg)
    diffs += _links(lab, doc)
    return diffs


def _exec(cfg: dict[str, Any]) -> list[list[str]]:
    return [shlex.split(line) for line in cfg["exec"]]


def _network(lab: RunningLab, name: str, cfg: dict[str, Any]) -> list[str]:
    """What the node's `ip` exec lines would have made, and its sysctls, as its namespace has them."""
    diffs = []
    for key, value in cfg["sysctls"].items():
        got = lab.run(name, ["cat", "/proc/sys/" + key.replace(".", "/")]).stdout.strip()
        if got != str(value):
            diffs.append(f"{name} sysctl {key}: file {value}, deployed {got}")
    with lab.runtime.netlink(name) as ns:
        index = interface_index(ns)
        links = {link.get_attr("IFLA_IFNAME"): link for link in ns.get_links()}
        addresses = {
            (a.get_attr("IFA_ADDRESS"), a["prefixlen"], links_by_index(links).get(a["index"]))
            for a in ns.get_addr(family=2)
        }
        routes = {(_dst(r), r.get_attr("RTA_GATEWAY")) for r in ns.get_routes(family=2, table=254)}
        neighbors = {(n.get_attr("NDA_DST"), n.get_attr("NDA_LLADDR"), n["state"]) for n in ns.get_neighbours(family=2)}
        for words in _exec(cfg):
            if words[0] != "ip":
                continue
            line = " ".join(words)
            if words[1:3] == ["link", "add"]:
                link = links.get(words[3])
                kind = words[words.index("type") + 1]
                info = link.get_attr("IFLA_LINKINFO") if link is not None else None
                if info is None or info.get_attr("IFLA_INFO_KIND") != kind:
                    diffs.append(f"{name}: '{line}': no {kind} {words[3]}")
                elif (
                    link is not None
                    and "address" in words
                    and link.get_attr("IFLA_ADDRESS") != words[words.index("address") + 1]
                ):
                    diffs.append(f"{name}: '{line}': MAC {link.get_attr('IFLA_ADDRESS')}")
            elif words[1:3] == ["link", "set"] and "master" in words:
                master = links[words[3]].get_attr("IFLA_MASTER") if words[3] in links else None
                if master != index.get(words[-1]):
                    diffs.append(f"{name}: '{line}': not a port of {words[-1]}")
            elif words[1:3] == ["addr", "add"]:
                ip, plen = words[3].split("/")
                if (ip, int(plen), words[-1]) not in addresses:
                    diffs.append(f"{name}: '{line}': no such address")
            elif words[1:3] == ["route", "replace"]:
                via = words[words.index("via") + 1] if "via" in words else None
                if (words[3], via) not in routes:
                    diffs.append(f"{name}: '{line}': no such route")
            elif words[1:3] == ["neigh", "replace"] and (words[3], words[5], 0x80) not in neighbors:  # permanent
                diffs.append(f"{name}: '{line}': no such permanent neighbour")
    return diffs


def links_by_index(links: dict[str, Any]) -> dict[int, str]:
    return {link["index"]: name for name, link in links.items()}


def _dst(route: Any) -> str:
    return f"{route.get_attr('RTA_DST') or '0.0.0.0'}/{route['dst_len']}"


def _daemons(lab: RunningLab, name: str, cfg: dict[str, Any]) -> list[str]:
    """Every daemon an exec line starts runs in the container, with that command line (and, for
    ExaBGP, env's settings in its environment)."""
    runtime = lab.runtime
    assert isinstance(runtime, ContainerRuntime)
    cmdlines = []
    for pid in runtime._inside(runtime._running()).get(name, {}).values():
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")[:-1]
            env = set(Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace").split("\0"))
        except OSError:
            continue
        cmdlines.append((argv, env))
    diffs = []
    for words in _exec(cfg):
        if words[0].startswith("/usr/lib/frr/"):
            if not any(argv == words for argv, _ in cmdlines):
                diffs.append(f"{name}: no process runs '{shlex.join(words)}'")
        elif words[0] == "env":
            settings = {w for w in words[1:] if "=" in w}
            program = words[1 + len(settings) :]
            if not any(argv[-len(program) + 1 :] == program[1:] and settings <= env for argv, env in cmdlines):
                diffs.append(f"{name}: no process runs {' '.join(program)} with {sorted(settings)}")
    return diffs


def _links(lab: RunningLab, doc: dict[str, Any]) -> list[str]:
    """Each link's two ends are the two ends of one veth, in the nodes and under the names it says."""
    runtime = lab.runtime
    assert isinstance(runtime, ContainerRuntime)
    running = runtime._running()
    diffs = []
    with runtime.handles() as handles:
        for link in doc["topology"]["links"]:
            (a, a_if), (b, b_if) = (ep.split(":", 1) for ep in link["endpoints"])
            ends = {}
            for node, ifname in ((a, a_if), (b, b_if)):
                found = next((x for x in handles[node].get_links() if x.get_attr("IFLA_IFNAME") == ifname), None)
                ends[node] = found
            if ends[a] is None or ends[b] is None:
                diffs.append(f"link {a}:{a_if} - {b}:{b_if}: an end is missing")
                continue
            nsid = handles[a].get_netnsid(pid=running[b]).get("nsid")
            if (ends[a].get_attr("IFLA_LINK"), ends[a].get_attr("IFLA_LINK_NETNSID")) != (ends[b]["index"], nsid):
                diffs.append(f"link {a}:{a_if} - {b}:{b_if}: {a}'s end is not paired with {b}'s")
    return diffs
