"""`gwlab exec NODE -- CMD...`: run a command inside a node's namespace."""

from __future__ import annotations

import os

import click

from controller.cli.target import lab_option, pick


@click.command("exec", context_settings={"ignore_unknown_options": True})
@lab_option
@click.argument("node")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def exec_command(lab_name: str | None, node: str, command: tuple[str, ...]) -> None:
    """Run COMMAND in NODE's network namespace (e.g. gwlab exec s1-host -- ping 10.1.0.4)."""
    lab = pick(lab_name)
    lab.node(node)
    # ip netns exec also gives the command a /sys of the namespace; exec replaces us (signals, tty).
    os.execvp("ip", ["ip", "netns", "exec", lab.ns(node), *command])


def register(app: click.Group) -> None:
    app.add_command(exec_command)
