"""`gwlab image build|ls|rm [ENGINE...]`: the node image gwlab/node:<hash> of the container runtimes.

Built here from Debian packages and the venv's ExaBGP (lab.runtime.containers.image), never pulled;
a tag that exists is reused, and the first `up --runtime docker|podman` builds it when missing.
No ENGINE: every engine installed (docker, podman); each keeps its own copy (the second only imports
the cached root file system). Docker's daemon is started in lab mode for the command if none runs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import click

from controller.cli.output import console, emit_json
from controller.cli.validate import json_option
from lab.errors import GwlabError
from lab.runtime.containers import dockerd, image
from lab.runtime.containers import engine as engines
from lab.runtime.containers.engine import Engine

engines_argument = click.argument("engine_names", metavar="[ENGINE]...", nargs=-1, type=click.Choice(engines.ENGINES))


@contextmanager
def _client(name: str) -> Iterator[Engine]:
    if name == "docker":
        with dockerd.in_use():  # started in lab mode if none runs, stopped again when unused
            yield engines.engine(name)
    else:
        yield engines.engine(name)


def _each(names: tuple[str, ...], action: Callable[[Engine], None]) -> None:
    chosen = list(names) or engines.installed()
    if not chosen:
        raise GwlabError("neither docker nor podman is installed (run 'make setup')")
    for name in chosen:
        with _client(name) as client:
            action(client)


@click.group("image")
def image_group() -> None:
    """The node image of the docker and podman runtimes (built here, never pulled)."""


@image_group.command("build")
@engines_argument
@json_option
def build_command(engine_names: tuple[str, ...], as_json: bool) -> None:
    """Build gwlab/node:<hash> in each ENGINE (reused when the tag is there)."""
    rows: list[dict[str, object]] = []

    def one(client: Engine) -> None:
        built = image.build(client)
        rows.append(dataclasses.asdict(built))
        if as_json:
            return
        size = f"{built.size / 1e6:.0f} MB"
        if not built.built:
            console.print(f"{client.name}: {built.tag} present ({size})")
            return
        how = f"root file system {built.rootfs_s:.1f} s" if built.rootfs_s else "cached root file system"
        console.print(f"{client.name}: {built.tag} built ({how}, import {built.import_s:.1f} s, {size})")

    _each(engine_names, one)
    if as_json:
        emit_json(rows)


@image_group.command("ls")
@engines_argument
@json_option
def ls_command(engine_names: tuple[str, ...], as_json: bool) -> None:
    """List the gwlab images of each ENGINE, newest first."""
    rows: list[dict[str, object]] = []

    def one(client: Engine) -> None:
        found = image.list_images(client)
        rows.extend(
            {"engine": client.name, "tag": i.tag, "size": i.size, "created": i.created.isoformat()} for i in found
        )
        if not as_json:
            for i in found:
                console.print(f"{client.name}: {i.tag} {i.size / 1e6:.0f} MB {i.created:%Y-%m-%d %H:%M}")
            if not found:
                console.print(f"{client.name}: no gwlab image")

    _each(engine_names, one)
    if as_json:
        emit_json(rows)


@image_group.command("rm")
@engines_argument
@json_option
def rm_command(engine_names: tuple[str, ...], as_json: bool) -> None:
    """Remove the gwlab images of each ENGINE, and the cached root file system."""
    rows: list[dict[str, object]] = []

    def one(client: Engine) -> None:
        removed = image.remove(client)
        rows.extend({"engine": client.name, "tag": tag} for tag in removed)
        if not as_json:
            console.print(
                "\n".join(f"{client.name}: removed {tag}" for tag in removed) or f"{client.name}: no gwlab image"
            )

    _each(engine_names, one)
    image.remove_cache()
    if as_json:
        emit_json(rows)


def register(app: click.Group) -> None:
    app.add_command(image_group)
