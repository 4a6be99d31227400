"""`gwlab exec NODE -- CMD...`: run a command inside a node, on the lab's runtime."""

from __future__ import annotations

import os
import sys

import click

from controller.cli.target import lab_option, pick


@click.command("exec", context_settings={"ignore_unknown_options": True})
@lab_option
@click.argument("node")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def exec_command(lab_name: str | None, node: str, command: tuple[str, ...]) -> None:
    """Run COMMAND in NODE (e.g. gwlab exec s1-host -- ping 10.1.0.4)."""
    lab = pick(lab_name)
    lab.node(node)
    argv = lab.runtime.exec_argv(node, command, tty=sys.stdin.isatty())
    os.execvp(argv[0], argv)  # replaces us: signals and the terminal go straight to the command


def register(app: click.Group) -> None:
    app.add_command(exec_command)
