"""`gwlab render LAB -o DIR`: write every node's configuration, the containerlab file and diagrams."""

from __future__ import annotations

from pathlib import Path

import click

from controller.cli.output import console, emit_json, json_option
from controller.cli.validate import lab_argument
from lab.errors import GwlabError
from lab.load import load
from lab.render import draw_svg, render_all, write


@click.command("render")
@lab_argument
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    required=True,
    help="Directory to write into (created if missing).",
)
@json_option
def render(lab: str, output: Path, as_json: bool) -> None:
    """Render LAB's FRR and ExaBGP configurations, <lab>.clab.yml and diagrams into a directory
    (<lab>.dot and <lab>.mmd; <lab>.svg too when Graphviz's dot is installed)."""
    topo = load(lab)
    if output.exists() and not output.is_dir():
        raise click.BadParameter(f"{output} is a file (give a directory)", param_hint="--output")
    try:
        written = write(render_all(topo), output)
    except OSError as exc:
        raise GwlabError(f"--output {output}: cannot write ({exc.strerror})") from None
    svg = draw_svg(output / f"{topo.name}.dot")
    if svg is not None:
        written.append(svg)
    if as_json:
        emit_json({"lab": topo.name, "files": [str(p) for p in written]})
        return
    drawn = f" (diagram: {svg.name})" if svg is not None else " (no SVG diagram: Graphviz's dot is not installed)"
    console.print(f"rendered {topo.name}: {len(written)} files in {output}{drawn}")


def register(app: click.Group) -> None:
    app.add_command(render)
