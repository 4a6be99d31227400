"""Registers the commands that act on running labs (they need root, pyroute2 and FRR)."""

from __future__ import annotations

import click


def register(app: click.Group) -> None:
    from lab.cli import down, exec_cmd, list_cmd, shell, status, up

    for module in (up, down, status, exec_cmd, shell, list_cmd):
        module.register(app)
