"""Golden files: each built-in topology renders to the checked-in output in tests/golden/<name>/.

A change to any rendered file is a visible diff. After an intended change, regenerate with
`GWLAB_UPDATE_GOLDEN=1 pytest tests/test_golden.py` and review the diff before committing.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from lab.load import load
from lab.render import render_all, write
from tests.conftest import BUILTINS

GOLDEN = Path(__file__).parent / "golden"


def on_disk(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): p.read_text(encoding="utf-8") for p in folder.rglob("*") if p.is_file()}


@pytest.mark.parametrize("name", BUILTINS)
def test_rendered_output_matches_golden(name: str) -> None:
    rendered = render_all(load(name))
    folder = GOLDEN / name
    if os.environ.get("GWLAB_UPDATE_GOLDEN") == "1":
        shutil.rmtree(folder, ignore_errors=True)
        write(rendered, folder)
    expected = on_disk(folder)
    assert sorted(rendered) == sorted(expected), "files added or removed"
    for rel in sorted(expected):
        assert rendered[rel] == expected[rel], f"{name}/{rel} differs from the golden file"


def test_every_builtin_has_a_golden_folder() -> None:
    assert sorted(p.name for p in GOLDEN.iterdir() if p.is_dir()) == BUILTINS
