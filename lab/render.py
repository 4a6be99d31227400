"""Render every node's configuration, the containerlab topology file and diagrams from templates/."""

from __future__ import annotations

import shutil
import subprocess
from functools import cache
from pathlib import Path

import jinja2

from lab.errors import GwlabError
from lab.paths import templates_dir
from lab.topology import ECMP_PATHS, MAX_PREFIXES, SPEAKER_PORT, Node, Topology

# templates/frr/<role>.conf.j2: one FRR configuration per router role (netlab's module x device matrix
# collapses to a role axis here: every router runs FRR).
FRR_ROLES = ("gateway", "vnet", "ergw", "msee", "ce", "vpn", "core")


@cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir())),
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
    return env


def frr_config(topo: Topology, node: Node) -> str:
    assert node.role in FRR_ROLES, node.role
    return environment().get_template(f"frr/{node.role}.conf.j2").render(topo=topo, node=node, t=topo.timing)


def exabgp_config(topo: Topology, node: Node) -> str:
    assert node.speaker is not None
    return environment().get_template("exabgp/speaker.conf.j2").render(topo=topo, node=node, s=node.speaker)


def render_all(topo: Topology) -> dict[str, str]:
    """Relative path -> file content, for every file a lab needs. Deterministic: golden tests diff it."""
    files: dict[str, str] = {}
    for node in topo.nodes.values():
        if node.is_router:
            files[f"{node.name}/frr.conf"] = frr_config(topo, node)
        if node.speaker is not None:
            files[f"{node.name}/exabgp.conf"] = exabgp_config(topo, node)
    env = environment()
    files[f"{topo.name}.clab.yml"] = env.get_template("clab/topology.clab.yml.j2").render(topo=topo)
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
