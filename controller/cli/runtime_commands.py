"""Registers the commands that act on running labs (they need root, pyroute2 and FRR)."""

from __future__ import annotations

import click


def register(app: click.Group) -> None:
    from controller.cli import down, exec_cmd, fail, image, list_cmd, run, shell, status, up

    for module in (up, down, status, exec_cmd, shell, list_cmd, fail, run, image):
        module.register(app)

    from controller.cli import chaos

    chaos.register(app)

    from controller.cli import exercise, watch

    exercise.register(app)
    watch.register(app)
