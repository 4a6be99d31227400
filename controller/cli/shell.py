"""`gwlab shell NODE`: vtysh on a router, a shell on a host."""

from __future__ import annotations

import os

import click

from controller.cli.target import lab_option, pick


@click.command("shell")
@lab_option
@click.argument("node")
def shell_command(lab_name: str | None, node: str) -> None:
    """Open vtysh on router NODE, or a shell on a host or the internet switch."""
    lab = pick(lab_name)
    target = lab.node(node)
    if target.is_router:
        os.execvp("vtysh", ["vtysh", "-N", lab.ns(node)])
    shell = os.environ.get("SHELL", "/bin/bash")
    os.execvp("ip", ["ip", "netns", "exec", lab.ns(node), shell])


def register(app: click.Group) -> None:
    app.add_command(shell_command)
