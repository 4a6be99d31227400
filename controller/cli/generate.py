"""`gwlab generate --sites N`: write a lab file with N on-prem sites (YAML, to stdout by default)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import cast

import click
import yaml

from lab.errors import GwlabError
from lab.generate import MAX_SITES, Mode, generate
from lab.model import PROFILE_NAMES, ProfileName


def to_yaml(lab: dict[str, object]) -> str:
    return str(yaml.safe_dump(lab, sort_keys=False, default_flow_style=None, width=110))


@click.command("generate")
@click.option("--sites", type=click.IntRange(1, MAX_SITES), required=True, help="Number of on-prem sites.")
@click.option("--devices", type=click.IntRange(1, 2), default=1, show_default=True, help="VPN devices per site.")
@click.option("--expressroute", is_flag=True, help="Add ExpressRoute (MSEEs, customer edges) to site s1.")
@click.option(
    "--mode",
    type=click.Choice(["active-active", "active-standby"]),
    default="active-active",
    show_default=True,
    help="VPN gateway mode.",
)
@click.option(
    "--profile",
    type=click.Choice(PROFILE_NAMES),
    default="fast",
    show_default=True,
    help="Timing profile: fast (seconds) or realistic (Azure's timers; what 200 sites need on 2 cores).",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="File to write (default: standard output).",
)
def generate_command(
    sites: int, devices: int, expressroute: bool, mode: str, profile: str, output: Path | None
) -> None:
    """Generate a lab of N on-prem sites (s1..sN, private ASNs, disjoint prefixes) for scale tests."""
    # click.Choice checked mode and profile
    text = to_yaml(generate(sites, devices, expressroute, cast(Mode, mode), cast(ProfileName, profile)))
    if output is None:
        sys.stdout.write(text)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise GwlabError(f"--output {output}: cannot write ({exc.strerror})") from None


def register(app: click.Group) -> None:
    app.add_command(generate_command)
