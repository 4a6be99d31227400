"""`gwlab shell [--name NAME] NODE`: vtysh on a router, a shell on a host."""

from __future__ import annotations

import os

import click

from controller.cli.target import pick, running_lab_options
from lab.runtime.frr import vtysh_argv


@click.command("shell")
@running_lab_options
@click.argument("node")
def shell_command(name: str | None, node: str) -> None:
    """Open vtysh on router NODE, or a shell on a host or the internet switch."""
    lab = pick(name)
    target = lab.node(node)
    if target.is_router:
        argv = vtysh_argv(lab.runtime.frr_dir(node))  # the host's vtysh on the node's sockets
    else:
        shell = lab.runtime.shell or os.environ.get("SHELL", "/bin/bash")
        argv = lab.runtime.exec_argv(node, [shell], tty=True)
    os.execvp(argv[0], argv)


def register(app: click.Group) -> None:
    app.add_command(shell_command)
