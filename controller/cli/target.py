"""Which running lab a command means (the one named, or the only one up), and on which runtime a new one runs."""

from __future__ import annotations

import click

from lab.errors import GwlabError
from lab.runtime.backends import BACKENDS, DEFAULT
from lab.runtime.running import RunningLab, attach
from lab.runtime.state import running_labs

lab_option = click.option("--lab", "lab_name", help="Running lab (default: the only one up).")
runtime_option = click.option(
    "--runtime",
    type=click.Choice(list(BACKENDS)),
    default=DEFAULT,
    show_default=True,
    help="What the nodes are: network namespaces, or docker or podman containers.",
)


def pick(name: str | None) -> RunningLab:
    if name is None:
        labs = running_labs()
        if not labs:
            raise GwlabError("no lab is up (gwlab up LAB)")
        if len(labs) > 1:
            raise GwlabError(f"several labs are up ({', '.join(labs)}): say which with --lab")
        name = labs[0]
    return attach(name)
