"""Render every node's configuration, the containerlab topology file and diagrams from templates/."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import jinja2

from lab.errors import GwlabError
from lab.paths import TEMPLATE_CACHE, templates_dir
from lab.topology import ECMP_PATHS, MAX_PREFIX_RESTART_MIN, MAX_PREFIXES, SPEAKER_PORT, Node, Topology, TunnelEnd
from lab.topology.addressing import bridge_mac

# templates/frr/<role>.conf.j2: one FRR configuration per router role (netlab's module x device matrix
# collapses to a role axis here: every router runs FRR).
FRR_ROLES = ("gateway", "vnet", "ergw", "msee", "ce", "vpn", "core")


def bytecode_cache(directory: Path = TEMPLATE_CACHE) -> jinja2.FileSystemBytecodeCache | None:
    """Jinja's cache of compiled templates (keyed by each template's source, so an edit recompiles),
    in a directory only its owner can write, since what is in it is run; none when that cannot be."""
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        st = directory.stat()
    except OSError:
        return None
    if st.st_uid != os.geteuid() or st.st_mode & 0o022:
        return None
    return jinja2.FileSystemBytecodeCache(str(directory))


@cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir())),
        bytecode_cache=bytecode_cache(),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,  # configuration files, not HTML
    )
    # The lab's constants, from lab.topology, never spelled again in a template.
    env.globals["speaker_port"] = SPEAKER_PORT
    env.globals["ecmp_paths"] = ECMP_PATHS
    env.globals["max_prefixes"] = MAX_PREFIXES
    env.globals["max_prefix_restart_min"] = MAX_PREFIX_RESTART_MIN
    env.filters["exec_line"] = exec_line
    return env


def frr_config(topo: Topology, node: Node) -> str:
    assert node.role in FRR_ROLES, node.role
    return environment().get_template(f"frr/{node.role}.conf.j2").render(topo=topo, node=node, t=topo.timing)


def exabgp_config(topo: Topology, node: Node) -> str:
    assert node.speaker is not None
    return environment().get_template("exabgp/speaker.conf.j2").render(topo=topo, node=node, s=node.speaker)


def clab_context(files: dict[str, str]) -> dict[str, Any]:
    """What the containerlab file takes from the container runtimes, so that it deploys what they do
    (`files`: the nodes' rendered configurations)."""
    from lab.runtime import bgp_bfd
    from lab.runtime.configure import holds_shared, runtime_routes
    from lab.runtime.containers import image, layout
    from lab.runtime.links import veth
    from lab.runtime.sysctls import sysctls

    return {
        "image": image.node_image_tag(),
        "capabilities": layout.CAPABILITIES,
        "devices": layout.DEVICES,
        "config_mount": layout.CONFIG_MOUNT,
        "frr_etc": layout.FRR_ETC,
        "start_conf": bgp_bfd.START_CONF,
        "runs_bfd": bgp_bfd.runs_bfd,
        "labels": layout.labels,
        "start_commands": lambda node: layout.start_commands(
            node, bgp_bfd.bfd_lines(files.get(f"{node.name}/frr.conf", ""))
        ),
        "sysctls": sysctls,
        "bridge_mac": bridge_mac,
        "veth_mtu": veth.MTU,
        "routes": lambda node: runtime_routes(node, holds_shared(node, standby_active=False)),
    }


def endpoints_by_router(topo: Topology) -> dict[str, list[TunnelEnd]]:
    """router -> its IPsec ends, for the containerlab file's comment on what gwlab adds on the host."""
    out: dict[str, list[TunnelEnd]] = {}
    for end in topo.endpoint_ends():
        out.setdefault(end.node, []).append(end)
    return out


def exec_line(argv: list[str]) -> str:
    """A command as a containerlab exec line: split by shell rules (not run by a shell), in YAML quotes."""
    return json.dumps(shlex.join(argv))


def render_all(topo: Topology) -> dict[str, str]:
    """Relative path -> file content, for every file a lab needs. Deterministic: golden tests diff it."""
    from lab.runtime import bgp_bfd

    files: dict[str, str] = {}
    for node in topo.nodes.values():
        if node.is_router:
            files[f"{node.name}/frr.conf"] = frr_config(topo, node)
            if bgp_bfd.runs_bfd(node):
                files[f"{node.name}/{bgp_bfd.START_CONF}"] = bgp_bfd.start_config(files[f"{node.name}/frr.conf"])
        if node.speaker is not None:
            files[f"{node.name}/exabgp.conf"] = exabgp_config(topo, node)
    env = environment()
    files[f"{topo.name}.clab.yml"] = env.get_template("clab/topology.clab.yml.j2").render(
        topo=topo, ipsec_ends=endpoints_by_router(topo), **clab_context(files)
    )
    files[f"{topo.name}.dot"] = env.get_template("diagram/lab.dot.j2").render(topo=topo)
    files[f"{topo.name}.mmd"] = env.get_template("diagram/lab.mmd.j2").render(topo=topo)
    # Imported here: lab.ipsec renders with this module's environment.
    from lab.ipsec.tunnels import rendered

    files.update(rendered(topo))
    return files


def write(files: dict[str, str], outdir: Path) -> list[Path]:
    written = []
    for rel, text in sorted(files.items()):
        path = outdir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def draw_svg(dot_file: Path, timeout_s: float = 60.0) -> Path | None:
    """The diagram drawn as SVG beside its .dot file by Graphviz's `dot`; None when it is not installed."""
    dot = shutil.which("dot")
    if dot is None:
        return None
    svg = dot_file.with_suffix(".svg")
    try:
        done = subprocess.run(
            [dot, "-Tsvg", str(dot_file), "-o", str(svg)],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise GwlabError(f"dot did not draw {dot_file.name} within {timeout_s:g} s") from None
    if done.returncode != 0:
        said = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise GwlabError(f"dot could not draw {dot_file.name}: {said}")
    return svg
