"""Jinja's compiled-template cache (lab.render.bytecode_cache): used only in a directory of its own
that no one else can write, since what it holds is run."""

from __future__ import annotations

import os
from pathlib import Path

import jinja2
import pytest

from lab.render import bytecode_cache


def test_made_for_its_owner_only(tmp_path: Path) -> None:
    cache = bytecode_cache(tmp_path / "templates")
    assert isinstance(cache, jinja2.FileSystemBytecodeCache)
    assert (tmp_path / "templates").stat().st_mode & 0o777 == 0o700


@pytest.mark.parametrize("mode", [0o777, 0o775, 0o757])
def test_refused_where_others_can_write(tmp_path: Path, mode: int) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(mode)
    assert bytecode_cache(shared) is None


def test_none_where_it_cannot_be_made(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    assert bytecode_cache(tmp_path / "file" / "templates") is None


def test_an_edited_template_is_compiled_again(tmp_path: Path) -> None:
    sources = tmp_path / "src"
    sources.mkdir()
    (sources / "t.j2").write_text("one {{ x }}")

    def render() -> str:
        env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(sources)), bytecode_cache=bytecode_cache(tmp_path / "c")
        )
        return env.get_template("t.j2").render(x=1)

    assert render() == "one 1"
    assert len(os.listdir(tmp_path / "c")) == 1  # compiled once, kept
    assert render() == "one 1"
    (sources / "t.j2").write_text("two {{ x }}")
    assert render() == "two 1"
